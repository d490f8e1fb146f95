"""The synthetic audit log looks like a kube-apiserver's: valid events, stages grouped by auditID,
the traffic mix the benchmarks rely on, and the generator's own promises (seed, size, gzip, cache)."""
import collections
import gzip
import io
import json
import os
import re

import pytest

MICROTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ALWAYS = ("kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "sourceIPs", "userAgent",
          "requestReceivedTimestamp", "stageTimestamp")
ORDER = ("RequestReceived", "ResponseStarted", "ResponseComplete")


def _text(gen, **kwargs):
    out = io.StringIO()
    counts = gen.generate(out, **kwargs)
    return out.getvalue(), counts


@pytest.fixture(scope="module")
def log(gen):
    text, counts = _text(gen, events=12000, seed=11)
    return [json.loads(line) for line in text.splitlines()], counts


def _requests(events):
    grouped = collections.OrderedDict()
    for event in events:
        grouped.setdefault(event["auditID"], []).append(event)
    return grouped


def _long_running(event):
    ref = event.get("objectRef") or {}
    return event["verb"] in ("watch", "proxy") or ref.get("subresource") in ("exec", "attach", "log", "portforward", "proxy")


def test_every_line_is_an_audit_event_as_the_apiserver_writes_it(log):
    events, counts = log
    assert len(events) == counts["events"] == 12000
    previous = ""
    for event in events:
        assert all(key in event for key in ALWAYS), event
        assert (event["kind"], event["apiVersion"], event["level"]) == ("Event", "audit.k8s.io/v1", "RequestResponse")
        assert MICROTIME.match(event["requestReceivedTimestamp"]) and MICROTIME.match(event["stageTimestamp"])
        assert event["stageTimestamp"] >= event["requestReceivedTimestamp"]
        assert event["stageTimestamp"] >= previous, "events are written in the order they happen"
        previous = event["stageTimestamp"]
        if event["stage"] == "RequestReceived":
            # written before authorization and before any body is read
            assert not {"responseStatus", "requestObject", "responseObject", "annotations"} & set(event)
            assert event["stageTimestamp"] == event["requestReceivedTimestamp"]
        else:
            assert isinstance(event["responseStatus"]["code"], int)
        if "requestObject" in event or "responseObject" in event:
            assert event["stage"] == "ResponseComplete"
        ref = event.get("objectRef")
        path = event["requestURI"].split("?")[0]
        if ref:
            assert ref["resource"] in path and ref["apiVersion"] in path
            assert path.startswith("/api/v1/" if not ref.get("apiGroup") else "/apis/%s/" % ref["apiGroup"])
        else:
            assert event.get("responseStatus", {}).get("code") == 401 or not path.startswith("/api/v1/")


def test_stages_of_one_request_share_its_auditid_and_arrive_in_order(log):
    events, _counts = log
    first, last = events[0]["stageTimestamp"], events[-1]["stageTimestamp"]
    requests = _requests(events)
    complete = 0
    for stages in requests.values():
        names = [event["stage"] for event in stages]
        assert names == [stage for stage in ORDER if stage in names], names
        assert len({(e["requestURI"], e["verb"], json.dumps(e["user"]), e["requestReceivedTimestamp"]) for e in stages}) == 1
        head = stages[0]
        if head.get("responseStatus", {}).get("code") == 401:
            # failed authentication: one ResponseStarted event, no user
            assert names == ["ResponseStarted"] and head["user"] == {}
            continue
        assert ("ResponseStarted" in names) == _long_running(head) or names == ["ResponseComplete"]
        if "RequestReceived" not in names:
            assert head["requestReceivedTimestamp"] < first, "only requests already in flight when the log starts"
        if "ResponseComplete" not in names and not _long_running(head):
            assert head["requestReceivedTimestamp"][:16] >= last[:15], "only requests in flight when the log ends"
        complete += names[0] == "RequestReceived" and names[-1] == "ResponseComplete"
    assert complete > 0.7 * len(requests)


def test_the_mix_has_every_kind_of_traffic_the_benchmarks_need(log):
    events, _counts = log
    requests = [stages[-1] for stages in _requests(events).values()]
    seen = collections.Counter()
    for event in requests:
        ref = event.get("objectRef") or {}
        user = event["user"].get("username", "")
        resource = "/".join(filter(None, (ref.get("resource"), ref.get("subresource"))))
        body = event.get("requestObject") or {}
        if resource == "leases":
            seen["leases"] += 1
        if event["verb"] == "watch":
            seen["watch"] += 1
        if user.startswith("system:node:") and resource == "nodes/status" and event["verb"] == "patch":
            seen["node status"] += 1
        if user.startswith("system:node:") and resource in ("secrets", "configmaps") and event["verb"] == "get":
            seen["kubelet reads"] += 1
        if user == "system:kube-scheduler" and resource == "pods/binding":
            seen["binding"] += 1
        if event["userAgent"].startswith("kubectl/"):
            seen["kubectl"] += 1
            if resource == "secrets" and event["verb"] in ("get", "list"):
                seen["people read secrets"] += 1
        if resource in ("pods/exec", "pods/attach"):
            seen["exec"] += 1
        if ref.get("apiGroup") == "rbac.authorization.k8s.io" and event["verb"] in ("create", "update", "delete"):
            seen["rbac"] += 1
        if resource == "pods" and event["verb"] == "create" and any(
                (c.get("securityContext") or {}).get("privileged") for c in body.get("spec", {}).get("containers", [])):
            seen["privileged"] += 1
        if not ref and event["requestURI"] in ("/healthz", "/livez", "/readyz"):
            seen["probes"] += 1
        if not ref and event["requestURI"] in ("/metrics", "/api", "/apis"):
            seen["metrics and discovery"] += 1
        code = event.get("responseStatus", {}).get("code")
        if code == 403:
            assert event["annotations"]["authorization.k8s.io/decision"] == "forbid"
            seen["403"] += 1
        if code == 401:
            seen["401"] += 1
    wanted = ("leases", "watch", "node status", "kubelet reads", "binding", "kubectl", "people read secrets", "exec",
              "rbac", "privileged", "probes", "metrics and discovery", "403", "401")
    assert [name for name in wanted if not seen[name]] == []
    # a cluster's log is mostly machines: leases alone outnumber everything people do
    assert seen["leases"] > 0.25 * len(requests) > seen["kubectl"]


def test_same_seed_same_log_other_seed_other_log(gen):
    one, again, other = (_text(gen, events=3000, seed=seed)[0] for seed in (5, 5, 6))
    assert one == again
    assert one != other


@pytest.mark.parametrize("size", [300 * 1024, 2 * 1024 * 1024])
def test_size_is_a_ceiling_reached_within_one_event(gen, size):
    text, counts = _text(gen, size=size)
    assert counts["bytes"] == len(text.encode()) <= size
    assert size - len(text) < 64 * 1024


def test_gzip_output_and_cache(gen, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITOPS_CACHE", str(tmp_path))
    plain = gen.cached_log(events=2000, seed=3)
    packed = gen.cached_log(events=2000, seed=3, compress=True)
    assert os.path.dirname(plain) == os.path.join(str(tmp_path), "bench")
    with gzip.open(packed, "rt") as handle, open(plain) as raw:
        assert handle.read() == raw.read()
    stamp = os.stat(plain).st_mtime_ns
    assert gen.cached_log(events=2000, seed=3) == plain and os.stat(plain).st_mtime_ns == stamp
    assert gen.cached_log(events=2001, seed=3) != plain


def test_command_line_writes_a_file(gen, tmp_path, capsys):
    out = tmp_path / "audit.jsonl"
    assert gen.main(["--size", "100K", "-o", str(out)]) == 0
    assert 90 * 1024 < out.stat().st_size <= 100 * 1024
    assert "events" in capsys.readouterr().err


def test_helpers(gen):
    assert gen.parse_size("50M") == 50 * 1024 ** 2 and gen.parse_size("1G") == 1024 ** 3 and gen.parse_size("10") == 10
    assert gen.parse_size("1.5KiB") == 1536
    with pytest.raises(ValueError):
        gen.parse_size("0")
    # as Go's time.Duration prints them in the latency annotations
    assert [gen.go_duration(us) for us in (250, 1500, 2500000, 433002000)] == ["250µs", "1.5ms", "2.5s", "7m13.002s"]
