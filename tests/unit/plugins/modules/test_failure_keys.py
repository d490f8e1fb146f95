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
import yaml

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


def _in(tmp_path, args):
    """``args`` with ``{tmp}`` in its string values replaced by ``tmp_path``."""
    return dict((key, value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value)
                for key, value in args.items())


def test_every_module_has_a_case():
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(_paths.ROOT, "plugins", "modules", "*.py"))
                     if not os.path.basename(p).startswith("_"))
    assert sorted(_name(case[0]) for case in CASES) == modules


@pytest.mark.parametrize("module, args, path, message", CASES, ids=[_name(case[0]) for case in CASES])
def test_failure_keys(module, args, path, message, tmp_path):
    message = message.replace("{tmp}", str(tmp_path))
    failed = run_module_fail(module, _in(tmp_path, args))
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


# The input that makes each module return the ``errors`` sample its RETURN documents: a sample is what the module
# says, not a copy of another module's (ten of them once showed the audit policy's "rules[1].level").
# ``DEFAULT_*`` are the paths the modules read when none is given; the case is skipped on a machine that has them.
DEFAULT_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
DEFAULT_KESL = "/opt/kaspersky/kesl/bin/kesl-control"
BAD_RULES = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}, {"users": ["a"]}]}
SAMPLE_CASES = [
    (apiserver_manifest, {"path": DEFAULT_MANIFEST}),
    (apiserver_manifest_info, {"path": os.path.join(_paths.ROOT, "tests", "fixtures", "manifests", "kubeadm-audit.json"),
                               "strip": ["--foo"]}),
    (apiserver_readyz, {"timeout": -1}),
    (audit_policy, {"policy": BAD_RULES, "dest": "{tmp}/policy.yaml"}),
    (audit_policy_simulate, {"log": MISSING, "policies": [{"name": "x", "policy": BAD_RULES}]}),
    (cpm_audit_settings, {"log_output": "File", "log_path": "/var/log/"}),
    (cpm_rollout_wait, {"before": {}, "timeout": 0}),
    (detection_rules, {"target": "kubeadm", "name": "Bad_Name", "dest_dir": "{tmp}/rules"}),
    (k8s_objects, {"definition": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}},
                                  {"kind": "Secret", "metadata": {"name": "s"}}]}),
    (k8s_objects_info, {"queries": [{"kind": "Secret"}, {"api_version": "v1"}]}),
    (kesl_exclusion, {"exclusions": ["var/lib/containerd"]}),
    (kesl_info, {}),
    (kesl_task, {"tasks": ["Web_Control"]}),
    (kubeadm_audit, {"path": DEFAULT_MANIFEST}),
    (kubeadm_config_audit, {"existing": {"data": {}}}),
    (log_shipper_manifest, {"destinations": [{"address": "10.0.0.1:514"}, {"address": "10.0.0.2:514", "name": "b"},
                                             {"address": "kuma", "name": "c"}],
                            "error_path_prefix": "kuma_log_shipper_", "dest_dir": "{tmp}/manifests"}),
]


def test_every_module_has_a_sample_case():
    assert sorted(_name(case[0]) for case in SAMPLE_CASES) == sorted(_name(case[0]) for case in CASES)


@pytest.mark.parametrize("module, args", SAMPLE_CASES, ids=[_name(case[0]) for case in SAMPLE_CASES])
def test_the_documented_errors_sample_is_what_the_module_returns(module, args, tmp_path):
    sample = yaml.safe_load(module.RETURN)["errors"]["sample"]
    for default in (DEFAULT_MANIFEST, DEFAULT_KESL):
        if os.path.exists(default) and default in str(sample):
            pytest.skip("%s exists on this machine" % default)
    assert run_module_fail(module, _in(tmp_path, args))["errors"] == sample
