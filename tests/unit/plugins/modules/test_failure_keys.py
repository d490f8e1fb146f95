# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module fails with the same keys (docs/troubleshooting.md, plugins/module_utils/_errors.py): ``msg`` and
``errors``, a list of ``{path, message}`` whose first item ``msg`` names.

Each module below is run through a failure path of its own ``main()`` (no cluster, no KESL). Failures of
AnsibleModule's own argument checks (``Validation of arguments failed``, a missing required option) come from
ansible-core, before the module runs, and carry ``msg`` only."""

import glob
import os

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import (
    apiserver_manifest, apiserver_manifest_info, apiserver_readyz, audit_policy, audit_policy_simulate,
    cpm_audit_settings, cpm_rollout_wait, detection_rules, k8s_objects, k8s_objects_info, kesl_exclusion, kesl_info,
    kesl_task, kubeadm_audit, kubeadm_config_audit, log_shipper_manifest)
from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module_fail

MISSING = "/nonexistent/auditops-failure-keys"

# module, its arguments (``{tmp}`` is a temporary directory), the path and message start of the first problem.
CASES = [
    (apiserver_manifest, {"path": "{tmp}"}, "path", "{tmp} is a directory"),
    (apiserver_manifest_info, {"path": MISSING}, "path", MISSING + " does not exist"),
    (apiserver_readyz, {"host": "https://127.0.0.1:1", "interval": 0}, "interval", "must be 1 or more"),
    (audit_policy, {"policy": [1]}, "policy", "must be a mapping"),
    (audit_policy_simulate, {"log": MISSING, "policies": [{"name": "a", "preset": "minimal"}]}, "log", ""),
    # Two problems: msg names the first and counts the other.
    (cpm_audit_settings, {"policy_yaml": "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Bogus\n"
                                         "- level: Metadata\n  omitStages: [Nowhere]\n"},
     "policy_yaml.rules[0].level", "Unsupported value"),
    # The connection options go through _k8s_connection.client().
    (cpm_rollout_wait, {"kubeconfig": MISSING}, "kubeconfig", "cannot read " + MISSING),
    (detection_rules, {"detections": ["no-such-detection"]}, "detections[0]", ""),
    (k8s_objects, {"definition": [{"kind": "Secret", "metadata": {"name": "s"}}]}, "definition[0].apiVersion", "required"),
    (k8s_objects_info, {"queries": [{"kind": "Secret"}, {"api_version": "v1"}]}, "queries[1].kind", "required"),
    (kesl_exclusion, {"executable": MISSING, "exclusions": ["/var/lib/etcd"]}, "", "kesl-control not found"),
    (kesl_info, {"executable": MISSING}, "", "kesl-control not found"),
    (kesl_task, {"executable": MISSING, "tasks": ["Web_Control"]}, "", "kesl-control not found"),
    (kubeadm_audit, {"path": MISSING}, "path", MISSING + " does not exist"),
    (kubeadm_config_audit, {"existing": [{}, {}]}, "existing", "expected at most one ConfigMap"),
    (log_shipper_manifest, {"destinations": [], "file_mode": "rwx"}, "file_mode", "'rwx' is not an octal mode"),
]


def _name(module):
    return module.__name__.rsplit(".", 1)[-1]


def test_every_module_has_a_case():
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(_paths.ROOT, "plugins", "modules", "*.py"))
                     if not os.path.basename(p).startswith("_"))
    assert sorted(_name(case[0]) for case in CASES) == modules


@pytest.mark.parametrize("module, args, path, message", CASES, ids=[_name(case[0]) for case in CASES])
def test_failure_keys(module, args, path, message, tmp_path):
    args = dict((key, value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value)
                for key, value in args.items())
    message = message.replace("{tmp}", str(tmp_path))
    failed = run_module_fail(module, args)
    assert {"msg", "errors"} <= set(failed)
    errors = failed["errors"]
    assert isinstance(errors, list) and errors
    assert all(sorted(item) == ["message", "path"] for item in errors), errors
    assert all(isinstance(item["path"], str) and isinstance(item["message"], str) and item["message"]
               for item in errors)
    first = errors[0]
    assert first["path"] == path and first["message"].startswith(message), first
    # msg names the first problem ("<what>: path: message") and says how many more errors holds.
    shown = "%s: %s" % (first["path"], first["message"]) if first["path"] else first["message"]
    more = len(errors) - 1
    if _name(module) == "cpm_audit_settings":
        assert more == 1
    if more:
        assert failed["msg"].endswith(" (and %d more, see errors)" % more)
        assert shown in failed["msg"]
    else:
        assert failed["msg"].endswith(shown) and "see errors" not in failed["msg"]
