# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit_detections role against the real kube-apiserver with the upstream runtime-audit-engine,
prometheus and ModuleConfig CRDs: server-side apply as a dry run (check mode) and for real, a second run
that changes nothing, pruning of owned objects only, and refusal to take over an unlabelled object."""

import json
import os

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as det
from ansible_collections.auditops.deckhouse.tests.integration._role_run import RoleRun, ansible_playbook, role_env, vars_file
from ansible_collections.auditops.deckhouse.tests import _paths

pytestmark = pytest.mark.cluster

ROOT = _paths.ROOT
PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "audit_detections.yml")
PATHS = {"FalcoAuditRules": "/apis/deckhouse.io/v1alpha1/falcoauditrules/",
         "CustomPrometheusRules": "/apis/deckhouse.io/v1/customprometheusrules/",
         "ModuleConfig": "/apis/deckhouse.io/v1alpha1/moduleconfigs/"}


@pytest.fixture
def run_role(ansible_env, k8s_cluster, tmp_path):
    env = role_env(ansible_env)

    def run(variables, check=False):
        variables = dict(variables, audit_detections_kubeconfig=k8s_cluster.kubeconfig)
        return RoleRun(ansible_playbook(PLAYBOOK, "localhost,", [vars_file(tmp_path, variables)], env, check=check))
    return run


@pytest.fixture
def run_verify(ansible_env):
    env = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))

    def run():
        variables = {"verify_fail_on_problems": False, "verify_kesl": False, "verify_apiserver_health": False}
        return RoleRun(ansible_playbook("auditops.deckhouse.verify", "localhost,", [json.dumps(variables)], env,
                                        args=("-c", "local")))
    return run


def verify(run):
    assert run.rc == 0, run
    return run.result("Show the report")["verify_report"]


def _get(cluster, kind, name):
    return cluster.api.request("GET", PATHS[kind] + name)


def test_apply_dry_run_then_real_then_idempotent_then_verify_then_prune(run_role, run_verify, k8s_cluster):
    owner, name = "detections_it", "it-detections"
    variables = {"audit_detections_owner": owner, "audit_detections_name": name,
                 "audit_detections_module_settings": {"builtInRulesList": ["Fstec"]}}

    dry = run_role(variables, check=True)
    assert dry.rc == 0, dry
    # The ModuleConfig and both objects went through the server's dry run (check mode) as changes.
    assert dry.result("Turn runtime-audit-engine on (ModuleConfig, server-side apply)")["changed"] is True, dry
    applied = dry.result("Apply the FalcoAuditRules and CustomPrometheusRules (server-side apply)")["results"]
    assert [item["changed"] for item in applied] == [True, True], dry
    assert _get(k8s_cluster, "FalcoAuditRules", name)[0] == 404

    first = run_role(variables)
    assert first.rc == 0, first
    status, falco = _get(k8s_cluster, "FalcoAuditRules", name)
    assert status == 200
    assert sum(1 for item in falco["spec"]["rules"] if "rule" in item) == len(det.DETECTIONS)
    # The server stored what we sent (the CRD schema prunes nothing and defaults only 'enabled').
    assert all(item["rule"]["source"] == "K8sAudit" for item in falco["spec"]["rules"] if "rule" in item)
    status, cpr = _get(k8s_cluster, "CustomPrometheusRules", name)
    assert status == 200 and len(cpr["spec"]["groups"][0]["rules"]) == len(det.ALERT_NAMES)
    status, module = _get(k8s_cluster, "ModuleConfig", "runtime-audit-engine")
    assert status == 200 and module["spec"]["enabled"] is True
    assert module["spec"]["settings"] == {"builtInRulesList": ["Fstec"]}

    second = run_role(variables)
    assert second.rc == 0 and second.stats["changed"] == 0, second

    # verify: runtime-audit-engine on, the objects present, the watched ClusterAlerts listed.
    for alert_name, alert in (("a1", "AuditopsDetectionPodExecAttach"), ("a2", "D8LogShipperDestinationErrors"),
                              ("a3", "KubeletDown")):
        body = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterAlert", "metadata": {"name": alert_name},
                "alert": {"name": alert, "labels": {"severity_level": "4"}}}
        assert k8s_cluster.api.request("POST", "/apis/deckhouse.io/v1alpha1/clusteralerts", body)[0] == 201
    report = verify(run_verify())
    detections = report["cluster"]["detections"]
    assert detections["runtime_audit_engine_enabled"] is True
    assert name in detections["falco_audit_rules"] and name in detections["custom_prometheus_rules"]
    assert sorted(detections["alerts"]) == ["AuditopsDetectionPodExecAttach", "D8LogShipperDestinationErrors"]
    assert "alert firing: D8LogShipperDestinationErrors" in report["problems"]
    assert not [p for p in report["problems"] if "AuditopsDetection" in p]   # security events are listed, not failures
    for alert_name in ("a1", "a2", "a3"):
        k8s_cluster.api.request("DELETE", "/apis/deckhouse.io/v1alpha1/clusteralerts/" + alert_name)

    # Renaming: the old owned objects are pruned; an unlabelled object of the same kind is left alone.
    theirs = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules", "metadata": {"name": "theirs-it"},
              "spec": {"rules": [{"macro": {"name": "x", "condition": "ka.verb = get"}}]}}
    assert k8s_cluster.api.request("POST", PATHS["FalcoAuditRules"], theirs)[0] == 201
    renamed = run_role(dict(variables, audit_detections_name="it-renamed"))
    assert renamed.rc == 0, renamed
    assert _get(k8s_cluster, "FalcoAuditRules", name)[0] == 404
    assert _get(k8s_cluster, "CustomPrometheusRules", name)[0] == 404
    assert _get(k8s_cluster, "FalcoAuditRules", "it-renamed")[0] == 200
    assert _get(k8s_cluster, "FalcoAuditRules", "theirs-it")[0] == 200

    # Taking over the unlabelled object is refused, naming it; nothing is changed.
    refused = run_role(dict(variables, audit_detections_name="theirs-it"))
    assert refused.rc != 0
    assert "FalcoAuditRules/theirs-it already exist(s) without the labels" in refused.failure()
    assert "macro" in _get(k8s_cluster, "FalcoAuditRules", "theirs-it")[1]["spec"]["rules"][0]


def test_a_broken_extra_rule_stops_the_role_before_anything_is_applied(run_role, k8s_cluster):
    broken = [{"rule": {"name": "Mine", "condition": "auditops_kevt and ka.target.nmespace = prod", "desc": "d",
                        "output": "o", "priority": "Warning"}}]
    run = run_role({"audit_detections_owner": "detections_broken", "audit_detections_name": "it-broken",
                    "audit_detections_extra_rules": broken})
    assert run.rc != 0
    assert "rule 'Mine': condition: unknown field 'ka.target.nmespace'" in run.failure()
    assert _get(k8s_cluster, "FalcoAuditRules", "it-broken")[0] == 404


def test_render_mode_lists_each_file_without_verbose_output(ansible_env, tmp_path):
    out = tmp_path / "falco"
    variables = {"audit_detections_target": "kubeadm", "audit_detections_render_dir": str(out)}
    env = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    run = ansible_playbook(PLAYBOOK, "localhost,", [json.dumps(variables)], env)
    assert run.returncode == 0, run.stdout + run.stderr
    written = sorted(os.listdir(str(out)))
    assert written, run.stdout
    for name in written:
        assert '"%s": "create"' % (out / name) in run.stdout, run.stdout
