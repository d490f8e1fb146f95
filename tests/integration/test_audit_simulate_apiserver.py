# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's prediction against what a real kube-apiserver writes.

The same traffic (pods, a privileged pod, secrets, configmaps, RBAC changes, exec, a watch, non-resource
URLs, anonymous requests) is sent to kube-apiserver 1.33 four times: once with a catch-all
RequestResponse policy, whose log is the simulator's input, and once with each candidate policy. For our
requests (found by their Audit-ID) the simulator's events and levels must equal the candidate's real log
exactly, its bytes must be within a few percent (object UIDs, resourceVersions and timestamps differ
between runs), and a request it says the candidate loses must be absent from the real log."""

import json
import os
import uuid

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as sim
from ansible_collections.auditops.deckhouse.tests.integration._apiserver_traffic import (
    events_by_audit_id, send, wait_log_quiet)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SOURCE = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"
CUSTOM = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: [/version]
- level: RequestResponse
  resources: [{group: "", resources: [pods]}]
  verbs: [create, patch]
- level: Request
  resources: [{group: "", resources: [pods/exec]}]
- level: Metadata
  resources: [{group: "", resources: [secrets, configmaps]}]
- level: RequestResponse
  resources: [{group: rbac.authorization.k8s.io}]
- level: Metadata
  verbs: [watch]
  omitStages: [ResponseStarted]
- level: None
  userGroups: [system:unauthenticated]
- level: Metadata
"""
DECKHOUSE_USER_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
    {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]},
    {"level": "Metadata", "omitStages": ["RequestReceived"]}]}
CANDIDATES = [
    ("security-kubeadm", ap.to_yaml(ap.preset("security")), "kubeadm"),
    ("custom-kubeadm", CUSTOM, "kubeadm"),
    ("user-on-deckhouse-basic", ap.to_yaml(DECKHOUSE_USER_POLICY), "deckhouse"),
]


def traffic(ns):
    """(method, path, body, anonymous, content type) for one run; names have the same length in every run."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.0"}]}}
    root = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": ns},
            "spec": {"containers": [{"name": "sh", "image": "registry.example/debian:12",
                                     "securityContext": {"privileged": True}}]}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
              "stringData": {"password": "not-a-real-one"}}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "viewers", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}
    core = "/api/v1/namespaces/%s" % ns
    merge = "application/merge-patch+json"
    requests = [("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                 False, None),
                ("POST", core + "/pods", pod, False, None),
                ("POST", core + "/pods", root, False, None)]
    requests += [("GET", core + "/pods/web", None, False, None)] * 4
    requests += [("GET", core + "/pods", None, False, None),
                 ("PATCH", core + "/pods/web", {"metadata": {"labels": {"tier": "front"}}}, False, merge),
                 ("POST", core + "/secrets", secret, False, None),
                 ("GET", core + "/secrets/db", None, False, None),
                 ("GET", core + "/secrets", None, False, None),
                 ("POST", core + "/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "cfg", "namespace": ns}, "data": {"a": "b"}},
                  False, None),
                 ("GET", core + "/configmaps/cfg", None, False, None),
                 ("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings" % ns, binding, False, None),
                 ("DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings/viewers" % ns, None, False,
                  None),
                 ("POST", core + "/pods/web/exec?command=id&stdout=true", None, False, None),
                 ("GET", core + "/pods?watch=true&timeoutSeconds=1", None, False, None),
                 ("GET", "/healthz", None, False, None),
                 ("GET", "/version", None, False, None),
                 ("GET", core + "/pods", None, True, None),
                 ("DELETE", core + "/pods/root", None, False, None)]
    return requests


def _run(apiserver_runner, tmp_path, name, policy_text, ns):
    policy_path = tmp_path / ("%s.yaml" % name)
    policy_path.write_text(policy_text)
    log_path = str(tmp_path / ("%s.log" % name))
    ids = []
    with apiserver_runner.serve(["--audit-policy-file=%s" % policy_path, "--audit-log-path=" + log_path]) as api:
        for method, path, body, anonymous, content_type in traffic(ns):
            audit_id = str(uuid.uuid4())
            send(api, method, path, body, anonymous, audit_id, content_type or "application/json")
            ids.append(audit_id)
        wait_log_quiet(log_path)
    return ids, log_path


@pytest.fixture(scope="module")
def runs(apiserver_runner, k8s_cluster, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("simulate")
    ids, source_log = _run(apiserver_runner, tmp_path, "source", SOURCE, "sim-0")
    # The simulator's input: our requests only (the apiserver's own loopback traffic differs per run).
    events = events_by_audit_id(source_log)
    ours = tmp_path / "ours.log"
    with open(str(ours), "w") as handle:
        for audit_id in ids:
            for event in events.get(audit_id, []):
                handle.write(json.dumps(event, separators=(",", ":")) + "\n")
    real = {}
    for index, (name, text, target) in enumerate(CANDIDATES, 1):
        run_text = text if target == "kubeadm" else ap.to_yaml(ap.compose(ap.load_policy(text).policy).policy)
        run_ids, log_path = _run(apiserver_runner, tmp_path, name, run_text, "sim-%d" % index)
        logged = events_by_audit_id(log_path)
        real[name] = [logged.get(audit_id, []) for audit_id in run_ids]
    return ids, events, str(ours), real


def test_the_source_log_holds_every_request_with_bodies(runs):
    ids, events, _ours, _real = runs
    assert all(events.get(audit_id) for audit_id in ids), "a request is missing from the RequestResponse log"
    stages = [event["stage"] for audit_id in ids for event in events[audit_id]]
    assert "ResponseStarted" in stages and "RequestReceived" in stages
    assert any("responseObject" in event for audit_id in ids for event in events[audit_id])


@pytest.mark.parametrize("name, text, target", CANDIDATES, ids=[candidate[0] for candidate in CANDIDATES])
def test_simulation_equals_the_real_log(runs, name, text, target):
    ids, _events, ours, real = runs
    report = sim.simulate(ours, [sim.Candidate(name, text, target)], kubernetes_version="1.33").as_dict()
    result = report["results"][0]
    per_request = real[name]
    real_events = sum(len(events) for events in per_request)
    real_bytes = sum(len(json.dumps(event, separators=(",", ":")).encode()) + 1
                     for events in per_request for event in events)
    real_levels = dict.fromkeys(ap.LEVELS, 0)
    for events in per_request:
        real_levels[events[0]["level"] if events else "None"] += 1
    print("\n%s: simulated %d events %d bytes (%d estimated), real %d events %d bytes; levels %s" % (
        name, result["events"], result["bytes"], result["estimated_body_bytes"], real_events, real_bytes,
        result["requests_by_level"]))
    assert report["input"]["requests"] == len(ids)
    assert result["events"] == real_events
    # A request the policy keeps at None has no events; one whose stages are all omitted neither.
    assert result["requests_by_level"]["Metadata"] + result["requests_by_level"]["Request"] + \
        result["requests_by_level"]["RequestResponse"] >= sum(1 for events in per_request if events)
    for level in ("Metadata", "Request", "RequestResponse"):
        assert result["requests_by_level"][level] == real_levels[level], level
    assert result["estimated_body_bytes"] == 0  # the source log has every body
    assert abs(result["bytes"] - real_bytes) <= 0.03 * real_bytes
    kept = dict((category, values["recorded"]) for category, values in result["security"].items())
    assert kept == _real_security(ours, per_request)


def _real_security(ours, per_request):
    """The security categories of the source requests whose candidate run logged something."""
    source = events_by_audit_id(ours)
    counts = dict.fromkeys(sim.SECURITY_CATEGORIES, 0)
    for source_events, candidate_events in zip(source.values(), per_request):
        if not candidate_events:
            continue
        last = source_events[-1]
        for category in sim.security_categories(sim.request_from_event(last), last):
            counts[category] += 1
    return counts


def test_security_categories_are_present_in_the_traffic(runs):
    _ids, _events, ours, _real = runs
    everything = sim.simulate(ours, [sim.Candidate("all", SOURCE, "kubeadm")]).as_dict()["results"][0]["security"]
    assert everything["privileged_pods"]["requests"] == 1
    assert everything["pod_exec_attach"]["requests"] == 1
    assert everything["rbac_changes"]["requests"] == 2
    assert everything["secrets_access"]["requests"] == 3
    assert os.path.getsize(ours) > 0
