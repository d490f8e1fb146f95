# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 items 4 and 7 for kubeadm_audit: it deletes only files it wrote, and a policy_dir that resolves into the
manifests directory (a symlink) is refused."""

import os
import shutil

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import kubeadm_audit
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import FIXTURES, refuse
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module

POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
OTHER = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Request"}]}
THIRD = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None"}]}


@pytest.fixture
def node(tmp_path):
    manifests = tmp_path / "etc" / "kubernetes" / "manifests"
    manifests.mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-no-audit.yaml"), str(manifests / "kube-apiserver.yaml"))
    policy_dir = tmp_path / "etc" / "kubernetes" / "audit"
    policy_dir.mkdir()
    # Hand-made files that match the module's name patterns; one even looks content-addressed.
    mine = {"policy-mine.yaml": "rules: []\n", "webhook-mine.kubeconfig": "kind: Config\n",
            "policy-0123456789abcdef.yaml": "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n"}
    for name, text in mine.items():
        (policy_dir / name).write_text(text)
    return {"tmp": tmp_path, "manifests": str(manifests), "policy_dir": str(policy_dir), "mine": mine,
            "args": {"path": str(manifests / "kube-apiserver.yaml"), "policy_dir": str(policy_dir),
                     "log_dir": str(tmp_path / "var" / "log" / "audit"), "backup_dir": str(tmp_path / "backups")}}


def _kept(node):
    for name, text in node["mine"].items():
        with open(os.path.join(node["policy_dir"], name)) as handle:
            assert handle.read() == text, name


def test_present_then_absent_leave_hand_made_files_alone(node):
    for policy in (POLICY, OTHER, THIRD):
        result, _w = run_module(kubeadm_audit, dict(node["args"], policy=policy,
                                                    webhook_config={"apiVersion": "v1", "kind": "Config"}))
        assert not [p for p in result["deleted_files"] if os.path.basename(p) in node["mine"]], result["deleted_files"]
        _kept(node)
    result, _w = run_module(kubeadm_audit, dict(node["args"], state="absent"))
    assert result["deleted_files"] and not [p for p in result["deleted_files"] if os.path.basename(p) in node["mine"]]
    _kept(node)
    assert sorted(os.listdir(node["policy_dir"])) == sorted(node["mine"])


def test_a_policy_dir_that_resolves_into_the_manifests_dir_is_refused(node):
    link = node["tmp"] / "audit-link"
    os.symlink(node["manifests"], str(link))
    refuse(kubeadm_audit, dict(node["args"], policy=POLICY, policy_dir=str(link)), "policy_dir", watched=[str(node["tmp"])])


def test_a_log_dir_that_resolves_into_the_manifests_dir_is_refused(node):
    link = node["tmp"] / "log-link"
    os.symlink(node["manifests"], str(link))
    refuse(kubeadm_audit, dict(node["args"], policy=POLICY, log_dir=str(link / "audit")), "log_dir",
           watched=[str(node["tmp"])])


@pytest.mark.parametrize("option,value", [("log_maxsize", 99999999999999999999), ("log_maxage", -1),
                                          ("log_maxbackup", 2147483648)])
def test_rotation_numbers_out_of_range_are_refused(node, option, value):
    refuse(kubeadm_audit, dict(node["args"], policy=POLICY, **{option: value}), option, watched=[str(node["tmp"])])


def test_an_extra_flag_value_with_a_newline_is_refused(node):
    refuse(kubeadm_audit, dict(node["args"], policy=POLICY,
                               extra_flags={"audit-log-compress": "true\n- --authorization-mode=AlwaysAllow"}),
           "extra_flags.audit-log-compress", watched=[str(node["tmp"])])
