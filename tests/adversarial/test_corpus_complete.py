# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module and every role has at least one hostile-input case in this corpus (issue 18, "Done when"): a call of
_harness.refuse(<module>, ...) or _harness.refuse_role(<tmp>, "<role>", ...), which assert the refusal names the
field, nothing changed and no secret shows. A new module or role without one fails here."""

import ast
import glob
import os

from ansible_collections.auditops.deckhouse.tests.adversarial._harness import ROOT

HERE = os.path.join(ROOT, "tests", "adversarial")


def covered():
    """(modules, roles) that some corpus file refuses."""
    modules, roles = set(), set()
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        with open(path) as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "refuse" and node.args and isinstance(node.args[0], ast.Name):
                modules.add(node.args[0].id)
            if node.func.id == "refuse_role" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                roles.add(node.args[1].value)
    return modules, roles


def test_every_module_has_a_hostile_input_case():
    modules = sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                     if not os.path.basename(path).startswith("_"))
    assert len(modules) >= 14
    missing = sorted(set(modules) - covered()[0])
    assert not missing, "modules without a refuse(...) case in tests/adversarial/: %s" % missing


def test_every_role_has_a_hostile_input_case():
    roles = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, "roles", "*"))
                   if os.path.isdir(os.path.join(path, "tasks")))
    assert len(roles) >= 6
    missing = sorted(set(roles) - covered()[1])
    assert not missing, "roles without a refuse_role(...) case in tests/adversarial/: %s" % missing
