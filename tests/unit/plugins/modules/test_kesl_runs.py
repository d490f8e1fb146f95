# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the kesl role does on a node, module by module with the role defaults, against the double: for every
KESL version of the task table, the directories excluded, the tasks stopped and the kesl-control writes of a
first and a second run (the table in docs/kesl.md comes from this test's output)."""

import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _kesl as kesl
from ansible_collections.auditops.deckhouse.plugins.modules import kesl_exclusion, kesl_task
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

double = harness.double

with open(os.path.join(harness.ROOT, "roles", "kesl", "defaults", "main.yml")) as _handle:
    DEFAULTS = yaml.safe_load(_handle)
STOP_IDS = {"Firewall_Management": 12, "Web_Threat_Protection": 14, "Network_Threat_Protection": 17, "Web_Control": 26}


def role_run(kesl_double, node_role):
    """The role's two module calls; returns (exclusion result, task result, (reads, writes))."""
    kesl_double.reset()
    excl = harness.run(kesl_exclusion, {"executable": harness.DOUBLE, "exclusions": DEFAULTS["kesl_directories"],
                                        "node_role": node_role, "tasks": DEFAULTS["kesl_exclusion_tasks"]},
                       tmpdir=kesl_double.tmp)
    tasks = harness.run(kesl_task, {"executable": harness.DOUBLE, "tasks": DEFAULTS["kesl_stop_tasks"],
                                    "ignore_missing": True}, tmpdir=kesl_double.tmp)
    counts = kesl_double.counts()
    return excl, tasks, (counts["read"], counts["write"])


@pytest.mark.parametrize("version, node_role", [(v, "master") for v in harness.VERSIONS] + [("12.3", "worker")])
def test_first_and_second_run(double, version, node_role):
    harness.prepare(double, version)
    row = kesl.VERSIONS[tuple(int(x) for x in version.split("."))]
    documented_scan = sorted(i for n, (i, k) in row["tasks"].items() if k == "exclusions")
    documented_stop = sorted(STOP_IDS[n] for n in STOP_IDS if n.lower() in row["tasks"])
    excl, tasks, first = role_run(double, node_role)
    _e2, _t2, second = role_run(double, node_role)
    paths = 14 if node_role == "master" else 10
    print("| %s | %s | %d paths in tasks %s | stopped %s | first run %d read / %d write | second run %d read / %d "
          "write | %s |" % (version, node_role, paths, documented_scan, documented_stop, first[0], first[1],
                            second[0], second[1], row["page"]))
    assert [t["id"] for t in excl["tasks"]] == documented_scan
    assert [t["id"] for t in tasks["tasks"]] == documented_stop
    for task_id in documented_scan:
        assert len(double.exclusions(task_id)) == paths
        assert ("/var/lib/etcd" in double.exclusions(task_id)) is (node_role == "master")
    for task_id in documented_stop:
        assert double.task(task_id)["State"] == "Stopped" and double.task(task_id)["Active"] == "No"
    # One write per scan task and per task stopped; the second run only reads.
    assert first[1] == len(documented_scan) + len(documented_stop)
    assert second == (5 + len(documented_scan), 0)
