# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The three generators of committed files (tools/gen_*.py, their command line in tools/_schema_emit.py): each
committed file is what its generator makes of the upstream reference, --check sees a stale one, and a missing
reference is refused. What each generated file must hold is tested beside its engine (test_cpm_settings_schema.py,
test_log_shipper_schema.py, test_gen_test_crds.py)."""

import ast
import importlib
import os
import sys

import pytest

from ansible_collections.auditops.deckhouse.tests import _paths

sys.path.insert(0, os.path.join(_paths.ROOT, "tools"))
import _schema_emit  # noqa: E402  (tools/ is not a package)

# generator -> the committed file it writes
GENERATORS = {
    "gen_cpm_settings_schema": os.path.join("plugins", "module_utils", "_cpm_settings_schema.py"),
    "gen_log_shipper_schema": os.path.join("plugins", "module_utils", "_log_shipper_schema.py"),
    "gen_test_crds": os.path.join("tests", "cluster", "_crds.py"),
}
needs_source = _paths.needs(_paths.REFERENCE)


@pytest.fixture(params=sorted(GENERATORS))
def generator(request):
    return importlib.import_module(request.param)


def test_each_generator_writes_its_committed_file(generator):
    assert generator.OUTPUT == os.path.join(_paths.ROOT, GENERATORS[generator.__name__])


@needs_source
def test_committed_file_is_fresh(generator):
    with open(generator.OUTPUT) as handle:
        committed = handle.read()
    assert generator.generate(_paths.REFERENCE) == committed, "stale: run python tools/%s.py" % generator.__name__


@needs_source
def test_check_mode_detects_a_stale_file(generator, tmp_path):
    stale = tmp_path / "generated.py"
    stale.write_text("SNAPSHOTS = {}\n")
    assert generator.main(["--check", "--output", str(stale)]) == 1
    assert generator.main(["--output", str(stale)]) == 0
    assert generator.main(["--check", "--output", str(stale)]) == 0


def test_a_missing_reference_is_refused(generator, tmp_path, capsys):
    output = tmp_path / "generated.py"
    assert generator.main(["--check", "--source-dir", str(tmp_path / "absent"), "--output", str(output)]) == 2
    assert str(tmp_path / "absent") in capsys.readouterr().err
    assert not output.exists()


def test_literal_writer_round_trips():
    value = {"b": [1, 2.5, None, True, {"x": "y" * 400}], "a": {}, "c": [], "d": "it's \\ \"quoted\""}
    text = _schema_emit.py_literal(value)
    assert ast.literal_eval(text) == value
    assert max(len(line) for line in text.splitlines()) <= 150
