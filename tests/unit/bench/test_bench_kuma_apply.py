# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/bench_kuma_apply.py: the seed examples as a user copies them, counting API requests in an audit
log, reading kubectl's output, and that the role input of the benchmark is the golden files' input.
The runs themselves are `make bench-smoke`."""

import json
import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.tests.unit.bench import _bench_loader

bench = _bench_loader.load("bench_kuma_apply")

PAGE = """Intro

- Sending logs over UDP:

  ```yaml
  apiVersion: deckhouse.io/v1alpha1
  kind: ClusterLogDestination
  metadata:
    name: kuma-udp-json
  spec:
    socket:
      address: IP_ADDRESS:PORT # Replace as needed.
  ---
  kind: ClusterLoggingConfig
  metadata:
    name: kubelet-audit-logs
  ```

```yaml
top: level
```
"""


def test_seed_blocks_are_dedented_yaml_documents():
    blocks = bench.seed_blocks(PAGE)
    assert len(blocks) == 2
    docs = list(yaml.safe_load_all(blocks[0]))
    assert [d["kind"] for d in docs] == ["ClusterLogDestination", "ClusterLoggingConfig"]
    assert bench.destination_name(docs) == "kuma-udp-json"
    assert yaml.safe_load(blocks[1]) == {"top": "level"}
    assert bench.destination_name([{"kind": "ClusterLoggingConfig", "metadata": {"name": "x"}}, None]) is None


def test_user_copy_replaces_the_placeholders_with_the_golden_values():
    block = bench.seed_blocks(PAGE)[0]
    copy = bench.user_copy(block, {"spec": {"socket": {"address": "192.0.2.10:5140"}}})
    assert yaml.safe_load_all(copy).__next__()["spec"]["socket"]["address"] == "192.0.2.10:5140"
    kafka = "bootstrapServers:\n  - kafka-address:9092 # Replace as needed.\n"
    assert "kafka.example.com:9092" in bench.user_copy(kafka, {"spec": {"kafka": {"bootstrapServers": ["kafka.example.com:9092"]}}})


def test_every_golden_example_has_its_seed_example_and_no_placeholder_is_left():
    with open(bench.SEED) as handle:
        blocks = bench.seed_blocks(handle.read())
    by_name = dict((bench.destination_name(list(yaml.safe_load_all(b))), b) for b in blocks)
    golden = bench.load_golden()
    assert list(golden) == ["01-udp-json", "02-tcp-json", "03-tcp-cef", "04-tcp-syslog", "05-kafka"]
    for _key, (_path, objects) in golden.items():
        destination = [o for o in objects if o["kind"] == "ClusterLogDestination"][0]
        copy = bench.user_copy(by_name[destination["metadata"]["name"]], destination)
        assert not [p for p in bench.PLACEHOLDERS if p in copy]
        assert len(list(yaml.safe_load_all(copy))) == 2


def _event(audit_id, verb, user="auditops-admin", agent="kubectl/v0.0.0 (linux/amd64) kubernetes/$Format", stage="ResponseComplete",
           uri="/apis/deckhouse.io/v1alpha1/clusterlogdestinations/x"):
    return json.dumps({"kind": "Event", "auditID": audit_id, "stage": stage, "verb": verb,
                       "user": {"username": user}, "userAgent": agent, "requestURI": uri})


def test_requests_are_counted_once_per_audit_id_without_loopback():
    lines = [
        _event("a", "get"),
        _event("b", "watch", stage="ResponseStarted"),
        _event("b", "watch"),
        _event("c", "create"),
        _event("d", "patch", agent="Python-urllib/3.11"),
        _event("e", "get", user="system:apiserver", agent="kube-apiserver/v1.33.13 (linux/amd64) kubernetes/abc"),
        "",
    ]
    counts = bench.count_requests(lines)
    assert counts["total"] == 4
    assert (counts["read"], counts["write"]) == (2, 2)
    assert counts["by_agent"] == {"kubectl": 3, "Python-urllib": 1}
    assert counts["by_verb"] == {"get": 1, "watch": 1, "create": 1, "patch": 1}


@pytest.mark.parametrize("uri, kind", [
    ("/api?timeout=32s", "discovery"),
    ("/api/v1", "discovery"),
    ("/apis", "discovery"),
    ("/apis/deckhouse.io", "discovery"),
    ("/apis/deckhouse.io/v1alpha1?timeout=32s", "discovery"),
    ("/openapi/v3/apis/deckhouse.io/v1alpha1?hash=235F", "discovery"),
    ("/openapi/v2?timeout=32s", "discovery"),
    ("/version", "discovery"),
    ("/api/v1/namespaces", "get"),
    ("/apis/deckhouse.io/v1alpha1/clusterlogdestinations/kuma-udp-json", "get"),
])
def test_discovery_requests_are_told_from_resource_requests(uri, kind):
    event = json.loads(_event("a", "get", uri=uri))
    assert bench.request_kind(event) == kind
    assert bench.count_requests([json.dumps(event)])["by_kind"] == {kind: 1}


def test_audit_log_reads_only_whole_lines_written_after_the_mark(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.time, "sleep", lambda _seconds: None)
    path = tmp_path / "audit.log"
    log = bench.AuditLog(str(path))
    log.mark()  # no file yet
    path.write_text(_event("a", "get") + "\n")
    log.mark()
    with open(str(path), "a") as handle:
        handle.write(_event("b", "create") + "\n" + '{"kind": "Ev')
    assert [json.loads(line)["auditID"] for line in log.since_mark()] == ["b"]


def test_kubectl_changed_counts_created_and_configured_objects():
    out = ("clusterlogdestination.deckhouse.io/kuma-udp-json created\n"
           "clusterloggingconfig.deckhouse.io/kuma-udp-json-audit configured\n"
           "clusterlogdestination.deckhouse.io/kuma-tcp-json unchanged\n")
    assert bench.kubectl_changed(out) == 2


@pytest.mark.parametrize("stderr, reason", [
    ('error: resource mapping not found for name: "kubelet-audit-logs" namespace: "" from "/tmp/bench-kuma-x/seed-01-1.yml": '
     'no matches for kind "ClusterLoggingConfig" in version "deckhouse.io/v1alpha2"\nensure CRDs are installed first\n',
     'no matches for kind "ClusterLoggingConfig" in version "deckhouse.io/v1alpha2"'),
    ('Error from server (BadRequest): error when creating "/tmp/bench-kuma-x/seed-03-0.yml": ClusterLogDestination in version '
     '"v1alpha1" cannot be handled as a ClusterLogDestination: strict decoding error: unknown field "spec.socket.extraLabels"\n',
     'strict decoding error: unknown field "spec.socket.extraLabels"'),
    ('The ClusterLogDestination "x" is invalid: spec.socket.address: Invalid value: "IP_ADDRESS:PORT": spec.socket.address '
     'in body should match \'^.*:[1-9][0-9]+$\'\n',
     'Invalid value: "IP_ADDRESS:PORT": spec.socket.address in body should match \'^.*:[1-9][0-9]+$\''),
    ('error: something else in "/tmp/bench-kuma-x/seed-05-1.yml"\n', 'error: something else in "seed-05-1.yml"'),
    ("", "(no message)"),
])
def test_rejection_reason_keeps_the_server_reason(stderr, reason):
    assert bench.rejection_reason(stderr) == reason


def test_role_input_builds_exactly_the_golden_objects():
    """bench/vars/kuma_examples.yml is the golden files' input: the role leaves the objects kubectl applies."""
    with open(bench.ROLE_VARS) as handle:
        variables = yaml.safe_load(handle)
    built = ls.build(variables["kuma_log_shipper_destinations"], variables["kuma_log_shipper_sources"], ls.resolve_profile("dkp-1.67"))
    golden = [obj for _path, objects in bench.load_golden().values() for obj in objects]
    assert sorted(built["objects"], key=_kind_and_name) == sorted(golden, key=_kind_and_name)


def _kind_and_name(obj):
    return obj["kind"], obj["metadata"]["name"]


def test_role_vars_are_cut_down_to_the_chosen_examples(tmp_path):
    role = bench.Role(["kuma-udp-json"], str(tmp_path))
    with open(role.vars_file) as handle:
        variables = json.load(handle)
    assert [d["name"] for d in variables["kuma_log_shipper_destinations"]] == ["kuma-udp-json"]
    assert [s["name"] for s in variables["kuma_log_shipper_sources"]] == ["kuma-udp-json-audit"]
    assert variables["kuma_log_shipper_preflight"] is False
    assert os.path.exists(role.inventory)


def test_without_the_seed_kubectl_applies_the_golden_files(monkeypatch, tmp_path):
    # A clone with nothing beside it: the benchmark still runs, on the golden files, and says so.
    monkeypatch.setattr(bench, "SEED", str(tmp_path / "absent.txt"))
    monkeypatch.delenv("CI", raising=False)
    examples = bench.load_golden()
    files, notes = bench.probe("kubectl-not-called", None, str(tmp_path), examples)
    assert files == [path for path, _objects in examples.values()]
    assert notes == ["the seed %s is not beside the checkout: kubectl applies the golden files instead" % bench.SEED]


def test_without_the_seed_under_ci_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "SEED", str(tmp_path / "absent.txt"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(bench.BenchError, match="CI is set"):
        bench.probe("kubectl-not-called", None, str(tmp_path), bench.load_golden())


class _Log(object):
    """AuditLog stand-in: since_mark returns the next batch of audit lines."""

    def __init__(self, batches):
        self.batches = list(batches)

    def mark(self):
        pass

    def since_mark(self):
        return self.batches.pop(0)


class _Contender(object):
    label = "fake"

    def __init__(self, seconds):
        self.seconds = list(seconds)

    def run(self, _api):
        return self.seconds.pop(0), 0


def _request(audit_id, verb):
    return json.dumps({"auditID": audit_id, "verb": verb, "user": {"username": "admin"}, "requestURI": "/api/v1/x"})


def test_a_repeated_run_gives_the_median_time_and_the_first_runs_requests():
    batches = [[_request("a%d" % run, "get"), _request("b%d" % run, "list")] for run in range(5)]
    seconds, requests, changed = bench.repeated_run(_Contender([0.9, 0.2, 0.4, 0.3, 5.0]), None, _Log(batches), 5)
    assert seconds == 0.4
    assert requests["total"] == 2 and requests["by_verb"] == {"get": 1, "list": 1}
    assert requests["repeat_reads"] == [2, 2, 2, 2, 2]
    assert changed == 0


def test_repeated_runs_may_read_differently_and_say_so():
    """kubectl's first warm run reads once more than the next ones (its cache); the first run's requests are kept."""
    batches = [[_request("a", "get"), _request("b", "get")], [_request("c", "get")]]
    seconds, requests, _changed = bench.repeated_run(_Contender([0.2, 0.4]), None, _Log(batches), 2)
    assert seconds == pytest.approx(0.3)
    assert requests["read"] == 2 and requests["repeat_reads"] == [2, 1]


def test_repeated_runs_that_write_differently_stop_the_benchmark():
    batches = [[_request("a", "get")], [_request("b", "get"), _request("c", "patch")]]
    with pytest.raises(bench.BenchError, match="repeated runs wrote differently"):
        bench.repeated_run(_Contender([0.2, 0.3]), None, _Log(batches), 2)


def test_kubernetes_core_applies_every_document_of_kubectls_files_in_one_file(tmp_path):
    examples = bench.load_golden()
    files = [path for path, _objects in examples.values()]
    contender = bench.KubernetesCoreK8s(files, str(tmp_path))
    with open(contender.src) as handle:
        documents = list(yaml.safe_load_all(handle))
    # The golden files hold one v1 List each; kubectl and kubernetes.core.k8s both apply a List's items.
    assert [doc["kind"] for doc in documents] == ["List"] * 5
    assert [item for doc in documents for item in doc["items"]] == [obj for _path, objects in examples.values() for obj in objects]
    with open(contender.inventory) as handle:
        assert handle.read().startswith("localhost ansible_connection=local ")


def _rows(times):
    return [{"contender": label, "run": run, "seconds": seconds} for (label, run), seconds in times.items()]


def test_ratios_compare_every_contender_with_kubectl_and_the_role_with_its_floors():
    times = {}
    for run, scale in (("first", 2.0), ("second", 1.0)):
        times.update({("kubectl apply", run): 0.2 * scale, ("role", run): 1.2 * scale,
                      ("kubernetes.core.k8s", run): 1.8 * scale, ("one module task", run): 0.8 * scale,
                      ("empty play", run): 0.4 * scale})
    first, second = bench.ratios(_rows(times))
    assert second == ("second run, wall time as a multiple of kubectl's: role 6.0x, kubernetes.core.k8s 9.0x, "
                      "one module task 4.0x, empty play 2.0x; kubernetes.core.k8s 1.5x the role's; role minus one module "
                      "task 0.4 s, minus empty play 0.8 s")
    assert first.startswith("first run, wall time as a multiple of kubectl's: role 6.0x,") and first.endswith(
        "role minus one module task 0.8 s, minus empty play 1.6 s")
