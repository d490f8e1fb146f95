# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/troubleshooting.md explains every error message the modules (and the engines behind them) raise.

The static text of each message - the longest piece between its ``%s`` placeholders - must appear on the
page, so a new or reworded error cannot ship without its cause and fix.
"""

import ast
import glob
import os
import re

import pytest
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
DOC = os.path.join(ROOT, "docs", "troubleshooting.md")
# Engines whose exceptions reach users as module failures. The audit policy engine is left out: its messages
# are kube-apiserver's own (field path first), and the page explains them as a class.
ENGINES = ("_kesl", "_apiserver_probe", "_apiserver_manifest", "_io", "_log_shipper", "_log_shipper_common",
           "_log_shipper_profile", "_log_shipper_input", "_log_shipper_destination", "_log_shipper_sinks",
           "_log_shipper_source", "_log_shipper_render", "_cpm_settings", "_kubeadm_audit", "_audit_simulate", "_k8s_read")
ERRORS = ("KeslError", "KeslInputError", "ProbeError", "ManifestError", "LogShipperError", "SettingsError",
          "KubeadmAuditError", "SimulationError", "ReadError")
PLACEHOLDER = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrif]")


def _format(node):
    """The format string of a message expression ('...' % x, '...' + '...', ['...' % x]), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _format(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "%s".join(part or "" for part in (_format(node.left), _format(node.right)))
    if isinstance(node, ast.List) and node.elts:
        return _format(node.elts[0])
    return None


def _fragment(text):
    pieces = [p.strip(" :;,.()'\"") for p in PLACEHOLDER.split(text)]
    pieces = [p for p in pieces if len(p) >= 10]
    return max(pieces, key=len) if pieces else None


def messages():
    paths = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
    paths += [os.path.join(ROOT, "plugins", "module_utils", name + ".py") for name in ENGINES]
    found = []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name == "fail_json":
                # module.fail_json(msg=...) or the collection's fail_json(module, error, what) (_errors.py)
                args = [k.value for k in node.keywords if k.arg in ("msg", "what")] + list(node.args[1:])
            elif name in ERRORS:
                args = node.args
            else:
                continue
            texts = [_format(arg) for arg in args]
            fragment = _fragment(max((t for t in texts if t), key=len, default=""))
            if fragment:
                found.append(("%s:%d" % (os.path.basename(path), node.lineno), fragment))
    return found


def _normalized(text):
    return re.sub(r"\s+", " ", text.replace("`", ""))


def test_the_scan_finds_the_messages():
    found = dict(messages())
    # A few known messages, so a broken scan cannot pass by finding nothing.
    assert len(found) > 60
    assert any("refusing to take over objects this role does not own" in f for f in found.values())
    assert any("KESL is not installed on this node" in f for f in found.values())


@pytest.mark.parametrize("where, fragment", messages())
def test_troubleshooting_explains_the_message(where, fragment):
    with open(DOC) as handle:
        doc = _normalized(handle.read())
    assert _normalized(fragment) in doc, "%s: %r is not explained in docs/troubleshooting.md" % (where, fragment)
