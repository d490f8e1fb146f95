# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit policy simulator on small, hand-made logs whose answer is known exactly."""

import gzip
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as sim

ADMIN = {"username": "alice", "groups": ["admins", "system:authenticated"]}
NODE = {"username": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "prod"},
       "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
PRIVILEGED_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": "prod"},
                  "spec": {"containers": [{"name": "sh", "image": "debian", "securityContext": {"privileged": True}}]}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "prod"},
          "data": {"password": "c2VjcmV0"}}

ALL_REQUEST_RESPONSE = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "RequestResponse"}]}
ALL_METADATA = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}


def event(audit_id, stage, verb, user=None, ref=None, uri=None, level="RequestResponse", request_object=None,
          response_object=None, stamp="2026-11-23T10:00:00.000000Z", code=200):
    """An audit event with the apiserver's field order, as compact JSON."""
    out = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": audit_id, "stage": stage,
           "requestURI": uri or "/api", "verb": verb, "user": ADMIN if user is None else user, "sourceIPs": ["10.0.0.1"],
           "userAgent": "kubectl/v1.33.0"}
    if ref is not None:
        out["objectRef"] = ref
    if stage != "RequestReceived":
        out["responseStatus"] = {"metadata": {}, "code": code}
    if request_object is not None and stage in sim.FINAL_STAGES:
        out["requestObject"] = request_object
    if response_object is not None and stage in sim.FINAL_STAGES:
        out["responseObject"] = response_object
    out["requestReceivedTimestamp"] = stamp
    out["stageTimestamp"] = stamp
    return out


def line(data):
    return json.dumps(data, separators=(",", ":"))


def write_log(tmp_path, events, name="audit.log", extra_lines=()):
    path = tmp_path / name
    path.write_text("\n".join([line(item) for item in events] + list(extra_lines)) + "\n")
    return str(path)


def run(path, *policies, **kwargs):
    candidates = [sim.Candidate(name, policy, kwargs.pop("target", "kubeadm")) for name, policy in policies]
    return sim.simulate(path, candidates, **kwargs).as_dict()


def pod_create(audit_id, body=None, level="RequestResponse", stamp="2026-11-23T10:00:00.000000Z", stages=None):
    body = body or POD
    ref = {"resource": "pods", "namespace": "prod", "name": body["metadata"]["name"], "apiVersion": "v1"}
    stages = stages or ("RequestReceived", "ResponseComplete")
    request_object = body if level in ("Request", "RequestResponse") else None
    response_object = body if level == "RequestResponse" else None
    return [event(audit_id, stage, "create", ref=ref, uri="/api/v1/namespaces/prod/pods", level=level,
                  request_object=request_object, response_object=response_object, stamp=stamp)
            for stage in stages]


# --- reading events ---------------------------------------------------------------------------

def test_request_from_event_resource_and_non_resource():
    ref = {"resource": "pods", "namespace": "prod", "name": "web", "apiGroup": "", "subresource": "exec"}
    request = sim.request_from_event(event("a", "ResponseComplete", "create", ref=ref))
    assert request == {"user": "alice", "groups": ["admins", "system:authenticated"], "verb": "create",
                       "namespace": "prod", "api_group": "", "resource": "pods", "subresource": "exec",
                       "name": "web", "path": "", "resource_request": True}
    request = sim.request_from_event(event("b", "ResponseComplete", "get", uri="/healthz?verbose=1"))
    assert (request["path"], request["resource_request"], request["resource"]) == ("/healthz", False, "")
    # The decided request is what the engine itself normalizes from the same description.
    described = dict((key, request[key]) for key in ap.REQUEST_KEYS)
    assert ap.normalize_request(described) == request


def test_failed_authentication_has_no_user_and_impersonation_keeps_the_authenticated_user():
    failed = event("a", "ResponseComplete", "list", user={}, ref={"resource": "pods"}, code=401)
    assert sim.request_from_event(failed)["user"] is None
    impersonating = event("b", "ResponseComplete", "get", ref={"resource": "secrets", "namespace": "prod"})
    impersonating["impersonatedUser"] = {"username": "bob"}
    assert sim.request_from_event(impersonating)["user"] == "alice"


@pytest.mark.parametrize("broken, message", [
    ({"user": "alice"}, "user is not an object"),
    ({"objectRef": ["pods"]}, "objectRef is not an object"),
    ({"verb": None}, "verb is missing"),
    ({"user": {"username": "a", "groups": "admins"}}, "user.groups"),
    ({"objectRef": {"resource": "pods", "namespace": 3}}, "namespace is not a string"),
])
def test_request_from_event_refuses_wrong_types(broken, message):
    data = event("a", "ResponseComplete", "get", ref={"resource": "pods"})
    data.update(broken)
    with pytest.raises(ValueError, match=message):
        sim.request_from_event(data)


def test_body_sizes_are_the_raw_bytes_of_the_bodies():
    data = pod_create("a")[1]
    raw = line(data).encode()
    request_size, response_size = sim.body_sizes(raw, data)
    body = len(line(POD).encode())
    assert request_size == len(b',"requestObject":') + body
    assert response_size == len(b',"responseObject":') + body
    # A line written with another key order (a log shipper re-encoding it) falls back to re-encoding.
    shuffled = json.dumps(data, sort_keys=True).encode()
    assert sim.body_sizes(shuffled, data) == (request_size, response_size)
    assert sim.body_sizes(b"{}", {"kind": "Event"}) == (0, 0)


def test_read_line_cuts_the_bodies_out_of_the_raw_line():
    data = pod_create("a", body=PRIVILEGED_POD)[1]
    raw = line(data).encode()
    read = sim.read_line(raw)
    assert "requestObject" not in read.event and "responseObject" not in read.event
    assert read.event == dict((key, value) for key, value in data.items() if not key.endswith("Object"))
    assert (read.request_size, read.response_size) == sim.body_sizes(raw, data)
    assert read.meta_size == len(raw) - read.request_size - read.response_size
    assert read.request_object() == PRIVILEGED_POD


@pytest.mark.parametrize("layout", ["sorted keys", "body key nested in a body", "no timestamps"])
def test_read_line_parses_other_layouts_whole(layout):
    data = pod_create("a")[1]
    if layout == "body key nested in a body":
        data["responseObject"] = {"kind": "ConfigMap", "data": {"x": "y"}, "responseObject": {"a": 1}}
        raw = line(data).encode()
    elif layout == "sorted keys":
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    else:
        del data["requestReceivedTimestamp"], data["stageTimestamp"]
        raw = line(data).encode()
    read = sim.read_line(raw)
    assert read.request_object() == POD
    sizes = [len(key) + 4 + len(line(data[key]).encode()) for key in ("requestObject", "responseObject")]
    assert [read.request_size, read.response_size] == sizes
    assert read.meta_size == len(raw) - sum(sizes)


@pytest.mark.parametrize("body", [
    {"kind": "Event", "involvedObject": {"kind": "Pod", "name": "a"}},      # another key ending in Object":
    {"kind": "ConfigMap", "data": {"requestObject": "x"}},                 # the key's name, not the key
    {"kind": "ConfigMap", "data": {"x": ",\"requestObject\":"}},            # the key's bytes inside a string
])
def test_read_line_measures_on_the_line_whatever_the_body_holds(body):
    """The one-scan check of the body keys (_OBJECT_KEY_END) gives what counting each key gives: the keys are
    found on the line and the bodies measured there, not re-encoded (the event's own bytes count)."""
    data = pod_create("a")[1]
    data["responseObject"] = body
    # Spaces json.dumps would not write: re-encoding the body would give another size.
    raw = line(data).encode().replace(b'"kind":"ConfigMap"', b'"kind" : "ConfigMap"').replace(
        b'"involvedObject":{', b'"involvedObject": {')
    read = sim.read_line(raw)
    assert read.event == dict((key, value) for key, value in data.items() if not key.endswith("Object"))
    start = raw.index(b',"responseObject":')
    end = raw.index(b',"requestReceivedTimestamp":')
    assert read.response_size == end - start
    assert read.request_size == start - raw.index(b',"requestObject":')
    assert read.meta_size == len(raw) - read.request_size - read.response_size
    assert read.request_object() == POD
    for name in sim.DECODERS:
        again = sim.read_line(raw, sim.DECODERS[name])
        assert (again.event, again.request_size, again.response_size, again.meta_size) == \
            (read.event, read.request_size, read.response_size, read.meta_size)


@pytest.mark.parametrize("body", [
    SECRET,                                                                 # the only key ending in Object":
    {"kind": "Event", "involvedObject": {"kind": "Pod", "name": "a"}},      # another key ending alike
    {"kind": "ConfigMap", "data": {"x": 1, "requestObject": {"a": 1}}},     # the request key's bytes in the body
])
def test_read_line_measures_a_response_only_line(body):
    """A get: a response body and no request body. Where the response key is the line's only key ending in
    Object":, the request key is not searched for (it cannot be there); where something else ends alike, it is
    looked for in front of the response key. Either way the body is measured on the line."""
    data = event("g", "ResponseComplete", "get", ref={"resource": "secrets", "namespace": "prod", "name": "db"},
                 response_object=body)
    raw = line(data).encode().replace(b'"kind":"', b'"kind": "') + b"\n"
    for name in sim.DECODERS:
        read = sim.read_line(raw, sim.DECODERS[name])
        assert read.event == dict((key, value) for key, value in data.items() if key != "responseObject")
        assert read.request_size == 0 and read.request_object() is None
        assert read.response_size == raw.index(b',"requestReceivedTimestamp":') - raw.index(b',"responseObject":')
        assert read.meta_size == len(raw) - 1 - read.response_size


def test_parse_timestamp():
    assert sim.parse_timestamp("1970-01-01T00:01:00Z") == 60
    assert sim.parse_timestamp("1970-01-01T00:00:01.500000Z") == 1.5
    assert sim.parse_timestamp("1970-01-01T01:00:00+01:00") == 0
    assert sim.parse_timestamp("yesterday") is None


# --- counting ---------------------------------------------------------------------------------

def test_one_request_per_audit_id_and_stages_as_the_candidate_keeps_them(tmp_path):
    path = write_log(tmp_path, pod_create("a"))
    omit = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata"}]}
    report = run(path, ("all", ALL_METADATA), ("omit", omit))
    assert report["input"]["events"] == 2 and report["input"]["requests"] == 1
    everything, omitting = report["results"]
    assert everything["events"] == 2 and omitting["events"] == 1
    assert everything["by_level"] == {"None": 0, "Metadata": 2, "Request": 0, "RequestResponse": 0}
    assert everything["requests_by_level"]["Metadata"] == 1


def test_a_failed_authentication_is_one_response_started_event(tmp_path):
    failed = event("f", "ResponseStarted", "list", user={}, ref={"resource": "pods"}, level="Metadata", code=401)
    path = write_log(tmp_path, [failed])
    omitting = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["ResponseStarted"],
                "rules": [{"level": "Metadata"}]}
    users_only = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "Metadata", "userGroups": ["system:authenticated"]}]}
    report = run(path, ("all", ALL_METADATA), ("omitting", omitting), ("users-only", users_only))
    assert report["input"]["requests"] == 1 and report["input"]["unfinished_requests"] == 0
    assert [result["events"] for result in report["results"]] == [1, 0, 0]
    assert report["results"][0]["bytes"] == len(line(failed)) + 1


def test_long_running_requests_get_response_started_even_when_the_log_lacks_it(tmp_path):
    ref = {"resource": "pods", "namespace": "prod"}
    # The log was written with RequestReceived omitted: only ResponseComplete is there.
    path = write_log(tmp_path, [event("w", "ResponseComplete", "watch", ref=ref, level="Metadata")])
    report = run(path, ("all", ALL_METADATA))
    assert report["results"][0]["events"] == 3  # RequestReceived, ResponseStarted, ResponseComplete


def test_metadata_bytes_equal_the_events_the_apiserver_would_write(tmp_path):
    events = pod_create("a") + pod_create("b", body=SECRET | {"metadata": {"name": "x", "namespace": "prod"}})
    path = write_log(tmp_path, events)
    report = run(path, ("metadata", ALL_METADATA), ("same", ALL_REQUEST_RESPONSE))
    expected = 0
    for data in events:
        stripped = dict((key, value) for key, value in data.items() if key not in ("requestObject", "responseObject"))
        stripped["level"] = "Metadata"
        expected += len(line(stripped)) + 1
    metadata, same = report["results"]
    assert metadata["bytes"] == expected
    # The policy the log was written with reproduces the log byte for byte.
    assert same["bytes"] == sum(len(line(data)) + 1 for data in events)
    assert same["estimated_body_bytes"] == 0 and metadata["estimated_body_bytes"] == 0


def test_bodies_missing_from_the_log_are_estimated_from_the_same_kind_of_request(tmp_path):
    logged = pod_create("a", level="RequestResponse")
    unlogged = pod_create("b", level="Metadata")
    path = write_log(tmp_path, logged + unlogged)
    result = run(path, ("rr", ALL_REQUEST_RESPONSE))["results"][0]
    body = len(line(POD).encode())
    request_part, response_part = len(',"requestObject":') + body, len(',"responseObject":') + body
    assert result["estimated_body_bytes"] == request_part + response_part
    # The Metadata request now costs what the logged one costs, up to its shorter metadata part.
    per_request = [sum(len(line(data)) + 1 for data in logged)]
    assert abs(result["bytes"] - 2 * per_request[0]) <= 16


def test_bodies_never_seen_fall_back_to_typical_sizes(tmp_path):
    path = write_log(tmp_path, pod_create("a", level="Metadata", stages=("ResponseComplete",)))
    result = run(path, ("rr", ALL_REQUEST_RESPONSE))["results"][0]
    assert result["estimated_body_bytes"] == sim.REQUEST_BODY_BYTES["create"] + sim.RESPONSE_BODY_BYTES["create"]
    ref = {"resource": "pods", "namespace": "prod", "subresource": "exec", "name": "web"}
    path = write_log(tmp_path, [event("e", "ResponseComplete", "create", ref=ref, level="Metadata")], name="exec.log")
    assert run(path, ("rr", ALL_REQUEST_RESPONSE))["results"][0]["estimated_body_bytes"] == 0


def test_a_get_logged_at_request_level_has_no_request_body_to_estimate(tmp_path):
    ref = {"resource": "configmaps", "namespace": "prod", "name": "c"}
    path = write_log(tmp_path, [event("g", "ResponseComplete", "get", ref=ref, level="Request")])
    request_level = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Request"}]}
    assert run(path, ("req", request_level))["results"][0]["estimated_body_bytes"] == 0


def test_levels_agree_with_the_engine_for_every_request(tmp_path):
    events = []
    for index, (verb, ref, uri, user) in enumerate([
            ("get", {"resource": "secrets", "namespace": "prod", "name": "db"}, None, ADMIN),
            ("update", {"resource": "leases", "namespace": "kube-node-lease", "apiGroup": "coordination.k8s.io",
                        "name": "n1"}, None, NODE),
            ("patch", {"resource": "nodes", "name": "n1", "subresource": "status"}, None, NODE),
            ("create", {"resource": "pods", "namespace": "prod", "name": "web", "subresource": "exec"}, None, ADMIN),
            ("create", {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io", "name": "x"},
             None, ADMIN),
            ("get", None, "/healthz", {"username": "system:anonymous", "groups": ["system:unauthenticated"]}),
            ("list", {"resource": "events", "namespace": "prod"}, None, ADMIN)]):
        events.append(event(str(index), "ResponseComplete", verb, user=user, ref=ref, uri=uri, level="Metadata"))
    path = write_log(tmp_path, events)
    for preset in ap.PRESETS:
        policy = ap.preset(preset)
        result = run(path, (preset, policy))["results"][0]
        expected = dict.fromkeys(ap.LEVELS, 0)
        for data in events:
            request = sim.request_from_event(data)
            expected[ap.evaluate(policy, dict((key, request[key]) for key in ap.REQUEST_KEYS)).level] += 1
        assert result["requests_by_level"] == expected, preset


def test_rules_are_attributed_and_deckhouse_basic_rules_come_first(tmp_path):
    ref = {"resource": "leases", "namespace": "kube-node-lease", "apiGroup": "coordination.k8s.io", "name": "n1"}
    events = [event("l", "ResponseComplete", "update", user=NODE, ref=ref, level="Metadata"),
              event("s", "ResponseComplete", "get", ref={"resource": "secrets", "namespace": "prod", "name": "db"},
                    level="Metadata")]
    path = write_log(tmp_path, events)
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]}]}
    as_is = run(path, ("mine", policy))["results"][0]
    assert [(rule["rule"], rule["origin"], rule["requests"]) for rule in as_is["rules"]] == [
        (0, "policy", 1), (None, "default", 1)]
    composed = run(path, ("mine", policy), target="deckhouse")["results"][0]
    origins = dict((rule["origin"], rule) for rule in composed["rules"])
    assert origins["policy"]["policy_rule"] == 0 and origins["policy"]["requests"] == 1
    assert origins["deckhouse-basic"]["requests"] == 1  # the node lease falls under a basic rule


def test_security_relevant_requests_recorded_lost_and_with_body(tmp_path):
    events = pod_create("p", body=PRIVILEGED_POD) + pod_create("q") + [
        event("x", "ResponseComplete", "create", ref={"resource": "pods", "namespace": "prod", "name": "web",
                                                      "subresource": "exec"}),
        event("s", "ResponseComplete", "get", ref={"resource": "secrets", "namespace": "prod", "name": "db"},
              response_object=SECRET),
        event("r", "ResponseComplete", "delete", ref={"resource": "rolebindings", "namespace": "prod", "name": "rb",
                                                      "apiGroup": "rbac.authorization.k8s.io"}),
        event("g", "ResponseComplete", "get", ref={"resource": "rolebindings", "namespace": "prod", "name": "rb",
                                                   "apiGroup": "rbac.authorization.k8s.io"})]
    path = write_log(tmp_path, events)
    only_pods = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "Request", "resources": [{"group": "", "resources": ["pods"]}]}, {"level": "None"}]}
    report = run(path, ("rr", ALL_REQUEST_RESPONSE), ("pods", only_pods))
    everything, pods = (result["security"] for result in report["results"])
    assert everything["privileged_pods"] == {"requests": 1, "recorded": 1, "lost": 0, "with_body": 1}
    assert everything["rbac_changes"]["requests"] == 1  # the get is not a change
    assert everything["secrets_access"] == {"requests": 1, "recorded": 1, "lost": 0, "with_body": 1}
    assert pods["secrets_access"] == {"requests": 1, "recorded": 0, "lost": 1, "with_body": 0}
    # "pods" also covers pods/exec ("pods" alone does not): exec is lost, the privileged create is kept.
    assert pods["pod_exec_attach"]["lost"] == 1 and pods["privileged_pods"]["with_body"] == 1


def test_projection_and_retention(tmp_path):
    events = []
    for second in range(11):  # 11 requests over 10 seconds
        stamp = "2026-11-23T10:00:%02d.000000Z" % second
        events.append(event("r%d" % second, "ResponseComplete", "get", ref={"resource": "pods", "namespace": "p"},
                            level="Metadata", stamp=stamp))
    path = write_log(tmp_path, events)
    report = run(path, ("m", ALL_METADATA), rotation={"max_size_mb": 1, "max_backups": 1, "max_age_days": 30})
    result = report["results"][0]
    assert report["input"]["duration_seconds"] == 10
    assert result["events_per_second"] == 2.2  # RequestReceived and ResponseComplete
    per_second = result["bytes"] / 10.0
    assert result["mb_per_day"] == round(per_second * 86400 / sim.MIB, 3)
    assert result["retention_limited_by"] == "size"
    assert result["retention_hours"] == round(sim.MIB / per_second / 3600, 3)
    # The default rotation keeps 100 MiB x 10 files.
    result = run(path, ("m", ALL_METADATA))["results"][0]
    assert result["retention_hours"] == round(1000 * sim.MIB / per_second / 3600, 3)
    # A trickle (two requests an hour apart) is kept for the whole 30 days.
    trickle = [event("a", "ResponseComplete", "get", ref={"resource": "pods"}, stamp="2026-11-23T10:00:00Z"),
               event("b", "ResponseComplete", "get", ref={"resource": "pods"}, stamp="2026-11-23T11:00:00Z")]
    result = run(write_log(tmp_path, trickle, name="trickle.log"), ("m", ALL_METADATA))["results"][0]
    assert (result["retention_hours"], result["retention_limited_by"]) == (720, "age")


def test_no_time_span_means_no_projection(tmp_path):
    path = write_log(tmp_path, pod_create("a"))
    result = run(path, ("m", ALL_METADATA))["results"][0]
    assert result["mb_per_day"] is None and result["retention_hours"] is None


# --- input problems -------------------------------------------------------------------------------

def test_lines_that_are_not_audit_events_are_counted_and_skipped(tmp_path):
    events = pod_create("a")
    path = write_log(tmp_path, events, extra_lines=[
        "", "not json", '{"kind": "Pod"}', "[1, 2]", line(dict(events[0], auditID="")),
        line(dict(events[0], auditID="z", user="alice")), "I1123 10:00:00 AUDIT: id=x",
        line(dict(events[0], auditID="y", objectRef={"resource": "pods", "namespace": {"name": "prod"}}))])
    report = run(path, ("m", ALL_METADATA))
    source = report["input"]
    assert source["events"] == 2 and source["bad_lines"] == 7
    assert [bad["line"] for bad in source["bad_line_examples"]] == [4, 5, 6, 7, 8]
    assert "not an audit.k8s.io Event" in source["bad_line_examples"][1]["error"]
    assert "auditID or stage" in source["bad_line_examples"][3]["error"]
    assert "user is not an object" in source["bad_line_examples"][4]["error"]


def test_gzip_log_gives_the_same_report(tmp_path):
    events = pod_create("a") + pod_create("b", body=PRIVILEGED_POD)
    plain = write_log(tmp_path, events)
    packed = tmp_path / "audit.log.gz"
    with gzip.open(str(packed), "wb") as handle:
        handle.write(open(plain, "rb").read())
    one, other = run(plain, ("m", ALL_METADATA)), run(str(packed), ("m", ALL_METADATA))
    assert one["results"] == other["results"]
    assert one["input"]["bytes"] == other["input"]["bytes"]


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "audit.log.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(sim.SimulationError, match="reading .* failed"):
        run(str(path), ("m", ALL_METADATA))


@pytest.mark.parametrize("name, message", [("missing.log", "cannot read"), ("", "is a directory")])
def test_unreadable_logs(tmp_path, name, message):
    with pytest.raises(sim.SimulationError, match=message) as info:
        run(str(tmp_path / name), ("m", ALL_METADATA))
    assert info.value.path == "log"


@pytest.mark.parametrize("candidates, rotation, path, message", [
    ([], None, "policies", "at least one"),
    ([("a", ALL_METADATA), ("a", ALL_METADATA)], None, "policies[1].name", "unique"),
    ([("a", ALL_METADATA), ("b", {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"verbs": ["get"]}]})],
     None, "policies[1].rules[0].level", "would refuse this policy"),
    ([("a", "rules: [level: Metadata")], None, "policies[0].policy", "would refuse"),
    ([("a", ALL_METADATA)], {"max_size_mb": 0}, "rotation.max_size_mb", "positive integer"),
    ([("a", ALL_METADATA)], {"max_files": 3}, "rotation.max_files", "unknown key"),
])
def test_bad_candidates_and_rotation_are_refused_before_reading(tmp_path, candidates, rotation, path, message):
    log = str(tmp_path / "never-read.log")  # does not exist: the candidates are checked first
    with pytest.raises(sim.SimulationError, match=message) as info:
        sim.simulate(log, [sim.Candidate(name, policy, "kubeadm") for name, policy in candidates], rotation=rotation)
    assert info.value.path == path


def test_unknown_target_is_refused(tmp_path):
    with pytest.raises(sim.SimulationError, match="must be one of") as info:
        sim.simulate(str(tmp_path / "x"), [sim.Candidate("a", ALL_METADATA, "gke")])
    assert info.value.path == "policies[0].target"


# --- bounded memory ---------------------------------------------------------------------------------

def test_pending_requests_are_bounded_and_still_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sim, "PENDING_LIMIT", 3)
    monkeypatch.setattr(sim, "DECISION_CACHE_LIMIT", 2)
    ref = {"resource": "pods", "namespace": "prod"}
    # Ten watches start, none finishes in the log: the window holds three; all ten are counted once.
    events = [event("w%d" % index, "ResponseStarted", "watch", ref=ref, level="Metadata") for index in range(10)]
    path = write_log(tmp_path, events)
    report = run(path, ("m", ALL_METADATA))
    assert report["input"]["requests"] == 10 and report["input"]["unfinished_requests"] == 10
    assert report["results"][0]["events"] == 30


def test_progress_is_reported_on_long_runs_only(tmp_path, monkeypatch):
    monkeypatch.setattr(sim, "_PROGRESS_EVERY_LINES", 1)
    path = write_log(tmp_path, pod_create("a") + pod_create("b"))
    calls = []
    sim.simulate(path, [sim.Candidate("m", ALL_METADATA)], progress=lambda *args: calls.append(args),
                 progress_interval=0)
    assert calls and calls[-1][0] == 4 and calls[-1][1] == calls[-1][2]
    calls[:] = []
    sim.simulate(path, [sim.Candidate("m", ALL_METADATA)], progress=lambda *args: calls.append(args),
                 progress_interval=3600)
    assert calls == []


# --- command line ---------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate"]
                          + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
                          cwd=sim.__file__.split("/ansible_collections/", maxsplit=1)[0])


def test_command_line_table_json_and_errors(tmp_path):
    policy_file = tmp_path / "mine.yaml"
    policy_file.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n")
    path = write_log(tmp_path, pod_create("a", body=PRIVILEGED_POD))
    done = _cli(path, "--preset", "security", "--policy", str(policy_file), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "security" in done.stdout and "mine.yaml" in done.stdout and "privileged_pods" in done.stdout
    done = _cli(path, "--preset", "minimal", "--json", "--target", "kubeadm")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["name"] == "minimal"
    policy_file.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n")
    done = _cli(path, "--policy", str(policy_file))
    assert done.returncode == 2 and "policies[0].rules[0].level" in done.stderr
    empty = write_log(tmp_path, [], name="empty.log", extra_lines=["nothing here"])
    assert _cli(empty, "--preset", "minimal", "--quiet").returncode == 1


# --- decoders and the request key --------------------------------------------------------------

def _odd_log(tmp_path):
    """Lines each decoder handles differently inside (orjson refuses NaN and integers beyond 64 bits,
    the standard library takes them), bodies cut from the line and parsed whole, and lines that are no
    events at all."""
    cm = {"resource": "configmaps", "namespace": "kube-system", "name": "extension-apiserver-authentication"}
    events = pod_create("p", body=PRIVILEGED_POD) + pod_create("q") + [
        event("c1", "ResponseComplete", "get", ref=cm, response_object={"data": {"x": "y"}}),
        event("c2", "ResponseComplete", "get", ref=dict(cm, name="other"), level="Metadata"),
        event("s", "ResponseComplete", "get", ref={"resource": "secrets", "namespace": "prod", "name": "db"},
              response_object=SECRET),
        event("w", "RequestReceived", "watch", ref={"resource": "pods", "namespace": "prod"})]
    extra = [line(dict(event("n", "ResponseComplete", "get", level="Metadata"), annotations={"a": "b"}))[:-1]
             + ',"big":123456789012345678901234567890,"nan":NaN}',
             "not json", "[1, 2]", "",
             # bodies after the timestamps: parsed whole
             json.dumps(dict(event("o", "ResponseComplete", "create", ref={"resource": "pods", "namespace": "prod",
                                                                           "name": "web"}),
                             requestObject=POD), separators=(",", ":")),
             line(event("u", "ResponseComplete", "get", user={"username": 7}, level="Metadata"))]
    return write_log(tmp_path, events, extra_lines=extra)


@pytest.mark.parametrize("target", ["kubeadm", "deckhouse"])
def test_both_decoders_give_the_same_report(tmp_path, target):
    pytest.importorskip("orjson")
    assert set(sim.DECODERS) == {"json", "orjson"} and sim.DEFAULT_DECODER == "orjson"
    path = _odd_log(tmp_path)
    candidates = [sim.Candidate(name, ap.preset(name), target) for name in ap.PRESETS]
    reports = [json.dumps(sim.simulate(path, candidates, decoder=name).as_dict(), sort_keys=True)
               for name in ("json", "orjson")]
    assert reports[0] == reports[1]
    data = json.loads(reports[0])["input"]
    assert data["bad_lines"] == 3 and data["events"] == 10, data["bad_line_examples"]


def test_the_standard_library_decodes_what_orjson_refuses():
    pytest.importorskip("orjson")
    assert sim.DECODERS["orjson"](b'{"a":NaN,"b":123456789012345678901234567890}')["b"] == 123456789012345678901234567890
    with pytest.raises(ValueError):
        sim.DECODERS["orjson"](b"not json")


def test_an_unknown_decoder_is_refused(tmp_path):
    path = write_log(tmp_path, pod_create("p"))
    with pytest.raises(sim.SimulationError, match="decoder: must be one of"):
        sim.simulate(path, [sim.Candidate("all", ALL_METADATA)], decoder="simd")


def test_object_names_stay_in_the_key_only_where_resource_names_decide(tmp_path):
    named = sim._named_resources([{"rules": [{"level": "None", "resources": [
        {"group": "", "resources": ["configmaps/status"], "resourceNames": ["a"]}]}]}])
    assert named == frozenset([("", "configmaps")])
    wildcard = [{"rules": [{"resources": [{"group": "*", "resourceNames": ["a"], "resources": ["x"]}]}]}]
    assert sim._named_resources(wildcard) is None
    cm, pod = ({"resource": kind, "namespace": "prod", "name": "a"} for kind in ("configmaps", "pods"))
    assert sim.request_key(event("1", "ResponseComplete", "get", ref=cm), named)[7] == "a"
    assert sim.request_key(event("1", "ResponseComplete", "get", ref=pod), named)[7] == ""
    assert sim.request_key(event("1", "ResponseComplete", "get", ref=pod))[7] == "a"
    # A name that is no string stays, so the request is refused as before.
    assert sim.request_key(event("1", "ResponseComplete", "get", ref=dict(pod, name=[1])), named)[7] == [1]
    # The decision by name still holds in a whole run, beside requests whose names were dropped.
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "None", "resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["a"]}]},
        {"level": "Metadata"}]}
    events = [event(str(index), "ResponseComplete", "get", level="Metadata",
                    ref={"resource": kind, "namespace": "prod", "name": name})
              for index, (kind, name) in enumerate([("configmaps", "a"), ("configmaps", "b"), ("pods", "a"),
                                                    ("pods", "b"), ("configmaps", "a")])]
    result = run(write_log(tmp_path, events), ("named", policy))["results"][0]
    assert result["requests_by_level"] == {"None": 2, "Metadata": 3, "Request": 0, "RequestResponse": 0}


def test_without_orjson_the_standard_library_decodes(tmp_path):
    path = write_log(tmp_path, pod_create("p", body=PRIVILEGED_POD) + pod_create("q"))
    code = ("import sys, json; sys.modules['orjson'] = None\n"
            "from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as sim\n"
            "assert sim.DEFAULT_DECODER == 'json' and list(sim.DECODERS) == ['json'], sim.DECODERS\n"
            "policy = {'apiVersion': 'audit.k8s.io/v1', 'kind': 'Policy', 'rules': [{'level': 'RequestResponse'}]}\n"
            "print(json.dumps(sim.simulate(sys.argv[1], [sim.Candidate('all', policy, 'kubeadm')]).as_dict(),"
            " sort_keys=True))\n")
    proc = subprocess.run([sys.executable, "-c", code, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), check=False)
    assert proc.returncode == 0, proc.stderr
    expected = run(path, ("all", ALL_REQUEST_RESPONSE))
    assert json.loads(proc.stdout) == json.loads(json.dumps(expected, sort_keys=True))
