# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kesl_info against the kesl-control test double (real subprocess calls, temp state)."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import kesl_info
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

double = harness.double


@pytest.mark.parametrize("version, web_control, policy", [("12.2", 26, False), ("11.3", None, None)])
def test_facts_per_version(double, version, web_control, policy):
    harness.prepare(double, version)
    assert double("--set-settings", "1", "--add-exclusion", "/var/lib/etcd", "--add-exclusion", "/off").returncode == 0
    assert double("--set-settings", "1", "ExcludedFromScanScope.item_0001.UseScanArea=No").returncode == 0
    double.reset()
    result = harness.run(kesl_info, {"executable": harness.DOUBLE})
    assert result["changed"] is False
    assert result["version"].startswith(version + ".")
    assert result["policy_managed"] is policy
    assert result["app_info"]["Version"] == result["version"]
    by_name = dict((t["name"], t) for t in result["tasks"])
    if web_control:
        # No page gives Web_Control's type string: the double prints no Type line, the module copes.
        assert by_name["Web_Control"] == {"id": web_control, "name": "Web_Control", "type": "", "state": "Started"}
    else:
        assert "Web_Control" not in by_name
    assert by_name["Firewall_Management"]["state"] == "Started"
    assert "autostart" not in by_name["Firewall_Management"]
    assert sorted(result["exclusions"], key=int) == ["1", "2", "4", "11", "13"]
    assert result["exclusions"]["1"] == ["/var/lib/etcd"]
    assert result["exclusion_details"]["1"][1] == {"path": "/off", "masks": ["*"], "enabled": False, "description": ""}
    assert double.counts() == {"read": 7, "write": 0, "other": 0}
    assert not [a for _k, _rc, a in double.log() if "--json" in a]


def test_autostart_and_selected_tasks(double):
    result = harness.run(kesl_info, {"executable": harness.DOUBLE, "autostart": True, "exclusion_tasks": ["Anti_Cryptor"]})
    by_name = dict((t["name"], t) for t in result["tasks"])
    assert by_name["Firewall_Management"]["autostart"] is True
    assert by_name["Web_Threat_Protection"]["autostart"] is True
    assert by_name["Scan_My_Computer"]["autostart"] is False  # manual schedule
    assert by_name["License"]["autostart"] is None  # not in the export
    assert list(result["exclusions"]) == ["13"]
    assert double.counts() == {"read": 4, "write": 0, "other": 0}


def test_without_exclusions_only_two_reads(double):
    result = harness.run(kesl_info, {"executable": harness.DOUBLE, "exclusions": False})
    assert "exclusions" not in result
    assert double.counts() == {"read": 2, "write": 0, "other": 0}


def test_bad_exclusion_task_names_the_field(double):
    failed = harness.run_fail(kesl_info, {"executable": harness.DOUBLE, "exclusion_tasks": ["1", "Scan_File"]})
    assert failed["msg"].startswith("exclusion_tasks[1]: Scan_File (3) ignores scan exclusions")


def test_kesl_not_running(double):
    double.set(Running="No")
    failed = harness.run_fail(kesl_info, {"executable": harness.DOUBLE})
    assert failed["rc"] == 64 and failed["kesl_not_running"] and failed["policy_locked"] is False
