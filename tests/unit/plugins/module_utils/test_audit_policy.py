# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit policy engine against the upstream test tables of k8s.io/apiserver v0.33
(validation_test.go, reader_test.go, checker_test.go), carried here as data."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_evaluate
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap

# --- validation_test.go TestValidatePolicy ---------------------------------------------------

VALID_RULES = [
    {"level": "Metadata"},
    {"level": "None", "userGroups": ["system:serviceaccounts", "system:nodes"]},
    {"level": "RequestResponse", "verbs": ["get"],
     "resources": [{"group": "rbac.authorization.k8s.io", "resources": ["roles", "rolebindings"]}],
     "namespaces": ["kube-system"]},
    {"level": "Metadata", "userGroups": ["developers"], "nonResourceURLs": ["/logs*", "/healthz*", "/metrics", "*"]},
    {"level": "Metadata", "omitStages": ["RequestReceived"]},
]
VALID_POLICIES = [{"rules": [rule]} for rule in VALID_RULES] + [
    {},  # an empty policy is valid for ValidatePolicy (the reader refuses 0 rules later)
    {"omitStages": ["RequestReceived"]},
    {"rules": VALID_RULES},
]

# (rule, the errors ValidatePolicy reports for Policy{rules: [rule]})
INVALID_RULES = [
    ({}, ["rules[0].level: Required value"]),
    ({"verbs": ["get"], "resources": [{"resources": ["secrets"]}], "namespaces": ["kube-system"]},
     ["rules[0].level: Required value"]),
    ({"level": "FooBar"},
     ['rules[0].level: Unsupported value: "FooBar": supported values: "None", "Metadata", "Request", "RequestResponse"']),
    ({"level": "Metadata", "namespaces": ["default"], "nonResourceURLs": ["/logs*"]},
     ['rules[0].nonResourceURLs: Invalid value: []string{"/logs*"}: rules cannot apply to both regular resources and '
      'non-resource URLs']),
    ({"level": "Metadata", "resources": [{"resources": ["secrets"]}], "nonResourceURLs": ["/logs*"]},
     ['rules[0].nonResourceURLs: Invalid value: []string{"/logs*"}: rules cannot apply to both regular resources and '
      'non-resource URLs']),
    ({"level": "Metadata", "resources": [{"group": "rbac.authorization.k8s.io/v1beta1", "resources": ["roles"]}]},
     ['rules[0].resources.group: Invalid value: "rbac.authorization.k8s.io/v1beta1": a lowercase RFC 1123 subdomain '
      "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
      "character (e.g. 'example.com', regex used for validation is "
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]),
    ({"level": "Metadata", "nonResourceURLs": ["logs", "/healthz*"]},
     ["rules[0].nonResourceURLs[0]: Invalid value: \"logs\": non-resource URL rules must begin with a '/' character"]),
    ({"level": "Metadata", "nonResourceURLs": ["", "/healthz*"]},
     ["rules[0].nonResourceURLs[0]: Invalid value: \"\": non-resource URL rules must begin with a '/' character"]),
    ({"level": "Metadata", "nonResourceURLs": ["/logs/*/*", "/metrics"]},
     ["rules[0].nonResourceURLs[0]: Invalid value: \"/logs/*/*\": non-resource URL wildcards '*' must be the final "
      "character of the rule"]),
    ({"level": "Metadata", "nonResourceURLs": ["/logs/*.log", "/metrics"]},
     ["rules[0].nonResourceURLs[0]: Invalid value: \"/logs/*.log\": non-resource URL wildcards '*' must be the final "
      "character of the rule"]),
    ({"level": "Metadata", "verbs": ["get"], "resources": [{"resourceNames": ["leader"]}],
      "namespaces": ["kube-system"]},
     ['rules[0].resources.resourceNames: Invalid value: []string{"leader"}: using resourceNames requires at least '
      'one resource']),
    ({"level": "Metadata", "omitStages": ["foo"]},
     ['rules[0].omitStages[0]: Invalid value: "foo": allowed stages are '
      'RequestReceived,ResponseStarted,ResponseComplete,Panic']),
]


@pytest.mark.parametrize("policy", VALID_POLICIES)
def test_upstream_valid_policies(policy):
    assert ap.validate(policy) == []


@pytest.mark.parametrize("rule,messages", INVALID_RULES)
def test_upstream_invalid_rules_with_apiserver_messages(rule, messages):
    assert [error.message for error in ap.validate({"rules": [rule]})] == messages


def test_upstream_multiple_rules_with_one_invalid():
    errors = ap.validate({"rules": VALID_RULES + [{}]})
    assert [error.message for error in errors] == ["rules[5].level: Required value"]


def test_upstream_invalid_policy_omit_stages():
    errors = ap.validate({"omitStages": ["foo"], "rules": [{"level": "Metadata"}]})
    assert [error.path for error in errors] == ["omitStages[0]"]


def test_both_url_errors_for_one_entry_and_aggregate_format():
    errors = ap.validate({"rules": [{"level": "Metadata", "nonResourceURLs": ["logs/*/x"]}, {"level": "Bad"}]})
    assert [error.path for error in errors] == ["rules[0].nonResourceURLs[0]", "rules[0].nonResourceURLs[0]",
                                                "rules[1].level"]
    text = ap.aggregate_message(errors)
    assert text.startswith("[rules[0].nonResourceURLs[0]: Invalid value") and text.endswith('"RequestResponse"]')
    assert ap.aggregate_message(errors[:1]) == errors[0].message
    # ToAggregate drops repeated messages.
    assert ap.aggregate_message([errors[2], errors[2]]) == errors[2].message


def test_group_wildcard_depends_on_version():
    policy = {"rules": [{"level": "Metadata", "resources": [{"group": "*", "resources": ["*/status"]}]}]}
    assert [e.path for e in ap.validate(policy, "1.35")] == ["rules[0].resources.group"]
    assert ap.validate(policy, "1.36") == []
    assert ap.validate(policy, "v1.36.2") == []


def test_group_longer_than_253_characters():
    group = ".".join(["a" * 60] * 5)
    messages = [error.message for error in ap.validate({"rules": [{"level": "None", "resources": [{"group": group}]}]})]
    assert len(messages) == 1 and "must be no more than 253 characters" in messages[0]


def test_go_quote_matches_strconv_quote():
    assert ap.go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert ap.go_quote("tab\there\n") == '"tab\\there\\n"'
    assert ap.go_quote("\x01\x7f") == '"\\x01\\x7f"'
    assert ap.go_quote("caf\u00e9 \u00a0") == '"caf\u00e9 \\u00a0"'


@pytest.mark.parametrize("version", ["1.23", "2.0.x", "latest", "1"])
def test_unsupported_versions_are_refused_with_the_option_name(version):
    with pytest.raises(ap.PolicyError) as info:
        ap.parse_version(version)
    assert info.value.path == "kubernetes_version"


# --- reader_test.go ------------------------------------------------------------------------------

POLICY_DEF = """
apiVersion: audit.k8s.io/{version}
kind: Policy
rules:
  - level: None
    nonResourceURLs:
      - /healthz*
      - /version
  - level: RequestResponse
    users: ["tim"]
    userGroups: ["testers", "developers"]
    verbs: ["patch", "delete", "create"]
    resources:
      - group: ""
      - group: "rbac.authorization.k8s.io"
        resources: ["clusterroles", "clusterrolebindings"]
    namespaces: ["default", "kube-system"]
  - level: Metadata
"""

EXPECTED_RULES = [
    {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
    {"level": "RequestResponse", "users": ["tim"], "userGroups": ["testers", "developers"],
     "verbs": ["patch", "delete", "create"],
     "resources": [{}, {"group": "rbac.authorization.k8s.io", "resources": ["clusterroles", "clusterrolebindings"]}],
     "namespaces": ["default", "kube-system"]},
    {"level": "Metadata"},
]

POLICY_UNKNOWN_FIELD = """
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  resources:
  - group: coordination.k8s.io
    resources:
    - "leases"
    verbs: ["watch", "get", "list"] # invalid indentation on verbs
"""


def test_reader_parser():
    result = ap.load_policy(POLICY_DEF.replace("{version}", "v1"))
    assert result.accepted and not result.lenient
    assert result.policy["rules"] == EXPECTED_RULES


@pytest.mark.parametrize("old", ["v1alpha1", "v1beta1"])
def test_reader_old_versions_removed_in_1_24(old):
    result = ap.load_policy(POLICY_DEF.replace("{version}", old))
    assert not result.accepted
    # kube-apiserver appends the scheme's build-dependent name (' in scheme "..."').
    assert result.error == 'failed decoding: no kind "Policy" is registered for version "audit.k8s.io/%s"' % old


def test_reader_no_version_or_kind():
    text = POLICY_DEF.replace("apiVersion: audit.k8s.io/{version}\nkind: Policy\n", "")
    result = ap.load_policy(text)
    assert not result.accepted
    assert "unknown group version field" in result.error


def test_reader_unknown_field_is_lenient():
    result = ap.load_policy(POLICY_UNKNOWN_FIELD)
    assert result.accepted and result.lenient
    assert result.strict_errors == [{"code": "unknown-field", "path": "rules[0].resources[0].verbs"}]
    # The verbs are gone: the rule now applies to every verb on leases.
    assert result.policy["rules"] == [{"level": "None", "resources": [{"group": "coordination.k8s.io",
                                                                       "resources": ["leases"]}]}]
    assert result.strict_error_text() == 'strict decoding error: unknown field "rules[0].resources[0].verbs"'


@pytest.mark.parametrize("text", ["apiVersion: audit.k8s.io/v1\nkind: Policy", ""])
def test_reader_policy_count_check(text):
    result = ap.load_policy(text)
    assert not result.accepted


def test_reader_zero_rules_message():
    assert ap.load_policy("apiVersion: audit.k8s.io/v1\nkind: Policy").error == "loaded illegal policy with 0 rules"


def test_strict_decoding_before_1_26_is_not_lenient_but_same_verdict():
    old = ap.load_policy(POLICY_UNKNOWN_FIELD, "1.25")
    assert old.accepted and not old.lenient and old.strict_errors
    assert "silently drops" in ap.load_findings(old)[0]["message"]


# --- checker_test.go -------------------------------------------------------------------------------

TIM = {"user": "tim@k8s.io", "groups": ["humans", "developers"]}
ATTRS = {
    "namespaced": dict(TIM, verb="get", namespace="default", api_group="", resource="pods", name="busybox",
                       path="/api/v1/namespaces/default/pods/busybox"),
    "cluster": dict(TIM, verb="get", api_group="rbac.authorization.k8s.io", resource="clusterroles", name="edit",
                    path="/apis/rbac.authorization.k8s.io/v1beta1/clusterroles/edit"),
    "nonResource": dict(TIM, verb="get", path="/logs/kubelet.log"),
    "subresource": dict(TIM, verb="get", namespace="default", api_group="", resource="pods", subresource="log",
                        name="busybox", path="/api/v1/namespaces/default/pods/busybox"),
    "Unauthorized": {"user": None, "verb": "get", "namespace": "default", "api_group": "", "resource": "pods",
                     "name": "busybox", "path": "/api/v1/namespaces/default/pods/busybox"},
}
RULES = {
    "default": {"level": "Metadata"},
    "create": {"level": "Request", "verbs": ["create"]},
    "tims": {"level": "Metadata", "users": ["tim@k8s.io"]},
    "humans": {"level": "Metadata", "userGroups": ["humans"]},
    "serviceAccounts": {"level": "Request", "userGroups": ["system:serviceaccounts"]},
    "getPods": {"level": "RequestResponse", "verbs": ["get"], "resources": [{"resources": ["pods"]}]},
    "getPodLogs": {"level": "Request", "verbs": ["get"], "resources": [{"resources": ["pods/log"]}]},
    "getPodWildcardMatching": {"level": "Request", "verbs": ["get"], "resources": [{"resources": ["*"]}]},
    "getPodResourceWildcardMatching": {"level": "Request", "verbs": ["get"], "resources": [{"resources": ["*/log"]}]},
    "getPodSubResourceWildcardMatching": {"level": "Request", "verbs": ["get"],
                                          "resources": [{"resources": ["pods/*"]}]},
    "getClusterRoles": {"level": "RequestResponse", "verbs": ["get"],
                        "resources": [{"group": "rbac.authorization.k8s.io", "resources": ["clusterroles"]}],
                        "namespaces": [""]},
    "getLogs": {"level": "RequestResponse", "verbs": ["get"], "nonResourceURLs": ["/logs*"]},
    "getMetrics": {"level": "Request", "verbs": ["get"], "nonResourceURLs": ["/metrics"]},
    "clusterRoleEdit": {"level": "Request", "resources": [{"group": "rbac.authorization.k8s.io",
                                                           "resources": ["clusterroles"], "resourceNames": ["edit"]}]},
    "omit RequestReceived": {"level": "Request", "omitStages": ["RequestReceived"]},
    "only audit panic": {"level": "Request", "omitStages": ["RequestReceived", "ResponseStarted",
                                                            "ResponseComplete"]},
}
# testAuditLevel: (request, expected level, rule names in order)
LEVEL_CASES = [
    ("namespaced", "Metadata", ["default"]),
    ("namespaced", "None", ["create"]),
    ("namespaced", "Metadata", ["tims"]),
    ("namespaced", "Metadata", ["humans"]),
    ("namespaced", "None", ["serviceAccounts"]),
    ("namespaced", "RequestResponse", ["getPods"]),
    ("namespaced", "None", ["getClusterRoles"]),
    ("namespaced", "None", ["getLogs"]),
    ("namespaced", "None", ["getMetrics"]),
    ("namespaced", "Metadata", ["getMetrics", "serviceAccounts", "default"]),
    ("namespaced", "RequestResponse", ["getMetrics", "getPods", "default"]),
    ("namespaced", "RequestResponse", ["getPodLogs", "getPods"]),
    ("cluster", "Metadata", ["default"]),
    ("cluster", "None", ["create"]),
    ("cluster", "Metadata", ["tims"]),
    ("cluster", "Metadata", ["humans"]),
    ("cluster", "None", ["serviceAccounts"]),
    ("cluster", "None", ["getPods"]),
    ("cluster", "RequestResponse", ["getClusterRoles"]),
    ("cluster", "Request", ["clusterRoleEdit", "getClusterRoles"]),
    ("cluster", "None", ["getLogs"]),
    ("cluster", "None", ["getMetrics"]),
    ("cluster", "Metadata", ["getMetrics", "serviceAccounts", "default"]),
    ("cluster", "RequestResponse", ["getMetrics", "getClusterRoles", "default"]),
    ("cluster", "None", ["getPodLogs", "getPods"]),
    ("nonResource", "Metadata", ["default"]),
    ("nonResource", "None", ["create"]),
    ("nonResource", "Metadata", ["tims"]),
    ("nonResource", "Metadata", ["humans"]),
    ("nonResource", "None", ["serviceAccounts"]),
    ("nonResource", "None", ["getPods"]),
    ("nonResource", "None", ["getClusterRoles"]),
    ("nonResource", "RequestResponse", ["getLogs"]),
    ("nonResource", "None", ["getMetrics"]),
    ("nonResource", "Metadata", ["getMetrics", "serviceAccounts", "default"]),
    ("nonResource", "RequestResponse", ["getLogs", "getClusterRoles", "default"]),
    ("nonResource", "None", ["getPodLogs", "getPods"]),
    ("subresource", "Request", ["getPodLogs", "getPods"]),
    ("subresource", "Request", ["getPodWildcardMatching"]),
    ("subresource", "Request", ["getPodResourceWildcardMatching"]),
    ("subresource", "Request", ["getPodSubResourceWildcardMatching"]),
    ("Unauthorized", "None", ["tims"]),
    ("Unauthorized", "Metadata", ["tims", "default"]),
    ("Unauthorized", "None", ["humans"]),
    ("Unauthorized", "Metadata", ["humans", "default"]),
]
RR, RS, RC = "RequestReceived", "ResponseStarted", "ResponseComplete"
POLICY_STAGES = [None, [RR, RS]]  # TestChecker, TestCheckerPolicyOmitStages


def _policy(names, stages):
    policy = {"apiVersion": "audit.k8s.io/v1", "rules": [RULES[name] for name in names]}
    if stages:
        policy["omitStages"] = stages
    return policy


@pytest.mark.parametrize("stages", POLICY_STAGES, ids=["no-policy-stages", "policy-stages"])
@pytest.mark.parametrize("request_name,level,names", LEVEL_CASES)
def test_upstream_checker_levels(request_name, level, names, stages):
    decision = ap.evaluate(_policy(names, stages), ATTRS[request_name])
    assert decision.level == level
    # The policy-wide stages apply to the matching rule and to the None default alike.
    assert set(decision.omit_stages) == set(stages or [])


# TestChecker / TestCheckerPolicyOmitStages stage merging: (request, level, policy stages, expected, rules)
STAGE_CASES = [
    ("namespaced", "Request", None, [RR], ["omit RequestReceived", "getPods", "default"]),
    ("namespaced", "Request", None, [RR, RS, RC], ["only audit panic", "getPods", "default"]),
    ("cluster", "Request", None, [RR], ["omit RequestReceived", "getPods", "default"]),
    ("cluster", "Request", None, [RR, RS, RC], ["only audit panic", "getPods", "default"]),
    ("nonResource", "Request", None, [RR], ["omit RequestReceived", "getPods", "default"]),
    ("nonResource", "Request", None, [RR, RS, RC], ["only audit panic", "getPods", "default"]),
    ("namespaced", "Request", [RR, RS], [RR, RS], ["omit RequestReceived", "getPods", "default"]),
    ("namespaced", "Request", [RR, RS], [RR, RS, RC], ["only audit panic", "getPods", "default"]),
    ("cluster", "Request", [RR, RS], [RR, RS], ["omit RequestReceived", "getPods", "default"]),
    ("cluster", "Request", [RR, RS], [RR, RS, RC], ["only audit panic", "getPods", "default"]),
    ("nonResource", "Metadata", [RR, RS], [RR, RS], ["default", "omit RequestReceived", "getPods"]),
    ("nonResource", "Request", [RR, RS], [RR, RS, RC], ["only audit panic", "getPods", "default"]),
]


@pytest.mark.parametrize("request_name,level,stages,expected,names", STAGE_CASES)
def test_upstream_checker_stage_union(request_name, level, stages, expected, names):
    decision = ap.evaluate(_policy(names, stages), ATTRS[request_name])
    assert decision.level == level
    assert decision.omit_stages == expected  # set semantics, reported in stage order


# TestUnionStages (set semantics)
UNION_CASES = [
    ([], [], []),
    ([RR], [], [RR]),
    ([RR], [RR], [RR]),
    ([RR], [RS], [RR, RS]),
    ([RR, RR], [RR, RR], [RR]),
    ([RR, RS], ["Panic", RR], [RR, RS, "Panic"]),
    (None, [RR], [RR]),
]


@pytest.mark.parametrize("first,second,expected", UNION_CASES)
def test_upstream_union_stages(first, second, expected):
    assert _audit_evaluate._union_stages(first, second) == expected


# TestOmitManagedFields: (policy default, rule override, expected)
@pytest.mark.parametrize("default,override,expected", [
    (False, None, False), (True, None, True), (True, False, False), (False, True, True)])
def test_upstream_omit_managed_fields(default, override, expected):
    rule = {"level": "RequestResponse", "verbs": ["get"]}
    if override is not None:
        rule["omitManagedFields"] = override
    policy = {"apiVersion": "audit.k8s.io/v1", "omitManagedFields": default, "rules": [rule]}
    assert ap.evaluate(policy, {"verb": "get"}).omit_managed_fields is expected


# --- matching details beyond the upstream tables ------------------------------------------------------

def _decide(rules, version="1.33", **request):
    return ap.evaluate({"apiVersion": "audit.k8s.io/v1", "rules": rules}, request, version)


def test_pods_star_also_matches_the_parent_resource():
    rules = [{"level": "Request", "resources": [{"resources": ["pods/*"]}]}]
    assert _decide(rules, resource="pods", verb="get", namespace="a", name="p").level == "Request"
    assert _decide(rules, resource="pods", subresource="exec", verb="create").level == "Request"
    assert _decide(rules, resource="services", verb="get").level == "None"


def test_star_slash_subresource_needs_that_subresource():
    rules = [{"level": "Request", "resources": [{"group": "apps", "resources": ["*/status"]}]}]
    assert _decide(rules, api_group="apps", resource="deployments", subresource="status", verb="update").level == "Request"
    assert _decide(rules, api_group="apps", resource="deployments", verb="update").level == "None"
    assert _decide(rules, resource="pods", subresource="status", verb="update").level == "None"  # core group


def test_plain_resource_does_not_match_its_subresources():
    rules = [{"level": "Request", "resources": [{"resources": ["pods"]}]}]
    assert _decide(rules, resource="pods", subresource="log", verb="get").level == "None"


def test_nonresource_prefix_is_a_plain_string_prefix():
    rules = [{"level": "Metadata", "nonResourceURLs": ["/api*"]}]
    assert _decide(rules, verb="get", path="/apis/apps/v1").level == "Metadata"
    assert _decide(rules, verb="get", path="/healthz").level == "None"
    # Resource requests never match a non-resource rule.
    assert _decide(rules, verb="get", resource="pods", path="/api/v1/pods").level == "None"


def test_empty_namespace_means_cluster_scoped():
    rules = [{"level": "Metadata", "namespaces": [""]}]
    assert _decide(rules, verb="list", resource="namespaces").level == "Metadata"
    assert _decide(rules, verb="get", resource="pods", namespace="default").level == "None"


def test_resource_names_do_not_match_unnamed_requests():
    rules = [{"level": "Metadata", "resources": [{"resources": ["configmaps"], "resourceNames": ["leader"]}]}]
    assert _decide(rules, verb="get", resource="configmaps", namespace="a", name="leader").level == "Metadata"
    assert _decide(rules, verb="list", resource="configmaps", namespace="a").level == "None"


def test_group_wildcard_matches_every_group_only_from_1_36():
    rules = [{"level": "RequestResponse", "verbs": ["update"], "resources": [{"group": "*", "resources": ["*/status"]}]}]
    request = dict(TIM, verb="update", api_group="rbac.authorization.k8s.io", resource="clusterroles",
                   subresource="status", name="somerole")
    assert _decide(rules, "1.36", **request).level == "RequestResponse"
    with pytest.raises(ap.PolicyError):  # refused by 1.35's validation, so there is nothing to evaluate
        _decide(rules, "1.35", **request)


def test_users_and_groups_are_literal():
    rules = [{"level": "Metadata", "users": ["*"]}]
    assert _decide(rules, user="alice", verb="get", path="/").level == "None"
    assert _decide(rules, user="*", verb="get", path="/").level == "Metadata"


def test_request_validation_names_the_key():
    with pytest.raises(ap.PolicyError) as info:
        ap.evaluate({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "None"}]}, {"verb": "get", "ressource": "x"})
    assert info.value.path == "request.ressource"
    with pytest.raises(ap.PolicyError) as info:
        ap.evaluate({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "None"}]}, {"groups": "a"})
    assert info.value.path == "request.groups"
    with pytest.raises(ap.PolicyError) as info:
        ap.evaluate({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "None"}]}, {"namespace": "a"})
    assert info.value.path == "request.resource"


def test_evaluating_a_refused_policy_is_an_error():
    with pytest.raises(ap.PolicyError) as info:
        ap.evaluate({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Everything"}]}, {"verb": "get"})
    assert info.value.path == "rules[0].level"


def test_decision_stages_and_long_running():
    decision = _decide([{"level": "Metadata", "omitStages": [RR]}], verb="create", resource="pods",
                       subresource="exec", namespace="a", name="p")
    request = {"verb": "create", "resource": "pods", "subresource": "exec"}
    assert ap.is_long_running(request)
    assert decision.stages(ap.is_long_running(request)) == [RS, RC]
    assert decision.stages(False) == [RC]
    assert not ap.is_long_running({"verb": "get", "resource": "pods"})
    assert ap.is_long_running({"verb": "watch", "resource": "pods"})
    assert ap.is_long_running({"verb": "get", "path": "/debug/pprof/heap"})
    assert _decide([{"level": "None"}], verb="get", path="/").stages(True) == []
    # A failed authentication: one ResponseStarted event, unless it is omitted.
    assert decision.stages(False, authenticated=False) == [RS]
    assert _decide([{"level": "Metadata", "omitStages": [RS]}], verb="get", path="/").stages(
        False, authenticated=False) == []
