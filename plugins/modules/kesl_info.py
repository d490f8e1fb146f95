#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: kesl_info
short_description: Read the version, tasks and scan exclusions of Kaspersky Endpoint Security for Linux
version_added: 0.1.0
description:
  - Reports the version of Kaspersky Endpoint Security for Linux (KESL) 11.x or 12.x, its tasks with their state
    and the path exclusions of each scan task, for reports and AWX surveys.
  - Only read calls to C(kesl-control) (C(--app-info), C(--get-task-list), C(--get-settings) per scan task, and
    C(--export-settings) with O(autostart=true)), with the C locale forced; settings are read as INI files
    (C(--get-settings <id> --file)).
author:
  - auditops maintainers (@auditops)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.attributes.INFO_MODULE
  - auditops.deckhouse.kesl
attributes:
  idempotent:
    support: full
options:
  exclusions:
    description:
      - Read the exclusions of the scan tasks (one C(--get-settings) call per task).
    type: bool
    default: true
  exclusion_tasks:
    description:
      - Tasks to read the exclusions from, by name or ID.
      - Omitted - every task of type OAS, ODS, OAFIM, ODFIM or AntiCryptor except C(Scan_File), which ignores
        exclusions.
    type: list
    elements: str
  autostart:
    description: Add the autostart flag of each task (one C(--export-settings) call).
    type: bool
    default: false
notes:
  - Needs root (or a KESL role that may read settings) on the node; use C(become).
seealso:
  - module: auditops.deckhouse.kesl_exclusion
  - module: auditops.deckhouse.kesl_task
'''

EXAMPLES = r'''
- name: Read KESL state
  auditops.deckhouse.kesl_info:
  become: true
  register: kesl

- name: Show the tasks that run
  ansible.builtin.debug:
    msg: "{{ kesl.tasks | selectattr('state', 'equalto', 'Started') | map(attribute='name') | list }}"

- name: Exclusions of File Threat Protection
  ansible.builtin.debug:
    msg: "{{ kesl.exclusions['1'] }}"
'''

RETURN = r'''
version:
  description:
    - KESL version.
    - Also returned on failure; null when the module failed before C(--app-info) answered.
  returned: always
  type: str
  sample: 12.2.0.2412
app_info:
  description: The C(kesl-control --app-info) lines as a mapping (English keys).
  returned: success
  type: dict
  sample: {Name: Kaspersky Endpoint Security 12 for Linux, Version: 12.2.0.2412, Policy: Not applied}
policy_managed:
  description:
    - Whether a Kaspersky Security Center policy manages the node (the C(Policy) line of C(--app-info) is not
      C(Not applied)). Null when C(--app-info) has no C(Policy) line (before 11.4).
  returned: success
  type: bool
tasks:
  description: Every task.
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
      description: Task type; empty when C(--get-task-list) prints no C(Type) line for it.
      type: str
    state:
      description: Started, Stopped, Starting, Stopping, Pausing, Suspended or Resuming.
      type: str
    autostart:
      description:
        - Monitoring tasks - the C(Active) flag of the export. On-demand tasks - whether the schedule is not
          C(Manual). Null when unknown.
      returned: with O(autostart=true)
      type: bool
  sample:
    - {id: 12, name: Firewall_Management, type: Firewall, state: Stopped}
exclusions:
  description: Task ID (as a string) to the enabled excluded paths of that task.
  returned: with O(exclusions=true)
  type: dict
  sample: {'1': [/var/lib/containerd, /etc/kubernetes], '2': [/var/lib/containerd]}
exclusion_details:
  description: Task ID to every exclusion of that task (path, masks, enabled, description).
  returned: with O(exclusions=true)
  type: dict
  sample: {'1': [{path: /var/lib/containerd, masks: ['*'], enabled: true, description: ''}]}
kesl_calls:
  description: Number of C(kesl-control) calls this run made.
  returned: always
  type: dict
  sample: {read: 7, write: 0, total: 7}
rc:
  description: Exit code of the failed C(kesl-control) call.
  returned: failure
  type: int
  sample: 64
policy_locked:
  description: Always false for reads; kept for the same failure shape as the other KESL modules.
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
    COMMON_ARGUMENT_SPEC, SCAN_FILE, autostart_from_export, module_main, public_exclusion, select_exclusion_tasks,
    task_kind)


def run_module(module, ctl):
    params = module.params
    ctl.check_executable()
    ctl.detect_version()
    tasks = ctl.task_list()
    result = {"changed": False, "version": ctl.version, "app_info": ctl.app_info,
              "policy_managed": ctl.policy_managed,
              "tasks": [dict(task) for task in tasks]}
    if params["autostart"]:
        active, rules = autostart_from_export(ctl.export_settings())
        for task in result["tasks"]:
            if task["name"].lower() in active:
                task["autostart"] = active[task["name"].lower()]
            else:
                rule = rules.get(task["id"])
                task["autostart"] = None if rule is None else rule != "Manual"
    if params["exclusions"]:
        if params["exclusion_tasks"] is None:
            scan = [t for t in tasks if task_kind(t, ctl.version) == "exclusions" and t["name"].lower() != SCAN_FILE]
        else:
            scan = select_exclusion_tasks(tasks, params["exclusion_tasks"], False, ctl.version,
                                          field="exclusion_tasks")[0]
        result["exclusions"], result["exclusion_details"] = {}, {}
        for task in scan:
            entries = ctl.get_settings(task["id"]).exclusions()
            result["exclusions"][str(task["id"])] = [e["path"] for e in entries if e["enabled"]]
            result["exclusion_details"][str(task["id"])] = [public_exclusion(e) for e in entries]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            COMMON_ARGUMENT_SPEC,
            exclusions=dict(type="bool", default=True),
            exclusion_tasks=dict(type="list", elements="str"),
            autostart=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module_main(module, run_module, reads_only=True)


if __name__ == "__main__":
    main()
