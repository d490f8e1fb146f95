# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's verdict on every file of tests/fixtures/policies equals expected.yml (the prediction
that tests/integration/test_audit_policy_apiserver.py checks against the real kube-apiserver), and the
YAML/JSON reading details behind those verdicts."""

import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
CORPUS = os.path.join(ROOT, "tests", "fixtures", "policies")
with open(os.path.join(CORPUS, "expected.yml")) as _handle:
    EXPECTED = yaml.safe_load(_handle)["files"]
FILES = sorted(name for name in os.listdir(CORPUS) if name != "expected.yml")


def _read(name):
    with open(os.path.join(CORPUS, name), "rb") as handle:
        return handle.read()


def test_corpus_is_large_and_fully_described():
    assert len(FILES) >= 40
    assert sorted(EXPECTED) == FILES
    verdicts = [EXPECTED[name]["starts"] for name in FILES]
    lenient = [name for name in FILES if EXPECTED[name].get("lenient")]
    assert verdicts.count(True) >= 15 and verdicts.count(False) >= 15 and len(lenient) >= 10
    assert any("starts_in" in entry for entry in EXPECTED.values())


@pytest.mark.parametrize("name", FILES)
def test_engine_verdict_matches_expected(name):
    expected = EXPECTED[name]
    result = ap.load_policy(_read(name), "1.33")
    assert result.accepted is expected["starts"], result.error
    if expected["starts"]:
        assert result.lenient is expected["lenient"]
        assert result.error is None
        # What the module deploys is clean: reading it back is strict, unchanged and accepted.
        again = ap.load_policy(ap.to_yaml(result.policy))
        assert again.accepted and not again.strict_errors
        assert ap.canonical(again.policy) == ap.canonical(result.policy)
    else:
        assert result.stage == expected["stage"]
        if "error" in expected:
            assert result.error == expected["error"]
    for version, starts in expected.get("starts_in", {}).items():
        assert ap.load_policy(_read(name), version).accepted is starts


@pytest.mark.parametrize("name", [name for name in FILES if name.startswith("l-")])
def test_lenient_files_report_what_is_dropped(name):
    result = ap.check(_read(name).decode("utf-8"))
    codes = [item["code"] for item in result.findings]
    assert ("unknown-field" in codes) or ("duplicate-key" in codes)
    assert result.blocking


def test_lenient_fallback_keeps_the_last_duplicate_and_drops_unknown_fields():
    assert ap.load_policy(_read("l-duplicate-level.txt")).policy["rules"] == [{"level": "Metadata"}]
    assert ap.load_policy(_read("l-duplicate-rules.txt")).policy["rules"] == [{"level": "Metadata"}]
    typo = ap.load_policy(_read("l-rule-typo.yaml"))
    assert typo.policy["rules"][0] == {"level": "RequestResponse", "resources": [{"resources": ["configmaps"]}]}
    assert ap.load_policy(_read("l-unknown-top-field.yaml")).policy.get("omitStages") is None


def test_json_duplicate_null_keeps_the_earlier_value():
    # encoding/json decodes null into an existing string as a no-op.
    result = ap.load_policy(_read("l-json-duplicate-null.json"))
    assert result.accepted and result.policy["rules"] == [{"level": "Metadata"}]


def test_boolean_keys_yes_and_true_are_duplicates():
    result = ap.load_policy(_read("l-duplicate-true-yes.yaml"))
    assert [item["code"] for item in result.strict_errors] == ["duplicate-key"]
    assert result.policy["metadata"]["labels"] == {"true": "b"}
    # As kube-apiserver logs it (checked against the real binary): Go prints the boolean key unquoted.
    assert result.strict_error_text() == ("strict decoding error: yaml: unmarshal errors:\n"
                                          "  line 8: key true already set in map")


def test_merge_key_override_is_a_duplicate_but_the_explicit_value_wins():
    result = ap.load_policy(_read("l-merge-override.yaml"))
    assert result.strict_errors[0]["path"] == "rules[1].level"
    assert result.policy["rules"][1]["level"] == "Request"
    assert result.policy["rules"][1]["verbs"] == ["create", "update", "patch", "delete"]


@pytest.mark.parametrize("text,kind,value", [
    ("y", "bool", True), ("N", "bool", False), ("on", "bool", True), ("Off", "bool", False), ("~", "null", None),
    ("0755", "int", 493), ("0x1F", "int", 31), ("1_000", "int", 1000), ("-0b101", "int", -5), ("08", "float", 8.0),
    ("1e3", "float", 1000.0), (".5", "float", 0.5), ("2024-01-01", "str", "2024-01-01"), ("1.33", "float", 1.33),
    ("v1.33", "str", "v1.33"), ("-", "str", "-"), ("yess", "str", "yess"), ("18446744073709551615", "int", (1 << 64) - 1),
])
def test_go_yaml_scalar_resolution(text, kind, value):
    assert ap.go_resolve_plain(text) == (kind, value)


def test_first_document_only_and_flow_style_detection():
    assert ap.load_policy(_read("v-multi-document.txt")).more_documents
    assert ap.load_policy(_read("i-flow-yaml-as-json.yaml")).stage == "syntax"
    assert ap.load_policy(_read("v-flow-after-marker.yaml")).accepted


def test_recursive_anchor_is_refused():
    text = "apiVersion: audit.k8s.io/v1\nrules: &r\n- level: Metadata\n  x: *r\n"
    result = ap.load_policy(text)
    assert not result.accepted and "contains itself" in result.error


def test_dict_input_is_read_like_decoded_json():
    result = ap.load_policy({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Metadata", "Verbs": ["get"]}]})
    assert result.format == "data" and result.accepted and result.lenient
    assert ap.load_policy({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "None", "users": [True]}]}).stage == "decode"
    with pytest.raises(ap.PolicyError):
        ap.load_policy(["not", "a", "policy"])
