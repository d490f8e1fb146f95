# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one OpenAPI trim+validate module both schema engines and both generators use."""

from __future__ import annotations

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _cpm_settings as cpm
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _openapi as oa

PORT = {"type": "object", "properties": {"port": {"type": "integer"}}}


# kube-openapi pkg/validation/validate/type.go (isFloatInt with go-openapi/swag IsFloat64AJSONInteger):
# a float64 that is whole and within +-(2**53 - 1) passes for type: integer.
@pytest.mark.parametrize("value, ok", [
    (3, True), (3.0, True), (-3.0, True), (0.0, True), (float(2 ** 53 - 1), True),
    (3.5, False), (float(2 ** 53), False), (1e300, False), (float("inf"), False), (float("nan"), False),
    (True, False), ("3", False), (None, False),
])
def test_integer_question_decided_as_kube_apiserver_does(value, ok):
    assert oa.is_integer(value) is ok
    errors = oa.validate({"port": value}, PORT, "spec") if value is not None else []
    if value is not None:
        assert (errors == []) is ok, errors


def test_both_engines_agree_on_integers():
    # They used to disagree: the settings engine took 3.0, the log-shipper engine refused it.
    assert ls.validate({"port": 3.0}, PORT, "spec") == []
    assert ls.validate({"port": 3.5}, PORT, "spec") == ["spec.port: Invalid value: number: must be of type integer"]
    errors, _warnings = cpm.validate_settings({"apiserver": {"publishAPI": {"loadBalancer": {"port": 443.0}}}}, 3)
    assert errors == []
    errors, _warnings = cpm.validate_settings({"apiserver": {"publishAPI": {"loadBalancer": {"port": 443.5}}}}, 3)
    assert errors == ["spec.settings.apiserver.publishAPI.loadBalancer.port: Invalid value: number: must be of type "
                      "integer"]


def test_int_or_string_takes_a_whole_float():
    schema = {"type": "object", "properties": {"size": {"x-kubernetes-int-or-string": True}}}
    assert oa.validate({"size": 2.0}, schema, "spec") == []
    assert oa.validate({"size": 2.5}, schema, "spec") == ["spec.size: Invalid value: number: must be an integer or a string"]


def test_unknown_field_wording_is_the_callers():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert oa.validate({"b": "x"}, schema, "s") == ["s.b: " + oa.UNKNOWN_PRUNED]
    assert oa.validate({"b": "x"}, schema, "s", unknown="Forbidden: no") == ["s.b: Forbidden: no"]


def test_exclusive_minimum_message_says_what_it_checks():
    schema = {"type": "integer", "minimum": 1, "exclusiveMinimum": True}
    assert oa.validate(1, schema, "n") == ["n: Invalid value: 1: must be greater than 1"]
    assert oa.validate(2, schema, "n") == []


def test_defaults_applied_only_when_asked():
    schema = {"type": "object", "properties": {"mode": {"type": "string", "default": "TCP"}},
              "oneOf": [{"required": ["mode"]}]}
    assert oa.validate({}, schema, "spec") == []
    assert oa.validate({}, schema, "spec", defaults=False) == [
        "spec: Invalid value: must validate one and only one schema (oneOf); closest: spec.mode: Required value"]


def test_trim_keeps_validation_keys_only():
    schema = {"type": "object", "description": "d", "x-doc-default": 1, "properties": {
        "a": {"type": "string", "description": "x", "enum": ["p"], "x-kubernetes-validations": [
            {"rule": "self != ''", "message": "m", "extra": 1}]}}}
    assert oa.trim(schema) == {"type": "object", "properties": {"a": {"type": "string", "enum": ["p"],
                               "x-kubernetes-validations": [{"rule": "self != ''", "message": "m"}]}}}


@pytest.mark.parametrize("value,ok", [
    ("/var/log/kube-audit", True), ("/var/log/kube-audit\n", False), ("/var/log/kube-audit\n--x", False),
])
def test_a_pattern_end_anchor_is_the_end_of_the_text_as_in_go(value, ok):
    """Python's $ also matches before a final newline; Go's (the apiserver's) does not (issue 18 item 9)."""
    errors = oa.validate(value, {"type": "string", "pattern": "^[a-zA-Z0-9_/.-]+[a-zA-Z0-9_.-]$"})
    assert (errors == []) is ok, errors


@pytest.mark.parametrize("pattern,value,ok", [
    ("^[$a]+$", "$a", True), ("^[]$]+$", "]$", True), ("^[^$]+$", "a$", False), (r"^a\$$", "a$", True),
])
def test_a_dollar_in_a_class_or_escaped_stays_a_character(pattern, value, ok):
    assert bool(oa.go_pattern(pattern).search(value)) is ok
