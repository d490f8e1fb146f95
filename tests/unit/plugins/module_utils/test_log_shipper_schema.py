# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the committed log-shipper schema module holds (that it is fresh: tests/unit/tools/test_schema_generators.py)."""

import os

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_schema import SNAPSHOTS
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT


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
