#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: apiserver_readyz
short_description: Wait, bounded, until kube-apiserver answers /readyz
version_added: 0.1.0
description:
  - Sends C(GET /readyz) to kube-apiserver with the credentials of a kubeconfig (or given explicitly, with the same
    option names and environment variables as C(kubernetes.core)) until it answers C(200) or O(timeout) seconds have
    passed. Used after an audit change, which kube-apiserver only applies at start and which stops it when it is wrong.
  - With O(process_args), ready also requires a local process whose command line holds those arguments - on a
    control-plane node this tells the restarted kube-apiserver from the one the kubelet has not replaced yet.
  - Asked without credentials (O(anonymous), or a kubeconfig user that authenticates through a plugin), C(401) and
    C(403) count as well - the server runs, since an audit configuration it cannot load stops it at start, but it does
    not tell anonymous clients more (C(--anonymous-auth=false)); RV(readiness_known) is then false and a warning says so.
  - It does not fail when the API server does not become ready; it returns RV(ready=false) and the last answer, so the
    caller can roll back.
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
  kubeconfig:
    description:
      - Path of a kubeconfig. Without it and without O(host), C(KUBECONFIG) or C(~/.kube/config).
      - Users that authenticate through an C(exec) or C(auth-provider) plugin are not supported; the probe then asks
        anonymously (kube-apiserver allows anonymous C(/readyz) unless C(--anonymous-auth=false)).
    type: path
    aliases: [kubeconfig_path]
  anonymous:
    description: Send no credentials.
    type: bool
    default: false
  path:
    description: The endpoint to ask.
    type: str
    default: /readyz
  timeout:
    description: Seconds to keep asking (after O(delay)); V(0) asks once.
    type: int
    default: 300
  delay:
    description: Seconds to wait before the first request (give the change time to reach the API server).
    type: int
    default: 0
  interval:
    description: Seconds between requests.
    type: int
    default: 2
  request_timeout:
    description: Seconds to wait for one answer.
    type: int
    default: 5
  process_args:
    description: Arguments a local process must have (exact command line items) for the API server to count as ready.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Wait up to five minutes for the API server
  auditops.deckhouse.apiserver_readyz:
    kubeconfig: ~/.kube/config
    timeout: 300
    delay: 30
  register: readyz

- name: Roll back when it did not come back
  ansible.builtin.debug:
    msg: "not ready: {{ readyz.status }} {{ readyz.error }}"
  when: not readyz.ready

- name: Wait for this master's restarted kube-apiserver
  auditops.deckhouse.apiserver_readyz:
    kubeconfig: /etc/kubernetes/admin.conf
    host: https://127.0.0.1:6443
    validate_certs: false
    process_args:
      - --audit-policy-file=/etc/kubernetes/audit/policy-3f6c1e0a9b2d4c5e.yaml
    timeout: 180
'''

RETURN = r'''
ready:
  description: Whether C(/readyz) answered C(200) (and a process with O(process_args) ran) within the time.
  returned: success
  type: bool
  sample: true
readiness_known:
  description: False when RV(ready) rests on a C(401) or C(403) to a request without credentials.
  returned: success
  type: bool
  sample: true
status:
  description: HTTP status of the last answer; null when none came (connection refused, timeout, TLS error).
  returned: success
  type: int
  sample: 200
body:
  description: The start of the last answer's body (C(ok), or the failed checks).
  returned: success
  type: str
  sample: ok
error:
  description: Why the last request got no answer, or why the answer did not count.
  returned: success
  type: str
  sample: "[Errno 111] Connection refused"
url:
  description: The URL asked.
  returned: success
  type: str
  sample: https://10.0.0.10:6443/readyz
attempts:
  description: Requests sent.
  returned: success
  type: int
elapsed:
  description: Seconds spent, the delay included.
  returned: success
  type: float
pids:
  description: Local processes that matched O(process_args).
  returned: success
  type: list
  elements: int
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "timeout", "message": "must be 0 or more, got -1"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import ProbeError, wait_ready
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_connection import connect, connection_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            anonymous=dict(type="bool", default=False),
            path=dict(type="str", default="/readyz"),
            timeout=dict(type="int", default=300),
            delay=dict(type="int", default=0),
            interval=dict(type="int", default=2),
            request_timeout=dict(type="int", default=5),
            process_args=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name in ("timeout", "delay", "request_timeout"):
        if params[name] < 0:
            fail_json(module, "%s: must be 0 or more, got %d" % (name, params[name]))
    if params["interval"] < 1:
        fail_json(module, "interval: must be 1 or more, got %d" % params["interval"])
    if not params["path"].startswith("/"):
        fail_json(module, "path: must start with /, got %r" % params["path"])
    conn = connect(module, params["anonymous"])
    try:
        # The certificates are loaded here: a bad one fails the module naming its option.
        result = wait_ready(conn, params["timeout"], params["interval"], params["delay"], params["path"],
                            params["request_timeout"], params["process_args"])
    except ProbeError as exc:
        fail_json(module, to_native(exc))
    if result["ready"] and not result["readiness_known"]:
        module.warn("%s answered %s to a request without credentials: kube-apiserver runs, but whether it is ready "
                    "cannot be read without credentials" % (result["url"], result["status"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
