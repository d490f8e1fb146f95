# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the kesl role does on a node, module by module with the role defaults, against the double:
kesl-control calls for a first and a second run per node role and KESL version."""

import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.modules import kesl_exclusion, kesl_task
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

double = harness.double

with open(os.path.join(harness.ROOT, "roles", "kesl", "defaults", "main.yml")) as _handle:
    DEFAULTS = yaml.safe_load(_handle)


def role_run(kesl, node_role):
    """The role's two module calls; returns the double's (read, write) calls for this run."""
    kesl.reset()
    harness.run(kesl_exclusion, {"executable": harness.DOUBLE, "exclusions": DEFAULTS["kesl_directories"],
                                 "node_role": node_role, "tasks": DEFAULTS["kesl_exclusion_tasks"]}, tmpdir=kesl.tmp)
    harness.run(kesl_task, {"executable": harness.DOUBLE, "tasks": DEFAULTS["kesl_stop_tasks"],
                            "ignore_missing": True}, tmpdir=kesl.tmp)
    counts = kesl.counts()
    return counts["read"], counts["write"]


@pytest.mark.parametrize("version, node_role, paths", [("12", "master", 14), ("11", "worker", 10)])
def test_first_and_second_run(double, version, node_role, paths):
    harness.prepare(double, version)
    first = role_run(double, node_role)
    second = role_run(double, node_role)
    print("KESL %s %s: first run %d read / %d write, second run %d read / %d write"
          % (version, node_role, first[0], first[1], second[0], second[1]))
    # exclusions: app-info, task list, 5 settings reads, 5 writes; tasks: app-info, list, export, 4 stops,
    # export again. Second run: the same reads, no write.
    assert first == (11, 9)
    assert second == (10, 0)
    for task_id in harness.SCAN_TASK_IDS:
        assert len(double.exclusions(task_id)) == paths
    assert [double.task(i)["State"] for i in (12, 14, 17)] == ["Stopped"] * 3
