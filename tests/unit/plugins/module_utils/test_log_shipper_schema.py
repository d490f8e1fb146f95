# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The committed schema module is what tools/gen_log_shipper_schema.py makes of the CRD files."""

import ast
import os
import sys


from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_schema import SNAPSHOTS
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
OUTPUT = os.path.join(ROOT, "plugins", "module_utils", "_log_shipper_schema.py")
SOURCE = _paths.REFERENCE
needs_source = _paths.needs(SOURCE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import _schema_emit  # noqa: E402  (tools/ is not a package)
import gen_log_shipper_schema as generator  # noqa: E402


@needs_source
def test_committed_schema_is_fresh():
    with open(OUTPUT) as handle:
        committed = handle.read()
    assert generator.generate(SOURCE) == committed, "stale: run python tools/gen_log_shipper_schema.py"


@needs_source
def test_check_mode_detects_a_stale_file(tmp_path):
    stale = tmp_path / "schema.py"
    stale.write_text("SNAPSHOTS = {}\n")
    assert generator.main(["--check", "--output", str(stale)]) == 1
    assert generator.main(["--output", str(stale)]) == 0
    assert generator.main(["--check", "--output", str(stale)]) == 0


def test_literal_writer_round_trips():
    value = {"b": [1, 2.5, None, True, {"x": "y" * 400}], "a": {}, "c": [], "d": "it's \\ \"quoted\""}
    text = _schema_emit.py_literal(value)
    assert ast.literal_eval(text) == value
    assert max(len(line) for line in text.splitlines()) <= 150


def test_snapshot_holds_only_validation_keys():
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                assert key not in ("description", "descriptions", "x-doc-examples"), key
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    for snapshot in SNAPSHOTS.values():
        walk([crd["spec"]["versions"] for crd in snapshot["crds"]])
        assert sorted(crd["spec"]["names"]["kind"] for crd in snapshot["crds"]) == sorted(ls.KINDS)


def test_upstream_crd_files_are_not_in_the_project():
    found = []
    for directory, _dirs, files in os.walk(ROOT):
        if any(part.startswith(".") for part in os.path.relpath(directory, ROOT).split(os.sep) if part != "."):
            continue
        found.extend(os.path.join(directory, f) for f in files if f.startswith("log-shipper-crd-"))
    assert found == []
