# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one error contract: one error type, one rendering, one module failure."""

from __future__ import annotations

import glob
import os
import re

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _errors
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import ProbeError
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_policy import PolicyError
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate import SimulationError
from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_rollout import RolloutError
from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_settings import SettingsError
from ansible_collections.auditops.deckhouse.plugins.module_utils._kesl import KeslError, KeslInputError
from ansible_collections.auditops.deckhouse.plugins.module_utils._kubeadm_audit import KubeadmAuditError
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper import LogShipperError
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import ManifestError
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT


@pytest.mark.parametrize("error", [
    PolicyError("rules[0].level", "Required value"), SimulationError("rules[0].level", "Required value"),
    ManifestError("rules[0].level", "Required value"), SettingsError(["rules[0].level: Required value"]),
    KubeadmAuditError(["rules[0].level: Required value"]), LogShipperError(["rules[0].level: Required value"]),
    ProbeError("rules[0].level: Required value"), KeslInputError("rules[0].level: Required value"),
    KeslError("rules[0].level: Required value", rc=1), RolloutError("rules[0].level: Required value"),
])
def test_every_engine_error_is_the_one_type(error):
    assert isinstance(error, _errors.Error)
    assert error.problems == [("rules[0].level", "Required value")]
    assert str(error) == "rules[0].level: Required value" and error.errors == ["rules[0].level: Required value"]


def test_rendering_and_failure_keys():
    error = _errors.Error([("a.b", "Required value"), ("", "no path here"), ("c[1]", "x: y")])
    assert str(error) == "a.b: Required value; no path here; c[1]: x: y"
    assert _errors.failure(error, "refused, nothing changed") == {
        "msg": "refused, nothing changed: a.b: Required value (and 2 more, see errors)",
        "errors": [{"path": "a.b", "message": "Required value"}, {"path": "", "message": "no path here"},
                   {"path": "c[1]", "message": "x: y"}]}
    assert _errors.failure("PyYAML is required") == {"msg": "PyYAML is required",
                                                     "errors": [{"path": "", "message": "PyYAML is required"}]}
    assert _errors.split("spec[a.b/c]: Unknown field") == ("spec[a.b/c]", "Unknown field")


def test_fail_json_passes_context():
    class Module(object):
        def fail_json(self, **kwargs):
            self.result = kwargs

    module = Module()
    _errors.fail_json(module, "path: /x is a directory", changed=False)
    assert module.result == {"changed": False, "msg": "path: /x is a directory",
                             "errors": [{"path": "path", "message": "/x is a directory"}]}


def test_modules_fail_only_through_the_contract():
    # module.fail_json(...) directly would skip the errors key; every module goes through _errors.fail_json.
    offenders = []
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        with open(path) as handle:
            for number, text in enumerate(handle, 1):
                if re.search(r"\bmodule\.fail_json\(", text):
                    offenders.append("%s:%d" % (os.path.basename(path), number))
    assert offenders == []
