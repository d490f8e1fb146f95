# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 7: a symlinked file is followed (its target is updated, the link stays a link), never replaced by
a regular file."""

import os
import shutil

from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_manifest, audit_policy
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import FIXTURES
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module


def test_audit_policy_dest_symlink_is_followed(tmp_path):
    real = tmp_path / "real" / "policy.yaml"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "policy.yaml"
    os.symlink(str(real), str(link))
    result, _w = run_module(audit_policy, {"preset": "minimal", "dest": str(link)})
    assert result["changed"]
    assert os.path.islink(str(link)) and os.readlink(str(link)) == str(real)
    assert real.read_text() == result["policy_yaml"]


def test_apiserver_manifest_symlink_is_followed(tmp_path):
    real = tmp_path / "real" / "kube-apiserver.yaml"
    real.parent.mkdir()
    shutil.copy(os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml"), str(real))
    original = real.read_bytes()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    link = manifests / "kube-apiserver.yaml"
    os.symlink(str(real), str(link))
    result, _w = run_module(apiserver_manifest, {"path": str(link), "backup_dir": str(tmp_path / "backups")})
    assert result["changed"]
    assert os.path.islink(str(link)) and os.readlink(str(link)) == str(real)
    assert b"--audit-" not in real.read_bytes()
    with open(result["backup_path"], "rb") as handle:
        assert handle.read() == original
    assert sorted(os.listdir(str(real.parent))) == ["kube-apiserver.yaml"]
