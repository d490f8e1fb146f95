#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: cpm_audit_settings
short_description: Plan the Deckhouse audit settings - ModuleConfig control-plane-manager and the audit-policy Secret
version_added: 0.1.0
description:
  - Computes what to server-side apply to C(ModuleConfig/control-plane-manager) and to C(Secret kube-system/audit-policy)
    so that Deckhouse audits the API server as asked, and predicts both objects afterwards. It writes nothing - pass
    the objects as M(kubernetes.core.k8s_info) read them (or let it read them itself, O(read)), and apply the results
    with M(auditops.deckhouse.k8s_objects) or M(kubernetes.core.k8s) (role C(auditops.deckhouse.control_plane_audit)
    does both).
  - Only the keys this module owns are sent - C(spec.settings.apiserver.auditPolicyEnabled),
    C(basicAuditPolicyEnabled), C(auditLog.output) and C(auditLog.path). Other settings and the fields of other field
    managers are never part of the applied object. C(spec.version) is sent as the settings version of the
    O(settings_schema) schema (V(3) for V(latest), V(1) for V(2025-01)) when the ModuleConfig is created, and
    afterwards only while this field manager owns it (leaving it out would make the API server remove it).
  - The settings that would result are validated against the control-plane-manager settings schema (O(settings_schema)),
    the way the Deckhouse webhook does - settings are converted from C(spec.version) to the schema's version first, and
    keys the schema does not define are refused. Any error fails the module and nothing is to be applied.
  - A key another field manager set to a different value is a conflict; the module fails naming the key and the
    manager unless O(force_conflicts=true).
  - The policy (O(policy_yaml)) is checked by the audit policy engine in strict mode first; a policy kube-apiserver
    would refuse or silently change fails the module. The Secret is rewritten only when its decoded text differs.
  - With O(state=absent), C(auditPolicyEnabled) is set to V(false), the other owned keys are left out (so they return to
    the module defaults unless another field manager set them) and the Secret is to be deleted.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML for readable diffs (JSON is used without it)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.k8s_connection
attributes:
  check_mode:
    support: full
    details:
      - The module only computes (and, with O(read), reads); it changes nothing in any mode.
  diff_mode:
    support: full
    details:
      - Two entries - the ModuleConfig C(spec) (version and settings) before and after, and the decoded
        C(audit-policy.yaml) of the Secret before and after (not Base64).
  idempotent:
    support: full
    details:
      - The result's C(changed) tells whether applying the returned objects would change the cluster; once they are applied, the
        same input plans no change.
options:
  read:
    description:
      - Read C(ModuleConfig/control-plane-manager) and C(Secret kube-system/audit-policy) from the cluster, over the
        connection options (the module is in the C(auditops.deckhouse.k8s) action group), instead of taking
        O(existing) and O(existing_secret); RV(api_found) tells whether the cluster serves C(ModuleConfig).
      - Two requests (three when the ModuleConfig does not exist), without the C(kubernetes) client library.
        Kubeconfig users that authenticate through an C(exec) or C(auth-provider) plugin are refused.
      - The connection options are used only with O(read=true).
    type: bool
    default: false
    version_added: 0.3.0
  existing:
    description:
      - C(ModuleConfig/control-plane-manager) as M(kubernetes.core.k8s_info) returned it - its C(resources) list, the
        object itself, or an empty list or mapping when it does not exist (an empty list when omitted). Not with
        O(read=true).
      - C(metadata.managedFields) must be included (k8s_info returns it); field ownership is read from it.
      - A C(spec.version) newer than the O(settings_schema) schema's version is refused (where the audit keys
        belong in it is unknown); O(settings_schema=none) merges the keys without a schema check.
    type: raw
  existing_secret:
    description:
      - C(Secret kube-system/audit-policy) as M(kubernetes.core.k8s_info) returned it, in the same forms as O(existing).
        An empty list when omitted; not with O(read=true).
    type: raw
  state:
    description:
      - V(present) - set the owned keys and put O(policy_yaml) into the Secret.
      - V(absent) - set C(auditPolicyEnabled) to V(false), release the other owned keys and delete the Secret.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description: Value of C(auditPolicyEnabled) - whether Deckhouse adds the rules of the Secret to the audit policy.
    type: bool
    default: true
  basic_policy:
    description: Value of C(basicAuditPolicyEnabled) - whether Deckhouse's built-in basic rules come first.
    type: bool
    default: true
  log_output:
    description: Value of C(auditLog.output) - V(File) (on the masters) or V(Stdout) (the kube-apiserver container's output).
    type: str
    choices: [File, Stdout]
    default: File
  log_path:
    description:
      - Value of C(auditLog.path), the directory on the masters for V(File) output. Deckhouse uses
        C(/var/log/kube-audit) when it is not set.
      - An absolute directory without C(.), C(..) or empty segments, outside the node's system directories
        (C(/etc), C(/usr), C(/proc), C(/var/lib/kubelet) and the like); it becomes a read-write hostPath of
        kube-apiserver on every master. Deckhouse's own schema lets those through.
      - Left out of the applied object when empty.
    type: str
  policy_yaml:
    description:
      - The audit policy to put into the Secret, normally RV(auditops.deckhouse.audit_policy#module:policy_yaml).
      - It is checked again here (strict); the normalized text is what the Secret receives.
      - When omitted with O(state=present), the Secret is left alone.
    type: str
  kubernetes_version:
    description:
      - Kubernetes version of the control plane, C(1.X) or C(1.X.Y), for the policy check. The engine's default when
        omitted.
    type: str
  settings_schema:
    description:
      - Which control-plane-manager settings schema to validate against. V(latest) is the 2025-2026 schema (settings
        version 3), V(2025-01) the schema of the DKP 1.67/1.68 era (settings version 1). V(none) skips the schema check
        (for Deckhouse versions whose schema knows settings neither snapshot has).
    type: str
    choices: [latest, '2025-01', none]
    default: latest
  field_manager:
    description: The server-side apply field manager the objects will be applied with.
    type: str
    default: auditops-deckhouse
  force_conflicts:
    description:
      - Take over owned keys another field manager set to a different value (apply with C(force_conflicts)).
      - When false, such keys fail the module.
    type: bool
    default: false
notes:
  - Deckhouse renders the audit flags only when its policy is non-empty; with C(basicAuditPolicyEnabled=false) and
    no Secret rules it turns auditing off.
seealso:
  - module: auditops.deckhouse.audit_policy
  - module: auditops.deckhouse.k8s_objects
  - module: kubernetes.core.k8s
'''

EXAMPLES = r'''
- name: Read the ModuleConfig and the Secret
  kubernetes.core.k8s_info:
    api_version: deckhouse.io/v1alpha1
    kind: ModuleConfig
    name: control-plane-manager
  register: mc

- name: Read the Secret
  kubernetes.core.k8s_info:
    kind: Secret
    namespace: kube-system
    name: audit-policy
  register: secret

- name: Validate the policy
  auditops.deckhouse.audit_policy:
    preset: security
    basic_policy: false
  register: policy

- name: Plan the change
  auditops.deckhouse.cpm_audit_settings:
    existing: "{{ mc.resources }}"
    existing_secret: "{{ secret.resources }}"
    basic_policy: false
    log_output: Stdout
    policy_yaml: "{{ policy.policy_yaml }}"
  register: plan

- name: Apply the Secret
  kubernetes.core.k8s:
    definition: "{{ plan.secret.object }}"
    apply: true
    server_side_apply:
      field_manager: auditops-deckhouse
  when: plan.secret.action == 'apply'

- name: Apply the ModuleConfig
  kubernetes.core.k8s:
    definition: "{{ plan.module_config.object }}"
    apply: true
    server_side_apply:
      field_manager: auditops-deckhouse
  when: plan.module_config.action == 'apply'

- name: Read both objects from the cluster and plan, in one step
  auditops.deckhouse.cpm_audit_settings:
    read: true
    kubeconfig: /etc/kubernetes/admin.conf
    policy_yaml: "{{ policy.policy_yaml }}"
  register: plan

- name: Apply the Secret, then the ModuleConfig, each read back
  auditops.deckhouse.k8s_objects:
    kubeconfig: /etc/kubernetes/admin.conf
    definition: >-
      {{ ([plan.secret.object] if plan.secret.action == 'apply' else [])
         + ([plan.module_config.object] if plan.module_config.action == 'apply' else []) }}
  when: plan.changed
'''

RETURN = r'''
api_found:
  description: Whether the cluster serves C(ModuleConfig) (C(deckhouse.io/v1alpha1)); false means it is not Deckhouse.
  returned: with O(read=true)
  type: bool
  version_added: 0.3.0
module_config:
  description: The plan for C(ModuleConfig/control-plane-manager).
  returned: success
  type: dict
  contains:
    action:
      description:
        - V(apply) - server-side apply RV(module_config.object); V(none) - nothing to send.
        - V(apply) with RV(module_config.changed=false) only takes ownership of keys that already hold the wanted
          values.
      type: str
      sample: apply
    object:
      description: The object to apply (only the owned keys), null when there is nothing to send.
      type: dict
      sample: {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "control-plane-manager"},
               "spec": {"version": 3, "settings": {"apiserver": {"auditPolicyEnabled": true,
                        "basicAuditPolicyEnabled": true, "auditLog": {"output": "File"}}}}}
    create:
      description: Whether the ModuleConfig does not exist yet.
      type: bool
    changed:
      description: Whether a value in C(spec) would change.
      type: bool
    before:
      description: C(spec.version) and C(spec.settings) now.
      type: dict
    after:
      description: C(spec.version) and C(spec.settings) predicted after the apply.
      type: dict
    changes:
      description: Each owned key that changes, with C(path), C(before), C(after) and C(action) (add, change, remove).
      type: list
      elements: dict
      sample: [{"path": "spec.settings.apiserver.auditPolicyEnabled", "before": false, "after": true, "action": "change"}]
    released:
      description: Owned keys that only this field manager had set and that the apply removes.
      type: list
      elements: str
    conflicts:
      description: Owned keys another field manager set to a different value, with C(managers).
      type: list
      elements: dict
secret:
  description: The plan for C(Secret kube-system/audit-policy).
  returned: success
  type: dict
  contains:
    action:
      description: V(apply), V(delete) or V(none).
      type: str
      sample: apply
    object:
      description: The Secret to apply (only C(data.audit-policy.yaml) and a C(app.kubernetes.io/managed-by) label).
      type: dict
    changed:
      description: Whether the Secret would change.
      type: bool
    exists:
      description: Whether the Secret exists now.
      type: bool
    before_policy:
      description: The decoded C(audit-policy.yaml) now, null when there is none.
      type: str
    after_policy:
      description: The decoded C(audit-policy.yaml) after the change, null when the Secret is deleted.
      type: str
    conflicts:
      description: The key if another field manager set it, with C(managers).
      type: list
      elements: dict
rollback:
  description:
    - How to put the Secret back as it was if the API server does not come back after the change -
      C(action) V(apply) (apply C(object) with the same field manager and O(force_conflicts)), V(delete) (the
      Secret did not exist) or V(none).
  returned: success
  type: dict
  sample: {"action": "delete", "object": {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "audit-policy", "namespace": "kube-system"}}}
rollout:
  description:
    - C(expected) - whether the change alters what Deckhouse renders on the masters (the audit policy - basic rules,
      the Secret's rules while C(auditPolicyEnabled) - or the log flags), so every master's kube-apiserver restarts
      with a new C(control-plane-manager.deckhouse.io/checksum); C(reason) says why. A Secret change while
      C(auditPolicyEnabled) is false, or one that only changes comments, renders nothing new.
  returned: success
  type: dict
  version_added: 0.2.0
  sample: {"expected": true, "reason": "the rendered audit policy change"}
policy_findings:
  description: Findings of the policy check (see RV(auditops.deckhouse.audit_policy#module:findings)); empty without O(policy_yaml).
  returned: success
  type: list
  elements: dict
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "spec.settings.apiserver.auditLog.path", "message": "Invalid value: \"/var/log/\": must match '^[a-zA-Z0-9_/.-]+[a-zA-Z0-9_.-]$'"}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.auditops.deckhouse.plugins.module_utils import _k8s_apply as k8s
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import RequestError
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import Error, fail_json, split
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_connection import (
    client as k8s_client,
    connection_argument_spec,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_settings import (
    API_VERSION,
    FIELD_MANAGER,
    KIND,
    MODULE_NAME,
    OUTPUTS,
    PROFILES,
    SECRET_NAME,
    SECRET_NAMESPACE,
    STATES,
    SettingsError,
    diff,
    plan_module_config,
    plan_secret,
    rollout_expected,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy


def _check_policy(module, text):
    """The normalized policy text and the findings; fails the module when the policy is refused."""
    params = module.params
    try:
        version = params["kubernetes_version"] or _audit_policy.DEFAULT_KUBERNETES_VERSION
        result = _audit_policy.check(text, version, "deckhouse", params["basic_policy"])
    except _audit_policy.PolicyError as exc:
        fail_json(module, Error([("policy_yaml.%s" % exc.path if exc.path else "policy_yaml", exc.message)]))
    findings = result.findings
    if result.blocking or not result.apiserver_accepts:
        fail_json(module, _audit_policy.refusal(result.blocking, result.apiserver_error or "refused", "policy_yaml"),
                  "policy_yaml refused, nothing changed", policy_findings=findings)
    return result.policy_yaml, findings


def _read(module):
    """``(ModuleConfig or [], Secret or [], api_found)`` as the cluster holds them; fails the module when they cannot
    be read."""
    client = k8s_client(module, plugins="fail")

    def api(method, path, query=None, body=None, content_type=None):
        return client.request(method, path, query=query, body=body, content_type=content_type, timeout=60)
    try:
        mc = k8s.read(api, k8s.object_path(API_VERSION, "moduleconfigs", MODULE_NAME), "ModuleConfig " + MODULE_NAME)
        # A missing ModuleConfig, or a cluster that does not serve the kind: discovery tells them apart.
        api_found = mc is not None or k8s.Discovery(api).resource(API_VERSION, KIND) is not None
        secret = k8s.read(api, k8s.object_path("v1", "secrets", SECRET_NAME, SECRET_NAMESPACE),
                          "Secret %s/%s" % (SECRET_NAMESPACE, SECRET_NAME))
    except (k8s.ApplyError, RequestError) as exc:
        fail_json(module, exc, "read: cannot read the objects, nothing changed")
    finally:
        client.close()
    return mc or [], secret or [], api_found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            read=dict(type="bool", default=False),
            existing=dict(type="raw"),
            existing_secret=dict(type="raw", no_log=False),
            state=dict(type="str", choices=list(STATES), default="present"),
            enabled=dict(type="bool", default=True),
            basic_policy=dict(type="bool", default=True),
            log_output=dict(type="str", choices=list(OUTPUTS), default="File"),
            log_path=dict(type="str"),
            policy_yaml=dict(type="str"),
            kubernetes_version=dict(type="str"),
            settings_schema=dict(type="str", choices=list(PROFILES), default="latest"),
            field_manager=dict(type="str", default=FIELD_MANAGER),
            force_conflicts=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    given = [name for name in ("existing", "existing_secret") if params[name] is not None]
    if params["read"] and given:
        fail_json(module, "%s: not with read=true (the module reads the objects itself)" % given[0])
    extra = {}
    if params["read"]:
        existing, existing_secret, extra["api_found"] = _read(module)
    else:
        existing = [] if params["existing"] is None else params["existing"]
        existing_secret = [] if params["existing_secret"] is None else params["existing_secret"]
    policy_yaml, findings = None, []
    if params["state"] == "present" and params["policy_yaml"] is not None:
        policy_yaml, findings = _check_policy(module, params["policy_yaml"])
    try:
        mc_plan = plan_module_config(existing, params["state"], params["enabled"], params["basic_policy"],
                                     params["log_output"], params["log_path"] or None, params["field_manager"],
                                     params["settings_schema"], params["force_conflicts"])
        secret_plan = plan_secret(existing_secret, params["state"], policy_yaml, params["field_manager"],
                                  params["force_conflicts"])
    except SettingsError as exc:
        fail_json(module, exc, "input refused, nothing changed")
    for warning in mc_plan.pop("warnings") + secret_plan.pop("warnings"):
        module.warn(warning)
    errors = mc_plan.pop("errors") + secret_plan.pop("errors")
    rollback = secret_plan.pop("rollback")
    expected, reason = rollout_expected(mc_plan, secret_plan)
    out = dict(changed=mc_plan["changed"] or secret_plan["changed"], module_config=mc_plan, secret=secret_plan,
               rollback=rollback, policy_findings=findings, rollout={"expected": expected, "reason": reason}, **extra)
    if errors:
        # Nothing is applied after a refusal: changed says so (the plan stays in the result as context).
        out["changed"] = False
        fail_json(module, Error([split(text) for text in errors]), "refused, nothing changed", **out)
    if module._diff and out["changed"]:
        out["diff"] = diff(mc_plan, secret_plan)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
