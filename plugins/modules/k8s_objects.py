#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_objects
short_description: Server-side apply or delete Kubernetes objects, each write read back
version_added: 0.3.0
description:
  - Makes the cluster hold the objects of O(definition) (O(state=present)), by server-side apply with the field
    manager O(field_manager), or makes them absent (O(state=absent)). The objects are handled one after the other
    in the order given; the first one that fails stops the module and names the object.
  - An object whose live copy already holds every applied value, and whose applied field set of O(field_manager) is
    exactly the one of the definition, is not sent at all. An apply the API server answers without a new
    C(resourceVersion) counts as unchanged.
  - Every written object is read back; the module fails unless the API server holds every applied value. A deleted
    object must be gone, or carry a C(deletionTimestamp) (finalizers still running), when it is read back.
  - Talks to kube-apiserver with the Python standard library (no C(kubernetes) client library), over the connection
    options of M(kubernetes.core.k8s) (same names, aliases and C(K8S_AUTH_*) environment variables); the module is in
    the C(auditops.deckhouse.k8s) action group. Kubeconfig users that authenticate through an C(exec) or
    C(auth-provider) plugin, and the in-cluster service account, are not supported - the module fails naming
    O(kubeconfig) or O(host) instead of asking anonymously.
  - Unknown fields are errors (the apply is sent with C(fieldValidation=Strict)).
  - The values of C(Secret) objects (C(data), C(stringData)) are masked in RV(results), RV(result) and the diff.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML to read a kubeconfig and a YAML O(definition)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.k8s_connection
attributes:
  check_mode:
    support: full
    details:
      - Applies and deletes are sent as server dry runs (C(dryRun=All)); the API server validates them and nothing is
        stored.
  diff_mode:
    support: full
    details:
      - One entry per object created, updated or deleted - what the apply sets (labels, annotations and the body,
        without server metadata and status) before and after; Secret values masked.
  idempotent:
    support: full
options:
  definition:
    description:
      - The objects - one mapping, a list of mappings, or YAML text with one or more documents (as
        M(kubernetes.core.k8s) takes them). Each needs C(apiVersion), C(kind) and C(metadata.name); namespaced
        kinds need C(metadata.namespace) or O(namespace).
      - With O(state=present) the object is the applied configuration - only the fields this field manager owns.
      - With O(state=absent) only C(apiVersion), C(kind), C(metadata.name) and C(metadata.namespace) are read.
      - Either O(definition) or O(kind) and O(name).
    type: raw
    aliases: [resource_definition]
  api_version:
    description: C(apiVersion) of the one object named by O(kind) and O(name) (without O(definition)).
    type: str
    default: v1
  kind:
    description: C(kind) of the one object to delete (without O(definition); O(state=absent) only).
    type: str
  name:
    description: C(metadata.name) of the one object to delete (without O(definition); O(state=absent) only).
    type: str
  namespace:
    description: The namespace of namespaced objects whose definition names none.
    type: str
  state:
    description:
      - V(present) - server-side apply each object.
      - V(absent) - delete each object; an object (or a kind the cluster does not serve) that is not there is
        unchanged.
    type: str
    choices: [present, absent]
    default: present
  field_manager:
    description: The server-side apply field manager (C(fieldManager)).
    type: str
    default: auditops-deckhouse
  force_conflicts:
    description:
      - Take over the fields other field managers set to different values (C(force=true)). Without it such a
        conflict fails the module, naming the fields and their managers as the API server does.
    type: bool
    default: false
  request_timeout:
    description: Seconds to wait for each answer of the API server.
    type: int
    default: 60
notes:
  - Every list in an applied object is taken as atomic by the up-to-date check; for a list the schema declares a map
    or set (C(x-kubernetes-list-type)) the apply is sent, and reported unchanged when the API server keeps the
    C(resourceVersion).
  - Results and diffs show Secret values as C(********), but O(definition) itself is echoed, as given, in the task's
    C(invocation) at C(-vvv) (as with M(kubernetes.core.k8s)); set C(no_log) on a task whose objects carry
    credentials.
seealso:
  - module: kubernetes.core.k8s
  - module: auditops.deckhouse.cpm_audit_settings
'''

EXAMPLES = r'''
- name: Apply the audit policy Secret, taking over the key from another manager
  auditops.deckhouse.k8s_objects:
    definition:
      apiVersion: v1
      kind: Secret
      metadata:
        name: audit-policy
        namespace: kube-system
        labels:
          app.kubernetes.io/managed-by: auditops.deckhouse
      data:
        audit-policy.yaml: "{{ policy_yaml | b64encode }}"
    field_manager: auditops-deckhouse
    force_conflicts: true

- name: Apply two objects from YAML, in this order
  auditops.deckhouse.k8s_objects:
    kubeconfig: /etc/kubernetes/admin.conf
    definition: "{{ lookup('ansible.builtin.file', 'audit-settings.yml') }}"

- name: Delete the Secret
  auditops.deckhouse.k8s_objects:
    state: absent
    kind: Secret
    namespace: kube-system
    name: audit-policy
'''

RETURN = r'''
results:
  description: One entry per object, in the order of O(definition).
  returned: success and failure (the objects handled before the failure)
  type: list
  elements: dict
  contains:
    api_version:
      description: C(apiVersion) of the object.
      type: str
      sample: v1
    kind:
      description: C(kind) of the object.
      type: str
      sample: Secret
    name:
      description: C(metadata.name).
      type: str
      sample: audit-policy
    namespace:
      description: C(metadata.namespace), null for cluster-scoped objects.
      type: str
      sample: kube-system
    action:
      description:
        - V(create), V(update) or V(unchanged) (O(state=present)); V(delete) or V(absent) (O(state=absent)).
        - In check mode, what the dry run showed would happen.
      type: str
      sample: update
    changed:
      description: Whether this object changed (or would change, in check mode).
      type: bool
    object:
      description:
        - The object as the API server holds it after the write (read back; the dry run's answer in check mode; the
          live object when nothing was sent), Secret values masked. Null for a deleted or absent object.
      type: dict
result:
  description: With exactly one object, RV(results[0].object), as M(kubernetes.core.k8s) returns it (Secret values
    masked).
  returned: success, with one object
  type: dict
  sample: {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
           "data": {"audit-policy.yaml": "********"}}
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "definition[1].apiVersion", "message": "required (a non-empty string)"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils import _k8s_apply as k8s
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import RequestError
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import Error, fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_connection import (
    client as k8s_client,
    connection_argument_spec,
)

try:
    import yaml
    HAS_YAML = True
except ImportError:
    yaml = None
    HAS_YAML = False


def _definitions(module):
    """The objects to handle, as (field path, object); fails the module naming the field."""
    params = module.params
    definition = params["definition"]
    if definition is None:
        if not params["kind"] or not params["name"]:
            fail_json(module, "definition: give the objects, or kind and name of the one to delete")
        if params["state"] != "absent":
            fail_json(module, "definition: state present applies objects; kind and name alone only delete one")
        metadata = {"name": params["name"]}
        if params["namespace"]:
            metadata["namespace"] = params["namespace"]
        return [("", {"apiVersion": params["api_version"], "kind": params["kind"], "metadata": metadata})]
    if params["kind"] or params["name"]:
        fail_json(module, "definition: give either definition or kind and name, not both")
    if isinstance(definition, str):
        if not HAS_YAML:
            fail_json(module, "definition: PyYAML is required to read YAML text")
        try:
            definition = [doc for doc in yaml.safe_load_all(definition) if doc is not None]
        except yaml.YAMLError as exc:
            fail_json(module, "definition: not valid YAML: %s" % to_native(exc))
    items = definition if isinstance(definition, list) else [definition]
    out, problems = [], []
    for index, obj in enumerate(items):
        path = "definition[%d]" % index if isinstance(definition, list) else "definition"
        if not isinstance(obj, dict):
            problems.append((path, "expected a mapping (a Kubernetes object), got %s" % type(obj).__name__))
            continue
        metadata = obj.get("metadata")
        for field, value in (("apiVersion", obj.get("apiVersion")), ("kind", obj.get("kind")),
                             ("metadata.name", metadata.get("name") if isinstance(metadata, dict) else None)):
            if not isinstance(value, str) or not value:
                problems.append(("%s.%s" % (path, field), "required (a non-empty string)"))
        out.append((path, obj))
    if not out and not problems:
        problems.append(("definition", "holds no object"))
    if problems:
        fail_json(module, Error(problems), "definition refused, nothing sent")
    return out


def _api(client, timeout):
    def api(method, path, query=None, body=None, content_type=None):
        try:
            return client.request(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        except RequestError as exc:
            raise k8s.ApplyError(["%s %s: no answer from the API server: %s" % (method, path, exc)])
    return api


def _handle(api, discovery, path, obj, params, check_mode):
    """One object: its result entry and diff (None when unchanged)."""
    metadata = obj["metadata"]
    api_version, kind, name = obj["apiVersion"], obj["kind"], metadata["name"]
    entry = {"api_version": api_version, "kind": kind, "name": name, "namespace": None, "action": None,
             "changed": False, "object": None}
    served = discovery.resource(api_version, kind)
    if served is None:
        if params["state"] == "absent":
            entry["action"] = "absent"
            return entry, None
        raise k8s.ApplyError(["%s: the cluster serves no %s in %s" % ((path + ".kind") if path else "kind", kind, api_version)])
    plural, namespaced = served
    namespace = None
    if namespaced:
        namespace = metadata.get("namespace") or params["namespace"]
        if not namespace:
            raise k8s.ApplyError(["%s: %s is namespaced; give its namespace (or the namespace option)"
                                  % ((path + ".metadata.namespace") if path else "namespace", kind)])
        if params["state"] == "present" and not metadata.get("namespace"):
            obj = dict(obj, metadata=dict(metadata, namespace=namespace))
    entry["namespace"] = namespace
    what = "%s %s%s" % (kind, namespace + "/" if namespace else "", name)
    object_path = k8s.object_path(api_version, plural, name, namespace)
    live = k8s.read(api, object_path, what)
    if params["state"] == "present":
        action, stored = k8s.apply_object(api, obj, object_path, live, params["field_manager"],
                                          force=params["force_conflicts"], check_mode=check_mode, what=what)
        entry.update(action=action, object=k8s.mask_secret(stored))
        after = stored
    else:
        action = k8s.delete_object(api, object_path, live, check_mode=check_mode, what=what)
        entry["action"] = action
        after = None
    entry["changed"] = action not in ("unchanged", "absent")
    if not entry["changed"]:
        return entry, None
    return entry, {"before": k8s.shown(live), "after": k8s.shown(after), "before_header": what, "after_header": what}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            definition=dict(type="raw", aliases=["resource_definition"]),
            api_version=dict(type="str", default="v1"),
            kind=dict(type="str"),
            name=dict(type="str"),
            namespace=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            field_manager=dict(type="str", default="auditops-deckhouse"),
            force_conflicts=dict(type="bool", default=False),
            request_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["request_timeout"] < 1:
        fail_json(module, "request_timeout: must be 1 or more, got %d" % params["request_timeout"])
    if not params["field_manager"]:
        fail_json(module, "field_manager: must not be empty")
    objects = _definitions(module)
    client = k8s_client(module, plugins="fail")
    api = _api(client, params["request_timeout"])
    discovery = k8s.Discovery(api)
    results, diffs = [], []
    try:
        for path, obj in objects:
            try:
                entry, diff = _handle(api, discovery, path, obj, params, module.check_mode)
            except k8s.ApplyError as exc:
                # Each problem names the object it is about.
                raise k8s.ApplyError([text if text.startswith(path) else "%s: %s" % (path, text)
                                      for text in exc.errors] if path else exc.errors)
            results.append(entry)
            if diff:
                diffs.append(diff)
    except k8s.ApplyError as exc:
        changed = any(entry["changed"] for entry in results)
        fail_json(module, exc, "stopped, nothing further sent" if results else None, changed=changed, results=results)
    finally:
        client.close()
    out = dict(changed=any(entry["changed"] for entry in results), results=results)
    if len(results) == 1:
        out["result"] = results[0]["object"]
    if module._diff:
        out["diff"] = diffs
    module.exit_json(**out)


if __name__ == "__main__":
    main()
