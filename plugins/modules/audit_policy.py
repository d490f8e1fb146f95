#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: audit_policy
short_description: Check, lint and render a Kubernetes audit policy exactly as kube-apiserver reads it
version_added: 0.1.0
description:
  - Reads an audit policy (O(policy), O(src) or a built-in O(preset)) the way kube-apiserver reads
    C(--audit-policy-file) and predicts whether kube-apiserver O(kubernetes_version) would start with it
    (RV(apiserver_accepts)). A policy it would refuse stops the API server, so this module refuses it
    first, with the field path and the message kube-apiserver would print (for example that
    C(rules[2].level) is a required value).
  - Reproduces the loader - only C(audit.k8s.io/v1), C(kind) may be omitted, strict decoding first and
    on unknown or duplicate fields a lenient fallback that drops them, case-sensitive field names,
    fatal type mismatches, YAML 1.1 scalars as Go reads them (C(y), C(no), C(on) are booleans), a
    document starting with C({) read as JSON - and C(ValidatePolicy) for the chosen version (the API group
    V(*) is valid only from 1.36).
  - Lints what kube-apiserver accepts but is almost surely wrong (RV(findings)) - dropped fields, verbs
    not in lower case, rules shadowed by earlier ones, credentials logged with their bodies, exec and
    attach audited without the C(ResponseStarted) stage, resources listed under the wrong API group,
    no catch-all rule.
  - With O(target=deckhouse), models how Deckhouse builds the policy it deploys from the
    C(kube-system/audit-policy) Secret - only C(rules) and C(omitStages) are kept and, with
    O(basic_policy=true), the user's rules come after Deckhouse's basic rules - and reports user rules that
    basic rules shadow (RV(shadowed_rules)) and the effective policy (RV(effective_policy)).
  - Returns the normalized policy as YAML and Base64 (what the Deckhouse Secret needs) and optionally writes
    the YAML to O(dest). It does not talk to Kubernetes.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML on the controller or target host when the policy is YAML text
extends_documentation_fragment:
  - auditops.deckhouse.attributes
attributes:
  check_mode:
    support: full
    details:
      - Without O(dest) nothing is written in any mode.
  diff_mode:
    support: full
    details:
      - The diff is the O(dest) file before and after.
  idempotent:
    support: full
    details:
      - O(dest) is rewritten only when its content differs from RV(policy_yaml).
options:
  policy:
    description:
      - The policy as a mapping, or as YAML or JSON text.
      - Text is read exactly as kube-apiserver reads a policy file, including duplicate keys, YAML 1.1
        scalars and the JSON detection. A mapping has already been parsed by Ansible, so duplicate keys are
        no longer visible.
      - Mutually exclusive with O(src) and O(preset).
      - At most 4 MiB of text (or of JSON, for a mapping), checked before parsing; with O(target=deckhouse) the
        normalized policy must also fit the 1 MiB a Secret can hold.
    type: raw
  src:
    description:
      - Path of a policy file on the host the module runs on; at most 4 MiB, as for O(policy).
      - Mutually exclusive with O(policy) and O(preset).
    type: path
  preset:
    description:
      - A built-in policy. V(minimal) logs every request at C(Metadata) without the C(RequestReceived) stage.
      - V(security) logs the security-sensitive events - pod writes with their request bodies (image
        references), exec, attach, port-forward and ephemeral containers (C(ResponseStarted) kept), service
        accounts, roles and bindings with bodies - keeps secrets and tokens at C(Metadata), drops noise, and
        does not audit reads by ordinary users.
      - V(comprehensive) follows the GKE policy - noise dropped, credentials at C(Metadata), reads at
        C(Request), writes at C(RequestResponse) in the built-in API groups, C(Metadata) for the rest.
      - Mutually exclusive with O(policy) and O(src).
    type: str
    choices: [minimal, security, comprehensive]
  kubernetes_version:
    description:
      - The kube-apiserver version whose rules apply, C(1.X) or C(1.X.Y); 1.24 and later are modelled.
    type: str
    default: '1.33'
  target:
    description:
      - V(deckhouse) - the policy goes into the Deckhouse Secret and Deckhouse composes the effective policy.
      - V(kubeadm) - the policy file is given to kube-apiserver as it is.
    type: str
    choices: [deckhouse, kubeadm]
    default: deckhouse
  basic_policy:
    description:
      - With O(target=deckhouse), whether the control-plane-manager setting C(basicAuditPolicyEnabled) is on,
        so Deckhouse's basic rules come before the policy's rules.
      - Ignored with O(target=kubeadm).
    type: bool
    default: true
  deckhouse_release:
    description:
      - With O(target=deckhouse), the DKP release whose basic rules to model (C(1.68), C(v1.75.3)), or a rule layout
        by name - V(current) (DKP 1.74 and later, the rules of C(docs/AUDIT-RULES.md) with the final V(None) rule for
        C(system:authenticated) and the V(Metadata) catch-all) or V(2025-01) (DKP 1.68 and earlier, no final rules).
      - Releases 1.69 to 1.73 are refused (their layout is not modelled); name the layout instead.
      - Empty - V(current).
    type: str
    default: ''
    version_added: 0.2.0
  strict:
    description:
      - V(true) - fail when kube-apiserver would refuse the policy or would silently change it (unknown or
        duplicate fields its lenient fallback drops). Other findings are warnings.
      - V(false) - fail only when kube-apiserver would refuse to start; dropped fields are warnings.
    type: bool
    default: true
  dest:
    description:
      - Write RV(policy_yaml) to this file, atomically (a temporary file in the same directory, then a rename).
      - A new file gets mode C(0600); an existing file keeps its mode.
      - Nothing is written when the policy is refused.
    type: path
notes:
  - The apiserver verdict was checked against a real kube-apiserver 1.33 over a corpus of policies
    (collection tests). Other versions follow the upstream source of those versions.
seealso:
  - name: Kubernetes auditing
    description: Audit policy reference.
    link: https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/
'''

EXAMPLES = r'''
- name: Check a policy for Deckhouse and get the Secret's content
  auditops.deckhouse.audit_policy:
    policy:
      apiVersion: audit.k8s.io/v1
      kind: Policy
      omitStages: [RequestReceived]
      rules:
        - level: Metadata
          resources:
            - group: ""
              resources: [secrets]
        - level: Request
          verbs: [create, update, patch, delete]
          resources:
            - group: ""
              resources: [pods]
        - level: Metadata
  register: audit

- name: Put it into the Secret Deckhouse reads
  kubernetes.core.k8s:
    definition:
      apiVersion: v1
      kind: Secret
      metadata:
        name: audit-policy
        namespace: kube-system
      data:
        audit-policy.yaml: "{{ audit.policy_base64 }}"

- name: Validate a file from a repository, accepting dropped fields with a warning
  auditops.deckhouse.audit_policy:
    src: files/audit-policy.yaml
    strict: false
    target: kubeadm

- name: Write the security preset for a kubeadm control plane
  auditops.deckhouse.audit_policy:
    preset: security
    target: kubeadm
    kubernetes_version: 1.33.13
    dest: /etc/kubernetes/audit-policy.yaml

- name: See which of my rules Deckhouse's basic rules make useless
  auditops.deckhouse.audit_policy:
    src: files/audit-policy.yaml
  register: composed

- name: Show them
  ansible.builtin.debug:
    var: composed.shadowed_rules
'''

RETURN = r'''
apiserver_accepts:
  description:
    - Whether kube-apiserver O(kubernetes_version) would start with the policy as given. Always true when
      the module succeeds; returned false with the failure.
  returned: always
  type: bool
  sample: true
apiserver_error:
  description: The error kube-apiserver would exit with (after C(loading audit policy file:)), null when it starts.
  returned: always
  type: str
  sample: 'rules[0].level: Unsupported value: "metadata": supported values: "None", "Metadata", "Request", "RequestResponse"'
lenient:
  description: Whether kube-apiserver would only accept the policy through its lenient fallback (fields dropped).
  returned: always
  type: bool
  sample: false
policy:
  description:
    - The policy as kube-apiserver decodes it (dropped fields removed, C(apiVersion) and C(kind) set).
  returned: success
  type: dict
  sample: {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
policy_yaml:
  description: RV(policy) as YAML, the content to deploy (what O(dest) receives).
  returned: success
  type: str
  sample: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
policy_base64:
  description: RV(policy_yaml) in Base64, the C(audit-policy.yaml) value of the Deckhouse Secret's C(data).
  returned: success
  type: str
  sample: YXBpVmVyc2lvbjogYXVkaXQuazhzLmlvL3YxCmtpbmQ6IFBvbGljeQpydWxlczoKLSBsZXZlbDogTWV0YWRhdGEK
findings:
  description:
    - Everything found, each with C(severity) (C(error) - kube-apiserver refuses; C(warning); C(info)),
      C(code), C(path) (the field, such as C(rules[2].verbs[0])) and C(message).
    - Codes C(unknown-field) and C(duplicate-key) mean kube-apiserver silently changes the policy; they fail
      the module when O(strict=true).
  returned: always
  type: list
  elements: dict
  sample: [{"severity": "warning", "code": "verb-case", "path": "rules[1].verbs[0]",
            "message": "verbs are compared case-sensitively and request verbs are lower case; \"GET\" never matches (use \"get\")"}]
effective_policy:
  description:
    - The policy kube-apiserver runs with on the target. For V(kubeadm) the policy itself; for V(deckhouse)
      Deckhouse's basic rules (with O(basic_policy=true)), the policy's rules and the policy-wide C(omitStages).
    - Null for V(deckhouse) when Deckhouse would render no policy (basic policy off and no rules).
  returned: success
  type: dict
deckhouse_layout:
  description: With O(target=deckhouse), the basic-rule layout modelled (from O(deckhouse_release)).
  returned: success and O(target=deckhouse)
  type: str
  sample: current
  version_added: 0.2.0
shadowed_rules:
  description:
    - With O(target=deckhouse), the policy's rules that Deckhouse's basic rules decide first. C(rule) is the
      index in the policy, C(fully) is true when the rule is never used, C(shadowed_by) lists the basic
      rules (C(index) in the effective policy, C(level), C(description)).
  returned: success and O(target=deckhouse)
  type: list
  elements: dict
  sample: [{"rule": 0, "path": "rules[0]", "fully": true,
            "shadowed_by": [{"index": 14, "level": "Metadata", "description": "every list request"}]}]
dest:
  description: The file written (or that would be written in check mode).
  returned: when O(dest) is set
  type: str
  sample: /etc/kubernetes/audit-policy.yaml
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "rules[1].level", "message": "Required value"}]
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._io import atomic_write
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_policy import (
    DEFAULT_KUBERNETES_VERSION,
    HAS_YAML,
    PRESETS,
    TARGETS,
    YAML_IMPORT_ERROR,
    PolicyError,
    check,
    deckhouse_layout,
    preset,
    refusal,
)


def _source(module):
    params = module.params
    if params["preset"]:
        return preset(params["preset"]), "preset"
    if params["src"]:
        path = params["src"]
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except (IOError, OSError) as exc:
            fail_json(module, "src: cannot read %s: %s" % (path, to_native(exc)))
        try:
            return raw.decode("utf-8"), "src"
        except UnicodeDecodeError as exc:
            fail_json(module, "src: %s is not UTF-8 text: %s" % (path, to_native(exc)))
    policy = params["policy"]
    if not isinstance(policy, (dict, str)):
        fail_json(module, "policy: must be a mapping or YAML/JSON text, not %s" % type(policy).__name__)
    return policy, "policy"


def _write(module, dest, text, out):
    current = None
    if os.path.exists(dest):
        if not os.path.isfile(dest):
            fail_json(module, "dest: %s exists and is not a regular file" % dest, **out)
        try:
            with open(dest, "rb") as handle:
                current = handle.read()
        except (IOError, OSError) as exc:
            fail_json(module, "dest: cannot read %s: %s" % (dest, to_native(exc)), **out)
    wanted = text.encode("utf-8")
    out["dest"] = dest
    out["changed"] = current != wanted
    if out["changed"] and module._diff:
        out["diff"] = {"before_header": dest, "after_header": dest,
                       "before": to_text(current or b"", errors="surrogate_or_strict"), "after": text}
    if out["changed"] and not module.check_mode:
        directory = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(directory):
            fail_json(module, "dest: directory %s does not exist" % directory, **out)
        try:
            atomic_write(dest, wanted)
        except (IOError, OSError) as exc:
            fail_json(module, "dest: writing %s failed: %s" % (dest, to_native(exc)), **out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type="raw"),
            src=dict(type="path"),
            preset=dict(type="str", choices=list(PRESETS)),
            kubernetes_version=dict(type="str", default=DEFAULT_KUBERNETES_VERSION),
            target=dict(type="str", choices=list(TARGETS), default="deckhouse"),
            basic_policy=dict(type="bool", default=True),
            deckhouse_release=dict(type="str", default=""),
            strict=dict(type="bool", default=True),
            dest=dict(type="path"),
        ),
        mutually_exclusive=[("policy", "src", "preset")],
        required_one_of=[("policy", "src", "preset")],
        supports_check_mode=True,
    )
    source, origin = _source(module)
    if isinstance(source, str) and not HAS_YAML and not source.lstrip().startswith("{"):
        fail_json(module, missing_required_lib("PyYAML"), exception=to_native(YAML_IMPORT_ERROR))
    try:
        layout = deckhouse_layout(module.params["deckhouse_release"])
        result = check(source, module.params["kubernetes_version"], module.params["target"],
                       module.params["basic_policy"], layout)
    except PolicyError as exc:
        # A problem of the policy as a whole (its size) names the option it came from.
        fail_json(module, exc if exc.path else PolicyError(origin, exc.message))
    data = result.as_dict()
    out = dict(changed=False, apiserver_accepts=data["apiserver_accepts"], apiserver_error=data["apiserver_error"],
               lenient=data["lenient"], findings=data["findings"])
    if module.params["target"] == "deckhouse":
        out["deckhouse_layout"] = layout
    if not result.apiserver_accepts:
        fail_json(module, refusal(result.errors, result.apiserver_error),
                  "%s: kube-apiserver %s would not start with this policy" % (origin, result.kubernetes_version), **out)
    out.update(policy=data["policy"], policy_yaml=data["policy_yaml"], policy_base64=data["policy_base64"],
               effective_policy=data.get("effective_policy"))
    if "shadowed_rules" in data:
        out["shadowed_rules"] = data["shadowed_rules"]
    if module.params["strict"] and result.blocking:
        fail_json(module, refusal(result.blocking), "%s: kube-apiserver %s would start but silently change the policy "
                  "(strict=true)" % (origin, result.kubernetes_version), **out)
    for item in result.findings:
        if item["severity"] in ("warning", "error"):
            module.warn("%s: %s" % (item["path"], item["message"]) if item["path"] else item["message"])
    if module.params["dest"]:
        _write(module, module.params["dest"], result.policy_yaml, out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
