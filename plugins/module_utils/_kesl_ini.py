# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The INI layout ``kesl-control`` writes with ``--get-settings <id> --file`` and ``--export-settings``
(docs/kesl.md): parse and render it keeping order and unmanaged keys, the ``[ExcludedFromScanScope.item_N]``
exclusion sections of a task, and the ``Active`` flags and schedules of an export. Used by ``_kesl``."""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._kesl_errors import KeslError

_EXCLUSION_SECTION = re.compile(r"^ExcludedFromScanScope\.item_[0-9]+$")
_MASK_KEY = re.compile(r"^AreaMask\.item_[0-9]+$")


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


# --- task settings ------------------------------------------------------------------------------------------

class TaskSettings(object):
    """Settings of one task as ``--get-settings <id> --file`` writes them (INI), able to render a changed copy.

    JSON is not used: Kaspersky's help documents the ``--json`` switch but shows no layout of task settings
    in JSON, while the INI layout of ``[ExcludedFromScanScope.item_N]`` is documented for every version.
    """

    fmt = "ini"

    def __init__(self, data):
        self.data = data

    @classmethod
    def parse(cls, text):
        return cls(IniDoc.parse(text))

    def exclusions(self):
        return exclusions_from_ini(self.data)

    def with_exclusions(self, exclusions):
        return TaskSettings(ini_with_exclusions(self.data, exclusions))

    def render(self):
        return self.data.render()


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
