# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 10: a file that changes while a module runs is not overwritten (compare-and-swap on the content
read) and the backup is of the version edited; restore picks the module's own backups by their timestamps; a
failure that wrote nothing says changed=false; a directory as ``path`` is a ``path`` problem."""

import os
import shutil
from unittest import mock

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _kubeadm_audit
from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_manifest, kubeadm_audit
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import FIXTURES, refuse, snapshot
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import Fail, run_module

POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
CONCURRENT = b"# written by someone else while the module ran\n"


@pytest.fixture
def node(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    path = manifests / "kube-apiserver.yaml"
    return {"tmp": tmp_path, "path": path, "backups": tmp_path / "backups",
            "args": {"path": str(path), "backup_dir": str(tmp_path / "backups")}}


def _meddle(path, engine, name):
    """Wrap ``engine.name`` so the file at ``path`` is rewritten by "someone else" once the module has read it."""
    real = getattr(engine, name)

    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        with open(str(path), "ab") as handle:
            handle.write(CONCURRENT)
        return result
    return mock.patch.object(engine, name, wrapper)


def test_apiserver_manifest_does_not_overwrite_a_concurrent_change(node):
    shutil.copy(os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml"), str(node["path"]))
    original = node["path"].read_bytes()
    with _meddle(node["path"], apiserver_manifest, "strip_manifest"), pytest.raises(Fail) as info:
        run_module(apiserver_manifest, node["args"])
    result = info.value.args[0]
    assert "changed while" in result["msg"] and not result.get("changed"), result
    assert node["path"].read_bytes() == original + CONCURRENT


def test_kubeadm_audit_does_not_overwrite_a_concurrent_change(node):
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-no-audit.yaml"), str(node["path"]))
    original = node["path"].read_bytes()
    args = dict(node["args"], policy=POLICY, policy_dir=str(node["tmp"] / "audit"), log_dir=str(node["tmp"] / "log"))
    with _meddle(node["path"], kubeadm_audit, "edit_manifest"), pytest.raises(Fail) as info:
        run_module(kubeadm_audit, args)
    assert "changed while" in info.value.args[0]["msg"], info.value.args[0]
    assert node["path"].read_bytes() == original + CONCURRENT


def test_the_backup_is_of_the_version_edited(node):
    shutil.copy(os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml"), str(node["path"]))
    original = node["path"].read_bytes()
    real_backup = apiserver_manifest.backup_file

    def late_backup(path, backup_dir, *args, **kwargs):
        # The file changes between the read and the backup: the backup must still hold what was read.
        with open(path, "ab") as handle:
            handle.write(CONCURRENT)
        return real_backup(path, backup_dir, *args, **kwargs)
    with mock.patch.object(apiserver_manifest, "backup_file", late_backup), pytest.raises(Fail):
        run_module(apiserver_manifest, node["args"])
    backups = os.listdir(str(node["backups"]))
    assert len(backups) <= 1
    for name in backups:
        assert (node["backups"] / name).read_bytes() == original


def test_restore_picks_its_own_backup_by_timestamp(node):
    shutil.copy(os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml"), str(node["path"]))
    node["backups"].mkdir()
    good = node["backups"] / "kube-apiserver.yaml.20250301T101500.123456Z"
    older = node["backups"] / "kube-apiserver.yaml.20250228T101500.123456Z"
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-no-audit.yaml"), str(good))
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-docs.yaml"), str(older))
    for name in ("kube-apiserver.yaml.orig", "kube-apiserver.yaml.zzz", "kube-apiserver.yaml.99991231T000000Z"):
        shutil.copy(os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml"), str(node["backups"] / name))
    result, _w = run_module(apiserver_manifest, dict(node["args"], state="restored"), check_mode=True)
    assert result["restored_from"] == str(good)


def test_a_directory_as_path_is_a_path_problem(node):
    (node["tmp"] / "adir").mkdir()
    result = refuse(apiserver_manifest, {"path": str(node["tmp"] / "adir"), "backup_dir": str(node["tmp"] / "b")},
                    "path", watched=[str(node["tmp"])])
    assert result["msg"].startswith("path:"), result["msg"]
    result = refuse(kubeadm_audit, {"path": str(node["tmp"] / "adir"), "backup_dir": str(node["tmp"] / "b"),
                                    "policy": POLICY}, "path", watched=[str(node["tmp"])])
    assert result["msg"].startswith("path:"), result["msg"]


def test_a_failed_write_says_changed_false(node):
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-no-audit.yaml"), str(node["path"]))
    # policy_dir cannot be created: a file stands where it should be.
    blocker = node["tmp"] / "blocker"
    blocker.write_text("x")
    before = snapshot(str(node["tmp"]))
    with pytest.raises(Fail) as info:
        run_module(kubeadm_audit, dict(node["args"], policy=POLICY, policy_dir=str(blocker / "audit"),
                                       log_dir=str(node["tmp"] / "log")))
    assert info.value.args[0]["changed"] is False, info.value.args[0]
    assert snapshot(str(node["tmp"])) == before
    assert _kubeadm_audit  # the engine is what the module uses
