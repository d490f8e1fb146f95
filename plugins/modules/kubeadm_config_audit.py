#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: kubeadm_config_audit
short_description: Plan the audit settings in the kubeadm-config ConfigMap's ClusterConfiguration
version_added: 0.1.0
description:
  - C(kubeadm upgrade) and C(kubeadm join --control-plane) regenerate the kube-apiserver manifest from the
    C(ClusterConfiguration) in C(ConfigMap kube-system/kubeadm-config). This module computes that ConfigMap with the
    audit flags in C(apiServer.extraArgs) and the audit volumes in C(apiServer.extraVolumes), so the audit settings
    M(auditops.deckhouse.kubeadm_audit) put into the manifests survive those commands.
  - It does not talk to Kubernetes - pass the ConfigMap as M(kubernetes.core.k8s_info) read it and apply RV(object)
    with M(kubernetes.core.k8s) (V(state=patched)); RV(object) carries the C(resourceVersion) that was read, so a
    concurrent change makes the patch fail instead of being overwritten.
  - Handles C(kubeadm.k8s.io/v1beta3) (and v1beta2), where C(extraArgs) is a mapping, and C(v1beta4), where it is a list
    of C(name)/C(value). Every other C(audit-*) argument and the audit volumes this collection names are removed;
    other arguments and volumes are kept as they are.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML
extends_documentation_fragment:
  - auditops.deckhouse.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only computes; it changes nothing in any mode.
  diff_mode:
    support: full
    details:
      - The ClusterConfiguration text before and after.
  idempotent:
    support: full
    details:
      - The result's C(changed) tells whether patching RV(object) would change the ConfigMap; once it is applied, the same input
        plans no change.
options:
  existing:
    description:
      - C(ConfigMap kube-system/kubeadm-config) as M(kubernetes.core.k8s_info) returned it - its C(resources) list or the
        object. When it is empty (the cluster was not set up by kubeadm) the module plans nothing and warns.
    type: raw
    default: []
  state:
    description: V(present) sets O(extra_args) and O(extra_volumes); V(absent) removes every C(audit-*) argument and the audit volumes.
    type: str
    choices: [present, absent]
    default: present
  extra_args:
    description:
      - The audit flags, names without dashes, normally RV(auditops.deckhouse.kubeadm_audit#module:kubeadm_extra_args).
      - Only C(audit-*) names with single-line values are taken; any other argument (such as C(authorization-mode)) is
        refused, since it would overwrite or duplicate a security setting of the cluster.
    type: dict
    default: {}
  extra_volumes:
    description:
      - The volumes (C(name), C(hostPath), C(mountPath), C(readOnly), C(pathType)), normally
        RV(auditops.deckhouse.kubeadm_audit#module:kubeadm_extra_volumes).
    type: list
    elements: dict
    default: []
'''

EXAMPLES = r'''
- name: Read kubeadm-config
  kubernetes.core.k8s_info:
    kind: ConfigMap
    namespace: kube-system
    name: kubeadm-config
  register: kubeadm_config
  run_once: true

- name: Plan the ClusterConfiguration change
  auditops.deckhouse.kubeadm_config_audit:
    existing: "{{ kubeadm_config.resources }}"
    extra_args: "{{ audit.kubeadm_extra_args }}"
    extra_volumes: "{{ audit.kubeadm_extra_volumes }}"
  register: plan
  run_once: true

- name: Patch kubeadm-config
  kubernetes.core.k8s:
    state: patched
    merge_type: merge
    definition: "{{ plan.object }}"
  when: plan.changed
  run_once: true
'''

RETURN = r'''
object:
  description: The ConfigMap patch (name, namespace, C(resourceVersion), C(data.ClusterConfiguration)); null when nothing changes.
  returned: success
  type: dict
found:
  description: Whether the ConfigMap exists.
  returned: success
  type: bool
api_version:
  description: The kubeadm API version of the ClusterConfiguration.
  returned: when RV(found)
  type: str
  sample: v1beta4
cluster_configuration:
  description: The ClusterConfiguration text after the change.
  returned: when RV(found)
  type: str
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "existing.data.ClusterConfiguration", "message": "missing; the ConfigMap holds no ClusterConfiguration"}]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._kubeadm_audit import (
    KubeadmAuditError,
    check_extra_args,
    update_cluster_configuration,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import HAS_YAML, YAML_IMPORT_ERROR

NAME = "kubeadm-config"
NAMESPACE = "kube-system"
KEY = "ClusterConfiguration"
VOLUME_KEYS = ("name", "hostPath", "mountPath", "readOnly", "pathType")


def _existing(module):
    value = module.params["existing"]
    if isinstance(value, list):
        if len(value) > 1:
            fail_json(module, "existing: expected at most one ConfigMap, got %d" % len(value))
        value = value[0] if value else None
    if value in (None, {}):
        return None
    if not isinstance(value, dict) or value.get("kind", "ConfigMap") != "ConfigMap":
        fail_json(module, "existing: expected the ConfigMap as read by kubernetes.core.k8s_info")
    return value


def main():
    module = AnsibleModule(
        argument_spec=dict(
            existing=dict(type="raw", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            extra_args=dict(type="dict", default={}),
            extra_volumes=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        fail_json(module, missing_required_lib("PyYAML"), exception=to_native(YAML_IMPORT_ERROR))
    for index, volume in enumerate(module.params["extra_volumes"]):
        missing = [key for key in ("name", "hostPath", "mountPath") if not volume.get(key)]
        unknown = sorted(set(volume) - set(VOLUME_KEYS))
        if missing or unknown:
            fail_json(module, "extra_volumes[%d]: %s" % (index, "; ".join(
                (["missing %s" % ", ".join(missing)] if missing else []) + (["unknown %s" % ", ".join(unknown)] if unknown else []))))
    if module.params["state"] == "present":
        try:
            check_extra_args(module.params["extra_args"])
        except KubeadmAuditError as exc:
            fail_json(module, exc, "refused, nothing changed")
    existing = _existing(module)
    if existing is None:
        module.warn("ConfigMap %s/%s does not exist (not a kubeadm cluster?); nothing to update" % (NAMESPACE, NAME))
        module.exit_json(changed=False, object=None, found=False)
    data = existing.get("data") or {}
    text = data.get(KEY)
    if not isinstance(text, str):
        fail_json(module, "existing.data.%s: missing; the ConfigMap holds no ClusterConfiguration" % KEY)
    try:
        new_text, info = update_cluster_configuration(text, module.params["extra_args"], module.params["extra_volumes"],
                                                      module.params["state"])
    except KubeadmAuditError as exc:
        fail_json(module, exc, "existing")
    metadata = existing.get("metadata") or {}
    out = dict(changed=info["changed"], found=True, api_version=info["api_version"], cluster_configuration=new_text,
               object=None)
    if info["changed"]:
        out["object"] = {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": metadata.get("name", NAME), "namespace": metadata.get("namespace", NAMESPACE),
                                      "resourceVersion": metadata.get("resourceVersion")},
                         "data": {KEY: new_text}}
        if not out["object"]["metadata"]["resourceVersion"]:
            del out["object"]["metadata"]["resourceVersion"]
        if module._diff:
            header = "ConfigMap %s/%s data.%s" % (NAMESPACE, NAME, KEY)
            out["diff"] = {"before_header": header, "after_header": header, "before": text, "after": new_text}
    module.exit_json(**out)


if __name__ == "__main__":
    main()
