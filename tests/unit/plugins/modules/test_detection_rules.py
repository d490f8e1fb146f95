# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""detection_rules: build, the condition check on the caller's rules, ownership, render mode."""

import os

import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as det
from ansible_collections.auditops.deckhouse.plugins.modules import detection_rules
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

EXTRA = [{"macro": {"name": "my_prod", "condition": "ka.target.namespace = prod"}},
         {"rule": {"name": "Prod configmap deleted", "condition": "auditops_kevt and my_prod and ka.verb = delete "
                                                                  "and ka.target.resource = configmaps",
                   "desc": "d", "output": "%ka.user.name deleted %ka.target.name", "priority": "Warning"}}]


def test_builds_deckhouse_objects_and_module_config():
    result, _warnings = run_module(detection_rules, {"module_settings": {"debugLogging": True}})
    assert [obj["kind"] for obj in result["objects"]] == ["FalcoAuditRules", "CustomPrometheusRules"]
    assert result["module_config"]["spec"] == {"enabled": True, "version": 1, "settings": {"debugLogging": True}}
    assert result["changed"] is False and len(result["detections"]) == len(det.DETECTIONS)


def test_extra_rules_are_checked_and_added():
    result, _warnings = run_module(detection_rules, {"extra_rules": EXTRA, "detections": ["pod_exec_attach"]})
    names = [item["rule"]["name"] for item in result["objects"][0]["spec"]["rules"] if "rule" in item]
    assert names == ["auditops: exec or attach into a pod", "Prod configmap deleted"]


def test_a_broken_extra_rule_fails_naming_the_rule():
    broken = [dict(EXTRA[1], rule=dict(EXTRA[1]["rule"], condition="auditops_kevt and (ka.verb = delete"))]
    failed = run_module_fail(detection_rules, {"extra_rules": broken})
    assert "rule 'Prod configmap deleted': condition: unbalanced parentheses" in failed["msg"]
    undefined = [EXTRA[1]]   # uses my_prod without defining it
    failed = run_module_fail(detection_rules, {"extra_rules": undefined})
    assert "rule 'Prod configmap deleted': condition: macro 'my_prod' is not defined" in failed["msg"]


def test_unknown_module_setting_is_refused():
    failed = run_module_fail(detection_rules, {"module_settings": {"auditNamespaces": ["prod"]}})
    assert failed["errors"][0]["path"] == "module_settings.auditNamespaces"


def test_refuses_to_take_over_an_unlabelled_object():
    existing = [{"apiVersion": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules", "metadata": {"name": det.DEFAULT_NAME}}]
    failed = run_module_fail(detection_rules, {"existing": existing})
    assert "FalcoAuditRules/auditops-detections already exist(s) without the labels" in failed["msg"]
    result, _warnings = run_module(detection_rules, {"existing": existing, "adopt": True})
    assert result["foreign"] and result["prune"] == []


def test_render_kubeadm_is_idempotent_and_prunes_only_its_files(tmp_path):
    dest = str(tmp_path / "out")
    result, _warnings = run_module(detection_rules, {"target": "kubeadm", "dest_dir": dest})
    assert result["changed"] and sorted(os.listdir(dest)) == ["falco-auditops-detections.yaml",
                                                              "prometheusrule-auditops-detections.yml"]
    with open(os.path.join(dest, "falco-auditops-detections.yaml")) as handle:
        rules = yaml.safe_load(handle)
    assert rules[0] == {"required_plugin_versions": [{"name": "k8saudit", "version": "0.7.0"}]}
    assert sum(1 for item in rules if "rule" in item) == len(det.DETECTIONS)
    again, _warnings = run_module(detection_rules, {"target": "kubeadm", "dest_dir": dest})
    assert again["changed"] is False
    # A file someone else put there with a matching name stays; ours under the old name goes.
    with open(os.path.join(dest, "prometheusrule-theirs.yml"), "w") as handle:
        handle.write("---\nkind: PrometheusRule\n")
    renamed, _warnings = run_module(detection_rules, {"target": "kubeadm", "dest_dir": dest, "name": "renamed"},
                                    diff=True)
    actions = dict((os.path.basename(f["path"]), f["action"]) for f in renamed["files"])
    assert actions == {"falco-renamed.yaml": "create", "prometheusrule-renamed.yml": "create",
                       "falco-auditops-detections.yaml": "delete", "prometheusrule-auditops-detections.yml": "delete"}
    assert "prometheusrule-theirs.yml" in os.listdir(dest)


def test_render_check_mode_writes_nothing(tmp_path):
    dest = str(tmp_path / "out")
    result, _warnings = run_module(detection_rules, {"dest_dir": dest}, check_mode=True)
    assert result["changed"] and not os.path.exists(dest)
    assert {os.path.basename(f["path"]) for f in result["files"]} == {
        "falcoauditrules-auditops-detections.yml", "customprometheusrules-auditops-detections.yml",
        "moduleconfig-runtime-audit-engine.yml"}
