# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/_playbook_runs.py: reading the JSON callback, stopping on a failed run, the localhost inventory and
printing the comparison table."""

import json
import sys

import pytest

from ansible_collections.auditops.deckhouse.tests.unit.bench import _bench_loader

runs = _bench_loader.load("_playbook_runs")


def _callback_output(stats, tasks=()):
    return json.dumps({"plays": [{"play": {"name": "p"}, "tasks": list(tasks)}], "stats": stats}, indent=4)


def test_changed_and_failed_are_summed_over_hosts():
    out = _callback_output({
        "node-a": {"changed": 2, "failures": 0, "ok": 5, "unreachable": 0},
        "node-b": {"changed": 1, "failures": 1, "ok": 3, "unreachable": 0},
        "node-c": {"changed": 0, "failures": 0, "ok": 0, "unreachable": 1},
    }, tasks=[{"task": {"name": "Exclude /etc/cni/"}, "hosts": {
        "node-a": {"changed": True},
        "node-b": {"failed": True, "msg": "All items completed", "results": [{"failed": False}, {"failed": True, "msg": "rc 70"}]},
    }}])
    result = runs.parse_play_json("[WARNING]: a warning printed to stdout\n" + out)
    assert result["changed"] == 3
    assert result["failed"] == 2
    assert result["failures"] == ["node-b: Exclude /etc/cni/: rc 70"]
    assert set(result["stats"]) == {"node-a", "node-b", "node-c"}


def test_output_without_json_is_an_error():
    with pytest.raises(runs.BenchError):
        runs.parse_play_json("ERROR! the playbook could not be found")


class _Proc(object):
    def __init__(self, returncode, stderr=""):
        self.returncode, self.stderr = returncode, stderr


@pytest.mark.parametrize("returncode,failed", [(2, 0), (0, 1)])
def test_a_failed_playbook_run_stops_the_benchmark_naming_what_ran(monkeypatch, returncode, failed):
    result = {"changed": 0, "failed": failed, "failures": ["localhost: Apply: boom"]}
    monkeypatch.setattr(runs, "run_playbook", lambda args, env: (1.5, result, _Proc(returncode, "the stderr")))
    with pytest.raises(runs.BenchError) as error:
        runs.run_playbook_or_stop("the role", ["site.yml"], {})
    assert str(error.value) == "the role failed (rc %d): ['localhost: Apply: boom']\nthe stderr" % returncode


def test_a_run_that_passes_gives_its_time_and_result(monkeypatch):
    result = {"changed": 1, "failed": 0, "failures": []}
    monkeypatch.setattr(runs, "run_playbook", lambda args, env: (1.5, result, _Proc(0)))
    assert runs.run_playbook_or_stop("the role", ["site.yml"], {}) == (1.5, result)


def test_the_local_inventory_runs_localhost_with_this_python(tmp_path):
    path = runs.local_inventory(str(tmp_path))
    with open(path) as handle:
        assert handle.read() == "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable


def test_table_aligns_columns_and_right_aligns_numbers():
    text = _bench_loader.load("_table").format_table(["contender", "run", "wall s"], [["role", "first", "5.5"], ["naive", "second", "120.3"]])
    lines = text.splitlines()
    assert lines[0] == "| contender | run    | wall s |"
    assert lines[1] == "|-----------|--------|-------:|"
    assert lines[2] == "| role      | first  |    5.5 |"
    assert lines[3] == "| naive     | second |  120.3 |"
    assert len({len(line) for line in lines}) == 1
