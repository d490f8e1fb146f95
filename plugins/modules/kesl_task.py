#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: kesl_task
short_description: Ensure tasks of Kaspersky Endpoint Security for Linux are stopped or started, also after a restart
version_added: 0.1.0
description:
  - Stops or starts tasks of Kaspersky Endpoint Security for Linux (KESL) 11.x and 12.x, such as the Firewall
    Management, Web Threat Protection, Network Threat Protection and Web Control tasks that Deckhouse asks to
    disable on cluster nodes.
  - Tasks are named by name (case-insensitive) or ID and resolved through C(kesl-control --get-task-list), and
    checked against the task table of the node's version (docs/kesl.md); Web Control exists from 12.1 on (ID 26).
  - A task in a transient state (Starting, Stopping, Pausing, Suspended, Resuming) is left alone, listed in
    RV(transient) and warned about; run again when it has settled.
  - Every write is read back (the task list after C(--stop-task)/C(--start-task), the export after an autostart
    change); when the change is not there the module fails with the node and the task.
  - On a node that a Kaspersky Security Center policy manages nothing is written; RV(ksc_changes) lists what to
    change in the KSC policy.
  - C(kesl-control --stop-task) answering exit code 70 (already stopped, documented from 11.2 on) counts as
    unchanged, as does 70 from C(--start-task).
  - With O(persistent=true) the state also survives a restart of KESL. Monitoring tasks start at KESL start when
    their C(Active) flag in C(kesl-control --export-settings) is C(Yes). Stopping or starting a task is
    expected to set that flag; the module re-reads the export after a change, and if the flag did not follow it
    writes the export back with the flag changed (C(--import-settings), a round trip of everything that was
    exported). On-demand tasks to be stopped get a manual schedule (C(--set-schedule <task> RuleType=Manual)).
  - Runs C(kesl-control) with the C locale and a timeout, and reads its text output on every version.
  - A task that is in neither part of the export cannot be checked for autostart, and the module fails
    instead of reporting ok for it.
  - Exit code 68 (a Kaspersky Security Center policy locks the task) is reported as such and not retried; 64
    means KESL is not running.
author:
  - auditops maintainers (@auditops)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.kesl
attributes:
  check_mode:
    support: full
    details:
      - Reads the task list (and the export with O(persistent=true)) and reports what would change.
  diff_mode:
    support: full
    details:
      - One line per task, before and after (state and autostart).
  idempotent:
    support: full
    details:
      - A second run issues only read calls to C(kesl-control).
options:
  tasks:
    description:
      - Tasks by name or ID. License and Backup tasks cannot be started or stopped and are refused.
    type: list
    elements: str
    required: true
  state:
    description: Wanted state of the tasks.
    type: str
    choices: [stopped, started]
    default: stopped
  persistent:
    description:
      - Make the state survive a restart of KESL (autostart flag of monitoring tasks, manual schedule of
        on-demand tasks to be stopped).
      - Costs one C(--export-settings) read per run.
    type: bool
    default: true
  ignore_missing:
    description:
      - Tasks this KESL version does not have count as already stopped (with O(state=stopped)) and are listed in
        RV(missing) instead of failing.
    type: bool
    default: false
notes:
  - Needs root (or the KESL admin role) on the node; use C(become).
  - Whether C(--stop-task) persists the C(Active) flag is not documented by Kaspersky; the module checks it
    instead of assuming it.
seealso:
  - module: auditops.deckhouse.kesl_exclusion
  - module: auditops.deckhouse.kesl_info
'''

EXAMPLES = r'''
- name: Stop the tasks that break Kubernetes networking, and keep them off after a KESL restart
  auditops.deckhouse.kesl_task:
    tasks: [Firewall_Management, Web_Threat_Protection, Network_Threat_Protection, Web_Control]
    state: stopped
    ignore_missing: true
  become: true

- name: Make sure File Threat Protection runs
  auditops.deckhouse.kesl_task:
    tasks: [File_Threat_Protection]
    state: started
  become: true
'''

RETURN = r'''
version:
  description:
    - KESL version from C(kesl-control --app-info).
    - Also returned on failure; null when the module failed before C(--app-info) answered.
  returned: always
  type: str
  sample: 11.3.0.7441
tasks:
  description: The tasks, before and after (in check mode, as they would be).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Task ID on this node.
      type: int
    name:
      description: Task name.
      type: str
    type:
      description: Task type.
      type: str
    state_before:
      description: State before the run (Started, Stopped, ...).
      type: str
    state:
      description: State after the run.
      type: str
    transient:
      description: Whether the task was (or, after the write, still is) in a transient state.
      type: bool
    autostart_before:
      description:
        - Monitoring tasks - the C(Active) flag before the run. On-demand tasks - whether the schedule was not
          C(Manual). Null when not read (O(persistent=false)) or not found in the export.
      type: bool
    autostart:
      description: The same after the run.
      type: bool
    changed:
      description: Whether this task was (or would be) changed.
      type: bool
  sample:
    - {id: 26, name: Web_Control, type: '', state_before: Started, state: Stopped,
       autostart_before: true, autostart: false, changed: true, transient: false}
transient:
  description: Tasks left alone because they were in a transient state.
  returned: success
  type: list
  elements: dict
  sample: [{id: 14, name: Web_Threat_Protection, state: Stopping}]
policy_managed:
  description: Whether a Kaspersky Security Center policy manages the node (then nothing was written); null before 11.4.
  returned: success
  type: bool
ksc_changes:
  description: On a policy-managed node, one line per task with what to change in the KSC policy.
  returned: success
  type: list
  elements: str
  sample: ["Web_Control (26): stop and keep it from starting after a restart"]
missing:
  description: Names from O(tasks) that this KESL version does not have (with O(ignore_missing=true)).
  returned: success
  type: list
  elements: str
  sample: [Web_Control]
imported:
  description: Whether the export was written back to set autostart flags the start/stop calls did not set.
  returned: success
  type: bool
kesl_calls:
  description: Number of C(kesl-control) calls this run made, split into read and write calls.
  returned: always
  type: dict
  sample: {read: 3, write: 0, total: 3}
rc:
  description: Exit code of the failed C(kesl-control) call.
  returned: failure
  type: int
  sample: 68
policy_locked:
  description: True when a Kaspersky Security Center policy refused the change (exit code 68).
  returned: failure
  type: bool
kesl_not_running:
  description: True when KESL is not running (exit code 64).
  returned: failure
  type: bool
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "", "message": "kesl-control not found at /opt/kaspersky/kesl/bin/kesl-control: KESL is not installed on this node, or set executable"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.auditops.deckhouse.plugins.module_utils._kesl import (
    COMMON_ARGUMENT_SPEC, SETTLED_STATES, KeslError, KeslInputError, autostart_from_export, autostart_of,
    export_with_active, find_task, module_main, node_name, resolve_tasks)


def _describe(rows, which):
    lines = []
    for row in rows:
        auto = row["autostart" if which == "after" else "autostart_before"]
        lines.append("task %s %s: %s, autostart %s\n" % (
            row["id"], row["name"], row["state" if which == "after" else "state_before"],
            "unknown" if auto is None else ("on" if auto else "off")))
    return "".join(lines)


def _verify_states(ctl, rows, start):
    """Re-read the task list after --start/--stop-task: each task must be in the state asked (or on its way)."""
    tasks = ctl.task_list()
    wanted, on_way = ("Started", "Starting") if start else ("Stopped", "Stopping")
    for row in rows:
        if not row["_run"]:
            continue
        task = find_task(tasks, row["id"])
        state = task["state"] if task else "absent"
        if state == on_way:
            row["state"] = state
            row["transient"] = True
        elif state != wanted:
            raise KeslError("node %s, task %s (%d): after kesl-control %s %d the task is %s, not %s (read back with "
                            "--get-task-list); the node is not in the state asked"
                            % (node_name(), row["name"], row["id"], "--start-task" if start else "--stop-task",
                               row["id"], state, wanted))


def _verify_autostart(ctl, rows, start):
    active, rules = autostart_from_export(ctl.export_settings())
    for row in rows:
        if not (row["_flag"] or row["_schedule"]):
            continue
        _kind, now = autostart_of({"id": row["id"], "name": row["name"]}, active, rules)
        if now != start:
            raise KeslError("node %s, task %s (%d): after the %s write its autostart is still %s (read back with "
                            "kesl-control --export-settings); the node is not in the state asked"
                            % (node_name(), row["name"], row["id"], "schedule" if row["_schedule"] else "Active flag",
                               "on" if now else "off"))


def run_module(module, ctl):
    params = module.params
    start = params["state"] == "started"
    ctl.check_executable()
    version = ctl.detect_version()
    tasks, missing = resolve_tasks(ctl.task_list(), params["tasks"], version, params["ignore_missing"])
    if missing and start:
        raise KeslInputError("tasks: %s not found in kesl-control --get-task-list (KESL %s); a missing task cannot "
                             "be started" % (", ".join(missing), version))
    active, rules = {}, {}
    export = None
    if params["persistent"]:
        export = ctl.export_settings()
        active, rules = autostart_from_export(export)
    rows, transient = [], []
    for task in tasks:
        target = "Started" if start else "Stopped"
        settled = task["state"] in SETTLED_STATES
        if not settled:
            transient.append({"id": task["id"], "name": task["name"], "state": task["state"]})
        in_place = task["state"] == target or not settled
        kind, before = (None, None)
        if params["persistent"]:
            kind, before = autostart_of(task, active, rules)
        row = {"id": task["id"], "name": task["name"], "type": task["type"], "state_before": task["state"],
               "state": task["state"] if in_place else target, "transient": not settled,
               "autostart_before": before, "autostart": before, "changed": not in_place,
               "_run": not in_place, "_flag": False, "_schedule": False}
        if params["persistent"] and settled and before != start:
            if kind == "monitoring":
                row["_flag"] = True
            elif not start:
                row["_schedule"] = True  # a started on-demand task keeps its schedule
            if row["_flag"] or row["_schedule"]:
                row["autostart"] = start
                row["changed"] = True
        rows.append(row)
    ksc_changes = []
    if ctl.policy_managed:
        ksc_changes = ["%s (%d): %s%s" % (r["name"], r["id"], "start" if start else "stop",
                                          " and keep it from starting after a restart" if (r["_flag"] or r["_schedule"])
                                          and not start else "") for r in rows if r["changed"]]
        for row in rows:
            row.update(state=row["state_before"], autostart=row["autostart_before"], changed=False, _run=False,
                       _flag=False, _schedule=False)
    imported = False
    if not module.check_mode and not ctl.policy_managed:
        touched = False
        for row in rows:
            if row["_run"]:
                if not ctl.set_task_state(row["id"], start):
                    # Exit 70: KESL says it already was; the list was a moment old.
                    row["changed"] = row["_flag"] or row["_schedule"]
                touched = True
        if touched:
            _verify_states(ctl, rows, start)
        flags = [row for row in rows if row["_flag"]]
        if flags:
            if touched:
                # --start/--stop-task may set Active themselves; read again instead of assuming it.
                export = ctl.export_settings()
                active, rules = autostart_from_export(export)
            still = dict((row["name"].lower(), start) for row in flags if active.get(row["name"].lower()) != start)
            if still:
                ctl.import_settings(export_with_active(export, still))
                imported = True
        for row in rows:
            if row["_schedule"]:
                ctl.set_manual_schedule(row["id"])
        if imported or any(row["_schedule"] for row in rows):
            _verify_autostart(ctl, rows, start)
    result = {
        "changed": any(row["changed"] for row in rows),
        "version": version,
        "missing": missing,
        "imported": imported,
        "transient": transient,
        "policy_managed": ctl.policy_managed,
        "ksc_changes": ksc_changes,
        "tasks": [dict((k, v) for k, v in row.items() if not k.startswith("_")) for row in rows],
    }
    if transient:
        module.warn("left alone on %s, run again when they settle: %s" % (node_name(), ", ".join(
            "%s (%d) is %s" % (t["name"], t["id"], t["state"]) for t in transient)))
    if module._diff:
        result["diff"] = {"before": _describe(rows, "before"), "after": _describe(rows, "after")}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            COMMON_ARGUMENT_SPEC,
            tasks=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["stopped", "started"], default="stopped"),
            persistent=dict(type="bool", default=True),
            ignore_missing=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module_main(module, run_module)


if __name__ == "__main__":
    main()
