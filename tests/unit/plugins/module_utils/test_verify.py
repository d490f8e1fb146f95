# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify role's report and problem lists (module_utils/_verify.py), from results shaped as the read modules
return them."""

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_presets
from ansible_collections.auditops.deckhouse.plugins.module_utils import _verify

CLUSTER = {"version": {"server": {"kubernetes": {"gitVersion": "v1.33.13"}}}, "connection": {"host": "https://127.0.0.1:6443"}}
LABELS = {"app.kubernetes.io/managed-by": "auditops.deckhouse"}


def module_config(**apiserver):
    return {"api_found": True, "resources": [{"spec": {"settings": {"apiserver": apiserver}}}]}


def test_an_unreachable_api_is_the_only_problem_and_the_report_has_its_defaults():
    report, problems = _verify.cluster_report({"msg": "connection refused"})
    assert problems == ["API server: connection refused"]
    assert report["api"] == {"reachable": False, "server": "", "version": "", "error": "connection refused"}
    assert report["audit_settings"]["log_output"] == "File" and report["audit_settings"]["basic_audit_policy_enabled"]
    assert report["policy"]["present"] is False and report["policy"]["apiserver_accepts"] is None


def test_cluster_problems_each_with_its_sentence():
    refused = {"apiserver_accepts": False, "apiserver_error": "rules[0].level: Unsupported value: \"metadata\"",
               "findings": [{"code": "deckhouse-hook-refuses", "message": "the hook refuses it", "severity": "error"},
                            {"code": "x", "message": "noted", "severity": "info"}]}
    destinations = [{"metadata": {"name": "kuma", "labels": LABELS},
                     "spec": {"type": "Socket", "socket": {"address": "10.0.0.1:5140", "mode": "UDP",
                                                           "encoding": {"codec": "CEF"}}}}]
    configs = [{"metadata": {"name": "audit"}, "spec": {"type": "File", "file": {"include": ["/var/log/kube-audit/audit.log"]},
                                                        "destinationRefs": ["kuma", "gone"]}}]
    detections = [{"resources": [{"spec": {"enabled": False}}]},
                  {"resources": [{"metadata": {"name": "ours", "labels": LABELS}}, {"metadata": {"name": "theirs"}}]},
                  {"resources": []},
                  {"resources": [{"alert": {"name": "D8LogShipperDestinationErrors"}}, {"alert": {"name": "AuditopsExec"}},
                                 {"alert": {"name": "SomethingElse"}}]}]
    report, problems = _verify.cluster_report(
        CLUSTER, module_config(auditPolicyEnabled=True, auditLog={"output": "Stdout"}), "apiVersion: x", refused,
        destinations, configs, detections, "kube-system/audit-policy")
    assert problems == [
        "audit policy kube-system/audit-policy: kube-apiserver would refuse it and stop: "
        "rules[0].level: Unsupported value: \"metadata\"",
        "audit policy kube-system/audit-policy: the hook refuses it",
        "ClusterLoggingConfig audit names destinations that do not exist",
        "ClusterLoggingConfig audit reads /var/log/kube-audit/audit.log but auditLog.output is Stdout, so that file is "
        "never written",
        "FalcoAuditRules ours exist but runtime-audit-engine is not enabled, so nothing loads them",
        "alert firing: D8LogShipperDestinationErrors"]
    assert report["api"]["version"] == "1.33.13"
    assert report["log_shipper"]["destinations"]["kuma"] == {"type": "Socket", "address": "10.0.0.1:5140", "mode": "UDP",
                                                             "codec": "CEF", "managed_by": "auditops.deckhouse"}
    assert report["log_shipper"]["configs"]["audit"]["missing_destinations"] == ["gone"]
    assert report["detections"]["alerts"] == ["D8LogShipperDestinationErrors", "AuditopsExec"]
    assert report["policy"]["info_findings"] == 1 and len(report["policy"]["findings"]) == 1
    assert report["policy"]["in_use"] is True


def test_a_healthy_master_and_one_that_does_not_answer():
    health = {"results": [{"item": "livez", "status": 200, "url": "https://127.0.0.1:6443/livez"},
                          {"item": "readyz", "status": -1}]}
    stat = {"stat": {"exists": True, "path": "/var/log/kube-audit/audit.log", "size": 10, "mtime": 100.0}}
    report, problems = _verify.apiserver_report({"endpoint": "https://127.0.0.1:6443"}, health, stat, [200, 401, 403],
                                                160.5, "/var/log/kube-audit/audit.log")
    assert problems == ["kube-apiserver /readyz does not answer as healthy"]
    assert report["url"] == "https://127.0.0.1:6443" and report["livez"] == 200 and report["readyz"] == -1
    assert report["manifest"] == "read" and report["audit_log"]["age_seconds"] == 60
    report, _p = _verify.apiserver_report({"failed": True, "msg": "path: x does not exist"}, health,
                                          {"stat": {"exists": False}}, ["200"], 0, "/a.log")
    assert report["manifest"] == "path: x does not exist" and report["audit_log"] == {
        "path": "/a.log", "exists": False, "size": 0, "age_seconds": None}


def test_kesl_problems_and_the_web_threat_protection_version_gate():
    exclusions = {"tasks": [{"name": "File_Threat_Protection", "changed": True, "added": ["/var/lib/etcd"], "updated": []},
                            {"name": "Anti_Cryptor", "changed": False}]}
    tasks = {"tasks": [{"name": "Web_Threat_Protection", "changed": True}], "policy_locked": False}
    info = {"version": "12.1.0.1297", "tasks": [{"name": "Web_Control", "state": "Stopped"}], "exclusions": {"1": ["/x"]}}
    report, problems = _verify.kesl_report(True, "master", "/k", info, exclusions, tasks)
    assert problems == ["KESL task File_Threat_Protection lacks exclusions of the Deckhouse directories",
                        "KESL task Web_Threat_Protection runs or starts with KESL", _verify.WEB_THREAT_PROTECTION]
    assert report["missing_exclusions"] == {"File_Threat_Protection": ["/var/lib/etcd"]}
    assert report["tasks"] == {"Web_Control": "Stopped"} and report["tasks_to_stop"] == ["Web_Threat_Protection"]
    _r, problems = _verify.kesl_report(True, "master", "/k", dict(info, version="12.0.0"), exclusions, tasks)
    assert _verify.WEB_THREAT_PROTECTION not in problems
    report, problems = _verify.kesl_report(False, "worker", "/k", {"skipped": True}, required=True)
    assert problems == ["KESL is not installed (/k) and kesl_required is true"] and report["version"] is None
    _r, problems = _verify.kesl_report(True, "worker", "/k", {"failed": True, "msg": "kesl-control: boom"})
    assert problems == ["KESL: kesl-control: boom"]


def test_summary_names_silent_nodes_and_a_missing_audit_log():
    report, problems = _verify.cluster_report(CLUSTER, module_config(auditPolicyEnabled=True))
    cluster = {"report": report, "problems": problems}
    master_part = _verify.apiserver_report({"endpoint": "e"}, {"results": [{"item": "livez", "status": 200},
                                                                           {"item": "readyz", "status": 200}]},
                                           {"stat": {"exists": False}}, [200], 0, "/a.log")
    nodes = {
        "m1": {"master": True, "kesl_node": True, "apiserver": {"report": master_part[0], "problems": master_part[1]},
               "kesl": None},
        "w1": {"master": False, "kesl_node": True, "apiserver": None, "kesl": None},
    }
    out = _verify.summary(cluster, nodes, apiserver_wanted=True, kesl_wanted=True)
    assert out["problems"] == ["m1: no report (unreachable, or a task failed)",
                               "m1: audit log /a.log does not exist although audit is on with output File",
                               "w1: no report (unreachable, or a task failed)"]
    assert out["nodes"]["w1"] == {"role": "worker", "apiserver": "not checked", "kesl": "no report"}
    quiet = _verify.summary(cluster, {"w1": nodes["w1"]}, apiserver_wanted=True, kesl_wanted=False)
    assert quiet["problems"] == [] and quiet["nodes"]["w1"]["kesl"] == "not checked"


def _checked(policy):
    """The parts of an audit_policy result (target deckhouse) that the verify role passes on."""
    composition = _audit_policy.compose(policy, "deckhouse", True)
    return {"apiserver_accepts": True, "policy": policy, "findings": composition.findings,
            "shadowed_rules": composition.shadowed}


def test_the_security_preset_is_partly_shadowed_and_the_report_says_no_action_is_needed():
    report, problems = _verify.cluster_report(CLUSTER, module_config(auditPolicyEnabled=True), "rules: []",
                                              _checked(_audit_presets.preset("security")))
    policy = report["policy"]
    assert problems == [] and policy["unused_rules"] == []
    assert policy["partly_shadowed_rules"] == ["rules[%d]" % index for index in range(10)]
    assert len(policy["shadowing_advice"]) == 1
    assert policy["shadowing_advice"][0].startswith("partly_shadowed_rules rules[0], rules[1], ")
    assert "no action needed" in policy["shadowing_advice"][0]


def test_a_rule_that_never_applies_with_its_level_asks_for_action():
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "RequestResponse", "verbs": ["list"], "resources": [{"resources": ["pods"]}]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]}]}
    report, _problems = _verify.cluster_report(CLUSTER, module_config(auditPolicyEnabled=True), "rules: []",
                                               _checked(policy))
    assert report["policy"]["unused_rules"] == ["rules[0]", "rules[1]"]
    assert report["policy"]["shadowing_advice"][0].startswith("unused_rules rules[0]: act - ")
    assert report["policy"]["shadowing_advice"][1].startswith("unused_rules rules[1]: no action needed")
    assert _verify.cluster_report(CLUSTER)[0]["policy"]["shadowing_advice"] == []
