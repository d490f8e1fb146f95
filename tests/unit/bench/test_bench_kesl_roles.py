# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/bench_kesl_roles.py: counting kesl-control calls from the double's log, reading the end state,
and the checks that fail the benchmark. The runs themselves are `make bench-smoke`."""

import os
import subprocess
import sys

import yaml

from ansible_collections.auditops.deckhouse.tests.unit.bench import _bench_loader

bench = _bench_loader.load("bench_kesl_roles")
DOUBLE = os.path.join(_bench_loader.ROOT, "tests", "doubles", "kesl-control")
NAIVE = os.path.join(_bench_loader.ROOT, "bench", "playbooks", "kesl_naive.yml")
ROLE_DEFAULTS = os.path.join(_bench_loader.ROOT, "roles", "kesl", "defaults", "main.yml")


def test_call_log_lines_are_counted_by_kind_and_exit_code():
    log = ("2026-11-23T11:03:36.320967Z\twrite\t0\t--start-task 12\n"
           "2026-11-23T11:03:36.586356Z\twrite\t70\t--stop-task 12\n"
           "\n"
           "2026-11-23T11:03:36.725395Z\tread\t0\t--get-settings 1 --json\n"
           "2026-11-23T11:03:36.725395Z\tother\t1\t--bogus\targ with a tab\n")
    rows = bench.parse_call_log(log)
    assert rows[1] == ("write", 70, "--stop-task 12")
    assert rows[3] == ("other", 1, "--bogus\targ with a tab")
    assert bench.count_calls(rows) == {"read": 1, "write": 2, "other": 1, "failed": 2, "total": 4}
    assert bench.count_calls([]) == {"read": 0, "write": 0, "other": 0, "failed": 0, "total": 0}


def _double(tmp_path, *args):
    env = dict(os.environ, KESL_DOUBLE_STATE=str(tmp_path / "kesl.ini"), LANG="C")
    proc = subprocess.run([sys.executable, DOUBLE] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    return proc.returncode


def test_the_real_double_log_is_parsed_and_end_state_read(tmp_path):
    """The log format and the state layout as the double writes them, not as this test imagines them."""
    assert _double(tmp_path, "--double-init", "--version", "12") == 0
    assert _double(tmp_path, "--start-task", "Web_Control") == 0
    assert _double(tmp_path, "--set-settings", "1", "--add-exclusion", "/etc/cni/", "--add-exclusion", "/var/lib/etcd") == 0
    assert _double(tmp_path, "--set-settings", "1", "ExcludedFromScanScope.item_0001.UseScanArea=No") == 0
    assert _double(tmp_path, "--stop-task", "26") == 0
    assert _double(tmp_path, "--stop-task", "26") == 70
    assert _double(tmp_path, "--get-task-list") == 0
    rows = bench.parse_call_log((tmp_path / "kesl.ini.log").read_text())
    assert bench.count_calls(rows) == {"read": 1, "write": 5, "other": 0, "failed": 1, "total": 6}
    state = bench.end_state((tmp_path / "kesl.ini").read_text())
    assert state["exclusions"] == {"File_Threat_Protection": {"/etc/cni/"}}  # the disabled one does not count
    assert state["tasks"]["Web_Control"] == ("Stopped", "No")
    assert state["tasks"]["File_Threat_Protection"] == ("Started", "Yes")


def _rows(role_second_changed=0, role_second_writes=0):
    def row(contender, run, changed, writes):
        return {"contender": contender, "run": run, "seconds": 1.0, "changed": changed,
                "calls": {"read": 1, "write": writes, "other": 0, "failed": 0, "total": 1 + writes}}
    return [row("role", "first", 2, 9), row("role", "second", role_second_changed, role_second_writes),
            row("naive", "first", 18, 74), row("naive", "second", 18, 74)]


def test_check_passes_an_idempotent_role_with_the_same_end_state():
    state = {"master": {"exclusions": {"File_Threat_Protection": {"/etc/cni/"}}, "tasks": {"Web_Control": ("Stopped", "No")}}}
    assert bench.check(_rows(), {"role": state, "naive": state}) == []


def test_check_fails_a_second_run_that_writes_or_changes():
    state = {"master": {"exclusions": {}, "tasks": {}}}
    assert bench.check(_rows(role_second_writes=1), {"role": state, "naive": state})
    assert bench.check(_rows(role_second_changed=1), {"role": state, "naive": state})


def test_check_fails_different_end_states():
    role = {"master": {"exclusions": {"File_Threat_Protection": {"/etc/cni/"}}, "tasks": {}}}
    naive = {"master": {"exclusions": {"File_Threat_Protection": {"/etc/cni"}}, "tasks": {}}}
    problems = bench.check(_rows(), {"role": role, "naive": naive})
    assert len(problems) == 1 and problems[0].startswith("node master ends differently")


def test_naive_play_covers_the_role_directories_and_stops_the_page_task_ids():
    """The naive play and the role must aim at the same end state, or the comparison means nothing."""
    with open(NAIVE) as handle:
        play = yaml.safe_load(handle)[0]
    with open(ROLE_DEFAULTS) as handle:
        defaults = yaml.safe_load(handle)
    excluded = {}
    stopped = []
    for task in play["tasks"]:
        words = task["ansible.builtin.command"].split()
        if "--add-exclusion" in words:
            excluded[words[-1]] = "master" if "when" in task else "any"
        else:
            stopped.append(words[-1])
    assert excluded == {d["path"]: d["node"] for d in defaults["kesl_directories"]}
    assert stopped == ["12", "14", "17", "26"]
    assert play["vars"]["naive_scan_tasks"] == [task_id for _name, task_id in bench.FULL_SCAN_TASKS]
    assert defaults["kesl_exclusion_tasks"] == [name for name, _id in bench.FULL_SCAN_TASKS]
