#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_objects_info
short_description: Read several kinds of Kubernetes objects with one module start
version_added: 0.2.0
description:
  - Reads the objects of every query in O(queries) - by apiVersion and kind, optionally one namespace, one name,
    label and field selectors - over one connection, and returns one result per query shaped like
    C(kubernetes.core.k8s_info)'s (C(api_found), C(resources)).
  - Each kind is turned into its resource path by API discovery of its group version (C(GET /api/v1),
    C(GET /apis/<group>/<version>)), once per group version asked. A group version or kind the API server does not
    serve gives C(api_found=false) and no objects, as in C(kubernetes.core.k8s_info); a named object that does not
    exist gives C(api_found=true) and no objects.
  - It talks to the API server with the Python standard library, without the C(kubernetes) client library, so one
    start costs a fraction of one C(kubernetes.core.k8s_info) start; a role that reads nine kinds starts it once.
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
  queries:
    description:
      - What to read, one mapping per query; RV(results) has one entry per query, in the same order.
      - C(kind) (required) - the kind, for example V(ModuleConfig); as in C(kubernetes.core.k8s_info) the resource's
        plural name, singular name or a short name also match.
      - C(api_version) - V(v1) (the default) or C(<group>/<version>), for example V(deckhouse.io/v1alpha1).
      - C(namespace) - the namespace of a namespaced kind; without it a namespaced kind is listed in every namespace.
        It is not used for a cluster-wide kind, as in C(kubernetes.core.k8s_info).
      - C(name) - one object; without it every object of the kind (that the selectors match).
      - C(label_selectors) - a list of label selectors, joined with commas, for example
        V(app.kubernetes.io/managed-by=auditops.deckhouse).
      - C(field_selectors) - a list of field selectors, joined with commas, for example V(metadata.name=audit-policy).
      - An unknown key, a missing C(kind) or a value of the wrong type fails the module naming
        C(queries[<index>].<key>), before anything is asked.
    type: list
    elements: dict
    required: true
  server_version:
    description:
      - Also read the API server's version (C(GET /version)) and return it as RV(version), shaped like
        C(kubernetes.core.k8s_cluster_info)'s C(version.server).
      - When the server does not answer that request the module fails without RV(version), before any query is
        asked, so a caller can tell an unreachable API server (no RV(version)) from a query that failed.
    type: bool
    default: false
  request_timeout:
    description: Seconds to wait for one answer of the API server.
    type: int
    default: 30
notes:
  - Differences from C(kubernetes.core.k8s_info) - no waiting (C(wait)), no C(hidden_fields); a selector the API
    server refuses (HTTP 400) fails the module naming the query's C(label_selectors) or C(field_selectors) instead
    of returning no objects; any other error answer (401, 403, 500) or no answer fails it naming the query, what was
    asked and what the server answered.
  - "Credentials it cannot use: a kubeconfig user that authenticates through an C(exec) or C(auth-provider) plugin
    (a warning says so and the requests go out without credentials); the in-cluster service account (without a
    kubeconfig and without O(host) the module fails naming O(host))."
seealso:
  - module: kubernetes.core.k8s_info
  - module: kubernetes.core.k8s_cluster_info
'''

EXAMPLES = r'''
- name: Read the audit settings, the audit policy Secret and the log-shipper objects at once
  auditops.deckhouse.k8s_objects_info:
    kubeconfig: ~/.kube/config
    server_version: true
    queries:
      - api_version: deckhouse.io/v1alpha1
        kind: ModuleConfig
        name: control-plane-manager
      - kind: Secret
        namespace: kube-system
        name: audit-policy
      - api_version: deckhouse.io/v1alpha1
        kind: ClusterLogDestination
        label_selectors:
          - app.kubernetes.io/managed-by=auditops.deckhouse
  register: cluster
  no_log: true  # the Secret's data and the destinations' TLS keys are in the result

- name: Show the audit settings and the names of the destinations
  ansible.builtin.debug:
    msg:
      - "{{ cluster.version.server.kubernetes.gitVersion }}"
      - "{{ cluster.results[0].resources[0].spec.settings.apiserver | default('no ModuleConfig') }}"
      - "{{ cluster.results[2].resources | map(attribute='metadata.name') | list }}"
'''

RETURN = r'''
results:
  description:
    - One entry per query, in the order of O(queries).
    - C(query) - the query as asked (C(api_version) filled in, the selectors as lists).
    - C(api_found) - whether the API server serves the kind in that group version.
    - C(resources) - the objects found, as the API server returns them (an empty list when none); objects of a
      list answer are its C(items).
    - C(msg) - only when C(api_found) is false - which apiVersion and kind were not found.
  returned: success
  type: list
  elements: dict
  sample:
    - query: {api_version: deckhouse.io/v1alpha1, kind: ModuleConfig, namespace: null, name: control-plane-manager,
              label_selectors: [], field_selectors: []}
      api_found: true
      resources:
        - apiVersion: deckhouse.io/v1alpha1
          kind: ModuleConfig
          metadata: {name: control-plane-manager}
          spec: {version: 2, settings: {apiserver: {auditPolicyEnabled: true}}}
version:
  description:
    - With O(server_version) - the API server's version, C(server.kubernetes) being the C(GET /version) answer.
  returned: when O(server_version) is true and the API server answered
  type: dict
  sample: {"server": {"kubernetes": {"gitVersion": "v1.33.13", "major": "1", "minor": "33", "platform": "linux/amd64"}}}
connection:
  description: C(host), the API server URL the module talked to (or tried to).
  returned: when the connection options could be resolved
  type: dict
  sample: {"host": "https://127.0.0.1:6443"}
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "queries[1].kind", "message": "required, a non-empty string"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_connection import (
    client as k8s_client,
    connection_argument_spec,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_read import ReadError, parse_queries, read, server_version


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            queries=dict(type="list", elements="dict", required=True),
            server_version=dict(type="bool", default=False),
            request_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["request_timeout"] < 1:
        fail_json(module, "request_timeout: must be 1 or more, got %d" % params["request_timeout"])
    try:
        queries = parse_queries(params["queries"])
    except ReadError as exc:
        fail_json(module, exc)
    client = k8s_client(module)
    result = {"changed": False, "connection": {"host": client.conn.server}}
    try:
        if params["server_version"]:
            try:
                kubernetes = server_version(client, params["request_timeout"])
            except IOError as exc:
                fail_json(module, "cannot reach the API server %s: %s" % (client.conn.server, to_native(exc)), **result)
            result["version"] = {"server": {"kubernetes": kubernetes}}
        try:
            result["results"] = read(client, queries, params["request_timeout"])
        except ReadError as exc:
            fail_json(module, exc, **result)
    finally:
        client.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
