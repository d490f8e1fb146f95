# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit simulator, for people: the security categories it reports, one summary line per result and the
text tables of the command line and the simulation_table filter. The public face is _audit_simulate.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as engine
from ansible_collections.auditops.deckhouse.plugins.module_utils import _detection_coverage

LEVELS = engine.LEVELS

SECURITY_CATEGORIES = {
    "pod_exec_attach": "exec, attach and port-forward into pods",
    "secrets_access": "any request on core secrets",
    "rbac_changes": "create, update, patch or delete of rbac.authorization.k8s.io objects",
    "privileged_pods": "pod creations and updates with a privileged container (seen only where the log has the "
                       "request body)",
}


def _rule_summary(rule):
    parts = ["level=%s" % rule.get("level")]
    for key in ("users", "userGroups", "verbs", "namespaces", "nonResourceURLs"):
        if rule.get(key):
            parts.append("%s=%s" % (key, ",".join(rule[key])))
    if rule.get("resources"):
        parts.append("resources=%s" % ",".join(
            "%s/%s" % (entry.get("group", "") or "core", "|".join(entry.get("resources") or ["*"]))
            for entry in rule["resources"]))
    if rule.get("omitStages"):
        parts.append("omitStages=%s" % ",".join(rule["omitStages"]))
    return " ".join(parts)


def summary_line(result):
    """One line per result, for people: rate, volume, retention and the security requests it loses."""
    if result.get("mb_per_day") is None:
        volume = "%d events, %s (no time span to project)" % (result["events"], _human(result["bytes"]))
    else:
        volume = "%.1f events/s, %.1f MiB/day, keeps %.1f h of events (limited by %s)" % (
            result["events_per_second"], result["mb_per_day"], result["retention_hours"], result["retention_limited_by"])
    lost = ["%d %s" % (values["lost"], name) for name, values in sorted(result["security"].items()) if values["lost"]]
    estimated = ""
    if result["bytes"] and result["estimated_body_bytes"]:
        estimated = "; %d%% of the bytes are estimated bodies" % round(100.0 * result["estimated_body_bytes"] / result["bytes"])
    line = "%s: %s; loses %s%s" % (result["name"], volume, ", ".join(lost) or "no security-relevant request", estimated)
    if result.get("detections"):
        line += "; " + _detection_coverage.summary(result["name"], result["detections"])
    return line


def _human(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return "%.1f %s" % (size, unit) if unit != "B" else "%d B" % size
        size /= 1024.0
    return str(size)


def format_report(report):
    """The report as text tables (what the command line prints)."""
    return format_tables(report.as_dict())


def format_tables(data):
    """The tables of format_report from the report as a dict (the audit_policy_simulate module's result)."""
    source = data["input"]
    out = ["%s: %d lines, %d audit events, %d requests, %s; %s to %s (%s s)" % (
        source["path"], source["lines"], source["events"], source["requests"], _human(source["bytes"]),
        source["first_timestamp"], source["last_timestamp"], source["duration_seconds"])]
    if source["bad_lines"]:
        out.append("skipped %d lines that are not audit events; first: %s" % (source["bad_lines"], "; ".join(
            "line %d: %s" % (bad["line"], bad["error"]) for bad in source["bad_line_examples"])))
    rotation = source["rotation"]
    out.append("")
    header = "%-28s %10s %10s %9s %10s %12s  %s" % ("policy", "events", "size", "events/s", "MiB/day",
                                                    "retention h", "requests None/Metadata/Request/RequestResponse")
    out.extend([header, "-" * len(header)])
    for result in data["results"]:
        levels = "/".join(str(result["requests_by_level"][level]) for level in LEVELS)
        out.append("%-28s %10d %10s %9s %10s %12s  %s" % (
            result["name"][:28], result["events"], _human(result["bytes"]), _fmt(result["events_per_second"]),
            _fmt(result["mb_per_day"]), _fmt(result["retention_hours"]), levels))
    out.append("(retention: %d MiB x %d rotated files, at most %d days)" % (
        rotation["max_size_mb"], rotation["max_backups"], rotation["max_age_days"]))
    out.append("")
    header = "%-28s %s" % ("security-relevant requests", "  ".join("%-22s" % name for name in SECURITY_CATEGORIES))
    out.extend([header, "-" * len(header)])
    for result in data["results"]:
        cells = []
        for name in SECURITY_CATEGORIES:
            found = result["security"][name]
            cells.append("%-22s" % ("%d/%d kept, %d body" % (found["recorded"], found["requests"], found["with_body"])))
        out.append("%-28s %s" % (result["name"][:28], "  ".join(cells)))
    out.append("")
    for result in data["results"]:
        out.append(_detection_coverage.summary(result["name"], result["detections"]))
    return "\n".join(out)


def _fmt(value):
    if value is None:
        return "-"
    return "%.1f" % value if value < 1e6 else "%.3g" % value
