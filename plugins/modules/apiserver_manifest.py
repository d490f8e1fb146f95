#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: apiserver_manifest
short_description: Strip audit flags from the kube-apiserver static pod manifest, or put a backup back
version_added: 0.1.0
description:
  - Edits the kube-apiserver static pod manifest on a control-plane node so that a kube-apiserver stopped by its
    audit configuration can start again.
  - With O(state=stripped), removes the flags of the C(kube-apiserver) container that match O(strip), in both the
    C(--flag=value) and the C(--flag value) forms, from C(command) and C(args). Then removes the volumes and
    volume mounts that only the removed flags used. A volume stays when a remaining flag, an environment value or
    another container still uses it (on Deckhouse masters C(deckhouse-extra-files) also holds the admission and
    encryption configs).
  - Only the C(kube-apiserver) container is edited; sidecars such as Deckhouse's C(healthcheck), annotations
    (including Deckhouse's C(control-plane-manager.deckhouse.io/checksum)), key order and flag order stay as they
    were. Comments other than the block at the top of the file do not survive an edit.
  - The file is backed up to O(backup_dir) first, then replaced atomically (a dot-prefixed temporary file in the same
    directory, which the kubelet ignores, then a rename). The backup holds the content that was read and edited, and
    the rename only happens while the file still holds it - a change made while the module ran fails the module and
    is kept. A symlinked manifest is followed - its target is replaced and the link stays.
  - With O(state=restored), puts a backup back (O(backup), or the newest backup of this manifest in O(backup_dir)).
  - A manifest that is not valid YAML, is not a C(v1) Pod or has no C(kube-apiserver) container makes the module
    fail with the offending field, and the file is left untouched.
  - The kubelet notices the new manifest by itself and recreates the pod. This module restarts nothing; role
    C(auditops.deckhouse.apiserver_recovery) also stops the old pod through the container runtime, which is faster.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML on the managed node
extends_documentation_fragment:
  - auditops.deckhouse.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff is the manifest text before and after.
  idempotent:
    support: full
    details:
      - A manifest without matching flags is not rewritten and no backup is made.
      - Restoring a backup identical to the current manifest changes nothing.
options:
  path:
    description:
      - The static pod manifest.
    type: path
    default: /etc/kubernetes/manifests/kube-apiserver.yaml
  state:
    description:
      - V(stripped) removes the flags that match O(strip) and the volumes that only they used.
      - V(restored) replaces the manifest with a backup.
    type: str
    choices: [stripped, restored]
    default: stripped
  strip:
    description:
      - Flag name patterns (shell globs, matched against the flag name with its leading C(--); a pattern given
        without dashes gets them).
      - The default removes every C(--audit-*) flag. Each of them can stop kube-apiserver at start - the policy
        file is loaded even when no log or webhook backend is set, the log file is opened even without a policy,
        and a mistyped C(--audit-*) flag fails flag parsing - so removing only C(--audit-log-*) is not enough.
      - Only patterns limited to C(--audit-*) flags are taken (C(--audit-log-*), C(audit-webhook-*)); any other pattern
        (C(--au*), C(*), C(--anonymous-auth)) is refused, since removing a flag such as C(--authorization-mode) makes
        kube-apiserver fall back to C(AlwaysAllow).
      - Used with O(state=stripped).
    type: list
    elements: str
    default: ['--audit-*']
  backup_dir:
    description:
      - Directory for the backups, named C(<file name>.<UTC timestamp>).
      - Must not be inside C(/etc/kubernetes/manifests) or the directory of O(path) - the kubelet runs every
        file there as a pod.
      - With O(state=restored), the manifest being replaced is saved under C(<backup_dir>/replaced/) so it never
        counts as the newest backup.
    type: path
    default: /var/lib/auditops-deckhouse/backups
  backup:
    description:
      - The backup to put back with O(state=restored).
      - When omitted, the newest backup in O(backup_dir) by the timestamp in its name (C(<file name>.<UTC timestamp>),
        as this module writes them) is used; other files there, such as a hand-made C(kube-apiserver.yaml.orig), are
        never picked.
    type: path
'''

EXAMPLES = r'''
- name: Remove every audit flag so the apiserver can start
  auditops.deckhouse.apiserver_manifest:
    path: /etc/kubernetes/manifests/kube-apiserver.yaml
  register: strip_result

- name: Only drop the log backend, keep the policy
  auditops.deckhouse.apiserver_manifest:
    strip:
      - --audit-log-*

- name: Preview what would go, without writing
  auditops.deckhouse.apiserver_manifest:
  check_mode: true
  diff: true
  register: preview

- name: Put the newest backup back once the policy is fixed
  auditops.deckhouse.apiserver_manifest:
    state: restored

- name: Put a given backup back
  auditops.deckhouse.apiserver_manifest:
    state: restored
    backup: "{{ strip_result.backup_path }}"
'''

RETURN = r'''
removed_flags:
  description:
    - The flags removed (or that would be removed in check mode), as written in the manifest
      (C(--audit-log-path=/var/log/kube-audit/audit.log), or C(--audit-log-mode batch) for the two-item form).
    - Empty with O(state=restored).
  returned: always
  type: list
  elements: str
  sample: ['--audit-log-path=/var/log/kube-audit/audit.log', '--audit-policy-file=/etc/kubernetes/deckhouse/extra-files/audit-policy.yaml']
removed_volumes:
  description: Names of the volumes removed with their mounts because only removed flags used them.
  returned: always
  type: list
  elements: str
  sample: ['kube-audit-log']
backup_path:
  description:
    - The backup written before the change; null when nothing was written (no change, or check mode).
    - With O(state=restored), the copy of the manifest that the backup replaced.
  returned: always
  type: str
  sample: /var/lib/auditops-deckhouse/backups/kube-apiserver.yaml.20250301T101500.123456Z
restored_from:
  description: The backup that was (or in check mode would be) put back.
  returned: when O(state=restored)
  type: str
  sample: /var/lib/auditops-deckhouse/backups/kube-apiserver.yaml.20250301T101500.123456Z
endpoint:
  description:
    - HTTPS base URL of this apiserver as seen from its own node, from C(--bind-address) (C(127.0.0.1) for a
      wildcard bind) and C(--secure-port) (6443 when unset), read from the resulting manifest.
  returned: success
  type: str
  sample: https://10.128.0.11:6443
deckhouse_checksum:
  description:
    - The C(control-plane-manager.deckhouse.io/checksum) annotation of the resulting manifest, null when the
      manifest is not managed by Deckhouse. Deckhouse leaves a manifest alone while this matches its configuration.
  returned: success
  type: str
  sample: 5b7c4d2e9f0a18c3d6e4b1a7f2c9d0e3b5a8c1f4d7e0a3b6c9f2e5d8a1b4c7e0
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "path", "message": "/etc/kubernetes/manifests/kube-apiserver.yaml does not exist or is not a file"}]
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._io import atomic_write, backup_file, check_backup_dir, newest_backup
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    CHECKSUM_ANNOTATION,
    DEFAULT_STRIP,
    ManifestError,
    annotation,
    endpoint,
    load_manifest,
    strip_manifest,
)


def _read(module, path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        fail_json(module, "%s: cannot read %s: %s" % (what, path, to_native(exc)))


def _facts(text):
    pod = load_manifest(text)[0]
    return endpoint(pod), annotation(pod, CHECKSUM_ANNOTATION)


def _diff(path, before, after):
    return {"before_header": path, "after_header": path,
            "before": to_native(before, errors="surrogate_or_strict"),
            "after": to_native(after, errors="surrogate_or_strict")}


def strip(module, path, backup_dir):
    if not os.path.isfile(path):
        fail_json(module, "path: %s does not exist or is not a file" % path)
    original = _read(module, path, "path")
    try:
        text = original.decode("utf-8")
        new_text, result = strip_manifest(text, module.params["strip"])
        url, checksum = _facts(new_text)
    except UnicodeDecodeError as exc:
        fail_json(module, "path: %s is not UTF-8 text: %s" % (path, to_native(exc)))
    except ManifestError as exc:
        field = exc.field
        # Pattern errors name the option; manifest errors name the field inside the file.
        prefix = "" if field.startswith("strip[") else "%s: " % path
        fail_json(module, "%s%s" % (prefix, to_native(exc)))
    out = dict(changed=result.changed, removed_flags=result.removed_flags, removed_volumes=result.removed_volumes,
               backup_path=None, endpoint=url, deckhouse_checksum=checksum)
    if result.changed and module._diff:
        out["diff"] = _diff(path, text, new_text)
    if result.changed and not module.check_mode:
        try:
            # The backup is of the bytes edited, and the write only happens while the file still holds them.
            out["backup_path"] = backup_file(path, backup_dir, data=original)
            atomic_write(path, new_text, expect=original)
        except (IOError, OSError, ValueError) as exc:
            fail_json(module, "writing %s failed: %s" % (path, to_native(exc)), backup_path=out["backup_path"])
    module.exit_json(**out)


def restore(module, path, backup_dir):
    source = module.params["backup"] or newest_backup(backup_dir, path)
    if not source:
        fail_json(module, "backup: no backup of %s found in backup_dir %s" % (os.path.basename(path), backup_dir))
    if not os.path.isfile(source):
        fail_json(module, "backup: %s does not exist or is not a file" % source)
    wanted = _read(module, source, "backup")
    try:
        # Never put back something the kubelet could not run as the apiserver.
        url, checksum = _facts(wanted)
    except ManifestError as exc:
        fail_json(module, "backup: %s: %s" % (source, to_native(exc)))
    current = _read(module, path, "path") if os.path.exists(path) else None
    out = dict(changed=current != wanted, removed_flags=[], removed_volumes=[], backup_path=None,
               restored_from=source, endpoint=url, deckhouse_checksum=checksum)
    if current is not None and current != wanted:
        try:
            current_checksum = _facts(current)[1]
        except ManifestError:
            current_checksum = None
        if current_checksum and checksum and current_checksum != checksum:
            module.warn("%s carries Deckhouse checksum %s but the backup carries %s: Deckhouse has re-rendered the "
                        "manifest since the backup was taken and will re-render it again after the restore"
                        % (path, current_checksum, checksum))
    if out["changed"] and module._diff:
        out["diff"] = _diff(path, current or b"", wanted)
    if out["changed"] and not module.check_mode:
        try:
            if current is not None:
                out["backup_path"] = backup_file(path, os.path.join(backup_dir, "replaced"), data=current)
            atomic_write(path, wanted, mode=None if current is not None else 0o600, expect=current)
        except (IOError, OSError, ValueError) as exc:
            fail_json(module, "restoring %s failed: %s" % (path, to_native(exc)), backup_path=out["backup_path"])
    module.exit_json(**out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/kubernetes/manifests/kube-apiserver.yaml"),
            state=dict(type="str", choices=["stripped", "restored"], default="stripped"),
            strip=dict(type="list", elements="str", default=list(DEFAULT_STRIP)),
            backup_dir=dict(type="path", default="/var/lib/auditops-deckhouse/backups"),
            backup=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        fail_json(module, missing_required_lib("PyYAML"), exception=to_native(YAML_IMPORT_ERROR))
    path = module.params["path"]
    backup_dir = module.params["backup_dir"]
    if os.path.isdir(path):
        fail_json(module, "path: %s is a directory; expected the manifest file" % path)
    error = check_backup_dir(backup_dir, path)
    if error:
        fail_json(module, "backup_dir: %s" % error)
    if module.params["state"] == "stripped":
        if module.params["backup"]:
            fail_json(module, "backup: only used with state=restored")
        strip(module, path, backup_dir)
    else:
        restore(module, path, backup_dir)


if __name__ == "__main__":
    main()
