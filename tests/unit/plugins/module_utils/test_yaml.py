# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one YAML writer: both layouts read back as what was written (YAML 1.1 reader: PyYAML)."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _yaml

VALUE = {"a": ["x", {"b": 1, "c": [True, None, 1.5]}], "empty": {}, "none": [], "k:v": "system:nodes",
         "words": ["yes", "No", "on", "~", "0777", "1e3", "2025-01-01", "-1", ".inf", "x:", "*x", "a b"]}
LAYOUTS = [{}, {"indent_sequences": True, "explicit_start": True, "plain_punctuation": False}]


@pytest.mark.parametrize("style", LAYOUTS)
def test_dump_reads_back(style):
    assert yaml.safe_load(_yaml.dump(VALUE, **style)) == VALUE


def test_layouts():
    value = {"rules": [{"level": "None", "users": ["system:kube-proxy"]}]}
    assert _yaml.dump(value) == "rules:\n- level: None\n  users:\n  - system:kube-proxy\n"
    assert _yaml.dump(value, indent_sequences=True, explicit_start=True, plain_punctuation=False) == (
        '---\nrules:\n  - level: None\n    users:\n      - "system:kube-proxy"\n')


# Characters a YAML reader does not keep raw inside a double-quoted scalar: DEL is not printable (YAML 1.1
# 5.1), so PyYAML refuses the file; NEL (U+0085) is a line break that folding turns into a space. The
# log-shipper writer used json.dumps, which left them raw (bug, fixed: the one writer escapes them).
@pytest.mark.parametrize("text", ["a\x7fb", "a\x85b", "a\u2028b", "a\u2029b", "tab\there", "cr\rlf\n", "\ufeffbom"])
def test_special_characters_survive_both_layouts(text):
    obj = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination", "metadata": {"name": "x"},
           "spec": {"extraLabels": {"note": text}}}
    assert yaml.safe_load(ls.to_yaml(obj)) == obj
    assert yaml.safe_load(_yaml.dump(obj)) == obj


@pytest.mark.parametrize("text, kind, value", [
    ("yes", "bool", True), ("0x1F", "int", 31), ("0777", "int", 511), ("1_000", "int", 1000), ("1e3", "float", 1000.0),
    ("2025-01-01", "str", "2025-01-01"), ("~", "null", None), ("abc", "str", "abc"),
])
def test_go_resolve_plain(text, kind, value):
    assert _yaml.go_resolve_plain(text) == (kind, value)


@pytest.mark.parametrize("key, text", [("a", "a"), (True, "true"), (False, "false"), (7, "7"), (-1, "-1"),
                                       (1.5, "1.5"), (float("nan"), ".nan"), (float("inf"), ".inf"),
                                       (float("-inf"), "-.inf"), (None, None), ((1, 2), None)])
def test_go_json_key(key, text):
    assert _yaml.go_json_key(key) == text


def test_map_keys_in_both_go_readers():
    # The policy reader reads map keys as sigs.k8s.io/yaml does; the static pod loader shares that and refuses
    # the keys no Pod field can have.
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_read import _key_text
    assert [_key_text(key) for key in ("x", 1, True, float("nan"))] == ["x", "1", "true", ".nan"]
    assert _yaml.go_load_all("a:\n  1: x\n  true: z\n") == [{"a": {"1": "x", "true": "z"}}]
    with pytest.raises(_yaml.GoYamlError, match="line 2: unsupported map key"):
        _yaml.go_load_all("a:\n  .nan: x\n")
    with pytest.raises(_yaml.GoYamlError, match="line 2: unsupported map key"):
        _yaml.go_load_all("a:\n  ~: x\n")
