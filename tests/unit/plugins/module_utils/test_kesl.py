# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The KESL engine: parsers, INI settings, the per-version task table, exclusion planning, exit codes, and the CLI wrapper
against the kesl-control test double (real subprocess calls)."""

import os
import re
import subprocess
import sys

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _kesl as kesl
from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules import _kesl_harness as harness

ROOT = _paths.ROOT
DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
NOTES = os.path.join(_paths.SHARED, "reference", "kesl.md")

APP_INFO = """Name:                                       Kaspersky Endpoint Security 10 SP1 for Linux
Version:                                    10.1.0.5960
Key status:                                 Valid
Last release date of databases:             2018-08-23 04:11:00
Anti-virus databases loaded:                Yes
"""
TASKS_TEXT = """Name:  File_Threat_Protection
ID:    1
Type:  OAS
State: Started

Name:  Web_Control
ID:    26
Type:  WebControl
State: Stopping
"""
FTP_INI = """ScanArchived=No
ScanByAccessType=SmartCheck

[ScanScope.item_0000]
AreaDesc=All objects
UseScanArea=Yes
Path=/
AreaMask.item_0000=*

[ExcludedFromScanScope.item_0000]
AreaDesc="old one"
UseScanArea=No
Path=/var/lib/kubelet/
AreaMask.item_0000=*
Custom=kept

[ExcludedFromScanScope.item_0001]
AreaDesc=
UseScanArea=Yes
Path="/srv/my data"
AreaMask.item_0000=*.log

[Trailing]
Key=Value
"""


# --- exit codes ---------------------------------------------------------------------------------------------

def documented_exit_codes():
    """Every code in the exit-code table of the research notes (rows like ``| 71 / 72 / 73 | ...``)."""
    with open(_paths.require(NOTES)) as handle:
        text = handle.read()
    table = text[text.index("### 1.7 Exit codes"):text.index("### 1.8")]
    codes = set()
    for line in table.splitlines():
        match = re.match(r"^\|\s*([0-9][0-9 /]*?)\s*\|", line)
        if match:
            codes.update(int(c) for c in match.group(1).split("/"))
    return codes


def test_every_documented_exit_code_has_a_message():
    codes = documented_exit_codes()
    assert {0, 1, 2, 64, 65, 68, 70, 80, 128} <= codes  # the table was found and read
    assert codes <= set(kesl.EXIT_CODES)
    for code in codes:
        assert kesl.describe_exit(code) != kesl.describe_exit(999)


def test_exit_messages():
    assert "Kaspersky Security Center policy" in kesl.describe_exit(68)
    assert "not retried" in kesl.describe_exit(68)
    assert "not running" in kesl.describe_exit(64)
    assert kesl.describe_exit(99) == "undocumented exit code 99"
    assert kesl.describe_exit(-9) == "killed by signal 9"
    err = kesl.KeslError("x", rc=68)
    assert err.policy_locked and not err.not_running and err.as_dict()["policy_locked"] is True


# --- text parsers -------------------------------------------------------------------------------------------

def test_app_info_and_version():
    info = kesl.parse_app_info(APP_INFO)
    assert info["Version"] == "10.1.0.5960" and info["Anti-virus databases loaded"] == "Yes"
    assert kesl.parse_version("12.2.0.2412") == (12, 2)
    assert kesl.policy_managed(info) is None
    assert kesl.policy_managed({"Policy": "Not applied"}) is False
    assert kesl.policy_managed({"Policy": "Applied"}) is True
    with pytest.raises(kesl.KeslError, match="cannot read a KESL version"):
        kesl.parse_version("unknown")


def test_localized_app_info_is_refused():
    with pytest.raises(kesl.KeslError, match="localized") as info:
        kesl.parse_app_info("Имя:     Kaspersky\nВерсия:  12.2.0.2412\n")
    assert "Имя" in str(info.value)


def test_task_list_text():
    tasks = kesl.parse_task_list_text(TASKS_TEXT)
    assert tasks == [{"id": 1, "name": "File_Threat_Protection", "type": "OAS", "state": "Started"},
                     {"id": 26, "name": "Web_Control", "type": "WebControl", "state": "Stopping"}]
    assert kesl.parse_task_list_text("") == []


@pytest.mark.parametrize("text, message", [
    ("Имя:   File_Threat_Protection\nID:    1\nТип:   OAS\nСостояние: Запущена\n", "localized"),
    ("Name:  File_Threat_Protection\nID:    1\nType:  OAS\nState: Запущена\n", "not one of the documented states"),
    ("Name:  X\nID:    one\nState: Started\n", "cannot parse"),
])
def test_task_list_text_refuses_what_it_cannot_read(text, message):
    with pytest.raises(kesl.KeslError, match=message):
        kesl.parse_task_list_text(text)


def test_every_documented_state_is_read_and_type_may_be_missing():
    text = "".join("Name:  T%d\nID:    %d\nState: %s\n\n" % (i, i, st) for i, st in enumerate(kesl.STATES, 1))
    tasks = kesl.parse_task_list_text(text)
    assert [t["state"] for t in tasks] == list(kesl.STATES) and all(t["type"] == "" for t in tasks)


def test_exit_codes_are_mapped_per_version():
    assert "only from KESL 11.2 on (this node runs 11.1)" in kesl.describe_exit(70, (11, 1))
    assert kesl.describe_exit(70, (11, 2)).startswith("the task is already")
    assert "only from KESL 12.3 on" in kesl.describe_exit(80, (12, 2))
    assert "only from KESL 12.1 on" in kesl.describe_exit(78, (12, 0))
    assert kesl.documented_for(68, (11, 0)) and not kesl.documented_for(70, (11, 1))


def test_version_table_rows():
    assert sorted(kesl.VERSIONS) == [(11, 0), (11, 1), (11, 2), (11, 3), (12, 0), (12, 1), (12, 2), (12, 3)]
    for version, row in kesl.VERSIONS.items():
        assert row["page"].startswith("https://support.kaspersky.")
        has_web_control = "web_control" in row["tasks"]
        assert has_web_control == (version >= (12, 1))
        assert ("critical_areas_scan" in row["tasks"]) == (version >= (11, 2))
        assert ("boot_scan" in row["tasks"]) == (version <= (11, 1))


# --- INI settings -------------------------------------------------------------------------------------------

def test_ini_round_trip_keeps_everything():
    doc = kesl.IniDoc.parse(FTP_INI)
    assert doc.render() == FTP_INI
    assert doc.value("ExcludedFromScanScope.item_0000", "AreaDesc") == "old one"
    with pytest.raises(kesl.KeslError, match="line 2"):
        kesl.IniDoc.parse("A=1\nnot a pair\n")


def test_exclusions_from_ini():
    found = kesl.exclusions_from_ini(kesl.IniDoc.parse(FTP_INI))
    assert [kesl.public_exclusion(e) for e in found] == [
        {"path": "/var/lib/kubelet/", "masks": ["*"], "enabled": False, "description": "old one"},
        {"path": "/srv/my data", "masks": ["*.log"], "enabled": True, "description": ""},
    ]


def test_ini_with_exclusions_changes_only_the_exclusions():
    doc = kesl.IniDoc.parse(FTP_INI)
    current = kesl.exclusions_from_ini(doc)
    wanted = kesl.normalize_exclusions(["/var/lib/kubelet", {"path": "/opt/a b", "masks": ["*", "*.so"],
                                                             "description": "two words"}])
    new, added, removed, updated = kesl.plan_exclusions(current, wanted, "present")
    assert (added, removed, updated) == (["/opt/a b"], [], ["/var/lib/kubelet/"])
    text = kesl.ini_with_exclusions(doc, new).render()
    expected = FTP_INI.replace("UseScanArea=No", "UseScanArea=Yes").replace(
        "[Trailing]",
        '[ExcludedFromScanScope.item_0002]\nAreaDesc="two words"\nUseScanArea=Yes\nPath="/opt/a b"\n'
        "AreaMask.item_0000=*\nAreaMask.item_0001=*.so\n\n[Trailing]")
    # New sections go right after the existing exclusions; the others stay where they were.
    assert text.replace("\n\n[ExcludedFromScanScope.item_0002]", "\n[ExcludedFromScanScope.item_0002]") == \
        expected.replace("\n\n[ExcludedFromScanScope.item_0002]", "\n[ExcludedFromScanScope.item_0002]")
    assert kesl.exclusions_from_ini(kesl.IniDoc.parse(text))[0]["_raw"][-1] == ("Custom", "kept")


def test_removing_renumbers_from_zero():
    doc = kesl.IniDoc.parse(FTP_INI)
    new, _a, removed, _u = kesl.plan_exclusions(kesl.exclusions_from_ini(doc),
                                                kesl.normalize_exclusions(["/var/lib/kubelet"]), "absent")
    assert removed == ["/var/lib/kubelet/"]
    text = kesl.ini_with_exclusions(doc, new).render()
    assert "[ExcludedFromScanScope.item_0000]\nAreaDesc=\nUseScanArea=Yes\nPath=\"/srv/my data\"" in text
    assert "[ExcludedFromScanScope.item_0001]" not in text


def test_first_exclusion_is_appended_at_the_end():
    doc = kesl.IniDoc.parse("A=1\n\n[ScanScope.item_0000]\nPath=/\n")
    new, added, _r, _u = kesl.plan_exclusions([], kesl.normalize_exclusions(["/x"]), "present")
    assert added == ["/x"]
    assert kesl.ini_with_exclusions(doc, new).render().endswith(
        "[ExcludedFromScanScope.item_0000]\nAreaDesc=\nUseScanArea=Yes\nPath=/x\nAreaMask.item_0000=*\n")


# --- input and planning -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, message", [
    ("/x", "exclusions: must be a list"),
    ([1], "exclusions[0]: must be a path or a mapping"),
    ([{"masks": ["*"]}], "exclusions[0].path: must be a non-empty string"),
    (["var/lib"], "exclusions[0].path: must be an absolute path"),
    (["/ok", '/a"b'], "exclusions[1].path: must not contain newlines"),
    ([{"path": "/a", "masks": "*"}], "exclusions[0].masks: must be a non-empty list"),
    ([{"path": "/a", "masks": ["*", ""]}], "exclusions[0].masks[1]: must be a non-empty string"),
    ([{"path": "/a", "node": "Master"}], "exclusions[0].node: must be one of any, master, worker"),
    ([{"path": "/a", "description": "x\ny"}], "exclusions[0].description:"),
    ([{"path": "/a", "size": 1}], "exclusions[0]: unknown key size"),
    (["/"], "exclusions[0].path: '/' would exclude the whole file system"),
    (["/etc/kubernetes/../.."], "exclusions[0].path: '/etc/kubernetes/../..' has a '.' or '..' component"),
    (["/var/./lib"], "exclusions[0].path: '/var/./lib' has a '.'"),
    (["/**"], "exclusions[0].path: '/**' would exclude the whole file system"),
    ([{"path": "/var/log", "masks": ["**/*.log"]}], "exclusions[0].masks[0]: '**/*.log' contains '/'"),
])
def test_bad_exclusions_name_the_field(raw, message):
    with pytest.raises(kesl.KeslInputError) as info:
        kesl.normalize_exclusions(raw)
    assert str(info.value).startswith(message)


def test_node_roles_and_overrides():
    raw = [{"path": "/var/lib/etcd", "node": "master"}, "/etc/cni/", {"path": "/w", "node": "worker"},
           {"path": "/etc/cni", "masks": ["*.conf"]}]
    assert [e["path"] for e in kesl.normalize_exclusions(raw)] == ["/var/lib/etcd", "/etc/cni", "/w"]
    assert [e["path"] for e in kesl.normalize_exclusions(raw, "master")] == ["/var/lib/etcd", "/etc/cni"]
    worker = kesl.normalize_exclusions(raw, "worker")
    assert [(e["path"], e["masks"]) for e in worker] == [("/etc/cni", ["*.conf"]), ("/w", ["*"])]
    with pytest.raises(kesl.KeslInputError, match="node_role"):
        kesl.normalize_exclusions(raw, "any")


def test_plan_is_a_no_op_when_everything_is_there():
    current = [{"path": "/a/", "enabled": True, "masks": ["**", "*"], "description": "x"}]
    new, added, removed, updated = kesl.plan_exclusions(current, kesl.normalize_exclusions(
        [{"path": "/a", "masks": ["*", "**"]}]), "present")
    assert (added, removed, updated) == ([], [], []) and new == current


def test_plan_is_case_sensitive():
    current = [{"path": "/etc/Kubernetes", "enabled": True, "masks": ["*"], "description": ""}]
    _new, added, _r, _u = kesl.plan_exclusions(current, kesl.normalize_exclusions(["/etc/kubernetes"]), "present")
    assert added == ["/etc/kubernetes"]


# --- task selection -----------------------------------------------------------------------------------------

TASKS = [{"id": 1, "name": "File_Threat_Protection", "type": "OAS", "state": "Started"},
         {"id": 3, "name": "Scan_File", "type": "ODS", "state": "Stopped"},
         {"id": 9, "name": "License", "type": "License", "state": "Started"},
         {"id": 12, "name": "Firewall_Management", "type": "Firewall", "state": "Started"},
         {"id": 100, "name": "Nightly", "type": "ODS", "state": "Stopped"},
         {"id": 101, "name": "Hourly_Update", "type": "Update", "state": "Stopped"}]


def test_select_exclusion_tasks():
    v = "12.3.0.0"
    assert [t["id"] for t in kesl.select_exclusion_tasks(TASKS, ["file_threat_protection", "1"], version=v)[0]] == [1, 100]
    assert [t["id"] for t in kesl.select_exclusion_tasks(TASKS, ["1"], user_ods_tasks=False, version=v)[0]] == [1]
    # A default task this version does not have is skipped and reported, not an error (11.1 has no
    # Critical_Areas_Scan).
    assert kesl.select_exclusion_tasks(TASKS, ["1", "Critical_Areas_Scan"], False, "11.1.0.0") == (
        [TASKS[0]], ["Critical_Areas_Scan"])
    with pytest.raises(kesl.KeslInputError) as info:
        kesl.select_exclusion_tasks(TASKS, ["3", "Firewall_Management", "77"], version="11.3.0.7441")
    message = str(info.value)
    assert message.startswith("tasks[0]: Scan_File (3) ignores scan exclusions")
    assert "tasks[1]: Firewall_Management (12) is not a task with scan exclusions in the KESL 11.3.0.7441 help" in message
    assert "tasks[2]: no task 77 in kesl-control --get-task-list (KESL 11.3.0.7441)" in message


def test_documented_task_must_have_its_documented_id_and_exist():
    moved = [dict(TASKS[3], id=22)]
    with pytest.raises(kesl.KeslInputError, match=r"Firewall_Management has ID 22 .* gives it ID 12"):
        kesl.resolve_tasks(moved, ["Firewall_Management"], "12.3.0.0")
    with pytest.raises(kesl.KeslInputError, match="documents task Web_Threat_Protection .ID 14. but"):
        kesl.resolve_tasks(TASKS, ["Web_Threat_Protection"], "12.3.0.0", ignore_missing=True)


def test_resolve_tasks():
    assert kesl.resolve_tasks(TASKS, ["12", "Web_Control"], "11.3.0.7441", ignore_missing=True) == (
        [TASKS[3]], ["Web_Control"])
    with pytest.raises(kesl.KeslInputError, match=r"tasks\[0\]: License \(9\) is a task KESL keeps running"):
        kesl.resolve_tasks(TASKS, ["License"], "12.3.0.0")
    with pytest.raises(kesl.KeslInputError, match=r"task 'Web_Control' does not exist in KESL 11.3.0.7441"):
        kesl.resolve_tasks(TASKS, ["Web_Control"], "11.3.0.7441")


def test_autostart_of_a_task_outside_the_export_is_an_error():
    with pytest.raises(kesl.KeslError, match="whether it starts again after a restart cannot be checked"):
        kesl.autostart_of(TASKS[3], {}, {})
    assert kesl.autostart_of(TASKS[3], {"firewall_management": False}, {}) == ("monitoring", False)
    assert kesl.autostart_of(TASKS[4], {}, {100: "Daily"}) == ("scheduled", True)


def test_autostart_from_export_and_back():
    export = kesl.IniDoc.parse(
        "Version=12.2.0.2412\n[MonitoringTask.item_0000]\nTaskName=Firewall_Management\nTaskType=Firewall\n"
        "Active=Yes\n[MonitoringTask.item_0000.Settings]\nA=1\n[OnDemandTask.item_0000]\nTaskName=Scan_My_Computer\n"
        "TaskId=2\n[OnDemandTask.item_0000.Schedule]\nRuleType=Daily\n")
    assert kesl.autostart_from_export(export) == ({"firewall_management": True}, {2: "Daily"})
    changed = kesl.export_with_active(export, {"firewall_management": False})
    assert kesl.autostart_from_export(changed)[0] == {"firewall_management": False}
    assert kesl.autostart_from_export(export)[0] == {"firewall_management": True}  # a copy was changed
    assert changed.render() == export.render().replace("Active=Yes", "Active=No")


# --- the CLI wrapper against the double -----------------------------------------------------------------------

@pytest.fixture
def state(tmp_path, monkeypatch):
    path = tmp_path / "kesl.ini"
    monkeypatch.setenv("KESL_DOUBLE_STATE", str(path))
    harness.interpreter_first_on_path(monkeypatch)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    return path


def init(version):
    subprocess.run([sys.executable, DOUBLE, "--double-init", "--version", version], check=True)


@pytest.mark.parametrize("version, web_control", [("11.3", None), ("12.1", 26)])
def test_wrapper_forces_english_and_reads_ini_files(state, version, web_control):
    init(version)
    ctl = kesl.KeslControl(DOUBLE)
    assert ctl.detect_version().startswith(version + ".")
    tasks = ctl.task_list()
    assert (kesl.find_task(tasks, "Web_Control") or {}).get("id") == web_control
    assert [e["path"] for e in ctl.get_settings(1).exclusions()] == []
    assert ctl.counts() == {"read": 3, "write": 0, "total": 3}
    assert [c["cmd"][1:3] for c in ctl.calls][2] == ["--get-settings", "1"]
    assert ctl.calls[2]["cmd"][3] == "--file"
    assert ctl.policy_managed is (None if version == "11.3" else False)


def test_a_hanging_kesl_control_is_killed_after_the_timeout(state):
    """Issue 18 item 10: a hanging binary blocked the play; now the call ends with a clear error."""
    init("12.3")
    subprocess.run([sys.executable, DOUBLE, "--double-set", "Hang=--get-task-list"], check=True)
    ctl = kesl.KeslControl(DOUBLE)
    ctl.detect_version()
    ctl.timeout = 2  # only the hanging call gets the short timeout: a busy machine may take 2 s for any call
    with pytest.raises(kesl.KeslError, match=r"--get-task-list did not finish within 2 s on .* \(timeout\)"):
        ctl.task_list()
    with pytest.raises(kesl.KeslInputError, match="timeout: must be a whole number"):
        kesl.KeslControl(DOUBLE, timeout=0)


def test_without_the_forced_locale_the_output_is_russian(state):
    """The premise of the locale tests: the double does follow LANG, so forcing is what makes it work."""
    init("11")

    def unforced(argv, _env, timeout):
        return kesl.subprocess_runner(argv, {}, timeout)

    with pytest.raises(kesl.KeslError, match="localized"):
        kesl.KeslControl(DOUBLE, runner=unforced).detect_version()


def test_wrapper_writes_settings_and_maps_exit_codes(state):
    init("12.2")
    ctl = kesl.KeslControl(DOUBLE)
    ctl.detect_version()
    settings = ctl.get_settings(1)
    new, _a, _r, _u = kesl.plan_exclusions(settings.exclusions(), kesl.normalize_exclusions(["/x"]), "present")
    ctl.set_settings(1, settings.with_exclusions(new))
    assert [e["path"] for e in ctl.get_settings(1).exclusions()] == ["/x"]
    assert ctl.set_task_state(12, started=False) is False  # already stopped: exit 70, unchanged
    assert ctl.set_task_state(12, started=True) is True
    subprocess.run([sys.executable, DOUBLE, "--double-set", "PolicyLock=Yes"], check=True)
    with pytest.raises(kesl.KeslError) as info:
        ctl.set_task_state(12, started=False)
    assert info.value.rc == 68 and info.value.policy_locked
    assert "Kaspersky Security Center policy" in info.value.msg and "--stop-task 12" in info.value.msg
    subprocess.run([sys.executable, DOUBLE, "--double-set", "Running=No"], check=True)
    with pytest.raises(kesl.KeslError) as info:
        ctl.task_list()
    assert info.value.not_running and "not running" in info.value.msg
    # app-info, get-settings twice, task list; set-settings, two stops (one answered 70), a start.
    assert ctl.counts() == {"read": 4, "write": 4, "total": 8}
    assert ctl.wrote()
    init("11.1")
    old = kesl.KeslControl(DOUBLE)
    old.detect_version()
    with pytest.raises(kesl.KeslError, match="exit code 1 "):
        old.set_task_state(12, started=False)  # 11.1: no exit code documented for this, the double refuses
    assert ctl.wrote()


def test_exit_70_from_a_stale_task_list_is_unchanged():
    seen = []

    def runner(argv, env, _timeout):
        seen.append((argv, env))
        return 70, "", "The task is already stopped."

    ctl = kesl.KeslControl("/bin/true", runner=runner)
    ctl.version_tuple = (11, 2)
    assert ctl.set_task_state(12, started=False) is False
    assert seen[0][0] == ["/bin/true", "--stop-task", "12"]
    assert seen[0][1] == {"LC_ALL": "C", "LANG": "C", "LC_MESSAGES": "C", "LANGUAGE": ""}
    assert not ctl.wrote()
    with pytest.raises(kesl.KeslError, match="exit code 70"):
        ctl.set_settings(1, kesl.TaskSettings(kesl.IniDoc()))


def test_app_info_exit_66_still_gives_the_version():
    def runner(_argv, _env, _timeout):
        return 66, APP_INFO, ""

    ctl = kesl.KeslControl("/bin/true", runner=runner)
    assert ctl.detect_version() == "10.1.0.5960" and ctl.policy_managed is None
    with pytest.raises(kesl.KeslError, match="databases are not loaded"):
        ctl.task_list()


def test_missing_executable(tmp_path):
    with pytest.raises(kesl.KeslError, match="not installed"):
        kesl.KeslControl(str(tmp_path / "kesl-control")).check_executable()
    with pytest.raises(kesl.KeslInputError, match="output_format"):
        kesl.KeslControl(output_format="xml")
