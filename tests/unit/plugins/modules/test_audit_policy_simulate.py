# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit_policy_simulate module: options in, the simulator's report out, clear failures."""

import gzip
import json

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import audit_policy_simulate
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as sim
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

USER = {"username": "alice", "groups": ["system:authenticated"]}


def _event(audit_id, second, verb="get", resource="secrets", stage="ResponseComplete"):
    return json.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
                       "stage": stage, "requestURI": "/api/v1/namespaces/prod/%s" % resource, "verb": verb,
                       "user": USER, "objectRef": {"resource": resource, "namespace": "prod", "apiVersion": "v1"},
                       "responseStatus": {"metadata": {}, "code": 200},
                       "requestReceivedTimestamp": "2026-11-23T10:00:%02d.000000Z" % second,
                       "stageTimestamp": "2026-11-23T10:00:%02d.000000Z" % second}, separators=(",", ":"))


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "audit.log"
    path.write_text("\n".join(_event("id-%d" % index, index * 6, resource="secrets" if index % 2 else "pods")
                              for index in range(10)) + "\n")
    return str(path)


def _args(path, **extra):
    args = {"log": path, "policies": [{"name": "security", "preset": "security"}]}
    args.update(extra)
    return args


def test_report_for_presets_inline_and_file_policies(log, tmp_path):
    src = tmp_path / "mine.yaml"
    src.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n")
    inline = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
    result, warnings = run_module(audit_policy_simulate, _args(log, policies=[
        {"name": "security", "preset": "security"},
        {"name": "inline", "policy": inline, "target": "kubeadm"},
        {"name": "file", "src": str(src), "target": "kubeadm"}]))
    assert warnings == [] and result["changed"] is False
    assert [entry["name"] for entry in result["results"]] == ["security", "inline", "file"]
    assert result["input"]["events"] == result["input"]["requests"] == 10
    assert result["input"]["duration_seconds"] == 54
    inline_result, nothing = result["results"][1:]
    assert inline_result["events"] == 20 and inline_result["requests_by_level"]["Metadata"] == 10
    assert nothing["events"] == 0 and nothing["bytes"] == 0 and nothing["security"]["secrets_access"]["lost"] == 5
    # The module returns exactly what the simulator computes.
    expected = sim.simulate(log, [sim.Candidate("security", sim.engine.preset("security"))]).as_dict()
    assert result["results"][0] == expected["results"][0]


def test_check_mode_reports_the_same(log):
    checked, applied = (run_module(audit_policy_simulate, _args(log), check_mode=mode)[0] for mode in (True, False))
    # elapsed_seconds is the run's wall time, different every run.
    assert checked.pop("elapsed_seconds") >= 0 and applied.pop("elapsed_seconds") >= 0
    assert checked == applied


def test_rotation_changes_the_retention(log):
    small, _warnings = run_module(audit_policy_simulate, _args(log, rotation={"max_size_mb": 1, "max_backups": 1}))
    default, _warnings = run_module(audit_policy_simulate, _args(log))
    assert small["input"]["rotation"] == {"max_size_mb": 1, "max_backups": 1, "max_age_days": 30}
    assert default["results"][0]["retention_hours"] == 720  # 10 requests a minute fill nothing
    assert small["results"][0]["retention_hours"] < 720 and small["results"][0]["retention_limited_by"] == "size"


def test_gzip_log(log, tmp_path):
    packed = tmp_path / "audit.log.gz"
    with gzip.open(str(packed), "wb") as handle:
        handle.write(open(log, "rb").read())
    assert run_module(audit_policy_simulate, _args(str(packed)))[0]["results"] == \
        run_module(audit_policy_simulate, _args(log))[0]["results"]


def test_bad_lines_warn_with_line_numbers(log):
    with open(log, "a") as handle:
        handle.write("garbage\n")
    result, warnings = run_module(audit_policy_simulate, _args(log))
    assert result["input"]["bad_lines"] == 1
    assert len(warnings) == 1 and "skipped 1 lines" in warnings[0] and "line 11:" in warnings[0]


def test_no_time_span_warns(tmp_path):
    path = tmp_path / "one.log"
    path.write_text(_event("a", 0) + "\n")
    result, warnings = run_module(audit_policy_simulate, _args(str(path)))
    assert result["results"][0]["mb_per_day"] is None
    assert warnings and "no time span" in warnings[0]


@pytest.mark.parametrize("change, message", [
    ({"policies": [{"name": "x", "policy": {"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Loud"}]}}]},
     "policies[0].rules[0].level: kube-apiserver 1.33 would refuse this policy"),
    ({"policies": [{"name": "x", "preset": "security"}, {"name": "x", "preset": "minimal"}]},
     "policies[1].name: must be a unique"),
    ({"policies": [{"name": "x", "src": "/nonexistent/policy.yaml"}]}, "policies[0].src: cannot read"),
    ({"policies": [{"name": "x", "preset": "security", "policy": {"rules": []}}]}, "mutually exclusive"),
    ({"policies": [{"name": "x"}]}, "one of the following is required"),
    ({"rotation": {"max_backups": 0}}, "rotation.max_backups: must be a positive integer"),
    ({"kubernetes_version": "1.20"}, "kubernetes_version: 1.20 is not supported"),
    ({"kubernetes_version": "latest"}, "kubernetes_version: 'latest' is not a Kubernetes version"),
    ({"log": "/nonexistent/audit.log"}, "log: cannot read /nonexistent/audit.log"),
])
def test_bad_input_fails_clearly(log, change, message):
    result = run_module_fail(audit_policy_simulate, _args(log, **change))
    assert message in result["msg"]


def test_a_log_without_audit_events_fails(tmp_path):
    path = tmp_path / "legacy.log"
    path.write_text('2026-11-23T10:00:00Z AUDIT: id="x" stage="ResponseComplete" ip="10.0.0.1" method="get"\n')
    result = run_module_fail(audit_policy_simulate, _args(str(path)))
    assert "holds no audit events (1 lines; first: line 1:" in result["msg"]
    assert result["input"]["bad_lines"] == 1
