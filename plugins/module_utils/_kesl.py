# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive Kaspersky Endpoint Security for Linux (11.x, 12.x) through ``kesl-control``.

Pure Python, no Ansible imports: the modules pass a runner (``module.run_command``), the tests use
the subprocess runner against the test double in tests/fixtures/kesl-control.

- Every call runs with an English C locale: the CLI output follows ``LANG`` (Russian keys and task
  states are common on the nodes this collection targets), and the parsers read English only.
- The version comes from ``--app-info``; ``--json`` is used from 12.x on (11.x documents it for
  ``--app-info`` only), the text and INI forms otherwise.
- Scan exclusions live per task in ``[ExcludedFromScanScope.item_NNNN]`` sections. They are read with
  ``--get-settings``, changed in memory and written back whole with ``--set-settings <task> --file``
  (one read and at most one write per task; everything the module does not manage is kept).
- Every documented exit code maps to a message; 68 (a Kaspersky Security Center policy locks the
  setting) and 64 (KESL not running) are flagged so callers can report them without retrying.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

DEFAULT_EXECUTABLE = "/opt/kaspersky/kesl/bin/kesl-control"
OUTPUT_FORMATS = ("auto", "json", "text")

# The options every kesl_* module takes, documented in the auditops.deckhouse.kesl doc fragment.
COMMON_ARGUMENT_SPEC = {
    "executable": {"type": "path", "default": DEFAULT_EXECUTABLE},
    "output_format": {"type": "str", "choices": list(OUTPUT_FORMATS), "default": "auto"},
}

# LC_ALL wins over every other locale variable; LANGUAGE is emptied because gettext reads it first
# when the locale is not C.
FORCED_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_MESSAGES": "C", "LANGUAGE": ""}

# Documented exit codes (notes 1.7; the version they appeared in is in docs/kesl.md).
EXIT_CODES = {
    0: "success",
    1: "invalid command-line arguments (unknown option, task name or ID, or an option this KESL version lacks)",
    2: "invalid settings were passed",
    64: "Kaspersky Endpoint Security is not running on this node (start it: systemctl start kesl)",
    65: "the command failed (general error)",
    66: "the anti-virus databases are not loaded",
    67: "activation 2.0 network error",
    68: ("the change is blocked: the application is managed by a Kaspersky Security Center policy that locks "
         "this setting; change or unlock it in the KSC policy (the change was not retried)"),
    69: "the operation is not available on an Amazon paid AMI",
    70: ("the task is already in that state, or it is running and its settings cannot be changed or it cannot "
         "be deleted"),
    71: "the KSN statement has not been accepted",
    72: "threats were found by a custom (container) scan",
    73: "an Application Control change needs --accept",
    74: "KESL must be restarted to finish an update",
    75: "the device must be restarted",
    76: "a path in the command is writable by non-root users, so the connection was refused",
    77: "the key is already in use",
    78: "the operation is not allowed in Light Agent mode",
    79: "the operation is not allowed in standard mode",
    80: "downloading the update failed (network error)",
    128: "unknown error",
}
NOT_RUNNING = 64
DATABASES_NOT_LOADED = 66
POLICY_LOCKED = 68
ALREADY = 70

READ_VERBS = frozenset(("--app-info", "--get-task-list", "--get-task-state", "--get-settings", "--get-app-settings",
                        "--export-settings", "--get-schedule"))

# Task types whose settings carry scan scopes and exclusions (notes 2.1).
EXCLUSION_TYPES = frozenset(("OAS", "ODS", "OAFIM", "ODFIM", "AntiCryptor"))
# Types listed as [MonitoringTask.item_N] in the export file, with an Active (autostart) flag.
MONITORING_TYPES = frozenset(("OAS", "OAFIM", "Firewall", "AntiCryptor", "WTP", "DeviceControl", "RDS", "NTP",
                              "BehaviorDetection", "AppControl", "WebControl"))
# Cannot be started or stopped (notes 1.10).
SERVICE_TYPES = frozenset(("License", "Backup"))
# Scan tasks whose settings KESL refuses to change while they run (exit 70).
ON_DEMAND_SCAN_TYPES = frozenset(("ODS", "ODFIM", "ContainerScan", "InventoryScan"))
SCAN_FILE = "scan_file"
USER_TASK_MIN_ID = 100

STATES = ("Started", "Starting", "Stopped", "Stopping", "Pausing", "Suspended", "Resuming")
STOPPED_STATES = frozenset(("Stopped", "Stopping"))
STARTED_STATES = frozenset(("Started", "Starting", "Resuming"))

DEFAULT_EXCLUSION_TASKS = ("File_Threat_Protection", "Scan_My_Computer", "Critical_Areas_Scan",
                           "System_Integrity_Monitoring", "Anti_Cryptor")
DEFAULT_MASKS = ("*",)
NODE_ROLES = ("any", "master", "worker")

_ITEM = re.compile(r"^(.*)\.item_([0-9]+)$")
_EXCLUSION_SECTION = re.compile(r"^ExcludedFromScanScope\.item_[0-9]+$")
_MASK_KEY = re.compile(r"^AreaMask\.item_[0-9]+$")


class KeslError(Exception):
    """A failed ``kesl-control`` call or output that cannot be understood."""

    def __init__(self, message, rc=None, cmd=None, stdout="", stderr=""):
        Exception.__init__(self, message)
        self.msg = message
        self.rc = rc
        self.cmd = cmd
        self.stdout = stdout
        self.stderr = stderr

    @property
    def policy_locked(self):
        return self.rc == POLICY_LOCKED

    @property
    def not_running(self):
        return self.rc == NOT_RUNNING

    def as_dict(self):
        return {"msg": self.msg, "rc": self.rc, "cmd": self.cmd, "stdout": self.stdout, "stderr": self.stderr,
                "policy_locked": self.policy_locked, "kesl_not_running": self.not_running}


class KeslInputError(ValueError):
    """Bad module input; the message names the field (``exclusions[2].path: ...``)."""


def describe_exit(rc):
    """Message for an exit code of ``kesl-control``."""
    if rc in EXIT_CODES:
        return EXIT_CODES[rc]
    if rc is not None and rc < 0:
        return "killed by signal %d" % -rc
    return "undocumented exit code %s" % rc


def subprocess_runner(argv, env_update):
    """Default runner: (rc, stdout, stderr) of ``argv`` with ``env_update`` applied to this environment."""
    env = dict(os.environ)
    env.update(env_update)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def parse_version(text):
    """(major, minor) of a ``12.2.0.2412``-style version."""
    match = re.match(r"^\s*([0-9]+)\.([0-9]+)", text or "")
    if not match:
        raise KeslError("cannot read a KESL version from %r" % text)
    return int(match.group(1)), int(match.group(2))


def json_supported(version):
    """12.x documents --json for task lists, task states and settings; 11.x only for --app-info."""
    return parse_version(version)[0] >= 12


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
        raise KeslError("unknown task state %r for task %s in kesl-control %s (is the output localized?)"
                        % (task["state"], task["id"], what), stdout=text)
    return task


def parse_task_list_text(text, what="--get-task-list"):
    """Blocks of ``Name:``/``ID:``/``Type:``/``State:`` lines, one per task."""
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


def parse_task_list_json(text, what="--get-task-list --json"):
    try:
        data = json.loads(text)
    except ValueError:
        raise KeslError("kesl-control %s did not print JSON" % what, stdout=text)
    if isinstance(data, dict):
        data = data.get("Tasks", [data])
    if not isinstance(data, list):
        raise KeslError("kesl-control %s printed JSON that is not a task list" % what, stdout=text)
    return [_task(item if isinstance(item, dict) else {}, what, text) for item in data]


# --- INI settings -------------------------------------------------------------------------------------------

def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def quote(value):
    """KESL INI files quote strings with spaces."""
    if value and (value != value.strip() or re.search(r"\s", value)):
        return '"%s"' % value
    return value


class IniDoc(object):
    """A KESL settings file: top-level ``Name=Value`` lines, then ``[Section]`` blocks, order kept.

    ``sections`` is a list of ``[name, [(key, raw value)]]``; the first entry has name None.
    """

    def __init__(self, sections=None):
        self.sections = sections if sections is not None else [[None, []]]

    @classmethod
    def parse(cls, text):
        sections = [[None, []]]
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in ";#":
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise KeslError("settings line %d is not a section header: %r" % (number, raw), stdout=text)
                sections.append([line[1:-1].strip(), []])
                continue
            if "=" not in line:
                raise KeslError("settings line %d is not Name=Value: %r" % (number, raw), stdout=text)
            key, value = line.split("=", 1)
            sections[-1][1].append((key.strip(), value.strip()))
        return cls(sections)

    def render(self):
        out = []
        for name, items in self.sections:
            if name is not None:
                if out:
                    out.append("")
                out.append("[%s]" % name)
            out.extend("%s=%s" % item for item in items)
        return "\n".join(out) + "\n"

    def section(self, name):
        for section_name, items in self.sections:
            if section_name == name:
                return items
        return None

    def value(self, name, key, default=None):
        items = self.section(name)
        for item_key, value in items or []:
            if item_key == key:
                return unquote(value)
        return default

    def set_value(self, name, key, value):
        items = self.section(name)
        if items is None:
            raise KeyError(name)
        for index, (item_key, _old) in enumerate(items):
            if item_key == key:
                items[index] = (key, quote(value))
                return
        items.append((key, quote(value)))


def _yes(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "true", "1")


def exclusions_from_ini(doc):
    """The ``[ExcludedFromScanScope.item_N]`` sections as exclusion dicts, in file order."""
    found = []
    for name, items in doc.sections:
        if name is None or not _EXCLUSION_SECTION.match(name):
            continue
        values = dict((k, unquote(v)) for k, v in items)
        found.append({"path": values.get("Path", ""), "enabled": _yes(values.get("UseScanArea", "Yes")),
                      "masks": [unquote(v) for k, v in items if _MASK_KEY.match(k)],
                      "description": values.get("AreaDesc", ""), "_raw": list(items)})
    return found


def _exclusion_items(entry):
    masks = [("AreaMask.item_%04d" % i, quote(m)) for i, m in enumerate(entry["masks"])]
    if "_raw" not in entry:
        return [("AreaDesc", quote(entry.get("description", ""))), ("UseScanArea", "Yes"),
                ("Path", quote(entry["path"]))] + masks
    # Keep the keys this module does not manage, in their place.
    items, placed = [], False
    for key, value in entry["_raw"]:
        if _MASK_KEY.match(key):
            if not placed:
                items.extend(masks)
                placed = True
            continue
        if key == "UseScanArea":
            value = "Yes" if entry["enabled"] else "No"
        items.append((key, value))
    if not placed:
        items.extend(masks)
    if not any(k == "UseScanArea" for k, _v in items):
        items.insert(0, ("UseScanArea", "Yes" if entry["enabled"] else "No"))
    return items


def ini_with_exclusions(doc, exclusions):
    """A copy of ``doc`` whose exclusion sections are ``exclusions``, numbered from 0000."""
    new = [[None, list(doc.sections[0][1])]]
    inserted = False
    rendered = [["ExcludedFromScanScope.item_%04d" % i, _exclusion_items(e)] for i, e in enumerate(exclusions)]
    for name, items in doc.sections[1:]:
        if _EXCLUSION_SECTION.match(name):
            if not inserted:
                new.extend(rendered)
                inserted = True
            continue
        new.append([name, list(items)])
    if not inserted:
        new.extend(rendered)
    return IniDoc(new)


# --- JSON settings (12.x) -----------------------------------------------------------------------------------

def exclusions_from_json(data):
    """``ExcludedFromScanScope`` of a ``--get-settings --json`` object (a list of scope objects)."""
    scopes = data.get("ExcludedFromScanScope") or []
    if isinstance(scopes, dict):
        scopes = [scopes]
    found = []
    for scope in scopes:
        if not isinstance(scope, dict):
            raise KeslError("ExcludedFromScanScope entries must be objects in the JSON settings")
        masks = scope.get("AreaMask", [])
        if not isinstance(masks, list):
            masks = [masks]
        found.append({"path": str(scope.get("Path", "")), "enabled": _yes(scope.get("UseScanArea", True)),
                      "masks": [str(m) for m in masks], "description": str(scope.get("AreaDesc") or ""),
                      "_raw": scope})
    return found


def json_with_exclusions(data, exclusions):
    new = dict(data)
    scopes = []
    for entry in exclusions:
        scope = dict(entry.get("_raw") or {"AreaDesc": entry.get("description", ""), "Path": entry["path"]})
        old = scope.get("UseScanArea", True)
        scope["UseScanArea"] = entry["enabled"] if isinstance(old, bool) else ("Yes" if entry["enabled"] else "No")
        scope["AreaMask"] = list(entry["masks"])
        scopes.append(scope)
    new["ExcludedFromScanScope"] = scopes
    return new


class TaskSettings(object):
    """Settings of one task as read (INI text or a JSON object), able to render a changed copy."""

    def __init__(self, fmt, data):
        self.fmt = fmt
        self.data = data

    @classmethod
    def parse(cls, fmt, text):
        if fmt == "json":
            try:
                data = json.loads(text)
            except ValueError:
                raise KeslError("kesl-control --get-settings --json did not print JSON", stdout=text)
            if not isinstance(data, dict):
                raise KeslError("kesl-control --get-settings --json printed JSON that is not an object", stdout=text)
            return cls("json", data)
        return cls("ini", IniDoc.parse(text))

    def exclusions(self):
        if self.fmt == "json":
            return exclusions_from_json(self.data)
        return exclusions_from_ini(self.data)

    def with_exclusions(self, exclusions):
        if self.fmt == "json":
            return TaskSettings("json", json_with_exclusions(self.data, exclusions))
        return TaskSettings("ini", ini_with_exclusions(self.data, exclusions))

    def render(self):
        if self.fmt == "json":
            return json.dumps(self.data, indent=2, ensure_ascii=False) + "\n"
        return self.data.render()


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
        masks = item.get("masks")
        if masks is None:
            masks = list(DEFAULT_MASKS)
        if not isinstance(masks, list) or not masks:
            raise KeslInputError("%s.masks: must be a non-empty list of masks such as '*'" % where)
        for mask_index, mask in enumerate(masks):
            _check_text(mask, "%s.masks[%d]" % (where, mask_index))
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


def _version_note(version):
    return " (KESL %s)" % version if version else ""


def select_exclusion_tasks(tasks, refs, user_ods_tasks=True, version=None, field="tasks"):
    """The tasks whose exclusions to manage: ``refs`` (IDs or names) plus user ODS tasks."""
    if not isinstance(refs, list):
        raise KeslInputError("%s: must be a list of task names or IDs" % field)
    selected, errors = [], []
    for index, ref in enumerate(refs):
        where = "%s[%d]" % (field, index)
        task = find_task(tasks, ref)
        if task is None:
            errors.append("%s: no task %r in kesl-control --get-task-list%s" % (where, ref, _version_note(version)))
        elif task["name"].lower() == SCAN_FILE:
            errors.append("%s: %s (%d) ignores scan exclusions (--scan-file runs do not read its scopes); remove it"
                          % (where, task["name"], task["id"]))
        elif task["type"] not in EXCLUSION_TYPES:
            errors.append("%s: %s (%d) is a %s task; only OAS, ODS, OAFIM, ODFIM and AntiCryptor tasks have scan "
                          "exclusions" % (where, task["name"], task["id"], task["type"] or "typeless"))
        elif task not in selected:
            selected.append(task)
    if errors:
        raise KeslInputError("; ".join(errors))
    if user_ods_tasks:
        for task in tasks:
            if task["id"] >= USER_TASK_MIN_ID and task["type"] in ("ODS", "ODFIM") and task not in selected:
                selected.append(task)
    return selected


def resolve_tasks(tasks, refs, version=None, ignore_missing=False, field="tasks"):
    """Tasks named by ``refs`` for start/stop; returns (tasks, missing refs)."""
    if not isinstance(refs, list):
        raise KeslInputError("%s: must be a list of task names or IDs" % field)
    selected, missing, errors = [], [], []
    for index, ref in enumerate(refs):
        where = "%s[%d]" % (field, index)
        task = find_task(tasks, ref)
        if task is None:
            if ignore_missing:
                missing.append(str(ref))
            else:
                errors.append("%s: no task %r in kesl-control --get-task-list%s" % (where, ref, _version_note(version)))
        elif task["type"] in SERVICE_TYPES:
            errors.append("%s: %s (%d) is a %s task, which KESL keeps running; it cannot be started or stopped"
                          % (where, task["name"], task["id"], task["type"]))
        elif task not in selected:
            selected.append(task)
    if errors:
        raise KeslInputError("; ".join(errors))
    return selected, missing


def autostart_from_export(doc):
    """From ``--export-settings``: {task name (lower): Active} and {task ID: schedule RuleType}."""
    active, rules = {}, {}
    for name, items in doc.sections:
        if name is None:
            continue
        match = re.match(r"^(MonitoringTask|OnDemandTask)\.item_[0-9]+$", name)
        if not match:
            continue
        values = dict((k, unquote(v)) for k, v in items)
        if match.group(1) == "MonitoringTask" and values.get("TaskName"):
            active[values["TaskName"].lower()] = _yes(values.get("Active", "No"))
        elif values.get("TaskId", "").isdigit():
            rules[int(values["TaskId"])] = doc.value(name + ".Schedule", "RuleType")
    return active, rules


def export_with_active(doc, changes):
    """A copy of an export with ``Active`` set per task name (lower case) in ``changes``."""
    new = IniDoc([[name, list(items)] for name, items in doc.sections])
    for name, items in new.sections:
        if name is None or not re.match(r"^MonitoringTask\.item_[0-9]+$", name):
            continue
        task_name = (new.value(name, "TaskName") or "").lower()
        if task_name in changes:
            new.set_value(name, "Active", "Yes" if changes[task_name] else "No")
    return new


# --- the CLI ------------------------------------------------------------------------------------------------

class KeslControl(object):
    """One ``kesl-control`` binary: runs it with the C locale, parses, records every call."""

    def __init__(self, executable=DEFAULT_EXECUTABLE, runner=None, output_format="auto", tmpdir=None):
        if output_format not in OUTPUT_FORMATS:
            raise KeslInputError("output_format: must be auto, json or text")
        self.executable = executable
        self.runner = runner or subprocess_runner
        self.output_format = output_format
        self.tmpdir = tmpdir
        self.version = None
        self.app_info = None
        self.use_json = output_format == "json"
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
            rc, out, err = self.runner(argv, dict(FORCED_LOCALE))
        except OSError as exc:
            raise KeslError("cannot run %s: %s" % (self.executable, exc), cmd=argv)
        self.calls.append({"cmd": argv, "kind": kind, "rc": rc})
        if rc not in ok:
            detail = (err or out or "").strip().splitlines()
            raise KeslError("kesl-control %s failed with exit code %s: %s%s"
                            % (" ".join(args), rc, describe_exit(rc), (" (%s)" % detail[-1]) if detail else ""),
                            rc=rc, cmd=argv, stdout=out, stderr=err)
        return rc, out, err

    def _temp_file(self, text, suffix):
        directory = tempfile.mkdtemp(prefix="kesl-", dir=self.tmpdir)
        path = os.path.join(directory, "settings" + suffix)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)
        return directory, path

    # reads
    def detect_version(self):
        """``--app-info`` (text: its JSON keys were localized on 11.3) -> version; decides on --json.

        Exit 66 (databases not loaded) is documented for --app-info only; the version is still printed.
        """
        _rc, out, _err = self.run(["--app-info"], ok=(0, DATABASES_NOT_LOADED))
        self.app_info = parse_app_info(out)
        self.version = self.app_info["Version"]
        if self.output_format == "auto":
            self.use_json = json_supported(self.version)
        return self.version

    def task_list(self):
        if self.use_json:
            return parse_task_list_json(self.run(["--get-task-list", "--json"])[1])
        return parse_task_list_text(self.run(["--get-task-list"])[1])

    def get_settings(self, task_id):
        if self.use_json:
            return TaskSettings.parse("json", self.run(["--get-settings", str(task_id), "--json"])[1])
        return TaskSettings.parse("ini", self.run(["--get-settings", str(task_id)])[1])

    def export_settings(self):
        return IniDoc.parse(self.run(["--export-settings"])[1])

    # writes
    def set_settings(self, task_id, settings):
        directory, path = self._temp_file(settings.render(), ".json" if settings.fmt == "json" else ".ini")
        try:
            args = ["--set-settings", str(task_id), "--file", path] + (["--json"] if settings.fmt == "json" else [])
            self.run(args)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def import_settings(self, doc):
        directory, path = self._temp_file(doc.render(), ".ini")
        try:
            self.run(["--import-settings", "--file", path])
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def set_task_state(self, task_id, started):
        """--start-task / --stop-task; False when KESL says it already was (exit 70)."""
        rc = self.run(["--start-task" if started else "--stop-task", str(task_id)], ok=(0, ALREADY))[0]
        return rc == 0

    def set_manual_schedule(self, task_id):
        self.run(["--set-schedule", str(task_id), "RuleType=Manual"])
