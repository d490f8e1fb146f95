# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""apiserver_manifest_info: the read-only twin of apiserver_manifest reports what the writer would do, and writes
nothing, in check mode or not."""

import os
import shutil

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_manifest, apiserver_manifest_info
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "manifests")
MANIFESTS = sorted(name for name in os.listdir(FIXTURES) if name.endswith(".yaml"))


def tree(directory):
    """Names, bytes and modification times of every file below ``directory``."""
    found = {}
    for base, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = (handle.read(), os.stat(path).st_mtime_ns)
    return found


@pytest.fixture
def manifest(tmp_path):
    def place(name="deckhouse-file.yaml", source=FIXTURES):
        path = tmp_path / "manifests" / "kube-apiserver.yaml"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(os.path.join(source, name), str(path))
        return str(path)
    return place


@pytest.mark.parametrize("check_mode", [False, True])
def test_reads_the_deckhouse_manifest_and_writes_nothing(manifest, tmp_path, check_mode):
    path = manifest()
    before = tree(str(tmp_path))
    result, warnings = run_module(apiserver_manifest_info, {"path": path}, check_mode=check_mode)
    assert result["changed"] is False and warnings == []
    assert result["endpoint"] == "https://10.128.0.11:6443"
    assert result["deckhouse_checksum"].startswith("5b7c4d2e")
    assert [f.split("=")[0] for f in result["removable_flags"]] == [
        "--audit-log-format", "--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize",
        "--audit-log-path", "--audit-log-truncate-enabled", "--audit-policy-file"]
    assert result["removable_volumes"] == ["kube-audit-log"]
    assert tree(str(tmp_path)) == before


@pytest.mark.parametrize("name", MANIFESTS)
@pytest.mark.parametrize("strip", [["--audit-*"], ["--audit-log-*"], ["audit-webhook-*"]])
def test_reports_what_the_writer_would_remove(manifest, tmp_path, name, strip):
    """The twin agrees with apiserver_manifest in check mode on every manifest fixture and pattern."""
    path = manifest(name)
    backups = str(tmp_path / "backups")
    info, _w = run_module(apiserver_manifest_info, {"path": path, "strip": strip})
    preview, _w = run_module(apiserver_manifest, {"path": path, "strip": strip, "backup_dir": backups}, check_mode=True)
    assert info["removable_flags"] == preview["removed_flags"]
    assert info["removable_volumes"] == preview["removed_volumes"]
    assert info["endpoint"] == preview["endpoint"]
    assert info["deckhouse_checksum"] == preview["deckhouse_checksum"]


def test_a_manifest_without_audit_flags_has_nothing_to_remove(manifest):
    result, _w = run_module(apiserver_manifest_info, {"path": manifest("kubeadm-no-audit.yaml")})
    assert result["removable_flags"] == [] and result["removable_volumes"] == []
    assert result["deckhouse_checksum"] is None


def test_missing_manifest_fails_naming_the_path(tmp_path):
    path = str(tmp_path / "kube-apiserver.yaml")
    result = run_module_fail(apiserver_manifest_info, {"path": path})
    assert result["msg"] == "path: %s does not exist or is not a file" % path
    assert result["errors"] == [{"path": "path", "message": "%s does not exist or is not a file" % path}]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(FIXTURES, "bad"))))
def test_bad_manifest_fails_naming_the_file(manifest, tmp_path, name):
    path = manifest(name, os.path.join(FIXTURES, "bad"))
    before = tree(str(tmp_path))
    result = run_module_fail(apiserver_manifest_info, {"path": path})
    assert result["msg"].startswith(path + ": ")
    assert tree(str(tmp_path)) == before


def test_a_pattern_beyond_audit_flags_is_refused_naming_the_option(manifest):
    result = run_module_fail(apiserver_manifest_info, {"path": manifest(), "strip": ["--audit-*", "--authorization-mode"]})
    assert result["msg"].startswith("strip[1]: ")
    assert result["errors"][0]["path"] == "strip[1]"


def test_a_backup_dir_the_writer_would_refuse_fails_and_creates_nothing(manifest, tmp_path):
    path = manifest()
    inside = os.path.join(os.path.dirname(path), "backups")
    result = run_module_fail(apiserver_manifest_info, {"path": path, "backup_dir": inside})
    assert result["msg"].startswith("backup_dir: ") and result["errors"][0]["path"] == "backup_dir"
    assert not os.path.exists(inside)
    outside = str(tmp_path / "backups")
    result, _w = run_module(apiserver_manifest_info, {"path": path, "backup_dir": outside})
    assert result["endpoint"] == "https://10.128.0.11:6443" and not os.path.exists(outside)
