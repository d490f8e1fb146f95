#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: audit_policy_simulate
short_description: Replay an existing audit log against candidate audit policies before deploying one
version_added: 0.2.0
description:
  - Reads an audit log (JSON lines of C(audit.k8s.io/v1) Events, plain or gzip) on the host the task runs on - a
    master's C(/var/log/kube-audit/audit.log), or a local copy on the controller (C(delegate_to) V(localhost)) - and decides every
    request in it again with each policy of O(policies), the way kube-apiserver decides it.
  - For each policy returns the events and bytes it would write, per level and per rule, the events per second and
    MiB per day over the log's time span, and how many hours of events the log rotation O(rotation) keeps (Deckhouse
    keeps 100 MB x 10 files for at most 30 days; a busy cluster with a verbose policy may keep less than an hour).
  - Also returns which security-relevant requests each policy records or loses - exec, attach and port-forward into
    pods, secrets access, RBAC changes and privileged pods - and whether it keeps their bodies.
  - And which of the collection's detections (Falco rules of the C(audit_detections) role) each policy keeps alive,
    naming the rule that loses each lost one (RV(results[].detections)).
  - Sizes come from the log's own events. Request and response bodies a policy adds are measured where the log has
    them (it was written at that level) and otherwise estimated from the same kind of request in the log, or from
    typical sizes; RV(results[].estimated_body_bytes) says how much of RV(results[].bytes) is estimated.
  - The log is streamed with bounded memory, so a 1 GB log is fine. Lines that are not audit events are counted and
    skipped with a warning naming the first few line numbers; a log without any audit event fails.
  - The same simulator runs without Ansible -
    C(python -m ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate LOG --preset security).
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML on the host when a policy is YAML text or O(policies[].src)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.attributes.INFO_MODULE
attributes:
  idempotent:
    support: full
options:
  log:
    description:
      - Path of the audit log on the host the task runs on. Gzip is detected by its content.
      - One file; to cover rotated files, run the module on each or concatenate them first.
    type: path
    required: true
  policies:
    description:
      - The candidate policies, each with a unique O(policies[].name) and exactly one of O(policies[].policy),
        O(policies[].src) and O(policies[].preset). A policy kube-apiserver would refuse fails the task before the
        log is read.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the candidate in the results.
        type: str
        required: true
      policy:
        description: The policy as a mapping, or as YAML or JSON text.
        type: raw
      src:
        description: Path of a policy file on the host the task runs on.
        type: path
      preset:
        description: A built-in policy of the collection (see the P(auditops.deckhouse.audit_policy#module) module).
        type: str
        choices: [minimal, security, comprehensive]
      target:
        description:
          - V(deckhouse) - the policy goes into the Deckhouse Secret, so Deckhouse's basic rules come first when
            O(policies[].basic_policy) is true and only its C(rules) and C(omitStages) count.
          - V(kubeadm) - kube-apiserver runs the policy file as it is.
        type: str
        choices: [deckhouse, kubeadm]
        default: deckhouse
      basic_policy:
        description: With O(policies[].target=deckhouse), whether C(basicAuditPolicyEnabled) is on.
        type: bool
        default: true
  kubernetes_version:
    description: The kube-apiserver version whose rules apply, C(1.X) or C(1.X.Y).
    type: str
    default: '1.33'
  rotation:
    description: The log rotation of kube-apiserver, for RV(results[].retention_hours).
    type: dict
    default: {}
    suboptions:
      max_size_mb:
        description: C(--audit-log-maxsize), megabytes (MiB) per file.
        type: int
        default: 100
      max_backups:
        description: C(--audit-log-maxbackup), rotated files kept.
        type: int
        default: 10
      max_age_days:
        description: C(--audit-log-maxage), days a rotated file is kept.
        type: int
        default: 30
seealso:
  - module: auditops.deckhouse.audit_policy
notes:
  - R(Role auditops.deckhouse.control_plane_audit,ansible_collections.auditops.deckhouse.control_plane_audit_role)
    deploys the chosen policy.
  - The projection assumes the log's traffic is typical. A log written with C(omitStages) or a policy that drops
    requests (level C(None)) cannot show those requests or stages, so a candidate that would record them is
    under-estimated; simulate from a log written with a catch-all C(Metadata) (or more) rule without omitted stages.
'''

EXAMPLES = r'''
- name: Compare the presets and our policy on a day of a master's audit log
  auditops.deckhouse.audit_policy_simulate:
    log: /var/log/kube-audit/audit.log
    policies:
      - name: security
        preset: security
      - name: ours
        src: /etc/kubernetes/candidate-policy.yaml
  become: true
  run_once: true
  delegate_to: "{{ groups['masters'][0] }}"
  register: impact

- name: Refuse a policy that keeps less than a day of events
  ansible.builtin.assert:
    that: item.retention_hours is none or item.retention_hours >= 24
    fail_msg: "{{ item.name }} keeps {{ item.retention_hours }} h of events ({{ item.mb_per_day }} MiB/day)"
  loop: "{{ impact.results }}"
  loop_control:
    label: "{{ item.name }}"

- name: Simulate a local copy of the log with an inline policy, as kubeadm runs it
  auditops.deckhouse.audit_policy_simulate:
    log: "{{ playbook_dir }}/audit.log.gz"
    rotation:
      max_size_mb: 200
    policies:
      - name: metadata-only
        target: kubeadm
        policy:
          apiVersion: audit.k8s.io/v1
          kind: Policy
          omitStages: [RequestReceived]
          rules:
            - level: Metadata
  delegate_to: localhost
'''

RETURN = r'''
elapsed_seconds:
  description: How long reading the log and simulating took, in seconds (for a progress line in a playbook).
  returned: success
  type: float
  sample: 12.4
  version_added: 0.2.0
input:
  description: What the log held.
  returned: success
  type: dict
  contains:
    path:
      description: The log read.
      type: str
    lines:
      description: Lines read.
      type: int
    events:
      description: Audit events among them.
      type: int
    requests:
      description: Requests (distinct C(auditID)) they belong to.
      type: int
    bad_lines:
      description: Lines that are not audit events (skipped).
      type: int
    bad_line_examples:
      description: The first bad lines, as C(line) number and C(error).
      type: list
      elements: dict
    bytes:
      description: Uncompressed bytes read.
      type: int
    first_timestamp:
      description: The earliest C(stageTimestamp).
      type: str
    last_timestamp:
      description: The latest C(stageTimestamp).
      type: str
    duration_seconds:
      description: The time span the projections are based on; null when the log has none.
      type: float
    unfinished_requests:
      description: Requests without a C(ResponseComplete) event in the log (open watches, a cut log).
      type: int
    levels:
      description: The log's own events per level.
      type: dict
    rotation:
      description: The rotation used for the retention.
      type: dict
  sample:
    path: /var/log/kube-audit/audit.log
    lines: 120000
    events: 119998
    requests: 84000
    bad_lines: 2
    bad_line_examples: [{line: 1, error: "Expecting value: line 1 column 1 (char 0)"}]
results:
  description: One result per policy, in the order of O(policies).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: O(policies[].name).
      type: str
    target:
      description: O(policies[].target).
      type: str
    events:
      description: Events the policy would write for the log's requests.
      type: int
    bytes:
      description: Their size in bytes, one JSON line each.
      type: int
    estimated_body_bytes:
      description: The part of RV(results[].bytes) that is estimated request and response bodies.
      type: int
    by_level:
      description: The log's events per level this policy gives their request (C(None), C(Metadata), C(Request), C(RequestResponse)).
      type: dict
    requests_by_level:
      description: The log's requests per level this policy gives them.
      type: dict
    levels:
      description: Per level the C(requests), C(events) and C(bytes) this policy writes.
      type: dict
    rules:
      description:
        - Per rule of the effective policy that matched a request - C(rule) index (null - no rule matched), C(origin)
          (C(policy), C(deckhouse-basic) or C(default)), C(policy_rule) (index in the candidate's own rules),
          C(level), C(summary), C(requests), C(events), C(bytes).
      type: list
      elements: dict
    events_per_second:
      description: RV(results[].events) over the log's time span; null without one.
      type: float
    mb_per_day:
      description: Projected MiB per day; null without a time span.
      type: float
    retention_hours:
      description: Hours of events the rotation keeps at that rate; null without a time span.
      type: float
    retention_limited_by:
      description: C(size) when the files fill up before C(max_age_days), else C(age).
      type: str
    security:
      description:
        - Per category (C(pod_exec_attach), C(secrets_access), C(rbac_changes), C(privileged_pods)) the log's
          C(requests), how many the policy C(recorded) and C(lost), and how many it keeps C(with_body).
        - Privileged pods are seen only where the log has the pod's request body.
      type: dict
    detections:
      description:
        - Which of the collection's detections (see the C(audit_detections) role) the policy keeps alive - C(total),
          C(kept), C(kept_ids) and C(lost), a list of C(id), C(rule) (the Falco rule) and C(reason), such as
          C(rule 2 records create pods at Metadata (needs Request)). Decided from each detection's representative
          requests, not from the log.
      type: dict
  sample:
    - name: security
      target: deckhouse
      events: 41000
      bytes: 52000000
      estimated_body_bytes: 1200000
      events_per_second: 47.5
      mb_per_day: 4962.3
      retention_hours: 4.836
      retention_limited_by: size
      security:
        secrets_access: {requests: 310, recorded: 310, lost: 0, with_body: 0}
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "policies[0].rules[1].level", "message": "kube-apiserver 1.33 would refuse this policy: rules[1].level: Required value"}]
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as engine
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as simulator


def _candidates(module):
    candidates = []
    for index, entry in enumerate(module.params["policies"]):
        where = "policies[%d]" % index
        if entry["preset"]:
            policy = engine.preset(entry["preset"])
        elif entry["src"]:
            try:
                with open(entry["src"], "rb") as handle:
                    policy = handle.read()
            except (IOError, OSError) as exc:
                fail_json(module, "%s.src: cannot read %s: %s" % (where, entry["src"], to_native(exc)))
        else:
            policy = entry["policy"]
        candidates.append(simulator.Candidate(entry["name"], policy, entry["target"], entry["basic_policy"]))
    return candidates


def main():
    module = AnsibleModule(
        argument_spec=dict(
            log=dict(type="path", required=True),
            policies=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                policy=dict(type="raw"),
                src=dict(type="path"),
                preset=dict(type="str", choices=list(engine.PRESETS)),
                target=dict(type="str", choices=list(engine.TARGETS), default="deckhouse"),
                basic_policy=dict(type="bool", default=True),
            ), mutually_exclusive=[("policy", "src", "preset")], required_one_of=[("policy", "src", "preset")]),
            kubernetes_version=dict(type="str", default=engine.DEFAULT_KUBERNETES_VERSION),
            rotation=dict(type="dict", default={}, options=dict(
                max_size_mb=dict(type="int", default=simulator.DEFAULT_ROTATION["max_size_mb"]),
                max_backups=dict(type="int", default=simulator.DEFAULT_ROTATION["max_backups"]),
                max_age_days=dict(type="int", default=simulator.DEFAULT_ROTATION["max_age_days"]),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    started = time.time()
    try:
        engine.parse_version(params["kubernetes_version"])
        report = simulator.simulate(params["log"], _candidates(module), params["kubernetes_version"],
                                    params["rotation"])
    except (simulator.SimulationError, engine.PolicyError) as exc:
        fail_json(module, to_native(exc))
    source = report.input
    if not source["events"]:
        fail_json(module, "log: %s holds no audit events (%d lines%s)" % (
            params["log"], source["lines"], _examples(source)), input=source)
    if source["bad_lines"]:
        module.warn("log: skipped %d lines of %s that are not audit.k8s.io Events%s" % (
            source["bad_lines"], params["log"], _examples(source)))
    if not source["duration_seconds"]:
        module.warn("log: %s covers no time span, so there is no per-day projection or retention"
                    % os.path.basename(params["log"]))
    module.exit_json(changed=False, elapsed_seconds=round(time.time() - started, 3), **report.as_dict())


def _examples(source):
    if not source["bad_line_examples"]:
        return ""
    return "; first: " + "; ".join("line %d: %s" % (bad["line"], bad["error"]) for bad in source["bad_line_examples"])


if __name__ == "__main__":
    main()
