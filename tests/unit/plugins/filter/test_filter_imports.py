# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""To find one filter of a collection, ansible-core imports every file in its plugins/filter, in each task's worker
(ansible/plugins/loader.py, Jinja2Loader.get_with_context). The files therefore import no engine at the top: a task
using role_input paid ~0.13 s for the policy engine it never called."""

import os
import subprocess
import sys

import pytest

from _paths import COLLECTIONS, ROOT

FILTER_DIR = os.path.join(ROOT, "plugins", "filter")
ENGINES = ("_audit_policy", "_audit_simulate", "_log_shipper", "_audit_evaluate")


def filter_files():
    return sorted(name[:-3] for name in os.listdir(FILTER_DIR) if name.endswith(".py") and name != "__init__.py")


def test_importing_every_filter_file_loads_no_engine():
    code = ("import sys\n"
            "for name in %r:\n"
            "    __import__('ansible_collections.auditops.deckhouse.plugins.filter.' + name)\n"
            "prefix = 'ansible_collections.auditops.deckhouse.plugins.module_utils.'\n"
            "print('\\n'.join(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))))\n" % filter_files())
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    loaded = set(proc.stdout.split())
    assert not loaded & set(ENGINES), sorted(loaded)


@pytest.mark.parametrize("name", ["audit_level", "audit_policy_validate"])
def test_the_default_kubernetes_version_is_the_engines(name):
    """kubernetes_version defaults to None in the signature now; the engine's default still applies."""
    from ansible_collections.auditops.deckhouse.plugins.filter import audit
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_policy import DEFAULT_KUBERNETES_VERSION
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
    if name == "audit_level":
        request = {"verb": "get", "resource": "pods", "user": "alice"}
        assert audit.audit_level(policy, request) == audit.audit_level(policy, request, DEFAULT_KUBERNETES_VERSION)
    else:
        assert audit.audit_policy_validate(policy) == audit.audit_policy_validate(policy, DEFAULT_KUBERNETES_VERSION)
