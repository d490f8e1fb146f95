# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubeadm_audit and kubeadm_config_audit in-process, against real files in a temporary node layout."""

import os
import shutil
import stat

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import get_flags, load_manifest
from ansible_collections.auditops.deckhouse.plugins.modules import kubeadm_audit, kubeadm_config_audit
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "manifests")
POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
OTHER = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Request"}]}


snapshot = _paths.snapshot


class Node(object):
    def __init__(self, root):
        self.root = str(root)
        self.manifests = os.path.join(self.root, "etc", "kubernetes", "manifests")
        os.makedirs(self.manifests)
        self.manifest = os.path.join(self.manifests, "kube-apiserver.yaml")
        shutil.copy(os.path.join(FIXTURES, "kubeadm-no-audit.yaml"), self.manifest)
        self.policy_dir = os.path.join(self.root, "etc", "kubernetes", "audit")
        self.log_dir = os.path.join(self.root, "var", "log", "kubernetes", "audit")
        self.backups = os.path.join(self.root, "var", "lib", "backups")

    def args(self, **extra):
        base = {"path": self.manifest, "policy": POLICY, "policy_dir": self.policy_dir, "log_dir": self.log_dir,
                "backup_dir": self.backups}
        base.update(extra)
        return base

    def flags(self):
        with open(self.manifest) as handle:
            return dict(get_flags(load_manifest(handle.read())[0]))

    def policies(self):
        return sorted(os.listdir(self.policy_dir)) if os.path.isdir(self.policy_dir) else []


@pytest.fixture
def node(tmp_path):
    return Node(tmp_path)


def run(args, **kwargs):
    return run_module(kubeadm_audit, args, **kwargs)


def test_present_writes_the_policy_then_the_manifest_and_a_backup(node):
    original = open(node.manifest, "rb").read()
    result, _warnings = run(node.args())
    assert result["changed"] and result["manifest_changed"]
    assert result["kubernetes_version"] == "1.31"  # from the image tag (v1.31.4)
    path = result["policy_path"]
    assert os.path.dirname(path) == node.policy_dir and result["written_files"] == [path]
    assert open(path).read() == "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(node.policy_dir).st_mode) == 0o700
    flags = node.flags()
    assert flags["--audit-policy-file"] == path and flags["--audit-log-format"] == "json"
    assert flags["--audit-log-path"] == os.path.join(node.log_dir, "audit.log")
    assert (flags["--audit-log-maxage"], flags["--audit-log-maxsize"], flags["--audit-log-maxbackup"]) == ("30", "100", "10")
    assert result["process_args"] == ["--audit-policy-file=" + path]
    assert result["endpoint"] == "https://127.0.0.1:6443"
    assert open(result["backup_path"], "rb").read() == original
    assert os.path.dirname(result["backup_path"]) == node.backups
    assert result["kubeadm_extra_args"]["audit-policy-file"] == path
    assert os.listdir(node.manifests) == ["kube-apiserver.yaml"]  # no temp file or backup left for the kubelet


def test_second_run_changes_nothing(node):
    run(node.args())
    before = snapshot(node.root)
    result, _warnings = run(node.args())
    assert not result["changed"] and result["backup_path"] is None and result["written_files"] == []
    assert snapshot(node.root) == before


def test_check_mode_writes_nothing_and_shows_the_diff(node):
    before = snapshot(node.root)
    result, _warnings = run(node.args(), check_mode=True, diff=True)
    assert result["changed"] and result["backup_path"] is None
    assert snapshot(node.root) == before and not os.path.exists(node.policy_dir)
    assert [d["before_header"] for d in result["diff"]] == [node.manifest, result["policy_path"]]
    assert "+    - --audit-log-format=json" not in result["diff"][0]["before"]
    assert "--audit-log-format=json" in result["diff"][0]["after"]


@pytest.mark.parametrize("policy, message", [
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "metadata"}]}, "rules[0].level"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata", "verb": ["get"]}]}, "rules[0].verb"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [", "policy refused"),
    ({"apiVersion": "audit.k8s.io/v1beta1", "kind": "Policy", "rules": [{"level": "Metadata"}]}, "policy refused"),
])
def test_a_broken_policy_is_refused_before_any_write(node, policy, message):
    before = snapshot(node.root)
    failure = run_module_fail(kubeadm_audit, node.args(policy=policy))
    assert "nothing changed" in failure["msg"] and message in failure["msg"]
    assert snapshot(node.root) == before
    assert not os.path.exists(node.policy_dir) and not os.path.exists(node.backups)


def test_lenient_policy_passes_only_without_strict(node):
    typo = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata", "verb": ["get"]}]}
    result, _warnings = run(node.args(policy=typo, strict=False))
    assert open(result["policy_path"]).read().endswith("- level: Metadata\n")  # the dropped field is not written


def test_version_from_the_image_decides(node):
    star = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata", "resources": [{"group": "*"}]}]}
    failure = run_module_fail(kubeadm_audit, node.args(policy=star))
    assert failure["msg"].startswith("policy refused, nothing changed (kube-apiserver 1.31): policy.rules[0].resources.group: "
                                     "Invalid value: \"*\"")
    assert failure["errors"][0]["path"] == "policy.rules[0].resources.group"
    result, _warnings = run(node.args(policy=star, kubernetes_version="1.36"))
    assert result["changed"] and result["kubernetes_version"] == "1.36"


def test_policy_changes_keep_the_previous_file_for_a_rollback(node):
    first = run(node.args())[0]["policy_path"]
    second_result = run(node.args(policy=OTHER))[0]
    second = second_result["policy_path"]
    assert second != first and node.flags()["--audit-policy-file"] == second
    assert node.policies() == sorted(os.path.basename(p) for p in (first, second))
    # The backup taken for this change points to the first file, which is still there.
    with open(second_result["backup_path"]) as handle:
        assert dict(get_flags(load_manifest(handle.read())[0]))["--audit-policy-file"] == first
    third = dict(POLICY, rules=[{"level": "RequestResponse"}])
    result = run(node.args(policy=third))[0]
    assert result["deleted_files"] == [first]
    assert node.policies() == sorted(os.path.basename(p) for p in (second, result["policy_path"]))
    assert not run(node.args(policy=third))[0]["changed"]


def test_webhook_and_stdout(node):
    webhook = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "siem", "cluster": {"server": "https://siem:8443"}}]}
    result, _warnings = run(node.args(log_output="Stdout", webhook_config=webhook, extra_flags={"audit-webhook-mode": "batch"}))
    flags = node.flags()
    assert flags["--audit-log-path"] == "-" and flags["--audit-webhook-mode"] == "batch"
    assert flags["--audit-webhook-config-file"] == result["webhook_config_path"]
    assert yaml.safe_load(open(result["webhook_config_path"])) == webhook
    assert not os.path.exists(node.log_dir)
    result, _warnings = run(node.args())
    assert "--audit-webhook-config-file" not in node.flags()
    assert any(f.startswith("--audit-webhook-config-file=") for f in result["removed_flags"])


def test_absent_removes_flags_volumes_and_files_but_not_logs(node):
    run(node.args())
    os.makedirs(node.log_dir)
    open(os.path.join(node.log_dir, "audit.log"), "w").write("{}\n")
    result, _warnings = run({"path": node.manifest, "state": "absent", "policy_dir": node.policy_dir,
                             "backup_dir": node.backups})
    assert result["changed"] and not [f for f in node.flags() if f.startswith("--audit-")]
    assert node.policies() == [] and os.path.exists(os.path.join(node.log_dir, "audit.log"))
    assert sorted(result["removed_volumes"]) == ["auditops-audit-log", "auditops-audit-policy"]
    with open(node.manifest) as handle:
        assert yaml.safe_load(handle) == yaml.safe_load(open(os.path.join(FIXTURES, "kubeadm-no-audit.yaml")))
    again, _warnings = run({"path": node.manifest, "state": "absent", "policy_dir": node.policy_dir,
                            "backup_dir": node.backups})
    assert not again["changed"]


@pytest.mark.parametrize("extra, message", [
    ({"backup_dir": "MANIFESTS/backups"}, "backup_dir:"),
    ({"policy_dir": "MANIFESTS/audit"}, "policy_dir:"),
    ({"policy": None}, "policy: required with state=present"),
    ({"extra_flags": {"audit-log-path": "/tmp/x"}}, "extra_flags.audit-log-path: set by this module"),
    ({"path": "MANIFESTS/missing.yaml"}, "path: "),
])
def test_refusals_change_nothing(node, extra, message):
    extra = dict((k, v.replace("MANIFESTS", node.manifests) if isinstance(v, str) else v) for k, v in extra.items())
    before = snapshot(node.root)
    failure = run_module_fail(kubeadm_audit, node.args(**extra))
    assert message in failure["msg"]
    assert snapshot(node.root) == before


# --- kubeadm_config_audit --------------------------------------------------------------------------------

CLUSTER_CONFIGURATION = """apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
"""


def config_map(text=CLUSTER_CONFIGURATION):
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": {"ClusterConfiguration": text},
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system", "resourceVersion": "42"}}


def test_config_map_plan_carries_the_resource_version(node):
    audit = run(node.args(), check_mode=True)[0]
    result, _warnings = run_module(kubeadm_config_audit, {
        "existing": [config_map()], "extra_args": audit["kubeadm_extra_args"], "extra_volumes": audit["kubeadm_extra_volumes"]},
        diff=True)
    assert result["changed"] and result["api_version"] == "v1beta3"
    assert result["object"]["metadata"] == {"name": "kubeadm-config", "namespace": "kube-system", "resourceVersion": "42"}
    doc = yaml.safe_load(result["object"]["data"]["ClusterConfiguration"])
    assert doc["apiServer"]["extraArgs"]["audit-policy-file"] == audit["policy_path"]
    assert result["diff"]["before"] == CLUSTER_CONFIGURATION
    same, _warnings = run_module(kubeadm_config_audit, {
        "existing": [config_map(result["cluster_configuration"])], "extra_args": audit["kubeadm_extra_args"],
        "extra_volumes": audit["kubeadm_extra_volumes"]})
    assert not same["changed"] and same["object"] is None


def test_config_map_missing_only_warns():
    result, warnings = run_module(kubeadm_config_audit, {"existing": []})
    assert not result["changed"] and not result["found"] and "does not exist" in warnings[0]


@pytest.mark.parametrize("args, message", [
    ({"existing": [{"kind": "ConfigMap", "metadata": {}, "data": {}}]}, "existing.data.ClusterConfiguration: missing"),
    ({"existing": [config_map()], "extra_volumes": [{"name": "x"}]}, "extra_volumes[0]: missing hostPath, mountPath"),
    ({"existing": [config_map("kind: Other\n")]}, "data.ClusterConfiguration.kind"),
])
def test_config_map_refusals(args, message):
    failure = run_module_fail(kubeadm_config_audit, args)
    assert message in failure["msg"]
