#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: kesl_exclusion
short_description: Ensure path exclusions in the scan tasks of Kaspersky Endpoint Security for Linux
version_added: 0.1.0
description:
  - Ensures that a set of paths (with masks) is excluded from scanning, or no longer excluded, in the tasks of
    Kaspersky Endpoint Security for Linux (KESL) 11.x and 12.x that have scan exclusions.
  - KESL has no global path exclusion list; exclusions are C([ExcludedFromScanScope.item_N]) sections of each
    scan task. By default the module manages them in File_Threat_Protection, Scan_My_Computer,
    Critical_Areas_Scan, System_Integrity_Monitoring, Anti_Cryptor and every user on-demand scan task.
  - Reads the settings of each task once as an INI file (C(kesl-control --get-settings <task> --file)) and writes
    them back once (C(--set-settings <task> --file)), and only for tasks where something differs. Settings the
    module does not manage stay as they were. Every write is read back; when the change is not there the module
    fails with the node, the task and the path.
  - Runs C(kesl-control) with the C locale (its output follows C(LANG)) and a timeout, and detects the version
    with C(--app-info). Task names are checked against the task table of that version (docs/kesl.md); a default
    task the version does not have (Critical_Areas_Scan on 11.0 and 11.1) is skipped and listed in
    RV(skipped_tasks).
  - On a node that a Kaspersky Security Center policy manages (C(Policy) in C(--app-info) is not C(Not applied))
    nothing is written; RV(ksc_changes) lists what to change in the KSC policy instead.
  - Paths that would exclude the whole file system (C(/)) or climb out of their directory (C(..)) are refused.
  - A path matches an existing exclusion with or without a trailing slash. An existing exclusion that is
    disabled or has other masks is enabled and given the wanted masks; its description is kept.
  - Exit code 68 (a Kaspersky Security Center policy locks the settings) is reported as such and not retried;
    64 means KESL is not running. Exit codes are described for the node's version (70 exists from 11.2 on). An
    on-demand scan task that is not stopped and needs a change makes the module fail before anything is written,
    since KESL refuses to change the settings of a running scan (exit 70).
author:
  - auditops maintainers (@auditops)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.kesl
attributes:
  check_mode:
    support: full
    details:
      - Reads the settings and reports what would change; nothing is written.
  diff_mode:
    support: full
    details:
      - One line per exclusion and task, before and after (path, masks, disabled flag).
  idempotent:
    support: full
    details:
      - A second run issues only read calls to C(kesl-control).
options:
  exclusions:
    description:
      - The paths, each a string or a mapping.
      - A later entry for the same directory replaces an earlier one, so a default can be re-listed with other
        masks.
    type: list
    elements: raw
    required: true
    suboptions:
      path:
        description:
          - Absolute path, case-sensitive (C(/etc/kubernetes), not C(/etc/Kubernetes)). May itself be a mask such as
            C(/var/log/*.log).
        type: str
        required: true
      masks:
        description:
          - File-name masks (C(AreaMask.item_N)) applied inside O(exclusions[].path), such as C(*.log); C(*)
            matches any file name. A mask with C(/) is refused; put directories into O(exclusions[].path), which
            may itself hold C(*) and C(**) (C(**) crosses C(/)).
        type: list
        elements: str
        default: ['*']
      description:
        description: Text for C(AreaDesc) of a new exclusion. Not compared; an existing description is kept.
        type: str
        default: ''
      node:
        description:
          - Node role where the path exists. With O(node_role) set, entries for the other role are skipped.
        type: str
        choices: [any, master, worker]
        default: any
  state:
    description:
      - V(present) adds missing exclusions and enables or fixes the masks of existing ones.
      - V(absent) removes every exclusion of these paths.
    type: str
    choices: [present, absent]
    default: present
  tasks:
    description:
      - Tasks to manage, by name (case-insensitive) or ID, resolved through C(kesl-control --get-task-list).
      - Only OAS, ODS, OAFIM, ODFIM and AntiCryptor tasks have exclusions. C(Scan_File) (3) is refused because it
        ignores them.
    type: list
    elements: str
    default: [File_Threat_Protection, Scan_My_Computer, Critical_Areas_Scan, System_Integrity_Monitoring, Anti_Cryptor]
  user_ods_tasks:
    description: Also manage every user task (ID 100 and above) of type ODS or ODFIM.
    type: bool
    default: true
  node_role:
    description:
      - Role of this node. Entries of O(exclusions) whose O(exclusions[].node) is the other role are skipped.
      - Omitted - every entry applies.
    type: str
    choices: [master, worker]
notes:
  - Needs root (or the KESL admin role) on the node; use C(become).
seealso:
  - module: auditops.deckhouse.kesl_task
  - module: auditops.deckhouse.kesl_info
  - name: KESL scan exclusions
    description: Exclusions are configured per scan task.
    link: https://support.kaspersky.com/KES4Linux/12.3.0/en-US/146077.htm
'''

EXAMPLES = r'''
- name: Exclude the containerd and kubelet directories
  auditops.deckhouse.kesl_exclusion:
    exclusions:
      - /var/lib/containerd
      - path: /var/lib/kubelet/
        description: kubelet
  become: true

- name: Exclude only the log files in the pod log directories
  auditops.deckhouse.kesl_exclusion:
    exclusions:
      - path: /var/log/pods/**
        masks: ['*.log']
    tasks: [File_Threat_Protection]
  become: true

- name: Master-only paths are skipped on workers
  auditops.deckhouse.kesl_exclusion:
    exclusions:
      - {path: /var/lib/etcd, node: master}
      - {path: /etc/kubernetes, node: any}
    node_role: worker
  become: true

- name: Remove an exclusion everywhere
  auditops.deckhouse.kesl_exclusion:
    exclusions: [/tmp/old]
    state: absent
  become: true
'''

RETURN = r'''
version:
  description:
    - KESL version from C(kesl-control --app-info).
    - Also returned on failure; null when the module failed before C(--app-info) answered.
  returned: always
  type: str
  sample: 12.2.0.2412
output_format:
  description: Form of the output that was parsed (always C(text), with settings as INI files).
  returned: success
  type: str
  sample: text
policy_managed:
  description:
    - Whether a Kaspersky Security Center policy manages the node (then nothing was written).
    - Null when C(--app-info) has no C(Policy) line (before KESL 11.4).
  returned: success
  type: bool
ksc_changes:
  description: On a policy-managed node, one line per task with the exclusions to set in the KSC policy.
  returned: success
  type: list
  elements: str
  sample: ["File_Threat_Protection (1): exclude /var/lib/etcd, /etc/kubernetes"]
skipped_tasks:
  description: Names from O(tasks) that this KESL version does not have, or whose exclusions its help does not document.
  returned: success
  type: list
  elements: str
  sample: [Critical_Areas_Scan, System_Integrity_Monitoring, Anti_Cryptor]
tasks:
  description: The managed tasks with their exclusions after the run (as they would be, in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Task ID.
      type: int
    name:
      description: Task name.
      type: str
    type:
      description: Task type (OAS, ODS, OAFIM, AntiCryptor, ...).
      type: str
    added:
      description: Paths added.
      type: list
      elements: str
    removed:
      description: Paths removed.
      type: list
      elements: str
    updated:
      description: Paths whose exclusion was enabled or got other masks.
      type: list
      elements: str
    changed:
      description: Whether the settings of this task were (or would be) written.
      type: bool
    exclusions:
      description: Every exclusion of the task (path, masks, enabled, description).
      type: list
      elements: dict
  sample:
    - id: 1
      name: File_Threat_Protection
      type: OAS
      changed: true
      added: [/var/lib/containerd]
      removed: []
      updated: []
      exclusions: [{path: /var/lib/containerd, masks: ['*'], enabled: true, description: ''}]
kesl_calls:
  description: Number of C(kesl-control) calls this run made, split into read and write calls.
  returned: always
  type: dict
  sample: {read: 7, write: 5, total: 12}
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
  sample: [{"path": "exclusions[0].path", "message": "must be an absolute path, got 'var/lib/containerd'"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.auditops.deckhouse.plugins.module_utils._kesl import (
    COMMON_ARGUMENT_SPEC, DEFAULT_EXCLUSION_TASKS, KeslError, KeslInputError, describe_exclusions, is_on_demand,
    module_main, node_name, normalize_exclusions, path_key, plan_exclusions, public_exclusion, select_exclusion_tasks)


def _ksc_change(plan):
    parts = []
    if plan["added"] or plan["updated"]:
        parts.append("exclude %s" % ", ".join(plan["added"] + plan["updated"]))
    if plan["removed"]:
        parts.append("stop excluding %s" % ", ".join(plan["removed"]))
    return "%s (%d): %s" % (plan["task"]["name"], plan["task"]["id"], "; ".join(parts))


def _read_back(ctl, plan, wanted, state):
    """Re-read a task's settings after the write; raise naming node, task and path when a change is missing."""
    after = dict((path_key(e["path"]), e) for e in ctl.get_settings(plan["task"]["id"]).exclusions())
    task = plan["task"]
    for want in wanted:
        key = path_key(want["path"])
        entry = after.get(key)
        if state == "absent" and entry is not None:
            problem = "is still there"
        elif state == "present" and entry is None:
            problem = "is not there"
        elif state == "present" and (not entry["enabled"] or sorted(set(entry["masks"])) != sorted(set(want["masks"]))):
            problem = "is there but %s" % ("disabled" if not entry["enabled"] else "with masks %s" % entry["masks"])
        else:
            continue
        raise KeslError("node %s, task %s (%d): after kesl-control --set-settings %d --file, the exclusion of %s %s "
                        "(read back with --get-settings %d --file); the node is not in the state asked"
                        % (node_name(), task["name"], task["id"], task["id"], want["path"], problem, task["id"]))


def run_module(module, ctl):
    params = module.params
    wanted = normalize_exclusions(params["exclusions"], params["node_role"])
    ctl.check_executable()
    version = ctl.detect_version()
    tasks, skipped = select_exclusion_tasks(ctl.task_list(), params["tasks"], params["user_ods_tasks"], version)
    plans = []
    for task in tasks:
        settings = ctl.get_settings(task["id"])
        current = settings.exclusions()
        new, added, removed, updated = plan_exclusions(current, wanted, params["state"])
        plans.append({"task": task, "settings": settings, "before": current, "after": new,
                      "added": added, "removed": removed, "updated": updated,
                      "changed": bool(added or removed or updated)})
    pending = [p for p in plans if p["changed"]]
    ksc_changes = [_ksc_change(p) for p in pending] if ctl.policy_managed else []
    busy = ["%s (%d, %s)" % (p["task"]["name"], p["task"]["id"], p["task"]["state"]) for p in pending
            if is_on_demand(p["task"]) and p["task"]["state"] != "Stopped"]
    if busy and not ctl.policy_managed:
        raise KeslInputError(
            "tasks: %s %s not stopped, and KESL refuses to change the settings of a running scan task (exit 70); "
            "run again when the scan has finished. Nothing was changed." % (", ".join(busy), "is" if len(busy) == 1 else "are"))
    if not module.check_mode and not ctl.policy_managed:
        for plan in pending:
            ctl.set_settings(plan["task"]["id"], plan["settings"].with_exclusions(plan["after"]))
            _read_back(ctl, plan, wanted, params["state"])
    result = {
        "changed": bool(pending) and not ctl.policy_managed,
        "version": version,
        "output_format": "text",
        "policy_managed": ctl.policy_managed,
        "ksc_changes": ksc_changes,
        "skipped_tasks": skipped,
        "tasks": [{"id": p["task"]["id"], "name": p["task"]["name"], "type": p["task"]["type"],
                   "changed": p["changed"] and not ctl.policy_managed, "added": p["added"], "removed": p["removed"],
                   "updated": p["updated"],
                   "exclusions": [public_exclusion(e) for e in (p["before"] if ctl.policy_managed else p["after"])]}
                  for p in plans],
    }
    if module._diff:
        result["diff"] = {"before": "".join(describe_exclusions(p["task"], p["before"]) for p in plans),
                          "after": "".join(describe_exclusions(p["task"], p["before"] if ctl.policy_managed else p["after"])
                                           for p in plans)}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            COMMON_ARGUMENT_SPEC,
            exclusions=dict(type="list", elements="raw", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            tasks=dict(type="list", elements="str", default=list(DEFAULT_EXCLUSION_TASKS)),
            user_ods_tasks=dict(type="bool", default=True),
            node_role=dict(type="str", choices=["master", "worker"]),
        ),
        supports_check_mode=True,
    )
    module_main(module, run_module, written_note="; the tasks before it in the list were already written")


if __name__ == "__main__":
    main()
