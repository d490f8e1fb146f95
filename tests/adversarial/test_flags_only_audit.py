# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 6: only --audit-* flags may be stripped or set (a stripped --authorization-mode makes the server
fall back to AlwaysAllow)."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_manifest, kubeadm_config_audit
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import refuse, static_pod
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module

CLUSTER_CONFIGURATION = {
    "v1beta3": "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n"
               "    authorization-mode: Node,RBAC\n",
    "v1beta4": "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n"
               "  - name: authorization-mode\n    value: Node,RBAC\n",
}


@pytest.fixture
def node(tmp_path):
    path = static_pod(tmp_path)
    return {"dir": str(tmp_path), "args": {"path": str(path), "backup_dir": str(tmp_path / "backups")}}


@pytest.mark.parametrize("pattern", ["--au*", "--a*", "*", "--anonymous-auth", "--enable-admission-plugins",
                                     "authorization-mode", "--audit", "--*audit*", "[-]-audit-*", "--audit-*\n"])
def test_strip_refuses_anything_but_audit_flags(node, pattern):
    refuse(apiserver_manifest, dict(node["args"], strip=["--audit-log-*", pattern]), "strip[1]", watched=[node["dir"]])


@pytest.mark.parametrize("pattern", ["--audit-*", "audit-log-*", "--audit-webhook-*", "--audit-policy-file"])
def test_strip_takes_audit_patterns(node, pattern):
    result, _warnings = run_module(apiserver_manifest, dict(node["args"], strip=[pattern]), check_mode=True)
    assert all(flag.startswith("--audit-") for flag in result["removed_flags"])


@pytest.mark.parametrize("version", sorted(CLUSTER_CONFIGURATION))
@pytest.mark.parametrize("name", ["authorization-mode", "--anonymous-auth", "enable-admission-plugins", "",
                                  "audit-log-path\n--authorization-mode"])
def test_kubeadm_config_takes_only_audit_args(version, name):
    existing = {"kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                "data": {"ClusterConfiguration": CLUSTER_CONFIGURATION[version]}}
    refuse(kubeadm_config_audit, {"existing": existing, "extra_args": {"audit-log-maxage": "7", name: "AlwaysAllow"}},
           "extra_args.%s" % name)


def test_kubeadm_config_refuses_a_flag_value_with_a_newline():
    existing = {"kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                "data": {"ClusterConfiguration": CLUSTER_CONFIGURATION["v1beta3"]}}
    refuse(kubeadm_config_audit, {"existing": existing, "extra_args": {"audit-log-path": "/x\n--authorization-mode=AlwaysAllow"}},
           "extra_args.audit-log-path")
