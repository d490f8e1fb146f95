# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kesl-control test double itself: the documented syntax, exit codes, profiles, locale and counters
that the module tests rely on."""

import os

import pytest

from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

double = harness.double


@pytest.fixture
def kesl(tmp_path, monkeypatch):
    monkeypatch.setenv("LANG", "C")
    for var in ("LC_ALL", "LC_MESSAGES", "KESL_DOUBLE_VERSION"):
        monkeypatch.delenv(var, raising=False)
    double = harness.Double(tmp_path / "kesl.ini")
    double.init("12")
    return double


def test_the_module_tests_prepared_state_is_what_the_commands_make(double, tmp_path):
    """The module tests copy a state made once per version (harness.prepare); the same commands, run here in
    a fresh directory, give the same file and an empty call log."""
    for version in harness.VERSIONS:
        assert double("--app-info").returncode == 0  # a counted call before: the copy starts again from zero
        harness.prepare(double, version)
        fresh = harness.Double(tmp_path / version / "kesl.ini")
        os.mkdir(os.path.dirname(fresh.state))
        harness.make_prepared(fresh, version)
        with open(double.state) as copied, open(fresh.state) as made:
            assert copied.read() == made.read()
        assert double.log() == [] and fresh.log() == []
        assert double.cli_counts() == {"read": 0, "write": 0, "other": 0}


def test_is_executable():
    assert os.access(harness.DOUBLE, os.X_OK)


def test_first_call_creates_the_state_from_the_version_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("KESL_DOUBLE_VERSION", "12.3")
    double = harness.Double(tmp_path / "new.ini")
    out = double("--app-info", LANG="C")
    assert out.returncode == 0 and "Version:" in out.stdout and "12.3.0.0" in out.stdout
    assert "Policy:" in out.stdout and "Application databases loaded" in out.stdout
    mismatch = double("--app-info", KESL_DOUBLE_VERSION="11.1")
    assert mismatch.returncode == 128 and "--double-init" in mismatch.stderr
    assert double.cli_counts() == {"read": 1, "write": 0, "other": 0}


@pytest.mark.parametrize("version", harness.VERSIONS)
def test_task_ids_per_version_and_the_policy_line(kesl, version):
    kesl.init(version)
    text = kesl("-T", "--get-task-list").stdout
    assert ("Name:  Web_Control\nID:    26\nState: Stopped\n" in text) == (version >= "12.1")
    assert ("Name:  Critical_Areas_Scan\nID:    4\n" in text) == (version >= "11.2")
    assert ("Name:  Boot_Scan\nID:    4\n" in text) == (version <= "11.1")
    assert ("Policy:" in kesl("--app-info").stdout) == (version >= "12.0")


@pytest.mark.parametrize("args", [["--get-task-list", "--json"], ["--get-settings", "1", "--json"],
                                  ["--app-info", "--json"]])
def test_json_is_refused_everywhere(kesl, args):
    out = kesl(*args)
    assert out.returncode == 1 and "--json (no Kaspersky page shows the layout" in out.stderr


def test_output_follows_the_locale(kesl):
    kesl.init("11.3")
    assert "Состояние: Остановлена" in kesl("--get-task-state", "12", LANG="ru_RU.UTF-8").stdout
    assert "State: Stopped" in kesl("--get-task-state", "12", LANG="ru_RU.UTF-8", LC_ALL="C").stdout
    assert "State: Stopped" in kesl("--get-task-state", "12", LANG="en_US.UTF-8").stdout
    assert "Задача уже остановлена" in kesl("--stop-task", "12", LANG="ru_RU.UTF-8").stderr


def test_exit_70_only_from_11_2(kesl):
    kesl.init("11.1")
    out = kesl("--stop-task", "12")
    assert out.returncode == 1 and "before 11.2" in out.stderr
    kesl.init("11.2")
    assert kesl("--stop-task", "12").returncode == 70


def test_transient_states_and_the_12_1_web_threat_protection_comeback(kesl):
    assert kesl("--double-set-state", "14", "Stopping").returncode == 0
    assert "State: Stopping" in kesl("--get-task-state", "14").stdout
    assert kesl("--stop-task", "14").returncode == 1  # the help gives no result for this
    for version, comes_back in (("12.0", False), ("12.1", True)):
        kesl.init(version)
        kesl.set(Browser="Yes")
        assert kesl("--double-restart").returncode == 0
        assert (kesl.task(14)["State"] == "Started") is comes_back
    kesl.set(PolicyLock="Yes")
    assert kesl("--stop-task", "14").returncode == 68
    kesl.set(PolicyLock="No")
    assert kesl("--stop-task", "14").returncode == 0
    kesl.set(PolicyLock="Yes")
    assert kesl("--double-restart").returncode == 0
    assert kesl.task(14)["State"] == "Stopped"  # a policy lock keeps it off


def test_start_stop_and_exit_70(kesl):
    assert kesl("--stop-task", "Firewall_Management").returncode == 70
    assert kesl("--start-task", "firewall_management", "-W").returncode == 0
    assert kesl.task(12) == {"Name": "Firewall_Management", "Type": "Firewall", "State": "Started", "Active": "Yes",
                             "TypeShown": "Yes"}
    assert kesl("--start-task", "12").returncode == 70
    assert kesl("--stop-task", "License").returncode == 65
    assert kesl("--stop-task", "Nope").returncode == 1
    assert kesl("--stop-task").returncode == 1


def test_not_running_and_policy_lock(kesl):
    kesl.set(Running="No")
    assert kesl("--app-info").returncode == 64
    assert kesl("--stop-task", "1").returncode == 64
    kesl.set(Running="Yes", PolicyLock="1, 12")
    assert kesl("--get-settings", "1").returncode == 0
    assert kesl("--set-settings", "1", "--add-exclusion", "/x").returncode == 68
    assert kesl("--set-settings", "2", "--add-exclusion", "/x").returncode == 0
    assert kesl("--start-task", "12").returncode == 68
    kesl.set(PolicyLock="Yes")
    assert kesl("--set-settings", "2", "--del-exclusion", "/x").returncode == 68
    assert kesl("--import-settings", "--file", "/nonexistent").returncode == 1
    assert kesl.cli_counts() == {"read": 2, "write": 6, "other": 0}
    assert kesl.counts() == kesl.cli_counts()  # the harness reads the same counters from the state file
    assert [(k, rc) for k, rc, _a in kesl.log()] == [("read", 64), ("write", 64), ("read", 0), ("write", 68),
                                                     ("write", 0), ("write", 68), ("write", 68), ("write", 1)]


def test_exclusions(kesl):
    assert kesl("--set-settings", "1", "--add-exclusion", "/a", "--add-exclusion", "/b").returncode == 0
    assert kesl("--set-settings", "1", "ExcludedFromScanScope.item_0000.UseScanArea=No").returncode == 0
    assert kesl("--set-settings", "1", "--add-exclusion", "/a").returncode == 0  # no duplicate, enabled again
    assert kesl.exclusions(1) == {"/a": "Yes", "/b": "Yes"}
    assert kesl("--set-settings", "1", "--del-exclusion", "/a").returncode == 0
    assert "[ExcludedFromScanScope.item_0000]\nAreaDesc=\nUseScanArea=Yes\nPath=/b\n" in kesl("--get-settings", "1").stdout
    assert kesl("--set-settings", "12", "--add-exclusion", "/a").returncode == 2
    assert kesl("--get-settings", "1", "ScanScope.item_0000.Path").stdout == "ScanScope.item_0000.Path=/\n"
    assert kesl("--get-settings", "7").returncode == 1  # Rollback has no settings


def test_settings_files_replace_and_are_validated(kesl, tmp_path):
    ini = tmp_path / "ftp.ini"
    ini.write_text("ScanArchived=Yes\n\n[ExcludedFromScanScope.item_0000]\nUseScanArea=Yes\nPath=\"/with space\"\n"
                   "AreaMask.item_0000=*\n")
    assert kesl("--set-settings", "1", "--file", str(ini)).returncode == 0
    text = kesl("--get-settings", "1").stdout
    assert text.startswith("ScanArchived=Yes\n") and "ScanScope.item_0000" in text and "Path=/with space" in text
    assert "[ScanScope.item_0000]" not in text  # the file replaced the task settings
    out = tmp_path / "out.ini"
    assert kesl("--get-settings", "1", "--file", str(out)).returncode == 0
    assert out.read_text() == text
    assert kesl("--get-settings", "1", "--file", str(tmp_path / "no" / "x.ini")).returncode == 0
    assert not (tmp_path / "no").exists()  # 264318: a missing directory means no file
    assert kesl("--set-settings", "1", "ExcludedFromScanScope.item_0000.UseScanArea=No").returncode == 0
    assert kesl.exclusions(1) == {"/with space": "No"}
    for bad in ("Unknown=1\n", "ScanArchived=Maybe\n", "[ExcludedFromScanScope.item_0000]\nUseScanArea=Yes\n",
                "not a line\n"):
        ini.write_text(bad)
        assert kesl("--set-settings", "1", "--file", str(ini)).returncode == 2, bad
    assert kesl.exclusions(1) == {"/with space": "No"}


def test_running_scan_task_settings_cannot_change(kesl):
    assert kesl("--start-task", "Scan_My_Computer").returncode == 0
    assert kesl("--set-settings", "2", "--add-exclusion", "/x").returncode == 70
    assert kesl("--set-settings", "1", "--add-exclusion", "/x").returncode == 0  # OAS can change while running


def test_export_import_and_restart(kesl, tmp_path):
    assert kesl("--start-task", "12").returncode == 0
    export = kesl("--export-settings").stdout
    assert export.startswith("Version=12.2.0.2412\n")
    assert "TaskName=Firewall_Management\nAdminKitTaskName=\nTaskType=Firewall\nActive=Yes\n" in export
    assert "[OnDemandTask.item_0000.Schedule]\nRuleType=Manual\n" in export
    kesl.set(StateChangesPersist="No")
    assert kesl("--stop-task", "12").returncode == 0
    assert kesl.task(12)["Active"] == "Yes"
    assert kesl("--double-restart").returncode == 0
    assert kesl.task(12)["State"] == "Started"  # the stop did not persist
    path = tmp_path / "export.ini"
    path.write_text(export.replace("TaskType=Firewall\nActive=Yes", "TaskType=Firewall\nActive=No"))
    assert kesl("--import-settings", "--file", str(path)).returncode == 0
    assert kesl.task(12)["State"] == "Started" and kesl.task(12)["Active"] == "No"
    assert kesl("--double-restart").returncode == 0
    assert kesl.task(12)["State"] == "Stopped" and kesl.task(1)["State"] == "Started"
    assert kesl("--set-schedule", "2", "RuleType=AfterApplicationStart").returncode == 0
    assert kesl("--double-restart").returncode == 0
    assert kesl.task(2)["State"] == "Started"
    assert kesl("--set-schedule", "2", "Bogus=1").returncode == 2
    assert kesl("--get-schedule", "12").returncode == 1


def test_counters_and_double_commands_are_not_counted(kesl):
    kesl("--app-info")
    kesl("--get-task-list")
    kesl("--stop-task", "1")
    kesl("--bogus")
    kesl("--scan-file", "/tmp")
    kesl("--double-counts")
    assert kesl.cli_counts() == {"read": 2, "write": 1, "other": 2}
    assert [a for _k, _rc, a in kesl.log()] == ["--app-info", "--get-task-list", "--stop-task 1", "--bogus",
                                                "--scan-file /tmp"]
    kesl.reset()
    assert kesl.cli_counts() == {"read": 0, "write": 0, "other": 0} and kesl.log() == []
