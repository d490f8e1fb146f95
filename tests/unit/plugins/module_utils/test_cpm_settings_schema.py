# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the committed settings schema module holds, and what makes it stale (that it is fresh:
tests/unit/tools/test_schema_generators.py)."""

import os
import sys

import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_settings_schema import SNAPSHOTS
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
OUTPUT = os.path.join(ROOT, "plugins", "module_utils", "_cpm_settings_schema.py")
SOURCE = _paths.REFERENCE
needs_source = _paths.needs(SOURCE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen_cpm_settings_schema as generator  # noqa: E402  (tools/ is not a package)


@needs_source
def test_a_changed_reference_file_makes_the_module_stale(tmp_path):
    for name in os.listdir(SOURCE):
        if name.startswith("control-plane-manager-openapi-config-values"):
            (tmp_path / name).write_bytes(open(os.path.join(SOURCE, name), "rb").read())
    target = tmp_path / "control-plane-manager-openapi-config-values.yaml"
    document = yaml.safe_load(target.read_text())
    document["properties"]["apiserver"]["properties"]["auditLog"]["properties"]["output"]["enum"].append("Syslog")
    target.write_text(yaml.safe_dump(document))
    assert generator.main(["--check", "--source-dir", str(tmp_path), "--output", OUTPUT]) == 1


@needs_source
def test_snapshots_keep_the_audit_keys_of_the_source():
    files = generator.SNAPSHOTS
    for name, snapshot in SNAPSHOTS.items():
        with open(os.path.join(SOURCE, files[name]["file"])) as handle:
            source = yaml.safe_load(handle)
        audit_log = source["properties"]["apiserver"]["properties"]["auditLog"]
        trimmed = snapshot["schema"]["properties"]["apiserver"]["properties"]["auditLog"]
        assert trimmed["required"] == audit_log["required"] == ["output"]
        assert trimmed["properties"]["output"]["enum"] == audit_log["properties"]["output"]["enum"]
        assert trimmed["properties"]["path"]["pattern"] == audit_log["properties"]["path"]["pattern"]


def test_versions_of_the_snapshots():
    assert SNAPSHOTS["latest"]["config_version"] == 3
    assert SNAPSHOTS["2025-01"]["config_version"] == 1


def test_snapshots_hold_only_validation_keys():
    def walk(node, in_properties=False):
        if isinstance(node, dict):
            for key, value in node.items():
                if not in_properties:
                    assert key not in ("description", "x-examples", "x-doc-example", "x-doc-default"), key
                walk(value, in_properties=(key == "properties" and not in_properties))
        elif isinstance(node, list):
            for value in node:
                walk(value)
    for snapshot in SNAPSHOTS.values():
        walk(snapshot["schema"])


def test_upstream_schema_files_are_not_in_the_project():
    found = []
    for directory, _dirs, files in os.walk(ROOT):
        if any(part.startswith(".") for part in os.path.relpath(directory, ROOT).split(os.sep) if part != "."):
            continue
        found.extend(os.path.join(directory, f) for f in files
                     if f.startswith("control-plane-manager-openapi") or f == "config-values.yaml")
    assert found == []
