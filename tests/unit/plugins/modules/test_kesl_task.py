# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kesl_task against the kesl-control test double (real subprocess calls, temp state)."""

from ansible_collections.auditops.deckhouse.plugins.modules import kesl_task
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

double = harness.double


def args(**extra):
    base = {"executable": harness.DOUBLE, "tasks": list(harness.STOP_TASKS)}
    base.update(extra)
    return base


def states(kesl, ids):
    return [(kesl.task(i)["State"], kesl.task(i)["Active"]) for i in ids]


def test_stop_resolves_names_per_version_and_second_run_only_reads(double):
    first = harness.run(kesl_task, args(), tmpdir=double.tmp, diff=True)
    assert first["changed"] is True and first["imported"] is False
    assert [t["id"] for t in first["tasks"]] == [12, 14, 17, 26]
    assert states(double, [12, 14, 17, 26]) == [("Stopped", "No")] * 4
    # app-info, task list, export; four stops; the task list read back, the export read again for the flags.
    assert double.counts() == {"read": 5, "write": 4, "other": 0}
    assert [a for k, _rc, a in double.log() if k == "write"] == ["--stop-task 12", "--stop-task 14",
                                                                 "--stop-task 17", "--stop-task 26"]
    assert "task 26 Web_Control: Started, autostart on" in first["diff"]["before"]
    assert "task 26 Web_Control: Stopped, autostart off" in first["diff"]["after"]

    double.reset()
    second = harness.run(kesl_task, args(), tmpdir=double.tmp)
    assert second["changed"] is False
    assert double.counts() == {"read": 3, "write": 0, "other": 0}
    assert second["kesl_calls"] == {"read": 3, "write": 0, "total": 3}


def test_11x_has_no_web_control_and_11_1_stops_only_what_it_documents(double):
    harness.prepare(double, "11.3")
    result = harness.run(kesl_task, args(ignore_missing=True))
    assert [t["id"] for t in result["tasks"]] == [12, 14, 17] and result["missing"] == ["Web_Control"]
    assert not [a for _k, _rc, a in double.log() if "--json" in a]
    harness.prepare(double, "11.1")
    result = harness.run(kesl_task, args(ignore_missing=True))
    assert [t["id"] for t in result["tasks"]] == [12]
    assert result["missing"] == ["Web_Threat_Protection", "Network_Threat_Protection", "Web_Control"]
    assert double.task(12)["State"] == "Stopped"
    failed = harness.run_fail(kesl_task, args(tasks=["Web_Control"]))
    assert "task 'Web_Control' does not exist in KESL 11.1.0.0 (not in its help: https://support.kaspersky" in failed["msg"]


def test_transient_state_is_reported_not_failed(double):
    assert double("--double-set-state", "14", "Stopping").returncode == 0
    assert double("--double-set-state", "17", "Starting").returncode == 0
    double.reset()
    result = harness.run(kesl_task, args())
    assert result["transient"] == [{"id": 14, "name": "Web_Threat_Protection", "state": "Stopping"},
                                   {"id": 17, "name": "Network_Threat_Protection", "state": "Starting"}]
    assert [a for k, _rc, a in double.log() if k == "write"] == ["--stop-task 12", "--stop-task 26"]
    assert double.task(17)["State"] == "Starting"


def test_a_stop_that_does_not_take_fails_naming_node_and_task(double, tmp_path):
    wrapper = tmp_path / "kesl-control"
    wrapper.write_text("#!/bin/sh\ncase \"$1\" in --stop-task) exit 0;; esac\nexec %s %s \"$@\"\n"
                       % (harness.sys.executable, harness.DOUBLE))
    wrapper.chmod(0o755)
    failed = harness.run_fail(kesl_task, args(executable=str(wrapper), tasks=["Firewall_Management"]))
    assert "task Firewall_Management (12): after kesl-control --stop-task 12 the task is Started, not Stopped" in failed["msg"]
    assert failed["msg"].startswith("node ")


def test_stopped_tasks_stay_off_after_a_restart_even_when_stop_does_not_persist(double):
    # A KESL where --stop-task only changes the running state: the module must notice and fix Active.
    double.set(StateChangesPersist="No")
    result = harness.run(kesl_task, args(), tmpdir=double.tmp)
    assert result["imported"] is True
    assert "--import-settings" in " ".join(a for _k, _rc, a in double.log())
    assert double("--double-restart").returncode == 0
    assert states(double, [12, 14, 17, 26]) == [("Stopped", "No")] * 4
    assert double.task(1)["State"] == "Started"  # untouched tasks keep their autostart
    double.reset()
    assert harness.run(kesl_task, args())["changed"] is False
    assert double.counts()["write"] == 0


def test_without_persistence_the_tasks_come_back_after_a_restart(double):
    # The counterpart of the test above: proves that the restart emulation can catch the problem.
    double.set(StateChangesPersist="No")
    result = harness.run(kesl_task, args(persistent=False))
    assert result["changed"] is True and all(t["autostart"] is None for t in result["tasks"])
    assert double("--double-restart").returncode == 0
    assert [double.task(i)["State"] for i in (12, 14, 17, 26)] == ["Started"] * 4


def test_stopped_but_autostarting_task_is_fixed_without_a_stop_call(double):
    double.set(StateChangesPersist="No")
    assert double("--stop-task", "12").returncode == 0  # stopped now, but Active is still Yes
    double.reset()
    result = harness.run(kesl_task, args(tasks=["Firewall_Management"]), tmpdir=double.tmp)
    assert result["changed"] is True and result["imported"] is True
    assert result["tasks"][0]["autostart_before"] is True and result["tasks"][0]["autostart"] is False
    assert [a.split()[0] for k, _rc, a in double.log() if k == "write"] == ["--import-settings"]
    assert states(double, [12]) == [("Stopped", "No")]


def test_on_demand_task_gets_a_manual_schedule(double):
    assert double("--set-schedule", "Scan_My_Computer", "RuleType=Daily").returncode == 0
    double.reset()
    result = harness.run(kesl_task, args(tasks=["Scan_My_Computer"]))
    assert result["changed"] is True and result["tasks"][0]["autostart_before"] is True
    assert [a for k, _rc, a in double.log() if k == "write"] == ["--set-schedule 2 RuleType=Manual"]
    assert [a for _k, _rc, a in double.log()][-1] == "--export-settings"  # the schedule is read back
    assert double.config()["Task:2:Schedule"]["RuleType"] == "Manual"
    assert harness.run(kesl_task, args(tasks=["2"]))["changed"] is False


def test_check_mode_writes_nothing(double):
    result = harness.run(kesl_task, args(), check_mode=True, diff=True)
    assert result["changed"] is True
    assert all(t["state"] == "Stopped" and t["autostart"] is False for t in result["tasks"])
    assert double.counts() == {"read": 3, "write": 0, "other": 0}
    assert states(double, [12]) == [("Started", "Yes")]


def test_start(double):
    assert double("--stop-task", "1").returncode == 0
    result = harness.run(kesl_task, args(tasks=["file_threat_protection"], state="started"))
    assert result["changed"] is True and result["tasks"][0]["state"] == "Started"
    assert states(double, [1]) == [("Started", "Yes")]
    assert harness.run(kesl_task, args(tasks=["1"], state="started"))["changed"] is False


def test_missing_tasks(double):
    failed = harness.run_fail(kesl_task, args(tasks=["Firewall_Management", "Nope"]))
    assert failed["msg"].startswith("tasks[1]: task 'Nope' does not exist in KESL 12.2.0.2412")
    assert double.counts()["write"] == 0
    result = harness.run(kesl_task, args(tasks=["Firewall_Management", "Nope"], ignore_missing=True))
    assert result["missing"] == ["Nope"] and result["changed"] is True
    failed = harness.run_fail(kesl_task, args(tasks=["Nope"], state="started", ignore_missing=True))
    assert "cannot be started" in failed["msg"]


def test_service_tasks_are_refused(double):
    failed = harness.run_fail(kesl_task, args(tasks=["12", "License"]))
    assert "tasks[1]: License (9) is a task KESL keeps running" in failed["msg"]
    assert double.counts()["write"] == 0 and states(double, [12]) == [("Started", "Yes")]


def test_policy_managed_node_gets_no_write_and_one_report(double):
    double.set(PolicyLock="Yes")
    result = harness.run(kesl_task, args())
    assert result["policy_managed"] is True and result["changed"] is False
    assert result["ksc_changes"][0] == "Firewall_Management (12): stop and keep it from starting after a restart"
    assert len(result["ksc_changes"]) == 4 and double.counts()["write"] == 0


def test_policy_lock_is_reported_once_without_retry(double):
    harness.prepare(double, "11.3")
    double.set(PolicyLock="Yes")
    failed = harness.run_fail(kesl_task, args(ignore_missing=True))
    assert failed["rc"] == 68 and failed["policy_locked"] is True and failed["changed"] is False
    assert "Kaspersky Security Center policy" in failed["msg"] and "--stop-task 12" in failed["msg"]
    assert double.counts()["write"] == 1


def test_kesl_not_running(double):
    double.set(Running="No")
    failed = harness.run_fail(kesl_task, args())
    assert failed["rc"] == 64 and failed["kesl_not_running"] is True
