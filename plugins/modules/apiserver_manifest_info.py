#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: apiserver_manifest_info
short_description: Read the kube-apiserver static pod manifest - where it listens and which audit flags it has
version_added: 0.2.0
description:
  - Reads the kube-apiserver static pod manifest on a control-plane node and reports where the apiserver listens,
    the Deckhouse checksum annotation, and the flags and volumes that M(auditops.deckhouse.apiserver_manifest) with
    O(auditops.deckhouse.apiserver_manifest#module:state=stripped) and the same O(strip) would remove.
  - Never writes anything, in check mode or not; the read-only twin of M(auditops.deckhouse.apiserver_manifest).
  - The manifest is read as the kubelet reads it. A manifest that does not exist, is not valid YAML, is not a C(v1)
    Pod or has no C(kube-apiserver) container makes the module fail with the offending field.
author:
  - auditops maintainers (@auditops)
requirements:
  - PyYAML on the managed node
extends_documentation_fragment:
  - auditops.deckhouse.attributes
  - auditops.deckhouse.attributes.INFO_MODULE
attributes:
  idempotent:
    support: full
options:
  path:
    description:
      - The static pod manifest.
    type: path
    default: /etc/kubernetes/manifests/kube-apiserver.yaml
  strip:
    description:
      - Flag name patterns, as O(auditops.deckhouse.apiserver_manifest#module:strip) takes them (shell globs limited to
        C(--audit-*) flags); RV(removable_flags) lists the flags they match.
    type: list
    elements: str
    default: ['--audit-*']
  backup_dir:
    description:
      - The backup directory a later M(auditops.deckhouse.apiserver_manifest) run would write to. When given, it is
        checked as that module checks it (not inside C(/etc/kubernetes/manifests) or the directory of O(path)), so
        a bad one fails before anything is written. Nothing is created there.
    type: path
seealso:
  - module: auditops.deckhouse.apiserver_manifest
'''

EXAMPLES = r'''
- name: Read where the local kube-apiserver listens
  auditops.deckhouse.apiserver_manifest_info:
  register: manifest

- name: Probe it
  ansible.builtin.uri:
    url: "{{ manifest.endpoint }}/livez"
    validate_certs: false

- name: Show the audit flags a recovery would remove
  ansible.builtin.debug:
    msg: "{{ manifest.removable_flags }}"
'''

RETURN = r'''
endpoint:
  description:
    - HTTPS base URL of this apiserver as seen from its own node, from C(--bind-address) (C(127.0.0.1) for a
      wildcard bind) and C(--secure-port) (6443 when unset).
  returned: success
  type: str
  sample: https://10.128.0.11:6443
deckhouse_checksum:
  description:
    - The C(control-plane-manager.deckhouse.io/checksum) annotation, null when the manifest is not managed by
      Deckhouse.
  returned: success
  type: str
  sample: 5b7c4d2e9f0a18c3d6e4b1a7f2c9d0e3b5a8c1f4d7e0a3b6c9f2e5d8a1b4c7e0
removable_flags:
  description:
    - The flags of the C(kube-apiserver) container that match O(strip), as written in the manifest
      (C(--audit-log-path=/var/log/kube-audit/audit.log), or C(--audit-log-mode batch) for the two-item form).
  returned: success
  type: list
  elements: str
  sample: ['--audit-log-path=/var/log/kube-audit/audit.log', '--audit-policy-file=/etc/kubernetes/deckhouse/extra-files/audit-policy.yaml']
removable_volumes:
  description: Names of the volumes that only the flags in RV(removable_flags) use.
  returned: success
  type: list
  elements: str
  sample: ['kube-audit-log']
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "strip[0]", "message": "pattern '--foo' is not limited to --audit-* flags (such as --audit-log-*); only those can be stripped"}]
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._io import check_backup_dir
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    DEFAULT_STRIP,
    ManifestError,
    inspect_manifest,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/kubernetes/manifests/kube-apiserver.yaml"),
            strip=dict(type="list", elements="str", default=list(DEFAULT_STRIP)),
            backup_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        fail_json(module, missing_required_lib("PyYAML"), exception=to_native(YAML_IMPORT_ERROR))
    path = module.params["path"]
    if not os.path.isfile(path):
        fail_json(module, "path: %s does not exist or is not a file" % path)
    if module.params["backup_dir"] is not None:
        error = check_backup_dir(module.params["backup_dir"], path)
        if error:
            fail_json(module, "backup_dir: %s" % error)
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        facts = inspect_manifest(text, module.params["strip"])
    except (IOError, OSError) as exc:
        fail_json(module, "path: cannot read %s: %s" % (path, to_native(exc)))
    except UnicodeDecodeError as exc:
        fail_json(module, "path: %s is not UTF-8 text: %s" % (path, to_native(exc)))
    except ManifestError as exc:
        # Pattern errors name the option; manifest errors name the field inside the file.
        prefix = "" if exc.field.startswith("strip[") else "%s: " % path
        fail_json(module, "%s%s" % (prefix, to_native(exc)))
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
