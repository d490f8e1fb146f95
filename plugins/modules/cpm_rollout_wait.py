#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: cpm_rollout_wait
short_description: Follow Deckhouse's rollout of a control-plane change to every master's kube-apiserver
version_added: 0.2.0
description:
  - Without O(before) it reads the C(control-plane-manager.deckhouse.io/checksum) annotation of every kube-apiserver
    pod in C(kube-system) (label C(component=kube-apiserver)) and returns them as RV(checksums) - read this just
    before changing C(ModuleConfig/control-plane-manager) or C(Secret kube-system/audit-policy).
  - With O(before) it waits, bounded, until the kube-apiserver pod of every master carries a checksum other than
    the one in O(before) and is Ready. Deckhouse's control-plane-manager renders the manifest on each master,
    writes the checksum annotation and rolls the masters one at a time; RV(events) tells, with seconds since the
    start, when each master picked up the new configuration and when it became Ready.
  - The checksum Deckhouse expects is a SHA-256 over the manifest kubeadm renders on the master and the files under
    C(/etc/kubernetes) it names (certificates, keys, the audit policy). That cannot be computed from outside the
    master, so the module waits for a checksum that B(differs from the one before the change), not for a predicted
    value. Another control-plane change made at the same time counts as well.
  - It fails, naming the master, when a master with the new checksum does not become Ready, or no master makes
    progress, within O(master_timeout) seconds (counted from the start or from the previous master finishing), or
    when the whole rollout takes longer than O(timeout). The caller rolls back then.
  - It only reads; it never changes the cluster.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML to read a kubeconfig
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.attributes.INFO_MODULE
  - auditops.deckhouse.k8s_connection
attributes:
  idempotent:
    support: full
options:
  before:
    description:
      - "RV(checksums) read before the change - node name to checksum, null for a pod without the annotation."
      - Omitted - only read and return RV(checksums).
    type: dict
  timeout:
    description: Seconds for the whole rollout.
    type: int
    default: 900
  master_timeout:
    description:
      - Seconds one master may take, counted from the start or from the moment the previous master finished.
        Deckhouse's own controller waits about two minutes for one kube-apiserver.
    type: int
    default: 300
  interval:
    description: Seconds between two listings of the pods.
    type: int
    default: 2
  request_timeout:
    description: Seconds to wait for one answer of the API.
    type: int
    default: 10
notes:
  - The pods are read through the API; during the rollout one master's kube-apiserver is down, so point the
    connection at a load balancer or another master, not at the master being rolled.
seealso:
  - module: auditops.deckhouse.cpm_audit_settings
'''

EXAMPLES = r'''
- name: Read the checksums before the change
  auditops.deckhouse.cpm_rollout_wait:
    kubeconfig: ~/.kube/config
  register: before

# ... apply the ModuleConfig / the Secret here ...

- name: Wait until every master runs the new configuration
  auditops.deckhouse.cpm_rollout_wait:
    kubeconfig: ~/.kube/config
    before: "{{ before.checksums }}"
    timeout: 900
    master_timeout: 300
  register: rollout
  failed_when: false

- name: Show the rollout
  ansible.builtin.debug:
    var: rollout.events
'''

RETURN = r'''
checksums:
  description: Node name to checksum of the kube-apiserver pods now (after the wait, with O(before)).
  returned: success
  type: dict
  sample: {"master-0": "5c1f0d9e2b7a4c3d8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"}
ready:
  description: With O(before) - whether every master finished; without it - not returned.
  returned: when O(before) is given
  type: bool
masters:
  description:
    - One entry per master - C(node), C(name) (the pod), C(state) (V(done) new checksum and Ready, V(rolling) new
      checksum but not Ready, V(pending) still the old checksum, V(missing) no pod), C(before), C(checksum),
      C(ready) and C(done_at) (seconds since the start, monotonic clock).
  returned: when O(before) is given
  type: list
  elements: dict
order:
  description: The masters in the order they finished.
  returned: when O(before) is given
  type: list
  elements: str
events:
  description: Progress lines - seconds since the start, the master, what happened.
  returned: when O(before) is given
  type: list
  elements: str
  sample: ["  4.1s master-0: new checksum 5c1f0d9e2b7a, waiting for kube-apiserver to become Ready",
           "  9.3s master-0: kube-apiserver Ready with the new checksum 5c1f0d9e2b7a (1 of 3 masters)"]
failure:
  description:
    - When the rollout did not finish - C(reason) (V(master_timeout) or V(timeout)), C(master) (the master blamed),
      C(waiting) (the masters not done) and C(message).
  returned: failure
  type: dict
elapsed:
  description: Seconds spent waiting.
  returned: when O(before) is given
  type: float
api_errors:
  description: The last failed listings of the pods (the API did not answer), if any.
  returned: when O(before) is given
  type: list
  elements: str
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "timeout", "message": "must be 1 or more, got 0"}]
'''

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_rollout import (
    LABEL_SELECTOR,
    NAMESPACE,
    RolloutError,
    checksums,
    wait,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_connection import (
    client as k8s_client,
    connection_argument_spec,
)

PODS_PATH = "/api/v1/namespaces/%s/pods?labelSelector=%s" % (NAMESPACE, LABEL_SELECTOR.replace("=", "%3D"))


def _lister(client, request_timeout):
    def list_pods():
        status, body, error = client.get(PODS_PATH, request_timeout, limit=None)
        if status is None:
            raise IOError(error)
        if status != 200:
            raise IOError("GET %s: HTTP %s %s" % (PODS_PATH, status, body[:300].strip()))
        try:
            return json.loads(body).get("items") or []
        except ValueError as exc:
            raise IOError("GET %s: not JSON: %s" % (PODS_PATH, exc))
    return list_pods


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            before=dict(type="dict"),
            timeout=dict(type="int", default=900),
            master_timeout=dict(type="int", default=300),
            interval=dict(type="int", default=2),
            request_timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name in ("timeout", "master_timeout", "interval", "request_timeout"):
        if params[name] < 1:
            fail_json(module, "%s: must be 1 or more, got %d" % (name, params[name]))
    before = params["before"]
    if before is not None:
        bad = [node for node, value in before.items() if value is not None and not isinstance(value, str)]
        if not before or bad:
            fail_json(module, "before: expected {node: checksum or null} of at least one kube-apiserver pod%s"
                      % (", got a non-string for %s" % ", ".join(sorted(bad)) if bad else ", got {}"))
    client = k8s_client(module)
    list_pods = _lister(client, params["request_timeout"])
    try:
        if before is None:
            try:
                pods = list_pods()
            except (IOError, OSError) as exc:
                fail_json(module, "cannot list the kube-apiserver pods in %s: %s" % (NAMESPACE, to_native(exc)))
            module.exit_json(changed=False, checksums=checksums(pods))
        try:
            ok, result = wait(list_pods, before, params["timeout"], params["master_timeout"], params["interval"],
                              time.monotonic, time.sleep)
        except RolloutError as exc:
            fail_json(module, to_native(exc))
        result["checksums"] = dict((m["node"], m["checksum"]) for m in result["masters"])
        result["ready"] = ok
        if not ok:
            fail_json(module, "the rollout did not finish: %s" % result["failure"]["message"], changed=False, **result)
        module.exit_json(changed=False, **result)
    finally:
        client.close()


if __name__ == "__main__":
    main()
