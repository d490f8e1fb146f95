# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lint findings, Deckhouse composition, presets and the YAML writer of the audit policy engine."""

import base64

import re

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_decode
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap

V1 = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"


def _policy(*rules, **extra):
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": list(rules)}
    policy.update(extra)
    return policy


def _codes(findings, code=None):
    if code:
        return [item["path"] for item in findings if item["code"] == code]
    return sorted(set(item["code"] for item in findings))


CATCH_ALL = {"level": "Metadata"}


# --- lint ----------------------------------------------------------------------------------------------

def test_clean_policy_has_no_warnings():
    policy = _policy({"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
                     {"level": "Request", "verbs": ["create"], "resources": [{"group": "apps", "resources": ["deployments"]}]},
                     CATCH_ALL, omitStages=["RequestReceived"])
    assert [item for item in ap.lint(policy) if item["severity"] != "info"] == []


def test_verb_case_unknown_verbs_and_literal_star():
    findings = ap.lint(_policy({"level": "None", "verbs": ["GET", "read", "*", "post"]}, CATCH_ALL))
    assert _codes(findings, "verb-case") == ["rules[0].verbs[0]"]
    assert _codes(findings, "unknown-verb") == ["rules[0].verbs[1]"]
    assert _codes(findings, "wildcard-literal") == ["rules[0].verbs[2]"]  # "post" is a real non-resource verb


def test_literal_star_in_users_groups_namespaces_and_names():
    rule = {"level": "None", "users": ["system:*"], "userGroups": ["*"], "namespaces": ["kube-*"],
            "resources": [{"resources": ["configmaps"], "resourceNames": ["lead*"]}]}
    assert _codes(ap.lint(_policy(rule, CATCH_ALL)), "wildcard-literal") == [
        "rules[0].users[0]", "rules[0].userGroups[0]", "rules[0].namespaces[0]",
        "rules[0].resources[0].resourceNames[0]"]


@pytest.mark.parametrize("group,resource,flagged", [
    ("", "deployments", True),     # Falco's sample policy lists deployments under the core group
    ("apps", "pods", True),
    ("", "clusterroles", True),
    ("discovery.k8s.io", "endpointslices", False),
    ("", "endpointslices", True),
    ("", "events", False),          # events are served by both groups
    ("events.k8s.io", "events", False),
    ("example.com", "pods", False),  # custom groups are not judged
    ("", "pods/exec", False),
    ("apps", "deployments/scale", False),
    ("", "*", False),
])
def test_wrong_api_group(group, resource, flagged):
    findings = ap.lint(_policy({"level": "Request", "resources": [{"group": group, "resources": [resource]}]}, CATCH_ALL))
    assert bool(_codes(findings, "wrong-api-group")) is flagged


def test_resource_case_format_and_removed_group():
    findings = ap.lint(_policy({"level": "None", "resources": [{"resources": ["Pods", "pods/*/log", "pods/"]},
                                                               {"group": "extensions", "resources": ["ingresses"]}]},
                               CATCH_ALL))
    assert _codes(findings, "resource-case") == ["rules[0].resources[0].resources[0]"]
    assert _codes(findings, "resource-format") == ["rules[0].resources[0].resources[1]",
                                                   "rules[0].resources[0].resources[2]"]
    assert _codes(findings, "legacy-api-group") == ["rules[0].resources[1].group"]


def test_resource_names_with_verbs_that_carry_no_name():
    rule = {"level": "None", "verbs": ["list", "watch"],
            "resources": [{"resources": ["configmaps"], "resourceNames": ["a"]}]}
    assert _codes(ap.lint(_policy(rule, CATCH_ALL)), "resource-names-unnamed-verbs") == [
        "rules[0].resources[0].resourceNames"]
    rule["verbs"] = ["get", "list"]
    assert _codes(ap.lint(_policy(rule, CATCH_ALL)), "resource-names-unnamed-verbs") == []


@pytest.mark.parametrize("first,later,shadowed", [
    ({"level": "Metadata"}, {"level": "Request", "verbs": ["create"]}, True),
    ({"level": "None", "verbs": ["get", "list"]}, {"level": "Request", "verbs": ["get"]}, True),
    ({"level": "None", "verbs": ["get"]}, {"level": "Request", "verbs": ["get", "list"]}, False),
    ({"level": "None", "verbs": ["get"]}, {"level": "Request"}, False),
    ({"level": "None", "users": ["a", "b"]}, {"level": "Request", "users": ["a"], "verbs": ["get"]}, True),
    ({"level": "None", "userGroups": ["g"]}, {"level": "Request", "users": ["a"]}, False),
    ({"level": "None", "resources": [{"resources": ["pods/*"]}]},
     {"level": "Request", "resources": [{"resources": ["pods", "pods/log"]}]}, True),
    ({"level": "None", "resources": [{"resources": ["*/status"]}]},
     {"level": "Request", "resources": [{"resources": ["pods/status"]}]}, True),
    ({"level": "None", "resources": [{"resources": ["pods"]}]},
     {"level": "Request", "resources": [{"resources": ["pods/log"]}]}, False),
    ({"level": "None", "resources": [{"group": "apps"}]},
     {"level": "Request", "resources": [{"group": "apps", "resources": ["deployments"], "resourceNames": ["x"]}]}, True),
    ({"level": "None", "resources": [{"resources": ["configmaps"], "resourceNames": ["x"]}]},
     {"level": "Request", "resources": [{"resources": ["configmaps"]}]}, False),
    ({"level": "None", "namespaces": ["a", "b"]}, {"level": "Request", "namespaces": ["a"], "verbs": ["get"]}, True),
    ({"level": "None", "namespaces": ["a"]}, {"level": "Request", "verbs": ["get"]}, False),
    ({"level": "None", "nonResourceURLs": ["/api*"]}, {"level": "Request", "nonResourceURLs": ["/apis/x*", "/api"]}, True),
    ({"level": "None", "nonResourceURLs": ["/api*"]}, {"level": "Request", "nonResourceURLs": ["/healthz"]}, False),
    ({"level": "None", "nonResourceURLs": ["*"]}, {"level": "Request", "resources": [{"resources": ["pods"]}]}, False),
    ({"level": "None", "resources": [{"resources": ["pods"]}]}, {"level": "Request", "nonResourceURLs": ["/x"]}, False),
])
def test_shadowed_rules(first, later, shadowed):
    findings = ap.lint(_policy(first, later, CATCH_ALL))
    assert ("rules[1]" in _codes(findings, "shadowed-rule")) is shadowed
    assert ap.rule_covers(first, later) is shadowed


def test_everything_after_a_catch_all_is_shadowed():
    findings = ap.lint(_policy({"level": "None"}, {"level": "Metadata", "verbs": ["delete"]}, CATCH_ALL))
    assert _codes(findings, "shadowed-rule") == ["rules[1]", "rules[2]"]
    assert "is a catch-all" in [item for item in findings if item["code"] == "shadowed-rule"][0]["message"]


def test_group_wildcard_shadows_only_where_it_is_valid():
    first = {"level": "None", "resources": [{"group": "*", "resources": ["*/status"]}]}
    later = {"level": "Request", "resources": [{"group": "apps", "resources": ["deployments/status"]}]}
    assert ap.rule_covers(first, later, "1.36")
    assert not ap.rule_covers(first, later, "1.35")


def test_no_catch_all():
    assert _codes(ap.lint(_policy({"level": "Metadata", "verbs": ["create"]})), "no-catch-all") == ["rules"]
    assert _codes(ap.lint(_policy({"level": "Metadata", "verbs": ["create"]}, {"level": "None"})), "no-catch-all") == []


@pytest.mark.parametrize("rules,leaks", [
    ([{"level": "Request"}], True),             # secret writes carry the data in the request body
    ([{"level": "Request", "verbs": ["get", "list", "watch"]}], False),  # reads have no request body
    ([{"level": "RequestResponse", "verbs": ["get"]}], True),
    ([{"level": "Metadata", "resources": [{"resources": ["secrets", "serviceaccounts/token"]},
                                          {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]},
      {"level": "RequestResponse"}], False),
    ([{"level": "RequestResponse", "namespaces": ["kube-system"], "resources": [{"resources": ["secrets"]}]}], True),
    ([{"level": "RequestResponse", "resources": [{"group": "apps"}]}], False),
])
def test_sensitive_bodies(rules, leaks):
    findings = ap.lint(_policy(*(rules + [{"level": "None"}])))
    assert bool(_codes(findings, "sensitive-body")) is leaks


def test_exec_detection_findings():
    blind = ap.lint(_policy({"level": "None", "resources": [{"resources": ["pods/exec", "pods/attach"]}]}, CATCH_ALL))
    assert _codes(blind, "exec-not-audited") == ["rules[0]"]
    no_started = ap.lint(_policy(CATCH_ALL, omitStages=["RequestReceived", "ResponseStarted"]))
    assert _codes(no_started, "exec-response-started-omitted") == ["rules[0]"]
    fine = ap.lint(_policy({"level": "Metadata", "omitStages": ["RequestReceived"]}))
    assert not _codes(fine, "exec-not-audited") and not _codes(fine, "exec-response-started-omitted")


def test_dropped_fields_explain_their_effect():
    result = ap.check(V1 + "rules:\n- level: None\n  resources:\n  - resources: [leases]\n    group: coordination.k8s.io\n"
                      "    verbs: [get]\n- Level: Metadata\n  level: Metadata\n  nonResourceUrls: [/x]\n")
    messages = dict((item["path"], item["message"]) for item in result.findings if item["code"] == "unknown-field")
    assert "rules[0] no longer restricts verbs" in messages["rules[0].resources[0].verbs"]
    assert 'did you mean "level"' in messages["rules[1].Level"]
    assert 'did you mean "nonResourceURLs"' in messages["rules[1].nonResourceUrls"]
    assert result.apiserver_accepts and result.blocking


def test_refused_policy_findings_are_errors_with_paths():
    result = ap.check(V1 + "rules:\n- level: Everything\n- verbs: [get]\n")
    assert not result.apiserver_accepts and result.policy is None and result.policy_yaml is None
    assert [(item["severity"], item["path"]) for item in result.findings] == [
        ("error", "rules[0].level"), ("error", "rules[1].level")]
    decode = ap.check(V1 + "rules:\n- level: Metadata\n  users: alice\n")
    assert decode.findings[0]["code"] == "decode-error" and decode.findings[0]["path"] == "rules[0].users"


# --- Deckhouse -------------------------------------------------------------------------------------------

def test_kubeadm_target_is_the_policy_itself():
    policy = _policy(CATCH_ALL)
    composition = ap.compose(policy, "kubeadm")
    assert composition.policy == _audit_decode._decode_data(policy) and composition.shadowed == []


def test_deckhouse_wraps_user_rules_in_basic_rules():
    pre, post = ap.deckhouse_basic_rules()
    composition = ap.compose(_policy({"level": "RequestResponse", "resources": [{"group": "apps"}]},
                                     omitStages=["RequestReceived"], omitManagedFields=True,
                                     metadata={"name": "x"}), "deckhouse", True)
    rules = composition.policy["rules"]
    assert len(rules) == len(pre) + 1 + len(post) and composition.user_offset == len(pre) == 26
    assert rules[len(pre)] == {"level": "RequestResponse", "resources": [{"group": "apps"}]}
    assert rules[-2:] == [{"level": "None", "userGroups": ["system:authenticated"]}, {"level": "Metadata"}]
    assert composition.policy["omitStages"] == ["RequestReceived"]
    assert "omitManagedFields" not in composition.policy and "metadata" not in composition.policy
    assert sorted(_codes(composition.findings, "deckhouse-dropped-field")) == ["metadata", "omitManagedFields"]
    assert ap.validate(composition.policy) == []


def test_deckhouse_basic_policy_off_and_old_layout():
    off = ap.compose(_policy(CATCH_ALL), "deckhouse", False)
    assert off.policy["rules"] == [CATCH_ALL] and off.shadowed == []
    old = ap.compose(_policy(CATCH_ALL), "deckhouse", True, layout="2025-01")
    assert len(old.policy["rules"]) == 13 and old.policy["rules"][-1] == CATCH_ALL
    extra = ap.compose(_policy(CATCH_ALL), "deckhouse", True, extra_service_accounts=["system:serviceaccount:x:y"])
    assert "system:serviceaccount:x:y" in extra.policy["rules"][11]["users"]


def test_deckhouse_reports_fully_and_partly_shadowed_user_rules():
    user = _policy({"level": "RequestResponse", "verbs": ["list"], "resources": [{"resources": ["pods"]}]},
                   {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
                   {"level": "RequestResponse", "verbs": ["create", "update"], "resources": [{"resources": ["pods"]}]},
                   {"level": "Metadata", "resources": [{"group": "apps"}]})
    composition = ap.compose(user, "deckhouse", True)
    by_rule = dict((item["rule"], item) for item in composition.shadowed)
    # list is always decided by basic rule 14 (Metadata); pod writes by rule 12 (Request).
    assert by_rule[0]["fully"] and by_rule[0]["shadowed_by"][0]["index"] == 14
    assert by_rule[2]["fully"] and by_rule[2]["shadowed_by"][0]["level"] == "Request"
    assert by_rule[1]["fully"] and by_rule[1]["shadowed_by"][0]["index"] == 1
    assert _codes(composition.findings, "deckhouse-redundant") == ["rules[1]"]  # same level: nothing is lost
    assert not by_rule[3]["fully"]  # apps writes in d8-* namespaces are decided earlier, the rest is not
    assert _codes(composition.findings, "deckhouse-shadowed") == ["rules[0]", "rules[2]"]
    # The findings number the basic rules as shadowed_by[].index and effective_policy.rules do (from 0).
    messages = dict((item["path"], item["message"]) for item in composition.findings
                    if item["code"] in ("deckhouse-shadowed", "deckhouse-redundant", "deckhouse-overlap"))
    for rule, item in by_rule.items():
        numbers = [int(n) for n in re.findall(r"(?:basic rule |: |; )(\d+) \(", messages["rules[%d]" % rule])]
        assert numbers == [entry["index"] for entry in item["shadowed_by"]], messages["rules[%d]" % rule]
        for entry in item["shadowed_by"]:
            assert composition.policy["rules"][entry["index"]]["level"] == entry["level"]
    # And the effective policy proves it.
    list_pods = {"user": "alice", "groups": ["system:authenticated"], "verb": "list", "namespace": "a",
                 "resource": "pods"}
    assert ap.evaluate(composition.policy, list_pods).level == "Metadata"
    assert ap.evaluate(user, list_pods).level == "RequestResponse"


def test_deckhouse_final_rules_hide_authenticated_requests():
    user = _policy({"level": "Metadata", "verbs": ["create"]})
    composition = ap.compose(user, "deckhouse", True)
    get_cm = {"user": "alice", "groups": ["system:authenticated"], "verb": "get", "namespace": "a",
              "resource": "configmaps", "name": "c"}
    assert ap.evaluate(composition.policy, get_cm).level == "None"
    anonymous = dict(get_cm, user="system:anonymous", groups=["system:unauthenticated"])
    assert ap.evaluate(composition.policy, anonymous).level == "Metadata"
    assert _codes(composition.findings, "deckhouse-final-rules") == ["rules"]


def test_deckhouse_exec_detection_on_the_effective_policy():
    # Deckhouse's basic rules audit attach but not exec; the final None hides authenticated users.
    writes_only = ap.compose(_policy({"level": "Metadata", "verbs": ["delete"]}), "deckhouse", True)
    paths = _codes(writes_only.findings, "deckhouse-exec-not-audited")
    assert paths == ["effective_policy.rules[27]"]  # 26 basic rules, 1 user rule, then None for system:authenticated
    assert writes_only.policy["rules"][27] == {"level": "None", "userGroups": ["system:authenticated"]}
    message = [item["message"] for item in writes_only.findings if item["code"] == "deckhouse-exec-not-audited"][0]
    assert message.startswith("on Deckhouse: create pods/exec, get pods/exec by an ordinary user is not audited")
    assert not _codes(ap.compose(ap.preset("security"), "deckhouse", True).findings, "deckhouse-exec-not-audited")
    assert not _codes(ap.compose(ap.preset("minimal"), "deckhouse", True).findings, "deckhouse-exec-not-audited")


def test_deckhouse_hook_parsing():
    # Strict: unknown and duplicate keys fail; field names match case-insensitively; apiVersion is not checked.
    assert not ap.deckhouse_parse(V1 + "rules:\n- level: Metadata\n  verb: [get]\n").accepted
    assert not ap.deckhouse_parse(V1 + "rules:\n- level: Metadata\n  level: None\n").accepted
    hook = ap.deckhouse_parse("apiVersion: audit.k8s.io/v1beta1\nrules:\n- Level: Metadata\n  users: [1234, yes]\n")
    assert hook.accepted and hook.rules == [{"level": "Metadata", "users": ["1234", "true"]}]
    assert "invalid audit-policy.yaml format" in ap.deckhouse_parse(V1 + "rules: {level: x}\n").error
    assert ap.deckhouse_parse("").accepted and ap.deckhouse_parse("").rules == []
    flow = ap.deckhouse_parse("{apiVersion: audit.k8s.io/v1, rules: [{level: Metadata}]}")
    assert flow.accepted and flow.rules == [{"level": "Metadata"}]


def test_check_for_deckhouse_reports_hook_refusal_of_the_given_text():
    result = ap.check(V1 + "rules:\n- level: Metadata\n  verb: [get]\n", target="deckhouse")
    assert result.apiserver_accepts and "deckhouse-hook-refuses" in _codes(result.findings)
    # The normalized YAML it would deploy is accepted by the hook.
    assert ap.deckhouse_parse(result.policy_yaml).accepted
    data = result.as_dict()
    assert data["target"] == "deckhouse" and data["effective_policy"]["rules"][-1] == {"level": "Metadata"}


def test_target_is_checked():
    with pytest.raises(ap.PolicyError) as info:
        ap.check(_policy(CATCH_ALL), target="openshift")
    assert info.value.path == "target"


# --- presets and output ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ap.PRESETS)
@pytest.mark.parametrize("version", ["1.24", "1.33", "1.36"])
def test_presets_are_clean_for_every_version(name, version):
    result = ap.check(ap.preset(name), version)
    assert result.apiserver_accepts and not result.blocking
    assert [item for item in result.findings if item["severity"] == "warning"] == []


def test_preset_contents():
    minimal = ap.preset("minimal")
    assert minimal["rules"] == [{"level": "Metadata", "omitStages": ["RequestReceived"]}]
    security = ap.preset("security")
    alice = {"user": "alice", "groups": ["system:authenticated"], "namespace": "prod", "name": "web"}
    checks = [
        (dict(alice, verb="create", resource="pods"), "Request"),
        (dict(alice, verb="create", resource="pods", subresource="exec"), "Request"),
        (dict(alice, verb="patch", resource="pods", subresource="ephemeralcontainers"), "Request"),
        (dict(alice, verb="get", resource="secrets"), "Metadata"),
        (dict(alice, verb="update", resource="secrets"), "Metadata"),
        (dict(alice, verb="create", resource="serviceaccounts"), "Metadata"),
        (dict(alice, verb="create", api_group="rbac.authorization.k8s.io", resource="clusterrolebindings",
              namespace=""), "Request"),
        (dict(alice, verb="get", resource="configmaps"), "None"),
        (dict(alice, verb="update", api_group="coordination.k8s.io", resource="leases"), "None"),
        ({"user": "system:anonymous", "groups": ["system:unauthenticated"], "verb": "get", "resource": "pods",
          "namespace": "prod"}, "Metadata"),
    ]
    for request, level in checks:
        assert ap.evaluate(security, request).level == level, request
    exec_decision = ap.evaluate(security, dict(alice, verb="create", resource="pods", subresource="exec"))
    assert "ResponseStarted" not in exec_decision.omit_stages
    comprehensive = ap.preset("comprehensive")
    assert ap.evaluate(comprehensive, dict(alice, verb="get", resource="pods")).level == "Request"
    assert ap.evaluate(comprehensive, dict(alice, verb="create", api_group="apps", resource="deployments")).level == \
        "RequestResponse"
    assert ap.evaluate(comprehensive, dict(alice, verb="get", resource="secrets")).level == "Metadata"
    assert ap.evaluate(comprehensive, dict(alice, verb="create", api_group="example.com", resource="things")).level == \
        "Metadata"
    with pytest.raises(ap.PolicyError):
        ap.preset("everything")
    minimal["rules"].append({"level": "None"})  # a copy: the preset itself is unchanged
    assert len(ap.preset("minimal")["rules"]) == 1


@pytest.mark.parametrize("value", ["y", "N", "yes", "on", "null", "~", "0755", "1e3", "1.33", "2024-01-01", "*",
                                   "*/status", "", " padded", "a: b", "#x", "-", "<<", "tab\there", "quote\"d",
                                   "caf\u00e9", "true"])
def test_yaml_writer_keeps_every_string_a_string(value):
    policy = _policy({"level": "Metadata", "users": [value]})
    text = ap.to_yaml(policy)
    result = ap.load_policy(text)
    assert result.accepted and not result.strict_errors
    assert result.policy["rules"][0]["users"] == [value]
    assert yaml.safe_load(text)["rules"][0]["users"] == [value]


def test_yaml_writer_layout_and_base64():
    result = ap.check(_policy({"level": "Request", "resources": [{}, {"group": "apps", "resources": ["*"]}],
                               "omitManagedFields": False}, omitStages=["RequestReceived"]))
    assert result.policy_yaml == (
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages:\n- RequestReceived\nrules:\n- level: Request\n"
        "  resources:\n  - {}\n  - group: apps\n    resources:\n    - \"*\"\n  omitManagedFields: false\n")
    assert base64.b64decode(result.policy_base64).decode() == result.policy_yaml
