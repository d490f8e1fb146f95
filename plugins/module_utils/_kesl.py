# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive Kaspersky Endpoint Security for Linux (11.0-12.3) through ``kesl-control``, as Kaspersky documents it.

Pure Python, no Ansible imports: the modules pass a runner, the tests use the subprocess runner against the
test double in tests/doubles/kesl-control. docs/kesl.md names the help page behind every rule here.

- Every call runs with the C locale (the CLI output follows ``LANG``) and a timeout.
- Only the text and INI forms are used, on every version: ``--get-settings <id> --file <path>`` writes the
  documented INI layout; no Kaspersky page shows the layout of ``--json`` task lists or settings.
- Tasks are looked up by their documented names per version (``VERSIONS``); IDs are checked against it.
- Every write is read back; the change must be there before the module reports ok.
- ``Policy`` from ``--app-info``: on a node a Kaspersky Security Center policy manages, nothing is written.
- Exit codes are mapped per version: a code documented only for a later version is reported as such.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile

# The errors and the INI format live in their own files; importing them here keeps ``_kesl`` the one name the
# modules and tests import.
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import Error, fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._kesl_errors import (  # pylint: disable=unused-import
    NOT_RUNNING, POLICY_LOCKED, KeslError, KeslInputError, KeslTimeout)
from ansible_collections.auditops.deckhouse.plugins.module_utils._kesl_ini import (  # pylint: disable=unused-import
    IniDoc, TaskSettings, autostart_from_export, exclusions_from_ini, export_with_active, ini_with_exclusions,
    quote, unquote)

DEFAULT_EXECUTABLE = "/opt/kaspersky/kesl/bin/kesl-control"
# Kept for playbooks written for 0.1.0; both mean the text and INI forms (see the doc fragment).
OUTPUT_FORMATS = ("auto", "text")
DEFAULT_TIMEOUT = 120

# The options every kesl_* module takes, documented in the auditops.deckhouse.kesl doc fragment.
COMMON_ARGUMENT_SPEC = {
    "executable": {"type": "path", "default": DEFAULT_EXECUTABLE},
    "output_format": {"type": "str", "choices": list(OUTPUT_FORMATS), "default": "auto"},
    "timeout": {"type": "int", "default": DEFAULT_TIMEOUT},
}

# LC_ALL wins over every other locale variable; LANGUAGE is emptied because gettext reads it first
# when the locale is not C.
FORCED_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_MESSAGES": "C", "LANGUAGE": ""}

# Exit codes: (first version that documents it, meaning). Pages: 11.1 161378, 11.2 198099, 11.4/12.0 245132,
# 12.2 264016, 12.3 264016 (docs/kesl.md, "Exit codes").
EXIT_CODES = {
    0: ((11, 0), "success"),
    1: ((11, 0), "invalid command-line arguments (unknown option, task name or ID)"),
    2: ((11, 0), "invalid settings were passed"),
    64: ((11, 0), "Kaspersky Endpoint Security is not running on this node (start it: systemctl start kesl)"),
    65: ((11, 0), "the command failed (general error)"),
    66: ((11, 0), "the anti-virus databases are not loaded"),
    67: ((11, 0), "activation 2.0 network error"),
    68: ((11, 0), "the change is blocked: the application is managed by a Kaspersky Security Center policy that "
                  "locks this setting; change or unlock it in the KSC policy (the change was not retried)"),
    128: ((11, 0), "unknown error"),
    70: ((11, 2), "the task is already in that state, or it is running and its settings cannot be changed"),
    71: ((11, 2), "the KSN statement has not been accepted"),
    72: ((11, 2), "threats were found by a custom (container) scan"),
    73: ((11, 2), "an Application Control change needs --accept"),
    74: ((11, 2), "KESL must be restarted to finish an update"),
    75: ((11, 2), "the device must be restarted"),
    69: ((11, 4), "the operation is not available on an Amazon paid AMI"),
    76: ((11, 4), "a path in the command is writable by non-root users, so the connection was refused"),
    77: ((11, 4), "the key is already in use"),
    78: ((12, 1), "the operation is not allowed in Light Agent mode"),
    79: ((12, 1), "the operation is not allowed in standard mode"),
    80: ((12, 3), "downloading the update failed (network error)"),
}
DATABASES_NOT_LOADED = 66
ALREADY = 70

READ_VERBS = frozenset(("--app-info", "--get-task-list", "--get-task-state", "--get-settings", "--get-app-settings",
                        "--export-settings", "--get-schedule"))

# Documented task states (11.2 197956): Started, Starting, Stopped, Stopping; scan tasks also Pausing,
# Suspended, Resuming. Only Started and Stopped are settled; the module leaves the others alone and reports them.
STATES = ("Started", "Starting", "Stopped", "Stopping", "Pausing", "Suspended", "Resuming")
SETTLED_STATES = frozenset(("Started", "Stopped"))

# Predefined tasks per version: name -> (ID, kind). kind: "exclusions" (a scan task with ExcludedFromScanScope),
# "scan" (on-demand, no exclusions managed), "monitoring" (runs in the background), "service" (License,
# Backup: cannot be started or stopped), "update". Each row rests on the page in "page"; a task absent from a
# row is one that row's pages do not document for that version.
_BASE_11 = {"file_threat_protection": (1, "exclusions"), "scan_my_computer": (2, "exclusions"),
            "scan_file": (3, "scan"), "update": (6, "update"), "rollback": (7, "update"),
            "license": (9, "service"), "backup": (10, "service"), "firewall_management": (12, "monitoring"),
            "anti_cryptor": (13, "monitoring")}
_OLD_11 = dict(_BASE_11, boot_scan=(4, "scan"), memory_scan=(5, "scan"))
_NEW_11 = dict(_BASE_11, critical_areas_scan=(4, "exclusions"), system_integrity_monitoring=(11, "exclusions"),
               anti_cryptor=(13, "exclusions"), web_threat_protection=(14, "monitoring"),
               network_threat_protection=(17, "monitoring"))
_WEB_CONTROL = dict(_NEW_11, web_control=(26, "monitoring"))
VERSIONS = {
    (11, 0): {"tasks": _OLD_11, "page": "https://support.kaspersky.com/KES4Linux/11/ru-RU/192318.htm; "
                                        "KES4Linux/11/en-US/192908.htm (Memory_Scan); KES4Linux/11/de-DE/161258.htm (-F, -H)"},
    (11, 1): {"tasks": _OLD_11, "page": "https://support.kaspersky.com/KES4Linux/11.1.0/en-US/162099.htm; "
                                        "KES4Linux/11.1.0/en-US/161378.htm"},
    (11, 2): {"tasks": _NEW_11, "page": "https://support.kaspersky.com/KES4Linux/11.2.0/fr-FR/197956.htm; "
                                        "KES4Linux/11.2.0/en-US/197965.htm"},
    (11, 3): {"tasks": _NEW_11, "page": "https://support.kaspersky.com/kes-for-linux/11.3.0/199339"},
    (12, 0): {"tasks": _NEW_11, "page": "https://support.kaspersky.com/KES4Linux/12.0.0/ru-RU/245737.htm"},
    (12, 1): {"tasks": _WEB_CONTROL, "page": "https://support.kaspersky.com/KES4Linux/12.1.0/zh-Hans/276239.htm; "
                                             "kes-for-linux/12.1.0/265643"},
    (12, 2): {"tasks": _WEB_CONTROL, "page": "https://support.kaspersky.com/kes4linux/12.2.0/ru-RU/264195.htm"},
    (12, 3): {"tasks": _WEB_CONTROL, "page": "https://support.kaspersky.com/kes4linux/12.3.0/en-US/264195.htm"},
}
# Whether a KSC policy manages the node: the Policy line of --app-info (12.0 ru 246692, 11.4 ru 246692); the
# KESL container status documents the value "Not applied" (12.0 256753). Anything else counts as managed.
POLICY_NOT_APPLIED = "not applied"

DEFAULT_EXCLUSION_TASKS = ("File_Threat_Protection", "Scan_My_Computer", "Critical_Areas_Scan",
                           "System_Integrity_Monitoring", "Anti_Cryptor")
DEFAULT_MASKS = ("*",)
NODE_ROLES = ("any", "master", "worker")
SCAN_FILE = "scan_file"
USER_TASK_MIN_ID = 100


def node_name():
    """The node's host name, for messages that must say where a write did not take."""
    return platform.node() or "this node"


def describe_exit(rc, version=None):
    """Message for an exit code of ``kesl-control`` on KESL ``version`` ((major, minor) or None)."""
    if rc is not None and rc < 0:
        return "killed by signal %d" % -rc
    if rc not in EXIT_CODES:
        return "undocumented exit code %s" % rc
    since, meaning = EXIT_CODES[rc]
    if version is not None and tuple(version) < since:
        return ("exit code %s, which Kaspersky documents only from KESL %d.%d on (this node runs %d.%d): %s"
                % (rc, since[0], since[1], version[0], version[1], meaning))
    return meaning


def documented_for(rc, version):
    """Whether exit code ``rc`` is documented for KESL ``version`` (a (major, minor) tuple)."""
    return rc in EXIT_CODES and (version is None or tuple(version) >= EXIT_CODES[rc][0])


def subprocess_runner(argv, env_update, timeout=None):
    """Default runner: (rc, stdout, stderr) of ``argv`` with ``env_update`` applied, killed after ``timeout`` s."""
    env = dict(os.environ)
    env.update(env_update)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        raise KeslTimeout()
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def parse_version(text):
    """(major, minor) of a ``12.2.0.2412``-style version."""
    match = re.match(r"^\s*([0-9]+)\.([0-9]+)", text or "")
    if not match:
        raise KeslError("cannot read a KESL version from %r" % text)
    return int(match.group(1)), int(match.group(2))


def version_row(version):
    """The ``VERSIONS`` row of a version string, or None for a version no row documents."""
    return VERSIONS.get(parse_version(version))


def policy_managed(app_info):
    """True / False from the ``Policy`` line of ``--app-info``; None when the line is absent."""
    value = app_info.get("Policy")
    if value is None:
        return None
    return value.strip().lower() != POLICY_NOT_APPLIED


# --- text output --------------------------------------------------------------------------------------------

def _key_values(text):
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        yield key.strip(), value.strip()


def _not_english(what, text):
    first = next((line for line in text.splitlines() if line.strip()), "")
    return KeslError("cannot parse the output of kesl-control %s although the C locale was forced (is the output "
                     "localized?); first line: %r" % (what, first[:120]), stdout=text)


def parse_app_info(text):
    """``--app-info`` text (``Key:   value`` lines) as a dict; needs a ``Version`` line."""
    info = dict(_key_values(text))
    if "Version" not in info:
        raise _not_english("--app-info", text)
    parse_version(info["Version"])
    return info


def _task(record, what, text):
    try:
        task = {"id": int(record["ID"]), "name": str(record["Name"]), "type": str(record.get("Type", "")),
                "state": str(record["State"])}
    except (KeyError, TypeError, ValueError):
        raise _not_english(what, text)
    if task["state"] not in STATES:
        raise KeslError("task %s (%s) is in state %r, which is not one of the documented states %s, in the output "
                        "of kesl-control %s" % (task["id"], task["name"], task["state"], ", ".join(STATES), what),
                        stdout=text)
    return task


def parse_task_list_text(text, what="--get-task-list"):
    """Blocks of ``Name:``/``ID:``/``Type:``/``State:`` lines, one per task; ``Type`` may be missing."""
    tasks, record = [], None
    for key, value in _key_values(text):
        if key == "Name":
            if record is not None:
                tasks.append(_task(record, what, text))
            record = {}
        if record is not None:
            record[key] = value
    if record is not None:
        tasks.append(_task(record, what, text))
    if not tasks and text.strip():
        raise _not_english(what, text)
    return tasks


def task_kind(task, version):
    """The documented kind of a task on ``version`` (see ``VERSIONS``); user tasks by their type; else None."""
    row = version_row(version) if version else None
    if row is not None:
        entry = row["tasks"].get(task["name"].lower())
        if entry is not None:
            return entry[1]
    if task["id"] >= USER_TASK_MIN_ID and task.get("type") in ("ODS", "ODFIM"):
        return "exclusions"
    return None


# --- exclusion planning -------------------------------------------------------------------------------------

def path_key(path):
    """``/var/lib/kubelet/`` and ``/var/lib/kubelet`` name the same directory."""
    return path.rstrip("/") or "/"


def _check_text(value, field):
    if not isinstance(value, str) or not value:
        raise KeslInputError("%s: must be a non-empty string" % field)
    if any(c in value for c in '\n\r\0"'):
        raise KeslInputError("%s: must not contain newlines, NUL or double quotes (KESL INI cannot carry them)" % field)


def normalize_exclusions(raw, node_role=None, field="exclusions"):
    """Validate the ``exclusions`` option; keep the entries for ``node_role`` (None: all of them).

    Entries are strings (a path) or dicts with ``path``, ``masks``, ``description`` and ``node``. A later
    entry for the same directory replaces an earlier one, so users can re-list a default with other masks.
    """
    if node_role is not None and node_role not in ("master", "worker"):
        raise KeslInputError("node_role: must be master or worker, got %r" % (node_role,))
    if not isinstance(raw, list):
        raise KeslInputError("%s: must be a list" % field)
    wanted, order = {}, []
    for index, item in enumerate(raw):
        where = "%s[%d]" % (field, index)
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict):
            raise KeslInputError("%s: must be a path or a mapping with path, masks, description, node" % where)
        unknown = sorted(set(item) - set(("path", "masks", "description", "node")))
        if unknown:
            raise KeslInputError("%s: unknown key %s (allowed: path, masks, description, node)" % (where, unknown[0]))
        path = item.get("path")
        _check_text(path, where + ".path")
        if not path.startswith("/"):
            raise KeslInputError("%s.path: must be an absolute path, got %r" % (where, path))
        segments = [part for part in path.split("/") if part]
        if any(part in (".", "..") for part in segments):
            raise KeslInputError("%s.path: %r has a '.' or '..' component; write the directory itself (an exclusion "
                                 "that climbs out of its directory can exclude the whole disk)" % (where, path))
        if not segments or all(set(part) <= set("*?") for part in segments):
            raise KeslInputError("%s.path: %r would exclude the whole file system from scanning; name a directory"
                                 % (where, path))
        masks = item.get("masks")
        if masks is None:
            masks = list(DEFAULT_MASKS)
        if not isinstance(masks, list) or not masks:
            raise KeslInputError("%s.masks: must be a non-empty list of masks such as '*'" % where)
        for mask_index, mask in enumerate(masks):
            _check_text(mask, "%s.masks[%d]" % (where, mask_index))
            if "/" in mask:
                raise KeslInputError("%s.masks[%d]: %r contains '/'; AreaMask is a file-name mask (such as '*.log') "
                                     "applied inside path, put directories into path" % (where, mask_index, mask))
        description = item.get("description")
        if description is None:
            description = ""
        if not isinstance(description, str) or any(c in description for c in '\n\r\0"'):
            raise KeslInputError("%s.description: must be one line of text without double quotes" % where)
        node = item.get("node")
        if node is None:
            node = "any"
        if node not in NODE_ROLES:
            raise KeslInputError("%s.node: must be one of any, master, worker, got %r" % (where, node))
        if node_role is not None and node not in ("any", node_role):
            continue
        key = path_key(path)
        if key not in wanted:
            order.append(key)
        wanted[key] = {"path": path, "masks": list(masks), "description": description, "node": node}
    return [wanted[key] for key in order]


def _same_masks(a, b):
    return sorted(set(a)) == sorted(set(b))


def plan_exclusions(current, wanted, state):
    """New exclusion list for one task; returns (new, added, removed, updated) with paths."""
    new = [dict(entry) for entry in current]
    added, removed, updated = [], [], []
    if state == "absent":
        drop = set(path_key(w["path"]) for w in wanted)
        kept = []
        for entry in new:
            if path_key(entry["path"]) in drop:
                removed.append(entry["path"])
            else:
                kept.append(entry)
        return kept, added, removed, updated
    for want in wanted:
        match = next((e for e in new if path_key(e["path"]) == path_key(want["path"])), None)
        if match is None:
            new.append({"path": want["path"], "enabled": True, "masks": list(want["masks"]),
                        "description": want["description"]})
            added.append(want["path"])
        elif not match["enabled"] or not _same_masks(match["masks"], want["masks"]):
            match["enabled"] = True
            match["masks"] = list(want["masks"])
            updated.append(match["path"])
    return new, added, removed, updated


def describe_exclusions(task, exclusions):
    """Diff text: one line per exclusion of one task."""
    lines = ["task %s %s:" % (task["id"], task["name"])]
    for entry in exclusions:
        lines.append("  %s [%s]%s" % (entry["path"], ", ".join(entry["masks"]),
                                      "" if entry["enabled"] else " (disabled)"))
    return "\n".join(lines) + "\n"


def public_exclusion(entry):
    return {"path": entry["path"], "masks": list(entry["masks"]), "enabled": entry["enabled"],
            "description": entry.get("description", "")}


# --- tasks --------------------------------------------------------------------------------------------------

def find_task(tasks, ref):
    """The task with ID or (case-insensitive) name ``ref``, or None."""
    ref = str(ref).strip()
    if ref.isdigit():
        return next((t for t in tasks if t["id"] == int(ref)), None)
    return next((t for t in tasks if t["name"].lower() == ref.lower()), None)


# On-demand scan tasks (ODS): KESL refuses to change their settings while they run (exit 70, 12.2 264016).
ON_DEMAND_NAMES = frozenset(("scan_my_computer", "scan_file", "critical_areas_scan", "boot_scan", "memory_scan"))


def is_on_demand(task):
    return task["name"].lower() in ON_DEMAND_NAMES or task["id"] >= USER_TASK_MIN_ID


def _documented(version, ref):
    """(ID, kind) of task name ``ref`` in the version's row; None when the row does not list it."""
    row = version_row(version) if version else None
    if row is None or str(ref).strip().isdigit():
        return None
    return row["tasks"].get(str(ref).strip().lower())


def _lookup(tasks, ref, version, where):
    """The node's task for ``ref``; checks a documented name has its documented ID. None when absent."""
    task = find_task(tasks, ref)
    documented = _documented(version, ref)
    if task is not None and documented is not None and task["id"] != documented[0]:
        values = (where, task["name"], task["id"], node_name(), version, documented[0], version_row(version)["page"])
        raise KeslInputError("%s: task %s has ID %d on %s, but the KESL %s help gives it ID %d (%s); refusing to "
                             "guess which task is meant" % values)
    if task is None and documented is not None:
        raise KeslInputError("%s: KESL %s documents task %s (ID %d) but kesl-control --get-task-list on %s does not "
                             "list it" % (where, version, ref, documented[0], node_name()))
    return task


def _absent_note(version, ref):
    row = version_row(version) if version else None
    if row is None:
        return "no task %r in kesl-control --get-task-list (KESL %s, a version no row of the task table covers)" % (
            ref, version)
    return "task %r does not exist in KESL %s (not in its help: %s)" % (ref, version, row["page"])


def select_exclusion_tasks(tasks, refs, user_ods_tasks=True, version=None, field="tasks"):
    """The tasks whose exclusions to manage: ``refs`` (IDs or names) plus user ODS tasks.

    Returns (tasks, skipped): a name this version does not have is skipped (reported), not an error.
    """
    if not isinstance(refs, list):
        raise KeslInputError("%s: must be a list of task names or IDs" % field)
    selected, skipped, errors = [], [], []
    for index, ref in enumerate(refs):
        where = "%s[%d]" % (field, index)
        task = _lookup(tasks, ref, version, where)
        if task is None:
            if str(ref).strip().isdigit():
                errors.append("%s: no task %s in kesl-control --get-task-list%s" % (where, ref, _version_note(version)))
            else:
                skipped.append(str(ref))
            continue
        kind = task_kind(task, version)
        default = task["name"].lower() in [n.lower() for n in DEFAULT_EXCLUSION_TASKS]
        if kind != "exclusions" and default and version_row(version) is not None:
            # A default task whose exclusions this version's help does not document (Anti_Cryptor on 11.0/11.1).
            skipped.append(str(ref))
            continue
        if task["name"].lower() == SCAN_FILE:
            errors.append("%s: %s (%d) ignores scan exclusions (--scan-file runs do not read its scopes); remove it"
                          % (where, task["name"], task["id"]))
        elif kind != "exclusions":
            errors.append("%s: %s (%d) is not a task with scan exclusions in the KESL %s help (tasks with "
                          "exclusions there: %s)" % (where, task["name"], task["id"], version, ", ".join(
                              sorted(n for n, (_i, k) in (version_row(version) or {"tasks": {}})["tasks"].items()
                                     if k == "exclusions")) or "none known"))
        elif task not in selected:
            selected.append(task)
    if errors:
        raise KeslInputError("; ".join(errors))
    if user_ods_tasks:
        for task in tasks:
            if task["id"] >= USER_TASK_MIN_ID and task["type"] in ("ODS", "ODFIM") and task not in selected:
                selected.append(task)
    return selected, skipped


def _version_note(version):
    return " (KESL %s)" % version if version else ""


def resolve_tasks(tasks, refs, version=None, ignore_missing=False, field="tasks"):
    """Tasks named by ``refs`` for start/stop; returns (tasks, missing refs)."""
    if not isinstance(refs, list):
        raise KeslInputError("%s: must be a list of task names or IDs" % field)
    selected, missing, errors = [], [], []
    for index, ref in enumerate(refs):
        where = "%s[%d]" % (field, index)
        task = _lookup(tasks, ref, version, where)
        if task is None:
            if ignore_missing:
                missing.append(str(ref))
            else:
                errors.append("%s: %s" % (where, _absent_note(version, ref)))
        elif task_kind(task, version) == "service":
            errors.append("%s: %s (%d) is a task KESL keeps running; it cannot be started or stopped"
                          % (where, task["name"], task["id"]))
        elif task not in selected:
            selected.append(task)
    if errors:
        raise KeslInputError("; ".join(errors))
    return selected, missing


def autostart_of(task, active, rules):
    """(kind, autostart) of a task in an export: ("monitoring", Active), ("scheduled", RuleType != Manual).

    A task that is in neither part of the export raises: its autostart cannot be checked, and a task that
    is not checked can come back after a restart while the module says ok.
    """
    name = task["name"].lower()
    if name in active:
        return "monitoring", active[name]
    if task["id"] in rules:
        rule = rules[task["id"]]
        return "scheduled", (rule is not None and rule != "Manual")
    raise KeslError("task %s (%d) is in neither [MonitoringTask.item_N] nor [OnDemandTask.item_N] of "
                    "kesl-control --export-settings on %s, so whether it starts again after a restart cannot be "
                    "checked" % (task["name"], task["id"], node_name()))


# --- the CLI ------------------------------------------------------------------------------------------------

class KeslControl(object):
    """One ``kesl-control`` binary: runs it with the C locale and a timeout, parses, records every call."""

    def __init__(self, executable=DEFAULT_EXECUTABLE, runner=None, output_format="auto", tmpdir=None,
                 timeout=DEFAULT_TIMEOUT):
        if output_format not in OUTPUT_FORMATS:
            raise KeslInputError("output_format: must be auto or text (no Kaspersky page documents the layout of "
                                 "the --json output, so it is not used)")
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1 or timeout > 3600:
            raise KeslInputError("timeout: must be a whole number of seconds from 1 to 3600, got %r" % (timeout,))
        self.executable = executable
        self.runner = runner or subprocess_runner
        self.output_format = output_format
        self.tmpdir = tmpdir
        self.timeout = timeout
        self.version = None
        self.version_tuple = None
        self.app_info = None
        self.policy_managed = None
        self.calls = []

    # plumbing
    def check_executable(self):
        if not os.path.isfile(self.executable):
            raise KeslError("kesl-control not found at %s: KESL is not installed on this node, or set executable"
                            % self.executable, rc=None)
        if not os.access(self.executable, os.X_OK):
            raise KeslError("%s is not executable" % self.executable)

    def wrote(self):
        """Whether a write call succeeded (a failure after it leaves the node changed)."""
        return any(c["kind"] == "write" and c["rc"] == 0 for c in self.calls)

    def counts(self):
        reads = sum(1 for c in self.calls if c["kind"] == "read")
        return {"read": reads, "write": len(self.calls) - reads, "total": len(self.calls)}

    def run(self, args, ok=(0,)):
        argv = [self.executable] + list(args)
        kind = "read" if args and args[0] in READ_VERBS else "write"
        try:
            rc, out, err = self.runner(argv, dict(FORCED_LOCALE), self.timeout)
        except KeslTimeout:
            self.calls.append({"cmd": argv, "kind": kind, "rc": None})
            raise KeslError("kesl-control %s did not finish within %d s on %s and was killed (timeout)%s"
                            % (" ".join(args), self.timeout, node_name(),
                               "; whether this write took effect is unknown, run again to re-read the node"
                               if kind == "write" else ""), cmd=argv)
        except OSError as exc:
            raise KeslError("cannot run %s: %s" % (self.executable, exc), cmd=argv)
        self.calls.append({"cmd": argv, "kind": kind, "rc": rc})
        if rc not in ok:
            detail = (err or out or "").strip().splitlines()
            raise KeslError("kesl-control %s failed with exit code %s on %s: %s%s"
                            % (" ".join(args), rc, node_name(), describe_exit(rc, self.version_tuple),
                               (" (%s)" % detail[-1]) if detail else ""),
                            rc=rc, cmd=argv, stdout=out, stderr=err)
        return rc, out, err

    def _temp_dir(self):
        return tempfile.mkdtemp(prefix="kesl-", dir=self.tmpdir)

    def _temp_file(self, text, suffix):
        directory = self._temp_dir()
        path = os.path.join(directory, "settings" + suffix)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)
        return directory, path

    # reads
    def detect_version(self):
        """``--app-info`` -> version, and whether a KSC policy manages the node (its ``Policy`` line).

        Exit 66 (databases not loaded) is documented for --app-info only; the version is still printed.
        """
        _rc, out, _err = self.run(["--app-info"], ok=(0, DATABASES_NOT_LOADED))
        self.app_info = parse_app_info(out)
        self.version = self.app_info["Version"]
        self.version_tuple = parse_version(self.version)
        self.policy_managed = policy_managed(self.app_info)
        return self.version

    def task_list(self):
        return parse_task_list_text(self.run(["--get-task-list"])[1])

    def get_settings(self, task_id):
        """``--get-settings <id> --file <path>``: the documented INI export of a task's settings."""
        directory = self._temp_dir()
        path = os.path.join(directory, "task-%s.ini" % task_id)
        try:
            self.run(["--get-settings", str(task_id), "--file", path])
            try:
                with open(path) as handle:
                    text = handle.read()
            except (IOError, OSError):
                raise KeslError("kesl-control --get-settings %s --file %s exited 0 on %s but wrote no file"
                                % (task_id, path, node_name()))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return TaskSettings.parse(text)

    def export_settings(self):
        return IniDoc.parse(self.run(["--export-settings"])[1])

    # writes
    def set_settings(self, task_id, settings):
        directory, path = self._temp_file(settings.render(), ".ini")
        try:
            self.run(["--set-settings", str(task_id), "--file", path])
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def import_settings(self, doc):
        directory, path = self._temp_file(doc.render(), ".ini")
        try:
            self.run(["--import-settings", "--file", path])
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def set_task_state(self, task_id, started):
        """--start-task / --stop-task; False when KESL says it already was (exit 70, from 11.2 on)."""
        ok = (0, ALREADY) if documented_for(ALREADY, self.version_tuple) else (0,)
        rc = self.run(["--start-task" if started else "--stop-task", str(task_id)], ok=ok)[0]
        return rc == 0

    def set_manual_schedule(self, task_id):
        self.run(["--set-schedule", str(task_id), "RuleType=Manual"])


# --- the modules' main() ------------------------------------------------------------------------------------

def module_main(module, run_module, reads_only=False, written_note=""):
    """The body of every ``kesl_*`` module's ``main()`` once ``module`` (an AnsibleModule with the
    ``COMMON_ARGUMENT_SPEC`` options) is built: ``run_module(module, ctl)`` with a ``KeslControl`` of those
    options, then ``exit_json`` with its result and ``kesl_calls``.

    A ``KeslInputError`` or ``KeslError`` fails the module through ``_errors.fail_json`` with ``version`` and
    ``kesl_calls``, the failed call's context (``KeslError.as_dict()``) and, unless ``reads_only``, ``changed``:
    whether a write went through before the failure (``written_note`` is then added to the message)."""
    ctl = None
    try:
        ctl = KeslControl(module.params["executable"], output_format=module.params["output_format"],
                          tmpdir=module.tmpdir, timeout=module.params["timeout"])
        result = run_module(module, ctl)
    except (KeslInputError, KeslError) as err:
        wrote = bool(ctl and ctl.wrote())
        context = {} if reads_only else {"changed": wrote}
        context.update(version=ctl and ctl.version,
                       kesl_calls=ctl.counts() if ctl else {"read": 0, "write": 0, "total": 0})
        if isinstance(err, KeslError):
            context.update(err.as_dict())
            if wrote and written_note:
                err = Error([(err.path, err.message + written_note)])
        fail_json(module, err, **context)
    module.exit_json(kesl_calls=ctl.counts(), **result)
