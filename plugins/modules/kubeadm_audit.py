#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: kubeadm_audit
short_description: Turn on kube-apiserver audit logging on a kubeadm control-plane node (no Deckhouse)
version_added: 0.1.0
description:
  - On a control-plane node of a cluster without Deckhouse, writes the audit policy next to the kube-apiserver static pod
    and adds C(--audit-policy-file), C(--audit-log-path), C(--audit-log-format=json) and, for file output,
    C(--audit-log-maxage), C(--audit-log-maxsize) and C(--audit-log-maxbackup) to the C(kube-apiserver) container,
    with the hostPath volumes and mounts for the policy directory and the log directory. Optionally sends events to a
    webhook backend (C(--audit-webhook-config-file)).
  - The policy is checked by the audit policy engine (strict) before anything is written; a policy kube-apiserver
    would refuse or silently change fails the module and nothing is written.
  - Policy and webhook files are named after a hash of their content (C(policy-<hash>.yaml)). A new policy is a new
    file and a new flag value, so the manifest changes and the kubelet restarts kube-apiserver (which reads the policy
    only at start), and the previous manifest still points to a file that exists - restoring the backup with
    M(auditops.deckhouse.apiserver_manifest) (V(state=restored)) is a complete rollback. The file the previous manifest
    used is kept; older ones are deleted. Only files whose name is the hash of their content count as this module's
    own - a hand-made C(policy-mine.yaml) (or an edited policy file) in O(policy_dir) is never deleted.
  - With O(state=present) this module owns every C(--audit-*) flag of the container - flags it does not set (and that
    are not in O(extra_flags)) are removed, since a stale or mistyped one stops kube-apiserver at start.
  - With O(state=absent), removes every C(--audit-*) flag, the volumes this module added and its files in
    O(policy_dir). The audit logs in O(log_dir) are kept.
  - The manifest is backed up to O(backup_dir) (never inside the manifests directory, where the kubelet would run the
    copy) and replaced atomically; files are written atomically with mode C(0600).
  - The returned RV(kubeadm_extra_args) and RV(kubeadm_extra_volumes) are the same settings for the C(kubeadm-config)
    ConfigMap (see M(auditops.deckhouse.kubeadm_config_audit)), so C(kubeadm upgrade) keeps them.
  - The dynamic audit backend (C(AuditSink), C(auditregistration.k8s.io), C(--audit-dynamic-configuration)) was removed
    from Kubernetes in 1.19; use the webhook backend (O(webhook_config)) instead.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML on the control-plane node
extends_documentation_fragment:
  - auditops.deckhouse.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The manifest before and after, and each policy or webhook file written.
  idempotent:
    support: full
    details:
      - The same policy and options leave the manifest and the files untouched and make no backup.
options:
  state:
    description:
      - V(present) - audit with O(policy); V(absent) - no audit flags, volumes or files of this module.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The kube-apiserver static pod manifest.
    type: path
    default: /etc/kubernetes/manifests/kube-apiserver.yaml
  policy:
    description:
      - The audit policy - a mapping, or YAML or JSON text (for example
        RV(auditops.deckhouse.audit_policy#module:policy_yaml)). The normalized policy is written.
      - Required with O(state=present).
    type: raw
  kubernetes_version:
    description:
      - Kubernetes version the policy is checked for, C(1.X) or C(1.X.Y).
      - Taken from the kube-apiserver image tag in the manifest when omitted.
    type: str
  strict:
    description:
      - Also refuse a policy kube-apiserver would accept only by dropping unknown or duplicate fields.
    type: bool
    default: true
  policy_dir:
    description:
      - Directory on the node for the policy (and webhook) files; mounted read-only into kube-apiserver at the same path.
      - Must not be inside the manifests directory, also once symlinks are resolved.
    type: path
    default: /etc/kubernetes/audit
  log_output:
    description:
      - V(File) - events go to C(audit.log) in O(log_dir), rotated by the O(log_maxage), O(log_maxsize) and
        O(log_maxbackup) flags. V(Stdout) - C(--audit-log-path=-), events go to the container's output.
    type: str
    choices: [File, Stdout]
    default: File
  log_dir:
    description: Directory on the node for C(audit.log); mounted read-write at the same path. Used with O(log_output=File).
    type: path
    default: /var/log/kubernetes/audit
  log_maxage:
    description: C(--audit-log-maxage), days to keep rotated files.
    type: int
    default: 30
  log_maxsize:
    description: C(--audit-log-maxsize), megabytes before a file is rotated.
    type: int
    default: 100
  log_maxbackup:
    description: C(--audit-log-maxbackup), rotated files to keep.
    type: int
    default: 10
  webhook_config:
    description:
      - A kubeconfig (mapping or text) for the audit webhook backend; written to O(policy_dir) and passed with
        C(--audit-webhook-config-file). Certificates it names by path must be readable inside the pod
        (C(/etc/kubernetes/pki) is mounted by kubeadm).
      - Omit it for no webhook backend (the flag is then removed).
      - Its credentials (each user's C(token), C(client-key-data) and C(password), auth-provider config and exec plugin
        env values) are hidden in every output, diffs included; the file written holds them.
    type: raw
  extra_flags:
    description:
      - Other C(--audit-*) flags to set, such as C(audit-log-compress=true) or C(audit-webhook-mode=batch), as a mapping
        of flag name (with or without dashes) to value. Flags this module sets itself are refused here.
    type: dict
    default: {}
  backup_dir:
    description: Directory for the manifest backups; must not be inside the manifests directory.
    type: path
    default: /var/lib/auditops-deckhouse/backups
'''

EXAMPLES = r'''
- name: Check the policy on the controller
  auditops.deckhouse.audit_policy:
    preset: security
    target: kubeadm
  delegate_to: localhost
  run_once: true
  register: policy

- name: Audit to /var/log/kubernetes/audit/audit.log
  auditops.deckhouse.kubeadm_audit:
    policy: "{{ policy.policy_yaml }}"
  become: true
  register: audit

- name: Audit to the container output and to a webhook
  auditops.deckhouse.kubeadm_audit:
    policy: "{{ policy.policy_yaml }}"
    log_output: Stdout
    webhook_config:
      apiVersion: v1
      kind: Config
      clusters:
        - name: siem
          cluster:
            server: https://siem.example.com:8443/k8s-audit
            certificate-authority: /etc/kubernetes/pki/siem-ca.crt
      contexts:
        - name: default
          context:
            cluster: siem
            user: ""
      current-context: default
    extra_flags:
      audit-webhook-mode: batch
  become: true

- name: Turn audit logging off again
  auditops.deckhouse.kubeadm_audit:
    state: absent
  become: true
'''

RETURN = r'''
policy_path:
  description: The policy file kube-apiserver reads (null with O(state=absent)).
  returned: success
  type: str
  sample: /etc/kubernetes/audit/policy-3f6c1e0a9b2d4c5e.yaml
webhook_config_path:
  description: The webhook kubeconfig file, null without O(webhook_config).
  returned: success
  type: str
flags:
  description: The C(--audit-*) flags of the container afterwards, as C(--name=value).
  returned: success
  type: list
  elements: str
  sample: ["--audit-log-format=json", "--audit-log-maxage=30", "--audit-log-maxbackup=10", "--audit-log-maxsize=100",
           "--audit-log-path=/var/log/kubernetes/audit/audit.log",
           "--audit-policy-file=/etc/kubernetes/audit/policy-3f6c1e0a9b2d4c5e.yaml"]
added_flags:
  description: Flags added or changed.
  returned: success
  type: list
  elements: str
removed_flags:
  description: Flags removed or replaced, as they were.
  returned: success
  type: list
  elements: str
removed_volumes:
  description: Volumes removed with their mounts.
  returned: success
  type: list
  elements: str
written_files:
  description: Files written (or that would be written in check mode).
  returned: success
  type: list
  elements: str
deleted_files:
  description: Older policy and webhook files deleted (or that would be).
  returned: success
  type: list
  elements: str
backup_path:
  description: The manifest backup taken before the change; null when the manifest did not change or in check mode.
  returned: success
  type: str
  sample: /var/lib/auditops-deckhouse/backups/kube-apiserver.yaml.20250301T101500.123456Z
manifest_changed:
  description: Whether the manifest changed, so the kubelet restarts kube-apiserver.
  returned: success
  type: bool
endpoint:
  description: HTTPS base URL of this kube-apiserver from the node (C(--bind-address), C(--secure-port)).
  returned: success
  type: str
  sample: https://127.0.0.1:6443
process_args:
  description:
    - Arguments the restarted kube-apiserver process has on its command line (the policy file flag), for
      M(auditops.deckhouse.apiserver_readyz) O(auditops.deckhouse.apiserver_readyz#module:process_args). Empty with
      O(state=absent).
  returned: success
  type: list
  elements: str
kubernetes_version:
  description: The version the policy was checked for (null with O(state=absent)).
  returned: success
  type: str
  sample: "1.31"
kubeadm_extra_args:
  description: The audit flags as C(ClusterConfiguration) C(apiServer.extraArgs) (names without dashes); empty for absent.
  returned: success
  type: dict
  sample: {"audit-log-format": "json", "audit-policy-file": "/etc/kubernetes/audit/policy-3f6c1e0a9b2d4c5e.yaml"}
kubeadm_extra_volumes:
  description: The volumes as C(ClusterConfiguration) C(apiServer.extraVolumes).
  returned: success
  type: list
  elements: dict
findings:
  description: Findings of the policy check (see RV(auditops.deckhouse.audit_policy#module:findings)).
  returned: always
  type: list
  elements: dict
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "path", "message": "/etc/kubernetes/manifests/kube-apiserver.yaml does not exist or is not a file"}]
'''

import fnmatch
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._io import atomic_write, backup_file, check_backup_dir, is_inside
from ansible_collections.auditops.deckhouse.plugins.module_utils._kubeadm_audit import (
    DEFAULT_LOG_DIR,
    DEFAULT_MANIFEST,
    DEFAULT_POLICY_DIR,
    OUTPUTS,
    POLICY_PATTERN,
    WEBHOOK_PATTERN,
    KubeadmAuditError,
    WATCHED_DIRS,
    audit_flags,
    build_config,
    edit_manifest,
    image_version,
    kubeconfig_secrets,
    kubeadm_extra_args,
    kubeadm_extra_volumes,
    owned,
    remove_from_manifest,
    stale_files,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    ManifestError,
    endpoint,
    load_manifest,
)
from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import dump as dump_yaml


def _read(module, path, what, missing_ok=False):
    if missing_ok and not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (IOError, OSError, UnicodeDecodeError) as exc:
        fail_json(module, "%s: cannot read %s: %s" % (what, path, to_native(exc)))


def _check_policy(module, version):
    policy = module.params["policy"]
    if policy is None:
        fail_json(module, "policy: required with state=present")
    if not isinstance(policy, (dict, str)):
        fail_json(module, "policy: expected a mapping or YAML/JSON text, got %s" % type(policy).__name__)
    try:
        result = _audit_policy.check(policy, version or _audit_policy.DEFAULT_KUBERNETES_VERSION, "kubeadm")
    except _audit_policy.PolicyError as exc:
        fail_json(module, "policy: %s" % to_native(exc))
    refused = result.blocking if module.params["strict"] else result.errors
    if not result.apiserver_accepts or refused:
        fail_json(module, _audit_policy.refusal(refused, result.apiserver_error, "policy"),
                  "policy refused, nothing changed (kube-apiserver %s)" % result.kubernetes_version,
                  findings=result.findings)
    return result


def _webhook_text(module):
    value = module.params["webhook_config"]
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        return dump_yaml(value)
    if isinstance(value, str):
        return value if value.endswith("\n") else value + "\n"
    fail_json(module, "webhook_config: expected a kubeconfig mapping or text, got %s" % type(value).__name__)


def _listing(directory):
    """``[(name, mtime)]`` of the files in ``directory`` this module wrote (named after the hash of their content);
    anything else there, whatever its name, is not ours to delete."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(directory, name)
        if not (fnmatch.fnmatchcase(name, POLICY_PATTERN) or fnmatch.fnmatchcase(name, WEBHOOK_PATTERN)):
            continue
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8")
        except (IOError, OSError, UnicodeDecodeError):
            continue
        if owned(name, text):
            found.append((name, os.stat(path).st_mtime))
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            path=dict(type="path", default=DEFAULT_MANIFEST),
            policy=dict(type="raw"),
            kubernetes_version=dict(type="str"),
            strict=dict(type="bool", default=True),
            policy_dir=dict(type="path", default=DEFAULT_POLICY_DIR),
            log_output=dict(type="str", choices=list(OUTPUTS), default="File"),
            log_dir=dict(type="path", default=DEFAULT_LOG_DIR),
            log_maxage=dict(type="int", default=30),
            log_maxsize=dict(type="int", default=100),
            log_maxbackup=dict(type="int", default=10),
            webhook_config=dict(type="raw"),
            extra_flags=dict(type="dict", default={}),
            backup_dir=dict(type="path", default="/var/lib/auditops-deckhouse/backups"),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        fail_json(module, missing_required_lib("PyYAML"), exception=to_native(YAML_IMPORT_ERROR))
    params = module.params
    # The webhook kubeconfig's credentials are masked in every output (invocation, diff, messages) while the file
    # gets them intact. Only these values, not the whole option: masking short common words would corrupt results.
    secrets = kubeconfig_secrets(params["webhook_config"]) if params["webhook_config"] else []
    module.no_log_values.update(secrets)
    path = params["path"]
    if not os.path.isfile(path):
        fail_json(module, "path: %s does not exist or is not a file" % path)
    error = check_backup_dir(params["backup_dir"], path)
    if error:
        fail_json(module, "backup_dir: %s" % error)
    # The engine compares normalised paths; a symlink into the manifests directory is only seen once resolved.
    for option in ("policy_dir", "log_dir"):
        for watched in WATCHED_DIRS + (os.path.dirname(os.path.abspath(path)),):
            if is_inside(params[option], watched):
                message = "%s: %s resolves to %s, inside %s, where the kubelet runs every file as a pod" % (
                    option, params[option], os.path.realpath(params[option]), watched)
                fail_json(module, message)
    text = _read(module, path, "path")
    try:
        pod = load_manifest(text)[0]
    except ManifestError as exc:
        fail_json(module, "%s: %s" % (path, to_native(exc)))

    out = dict(changed=False, policy_path=None, webhook_config_path=None, written_files=[], deleted_files=[],
               backup_path=None, manifest_changed=False, process_args=[], kubeadm_extra_args={},
               kubeadm_extra_volumes=[], findings=[], kubernetes_version=None)
    diffs = []
    writes = []
    policy_dir = os.path.normpath(params["policy_dir"])
    try:
        if params["state"] == "present":
            from_image = params["kubernetes_version"] is None
            version = params["kubernetes_version"] or image_version(pod)
            checked = _check_policy(module, version)
            out.update(findings=checked.findings, kubernetes_version=checked.kubernetes_version)
            if from_image and version is None:
                module.warn("no Kubernetes version in the kube-apiserver image tag; the policy was checked for %s "
                            "(set kubernetes_version)" % checked.kubernetes_version)
            config = build_config(checked.policy_yaml, path, policy_dir, params["log_output"], params["log_dir"],
                                  params["log_maxage"], params["log_maxsize"], params["log_maxbackup"],
                                  _webhook_text(module), params["extra_flags"])
            new_text, info = edit_manifest(text, config)
            for item in config["files"]:
                current = _read(module, item["path"], item["kind"], missing_ok=True)
                if current != item["content"]:
                    writes.append(dict(item, current=current))
                    diffs.append({"before_header": item["path"], "after_header": item["path"],
                                  "before": current or "", "after": item["content"]})
            current_paths = [item["path"] for item in config["files"]]
            keep = set(current_paths) | set(info["referenced_before"])
            deletes = stale_files(_listing(policy_dir), policy_dir, keep, set(current_paths))
            out.update(policy_path=config["policy_path"], webhook_config_path=config["webhook_path"],
                       process_args=["%s=%s" % ("--audit-policy-file", config["policy_path"])],
                       kubeadm_extra_args=kubeadm_extra_args(config), kubeadm_extra_volumes=kubeadm_extra_volumes(config))
        else:
            new_text, info = remove_from_manifest(text)
            deletes = sorted(os.path.join(policy_dir, name) for name, _mtime in _listing(policy_dir))
    except KubeadmAuditError as exc:
        fail_json(module, exc, "refused, nothing changed", **out)
    except ManifestError as exc:
        fail_json(module, "%s: %s" % (path, to_native(exc)), field=exc.field, **out)

    new_pod = load_manifest(new_text)[0]
    out.update(manifest_changed=info["changed"], added_flags=info.get("added_flags", []),
               removed_flags=info.get("removed_flags", []), removed_volumes=info.get("removed_volumes", []),
               flags=["%s=%s" % (n, v) if v is not None else n for n, v in sorted(audit_flags(new_pod))],
               endpoint=endpoint(new_pod), written_files=[item["path"] for item in writes], deleted_files=deletes)
    if info["changed"]:
        diffs.insert(0, {"before_header": path, "after_header": path, "before": text, "after": new_text})
    for name in deletes:
        diffs.append({"before_header": name, "after_header": "%s (deleted)" % name,
                      "before": _read(module, name, "policy_dir", missing_ok=True) or "", "after": ""})
    out["changed"] = bool(info["changed"] or writes or deletes)
    if out["changed"] and module._diff:
        out["diff"] = diffs
    if out["changed"] and not module.check_mode:
        done = []
        try:
            if writes and not os.path.isdir(policy_dir):
                os.makedirs(policy_dir, mode=0o700)
            # Files first: the restarted kube-apiserver must find the policy the new manifest names. Every write is a
            # compare-and-swap on what was read, so a change made while the module ran is kept and fails the module.
            for item in writes:
                current = item["current"]
                atomic_write(item["path"], item["content"], mode=0o600,
                             expect=None if current is None else current.encode("utf-8"))
                done.append(item["path"])
            if info["changed"]:
                out["backup_path"] = backup_file(path, params["backup_dir"], data=text.encode("utf-8"))
                atomic_write(path, new_text, expect=text.encode("utf-8"))
                done.append(path)
            for name in deletes:
                os.unlink(name)
                done.append(name)
        except (IOError, OSError, ValueError) as exc:
            # changed says whether anything was written before the failure.
            out.update(changed=bool(done), written_files=[name for name in out["written_files"] if name in done])
            fail_json(module, "writing failed: %s" % to_native(exc), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
