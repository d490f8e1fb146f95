# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""apiserver_manifest against real files in a temporary /etc/kubernetes/manifests look-alike."""

import json
import os
import shutil
import stat

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_manifest
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "manifests")


def run(args, check_mode=False, diff=False):
    return run_module(apiserver_manifest, args, check_mode=check_mode, diff=diff)


def run_fail(args, **kwargs):
    return run_module_fail(apiserver_manifest, args, **kwargs)


snapshot = _paths.snapshot


@pytest.fixture
def node(tmp_path):
    """A manifests dir with the Deckhouse fixture as kube-apiserver.yaml, mode 0600, and a backup dir."""
    manifests = tmp_path / "etc" / "kubernetes" / "manifests"
    manifests.mkdir(parents=True)
    path = manifests / "kube-apiserver.yaml"
    shutil.copy(os.path.join(FIXTURES, "deckhouse-file.yaml"), str(path))
    os.chmod(str(path), 0o600)
    backups = tmp_path / "var" / "lib" / "auditops-deckhouse" / "backups"
    return {"manifests": str(manifests), "path": str(path), "backup_dir": str(backups),
            "args": {"path": str(path), "backup_dir": str(backups)}}


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_strip_writes_backup_outside_and_atomically(node):
    original = read(node["path"])
    result, _w = run(node["args"])
    assert result["changed"] is True
    assert [f.split("=")[0] for f in result["removed_flags"]] == [
        "--audit-log-format", "--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize",
        "--audit-log-path", "--audit-log-truncate-enabled", "--audit-policy-file"]
    assert result["removed_volumes"] == ["kube-audit-log"]
    assert result["endpoint"] == "https://10.128.0.11:6443"
    assert result["deckhouse_checksum"].startswith("5b7c4d2e")
    # only the manifest itself in the manifests dir: no backup, no leftover temp file
    assert os.listdir(node["manifests"]) == ["kube-apiserver.yaml"]
    backup = result["backup_path"]
    assert os.path.dirname(backup) == node["backup_dir"]
    assert os.path.basename(backup).startswith("kube-apiserver.yaml.")
    assert read(backup) == original
    new = read(node["path"]).decode()
    assert "--audit-" not in new and "kube-audit-log" not in new
    assert "control-plane-manager.deckhouse.io/checksum" in new
    assert stat.S_IMODE(os.stat(node["path"]).st_mode) == 0o600


def test_second_run_changes_nothing(node):
    run(node["args"])
    stripped = read(node["path"])
    backups = os.listdir(node["backup_dir"])
    result, _w = run(node["args"])
    assert result["changed"] is False
    assert result["removed_flags"] == [] and result["removed_volumes"] == [] and result["backup_path"] is None
    assert read(node["path"]) == stripped
    assert os.listdir(node["backup_dir"]) == backups


def test_check_mode_leaves_bytes_and_makes_no_backup(node):
    original = read(node["path"])
    result, _w = run(node["args"], check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["removed_volumes"] == ["kube-audit-log"]
    assert len(result["removed_flags"]) == 7
    assert result["backup_path"] is None
    assert read(node["path"]) == original
    assert not os.path.exists(node["backup_dir"])
    assert os.listdir(node["manifests"]) == ["kube-apiserver.yaml"]
    diff = result["diff"]
    assert diff["before"] == original.decode()
    assert "--audit-policy-file" in diff["before"] and "--audit-policy-file" not in diff["after"]


def test_diff_only_when_asked(node):
    result, _w = run(node["args"], check_mode=True)
    assert "diff" not in result


@pytest.mark.parametrize("inside", ["manifests", "manifests/backups"])
def test_backup_dir_inside_manifest_dir_is_refused(node, inside):
    before = snapshot(os.path.dirname(node["manifests"]))
    bad = os.path.join(os.path.dirname(node["manifests"]), inside)
    result = run_fail(dict(node["args"], backup_dir=bad))
    assert result["msg"].startswith("backup_dir: ")
    assert snapshot(os.path.dirname(node["manifests"])) == before


def test_backup_dir_in_the_real_manifests_dir_is_refused(node):
    result = run_fail(dict(node["args"], backup_dir="/etc/kubernetes/manifests/old"))
    assert "/etc/kubernetes/manifests" in result["msg"]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(FIXTURES, "bad"))))
def test_bad_manifest_fails_and_stays_untouched(node, name):
    shutil.copy(os.path.join(FIXTURES, "bad", name), node["path"])
    before = snapshot(os.path.dirname(node["manifests"]))
    result = run_fail(node["args"])
    assert result["msg"].startswith(node["path"] + ": ")
    assert snapshot(os.path.dirname(node["manifests"])) == before
    assert not os.path.exists(node["backup_dir"])


def test_missing_manifest(node):
    os.unlink(node["path"])
    result = run_fail(node["args"])
    assert result["msg"] == "path: %s does not exist or is not a file" % node["path"]


def test_dangerous_pattern_names_the_option(node):
    original = read(node["path"])
    result = run_fail(dict(node["args"], strip=["--audit-*", "*"]))
    assert result["msg"].startswith("strip[1]: ")
    assert result["errors"][0]["path"] == "strip[1]"
    assert read(node["path"]) == original


def test_backup_option_needs_restored(node):
    result = run_fail(dict(node["args"], backup="/tmp/x"))
    assert result["msg"].startswith("backup: ")


def test_json_manifest_stays_json(node):
    shutil.copy(os.path.join(FIXTURES, "kubeadm-audit.json"), node["path"])
    result, _w = run(node["args"])
    assert result["removed_volumes"] == ["audit-policy", "audit-log"]
    assert result["deckhouse_checksum"] is None
    assert result["endpoint"] == "https://[fd00::10]:8443"
    assert "audit" not in json.dumps(json.loads(read(node["path"]))["spec"]["containers"][0]["command"])


def test_restore_newest_backup_and_idempotence(node):
    original = read(node["path"])
    run(dict(node["args"], strip=["--audit-log-*"]))
    first_strip = read(node["path"])
    run(node["args"])
    assert len(os.listdir(node["backup_dir"])) == 2
    result, _w = run(dict(node["args"], state="restored"), diff=True)
    # newest backup = the manifest before the second strip
    assert result["changed"] is True
    assert read(result["restored_from"]) == first_strip
    assert read(node["path"]) == first_strip
    replaced = result["backup_path"]
    assert os.path.dirname(replaced) == os.path.join(node["backup_dir"], "replaced")
    assert "--audit-policy-file" not in read(replaced).decode()
    assert result["diff"]["after"] == first_strip.decode()
    again, _w = run(dict(node["args"], state="restored"))
    assert again["changed"] is False and again["backup_path"] is None
    assert os.listdir(node["manifests"]) == ["kube-apiserver.yaml"]
    # an explicit backup: the very first one
    oldest = os.path.join(node["backup_dir"], sorted(n for n in os.listdir(node["backup_dir"]) if n != "replaced")[0])
    result, _w = run(dict(node["args"], state="restored", backup=oldest))
    assert result["changed"] is True
    assert read(node["path"]) == original


def test_restore_check_mode(node):
    run(node["args"])
    stripped = read(node["path"])
    result, _w = run(dict(node["args"], state="restored"), check_mode=True)
    assert result["changed"] is True and result["backup_path"] is None
    assert read(node["path"]) == stripped
    assert not os.path.exists(os.path.join(node["backup_dir"], "replaced"))


def test_restore_without_backups(node):
    result = run_fail(dict(node["args"], state="restored"))
    assert result["msg"].startswith("backup: no backup of kube-apiserver.yaml found")


def test_restore_refuses_a_broken_backup(node, tmp_path):
    original = read(node["path"])
    bad = tmp_path / "broken.yaml"
    shutil.copy(os.path.join(FIXTURES, "bad", "no-apiserver.manifest"), str(bad))
    result = run_fail(dict(node["args"], state="restored", backup=str(bad)))
    assert "no container named 'kube-apiserver'" in result["msg"]
    assert read(node["path"]) == original


def test_restore_warns_when_deckhouse_rerendered(node):
    run(node["args"])
    text = read(node["path"]).decode().replace("checksum: 5b7c4d2e", "checksum: 00000000")
    with open(node["path"], "w") as handle:
        handle.write(text)
    result, warnings = run(dict(node["args"], state="restored"))
    assert result["changed"] is True
    assert len(warnings) == 1 and "re-rendered" in warnings[0]


def test_restore_recreates_a_missing_manifest(node):
    run(node["args"])
    backup = os.path.join(node["backup_dir"], os.listdir(node["backup_dir"])[0])
    os.unlink(node["path"])
    result, _w = run(dict(node["args"], state="restored"))
    assert result["changed"] is True and result["backup_path"] is None
    assert read(node["path"]) == read(backup)
    assert stat.S_IMODE(os.stat(node["path"]).st_mode) == 0o600
