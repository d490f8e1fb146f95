#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: detection_rules
short_description: Build, check and render the audit-event detections (Falco rules and Prometheus alerts)
version_added: 0.2.0
description:
  - Builds the collection's detections on Kubernetes audit events - exec, attach and ephemeral containers,
    port-forward, cluster-admin bindings and other RBAC changes, ServiceAccount changes and token requests,
    anonymous and unauthorized requests, Secrets read by people, privileged, hostPath and host-namespace pods,
    images without a digest - and the alerts on them.
  - For O(target=deckhouse) a C(FalcoAuditRules) object (loaded by the runtime-audit-engine module) and a
    C(CustomPrometheusRules) object; for O(target=kubeadm) a Falco rules file for Falco with the k8saudit plugin
    and a prometheus-operator C(PrometheusRule) object. Both carry alerts on kube-apiserver's own audit metrics
    (C(apiserver_audit_error_total), C(apiserver_audit_requests_rejected_total), C(apiserver_audit_event_total)).
  - Every Falco condition is parsed first - an unknown k8saudit field, unbalanced parentheses or an undefined
    macro or list fails the task, naming the rule, and nothing is written.
  - With O(existing) (the live objects of these kinds) it plans which objects to delete - only those carrying
    this O(owner)'s labels - and refuses to take over unlabelled objects of the same name unless O(adopt).
  - With O(dest_dir) it writes the objects (and the Falco rules file) there (render mode) and deletes files it
    rendered earlier that are no longer wanted.
author:
  - auditops maintainers (@auditops)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  target:
    description: C(deckhouse) (runtime-audit-engine and the prometheus module) or C(kubeadm) (Falco and prometheus-operator).
    type: str
    choices: [deckhouse, kubeadm]
    default: deckhouse
  detections:
    description: Detection ids to build; all when omitted. The ids are listed in the collection's docs/detections.md.
    type: list
    elements: str
  name:
    description: Name of the objects (and of the rendered Falco rules file).
    type: str
    default: auditops-detections
  namespace:
    description: Namespace of the C(PrometheusRule) (O(target=kubeadm) only).
    type: str
    default: monitoring
  owner:
    description: Value of the C(auditops.deckhouse/role) label that marks the objects as this caller's.
    type: str
    default: audit_detections
  extra_rules:
    description:
      - Your own Falco items for the audit-event source, in C(FalcoAuditRules) spelling - each a mapping with one of
        C(rule) (C(name), C(condition), C(desc), C(output), C(priority) such as C(Warning)), C(macro) (C(name),
        C(condition)) or C(list) (C(name), C(items)). They are checked with the catalogue's macros and lists in
        scope (for example C(auditops_kevt)) and added to the same object or file.
    type: list
    elements: dict
  apiserver_alerts:
    description: Add the alerts on kube-apiserver's audit metrics.
    type: bool
    default: true
  metric:
    description: The falcosidekick metric the detection alerts count.
    type: str
    default: falcosecurity_falcosidekick_falco_events_total
  existing:
    description: The live objects of the kinds in RV(kinds); enables RV(prune) and the ownership check.
    type: list
    elements: dict
  prune:
    description: Plan deleting (or, in render mode, delete) owned objects and files no longer wanted.
    type: bool
    default: true
  adopt:
    description: Take over existing objects of the same name that lack the owner labels.
    type: bool
    default: false
  module_settings:
    description:
      - Settings of the runtime-audit-engine C(ModuleConfig) (O(target=deckhouse)) - C(builtInRulesList),
        C(debugLogging), C(resourcesRequests); other keys are refused.
    type: dict
    default: {}
  dest_dir:
    description: Render mode - write the objects as YAML files into this directory.
    type: path
'''

EXAMPLES = r'''
- name: Build the Deckhouse objects
  auditops.deckhouse.detection_rules:
  register: detections

- name: Render the kubeadm form to files
  auditops.deckhouse.detection_rules:
    target: kubeadm
    dest_dir: /srv/gitops/detections
'''

RETURN = r'''
objects:
  description: The objects to apply (Deckhouse - C(FalcoAuditRules), C(CustomPrometheusRules); kubeadm - C(PrometheusRule)).
  returned: always
  type: list
  elements: dict
module_config:
  description: The C(ModuleConfig) that turns runtime-audit-engine on (O(target=deckhouse)); null for kubeadm.
  returned: always
  type: dict
falco_rules:
  description: The Falco rules file content as data (O(target=kubeadm)); empty for Deckhouse.
  returned: always
  type: list
  elements: dict
kinds:
  description: C(api_version) and C(kind) of the objects, to list the live ones for O(existing).
  returned: always
  type: list
  elements: dict
label_selector:
  description: The label selector of this owner's objects.
  returned: always
  type: str
detections:
  description: Per built detection its C(id), C(rule), C(priority), C(alert), C(severity), C(for), C(fields), C(level), C(stages).
  returned: always
  type: list
  elements: dict
prune:
  description: Owned objects no longer wanted (C(kind), C(api_version), C(name), C(namespace)).
  returned: always
  type: list
  elements: dict
foreign:
  description: Wanted objects that exist without the owner labels.
  returned: always
  type: list
  elements: dict
files:
  description: In render mode, each file's C(path) and C(action) (C(create), C(update), C(unchanged), C(delete)).
  returned: when O(dest_dir) is set
  type: list
  elements: dict
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "name", "message": "must be a lowercase RFC 1123 label, got 'Bad_Name'"}]
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as engine
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._io import atomic_write
from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import dump

_RENDERED = re.compile(r"^(falcoauditrules|customprometheusrules|prometheusrule|moduleconfig)-[a-z0-9-]+\.yml$|^falco-[a-z0-9-]+\.yaml$")


def _marker(owner):
    return "# managed by %s, owner %s\n" % (engine.MANAGED_BY_VALUE, owner)


def _files(objects, falco_rules, name, owner):
    """{file name: text}; every file starts with the owner marker so pruning finds only ours."""
    out = {}
    for obj in objects:
        out["%s-%s.yml" % (obj["kind"].lower(), obj["metadata"]["name"])] = _marker(owner) + dump(obj, explicit_start=True)
    if falco_rules:
        out["falco-%s.yaml" % name] = _marker(owner) + dump(falco_rules, explicit_start=True)
    return out


def _render(module, files, params):
    dest_dir, owner = params['dest_dir'], params['owner']
    plan = []
    for entry, after in sorted(files.items()):
        path = os.path.join(dest_dir, entry)
        before = None
        if os.path.isfile(path):
            with open(path) as handle:
                before = handle.read()
        plan.append((path, "create" if before is None else ("unchanged" if before == after else "update"), before, after))
    if params['prune'] and os.path.isdir(dest_dir):
        for entry in sorted(os.listdir(dest_dir)):
            path = os.path.join(dest_dir, entry)
            if entry in files or not _RENDERED.match(entry) or not os.path.isfile(path):
                continue
            with open(path) as handle:
                before = handle.read()
            if before.startswith(_marker(owner)):
                plan.append((path, "delete", before, None))
    changed = any(action != "unchanged" for _path, action, _before, _after in plan)
    if changed and not module.check_mode:
        if not os.path.isdir(dest_dir):
            os.makedirs(dest_dir, 0o755)
        for path, action, _before, after in plan:
            if action == "delete":
                os.unlink(path)
            elif action != "unchanged":
                atomic_write(path, after, mode=0o644)
    diffs = [dict(before=before or "", after=after or "", before_header=path, after_header=path)
             for path, action, before, after in plan if action != "unchanged"]
    return changed, [dict(path=path, action=action) for path, action, _b, _a in plan], diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type='str', default='deckhouse', choices=list(engine.TARGETS)),
            detections=dict(type='list', elements='str'),
            extra_rules=dict(type='list', elements='dict'),
            name=dict(type='str', default=engine.DEFAULT_NAME),
            namespace=dict(type='str', default='monitoring'),
            owner=dict(type='str', default=engine.DEFAULT_OWNER),
            apiserver_alerts=dict(type='bool', default=True),
            metric=dict(type='str', default=engine.EVENTS_METRIC),
            existing=dict(type='list', elements='dict'),
            prune=dict(type='bool', default=True),
            adopt=dict(type='bool', default=False),
            module_settings=dict(type='dict', default={}),
            dest_dir=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        objects = engine.build(params['target'], params['detections'], params['name'], params['owner'],
                               params['namespace'], params['apiserver_alerts'], params['metric'], params['extra_rules'])
        falco_rules = engine.falco_rules_file(params['detections'], params['extra_rules']) \
            if params['target'] == 'kubeadm' else []
        module_config = engine.module_config(params['module_settings']) if params['target'] == 'deckhouse' else None
    except engine.DetectionError as exc:
        fail_json(module, exc, "detections refused, nothing changed")
    chosen = set(params['detections'] or engine.DETECTION_IDS)
    result = dict(
        changed=False, objects=objects, falco_rules=falco_rules, module_config=module_config,
        kinds=[dict(api_version=obj['apiVersion'], kind=obj['kind']) for obj in objects],
        label_selector="%s=%s,%s=%s" % (engine.MANAGED_BY_LABEL, engine.MANAGED_BY_VALUE, engine.ROLE_LABEL,
                                        params['owner']),
        detections=[row for row in engine.catalogue() if row['id'] in chosen],
        prune=[], foreign=[],
    )
    if params['existing'] is not None:
        prune, foreign = engine.plan_prune(objects, params['existing'], owner=params['owner'])
        result.update(prune=prune if params['prune'] else [], foreign=foreign)
        if foreign and not params['adopt']:
            fail_json(module, "%s already exist(s) without the labels %s; refusing to take over objects this role "
                              "does not own (choose another name, or allow adoption)"
                              % (", ".join("%s/%s" % (ref['kind'], ref['name']) for ref in foreign),
                                 result['label_selector']), **result)
    if params['dest_dir']:
        try:
            rendered = objects + ([module_config] if module_config else [])
            changed, files, diffs = _render(module, _files(rendered, falco_rules, params['name'], params['owner']), params)
        except (IOError, OSError) as exc:
            fail_json(module, "cannot write to %s: %s" % (params['dest_dir'], exc), **result)
        result.update(changed=changed, files=files)
        if module._diff:
            result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
