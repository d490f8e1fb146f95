# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kesl_exclusion against the kesl-control test double (real subprocess calls, temp state)."""

from ansible_collections.auditops.deckhouse.plugins.modules import kesl_exclusion
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

double = harness.double

PATHS = ["/var/lib/etcd", "/etc/kubernetes", "/var/lib/kubelet/"]


def args(**extra):
    base = {"executable": harness.DOUBLE, "exclusions": list(PATHS)}
    base.update(extra)
    return base


def test_first_run_writes_once_per_task_second_run_only_reads(double):
    first = harness.run(kesl_exclusion, args(), tmpdir=double.tmp)
    assert first["changed"] is True
    assert first["version"] == "12.2.0.2412"
    assert first["output_format"] == "text" and first["policy_managed"] is False
    assert [t["id"] for t in first["tasks"]] == harness.SCAN_TASK_IDS
    assert all(t["added"] == PATHS for t in first["tasks"])
    # --app-info, --get-task-list, one --get-settings per task; one --set-settings per task, each read back.
    assert double.counts() == {"read": 12, "write": 5, "other": 0}
    assert first["kesl_calls"] == {"read": 12, "write": 5, "total": 17}
    log = [(kind, a) for kind, _rc, a in double.log()]
    writes = [a for kind, a in log if kind == "write"]
    assert [w.split()[1] for w in writes] == [str(i) for i in harness.SCAN_TASK_IDS]
    assert all(w.startswith("--set-settings") and " --file " in w for w in writes)
    # Every write is followed by a read of the same task's settings.
    for index, (kind, a) in enumerate(log):
        if kind == "write":
            assert log[index + 1][1].startswith("--get-settings %s --file " % a.split()[1])
    assert not [a for _k, a in log if "--json" in a]
    for task_id in harness.SCAN_TASK_IDS:
        assert double.exclusions(task_id) == dict((p, "Yes") for p in PATHS)
    assert double.exclusions(3) == {}  # Scan_File ignores exclusions, so it is left alone

    double.reset()
    second = harness.run(kesl_exclusion, args(), tmpdir=double.tmp)
    assert second["changed"] is False
    assert double.counts() == {"read": 7, "write": 0, "other": 0}
    assert second["kesl_calls"] == {"read": 7, "write": 0, "total": 7}


def test_11x_profile_uses_text_and_ini_only(double):
    harness.prepare(double, "11")
    result = harness.run(kesl_exclusion, args(), tmpdir=double.tmp)
    assert result["version"] == "11.3.0.7441"
    assert result["output_format"] == "text" and result["policy_managed"] is None
    assert not [a for _k, _rc, a in double.log() if "--json" in a]
    assert all(rc == 0 for _k, rc, _a in double.log())
    assert double.exclusions(1) == dict((p, "Yes") for p in PATHS)
    double.reset()
    assert harness.run(kesl_exclusion, args(), tmpdir=double.tmp)["changed"] is False
    assert double.counts()["write"] == 0


def test_check_mode_and_diff_write_nothing(double):
    result = harness.run(kesl_exclusion, args(), check_mode=True, diff=True)
    assert result["changed"] is True
    assert double.counts() == {"read": 7, "write": 0, "other": 0}
    assert double.exclusions(1) == {}
    assert "/var/lib/etcd" not in result["diff"]["before"]
    assert "task 1 File_Threat_Protection:\n  /var/lib/etcd [*]\n" in result["diff"]["after"]
    assert result["diff"]["after"].count("/etc/kubernetes [*]") == 5


def test_worker_skips_master_only_paths(double):
    entries = [{"path": "/var/lib/etcd", "node": "master"}, {"path": "/etc/cni/", "node": "any"},
               {"path": "/srv/worker-only", "node": "worker"}]
    result = harness.run(kesl_exclusion, args(exclusions=entries, node_role="worker", tasks=["1"]))
    assert result["tasks"][0]["added"] == ["/etc/cni/", "/srv/worker-only"]
    assert double.exclusions(1) == {"/etc/cni/": "Yes", "/srv/worker-only": "Yes"}


def test_existing_exclusions_are_enabled_fixed_and_keep_their_other_keys(double):
    assert double("--set-settings", "1", "--add-exclusion", "/var/lib/kubelet", "--add-exclusion", "/opt/cni/bin/").returncode == 0
    assert double("--set-settings", "1", "ExcludedFromScanScope.item_0000.UseScanArea=No",
                  "ExcludedFromScanScope.item_0000.AreaDesc=kept").returncode == 0
    double.reset()
    entries = [{"path": "/var/lib/kubelet/"}, {"path": "/opt/cni/bin", "masks": ["*", "*.so"]}]
    result = harness.run(kesl_exclusion, args(exclusions=entries, tasks=["File_Threat_Protection"]), diff=True)
    task = result["tasks"][0]
    # Trailing slashes do not matter; the disabled one is enabled, the other gets the new masks.
    assert task["added"] == [] and task["updated"] == ["/var/lib/kubelet", "/opt/cni/bin/"]
    assert "/var/lib/kubelet [*] (disabled)" in result["diff"]["before"]
    settings = double("--get-settings", "1").stdout
    assert "AreaDesc=kept\nUseScanArea=Yes\nPath=/var/lib/kubelet\n" in settings
    assert "Path=/opt/cni/bin/\nAreaMask.item_0000=*\nAreaMask.item_0001=*.so\n" in settings
    assert settings.count("[ExcludedFromScanScope.item_") == 2
    assert "ScanByAccessType=SmartCheck" in settings  # settings the module does not manage stay


def test_absent_removes_every_matching_exclusion(double):
    assert double("--set-settings", "2", "--add-exclusion", "/tmp/a", "--add-exclusion", "/tmp/b/").returncode == 0
    result = harness.run(kesl_exclusion, args(exclusions=["/tmp/b", "/tmp/zzz"], state="absent", tasks=["2"]))
    assert result["changed"] is True and result["tasks"][0]["removed"] == ["/tmp/b/"]
    assert double.exclusions(2) == {"/tmp/a": "Yes"}
    again = harness.run(kesl_exclusion, args(exclusions=["/tmp/b"], state="absent", tasks=["2"]))
    assert again["changed"] is False


def test_paths_with_spaces_round_trip_through_ini(double):
    harness.prepare(double, "11")
    result = harness.run(kesl_exclusion, args(exclusions=[{"path": "/srv/my data", "description": "two words"}],
                                              tasks=["1"]))
    assert result["changed"] is True
    assert double.exclusions(1) == {"/srv/my data": "Yes"}
    assert harness.run(kesl_exclusion, args(exclusions=["/srv/my data"], tasks=["1"]))["changed"] is False


def test_user_ods_tasks_are_included(double):
    cfg = double.config()
    cfg["Task:100"] = {"Name": "Nightly_Scan", "Type": "ODS", "State": "Stopped"}
    for key, value in cfg["Task:2:Settings"].items():
        cfg.setdefault("Task:100:Settings", {})
        cfg["Task:100:Settings"][key] = value
    cfg["Task:100:Schedule"] = {"RuleType": "Manual"}
    double.write_config(cfg)
    result = harness.run(kesl_exclusion, args(exclusions=["/data"]))
    assert [t["id"] for t in result["tasks"]] == harness.SCAN_TASK_IDS + [100]
    assert double.exclusions(100) == {"/data": "Yes"}
    only = harness.run(kesl_exclusion, args(exclusions=["/other"], user_ods_tasks=False))
    assert 100 not in [t["id"] for t in only["tasks"]]


def test_bad_input_names_the_field_and_calls_nothing(double):
    failed = harness.run_fail(kesl_exclusion, args(exclusions=["/ok", {"path": "relative/dir"}]))
    assert failed["msg"].startswith("exclusions[1].path: must be an absolute path")
    failed = harness.run_fail(kesl_exclusion, args(exclusions=[{"path": "/x", "masks": []}]))
    assert failed["msg"].startswith("exclusions[0].masks:")
    failed = harness.run_fail(kesl_exclusion, args(exclusions=[{"path": "/x", "mask": ["*"]}]))
    assert "exclusions[0]: unknown key mask" in failed["msg"]
    assert double.counts() == {"read": 0, "write": 0, "other": 0}


def test_unsuitable_tasks_are_refused_before_any_write(double):
    failed = harness.run_fail(kesl_exclusion, args(tasks=["File_Threat_Protection", "Scan_File", "12", "77"]))
    assert "tasks[1]: Scan_File (3) ignores scan exclusions" in failed["msg"]
    assert "tasks[2]: Firewall_Management (12) is not a task with scan exclusions in the KESL 12.2.0.2412" in failed["msg"]
    assert "tasks[3]: no task 77" in failed["msg"] and "KESL 12.2.0.2412" in failed["msg"]
    assert double.counts()["write"] == 0


def test_whole_disk_and_escaping_paths_are_refused(double):
    """Issue 18 item 9: '/' and '/etc/kubernetes/../..' were accepted and excluded the whole disk."""
    for path in ("/", "/etc/kubernetes/../..", "//"):
        failed = harness.run_fail(kesl_exclusion, args(exclusions=["/etc/cni", path]))
        assert failed["msg"].startswith("exclusions[1].path:") and failed["changed"] is False
    assert double.counts() == {"read": 0, "write": 0, "other": 0}


def test_policy_managed_node_gets_no_write_and_one_report(double):
    double.set(PolicyLock="Yes")
    result = harness.run(kesl_exclusion, args())
    assert result["policy_managed"] is True and result["changed"] is False
    assert len(result["ksc_changes"]) == 5
    assert result["ksc_changes"][0] == "File_Threat_Protection (1): exclude /var/lib/etcd, /etc/kubernetes, /var/lib/kubelet/"
    assert double.counts()["write"] == 0 and double.exclusions(1) == {}


def test_policy_lock_is_reported_once_without_retry(double):
    # 11.3 has no Policy line in --app-info, so the module only learns of the policy from exit 68.
    harness.prepare(double, "11.3")
    double.set(PolicyLock="Yes")
    failed = harness.run_fail(kesl_exclusion, args())
    assert failed["rc"] == 68 and failed["policy_locked"] is True and failed["changed"] is False
    assert "Kaspersky Security Center policy" in failed["msg"]
    assert double.counts()["write"] == 1
    assert failed["kesl_calls"]["write"] == 1


def test_policy_lock_on_a_later_task_says_what_was_written(double):
    double.set(PolicyLock="2")
    failed = harness.run_fail(kesl_exclusion, args())
    assert failed["rc"] == 68 and failed["changed"] is True
    assert "already written" in failed["msg"]
    assert double.exclusions(1) == dict((p, "Yes") for p in PATHS) and double.exclusions(2) == {}


def test_kesl_not_running(double):
    double.set(Running="No")
    failed = harness.run_fail(kesl_exclusion, args())
    assert failed["rc"] == 64 and failed["kesl_not_running"] is True
    assert "not running" in failed["msg"] and "systemctl start kesl" in failed["msg"]
    assert double.counts() == {"read": 1, "write": 0, "other": 0}


def test_running_scan_task_fails_before_anything_is_written(double):
    assert double("--start-task", "Scan_My_Computer").returncode == 0
    double.reset()
    failed = harness.run_fail(kesl_exclusion, args())
    assert "Scan_My_Computer (2, Started) is not stopped" in failed["msg"] and "Nothing was changed" in failed["msg"]
    assert double.counts()["write"] == 0


def test_a_write_that_does_not_take_fails_naming_node_task_and_path(double, tmp_path):
    """A kesl-control that answers 0 to --set-settings but keeps the old settings."""
    wrapper = tmp_path / "kesl-control"
    wrapper.write_text("#!/bin/sh\ncase \"$1\" in --set-settings) exit 0;; esac\nexec %s %s \"$@\"\n"
                       % (harness.sys.executable, harness.DOUBLE))
    wrapper.chmod(0o755)
    failed = harness.run_fail(kesl_exclusion, args(executable=str(wrapper), tasks=["1"]))
    assert "task File_Threat_Protection (1)" in failed["msg"] and "/var/lib/etcd is not there" in failed["msg"]
    assert "node " in failed["msg"] and "read back with --get-settings 1 --file" in failed["msg"]


def test_missing_executable(double):
    failed = harness.run_fail(kesl_exclusion, args(executable=str(double.tmp / "absent" / "kesl-control")))
    assert "kesl-control not found at" in failed["msg"] and "not installed" in failed["msg"]
