# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The compiled evaluator (rule tables, ``evaluator()``) decides exactly as the rule-by-rule one
(``_evaluate``, checker.go's order) on every policy of the corpus and the presets, for requests that
cross every kind of restriction a rule has."""

import itertools
import os

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_evaluate
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.tests import _paths

CORPUS = os.path.join(_paths.ROOT, "tests", "fixtures", "policies")

USERS = [(None, []), ("system:anonymous", ["system:unauthenticated"]), ("alice", ["developers", "system:authenticated"]),
         ("system:kube-proxy", ["system:authenticated"]), ("system:node:n1", ["system:nodes", "system:authenticated"]),
         ("system:serviceaccount:kube-system:x", ["system:serviceaccounts", "system:serviceaccounts:kube-system"])]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
OBJECTS = [("", "pods", "", "prod", "web"), ("", "pods", "exec", "prod", "web"), ("", "pods", "log", "kube-system", "x"),
           ("", "secrets", "", "prod", "db"), ("", "configmaps", "", "kube-system", "extension-apiserver-authentication"),
           ("", "configmaps", "", "kube-system", "other"), ("", "nodes", "status", "", "n1"), ("", "events", "", "prod", ""),
           ("rbac.authorization.k8s.io", "clusterrolebindings", "", "", "admin"), ("apps", "deployments", "scale", "prod", "d"),
           ("coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), ("authentication.k8s.io", "tokenreviews", "", "", ""),
           ("deckhouse.io", "moduleconfigs", "", "", "control-plane-manager"), ("*", "*", "", "", "")]
PATHS = ["/healthz", "/healthz/etcd", "/livez", "/readyz", "/metrics", "/version", "/api", "/apis/apps/v1",
         "/openapi/v2", "/debug/pprof/profile", "/logs/x"]


def requests():
    for (user, groups), verb in itertools.product(USERS, VERBS):
        for group, resource, subresource, namespace, name in OBJECTS:
            yield {"user": user, "groups": groups, "verb": verb, "namespace": namespace, "api_group": group,
                   "resource": resource, "subresource": subresource, "name": name, "path": "",
                   "resource_request": True}
        for path in PATHS:
            yield {"user": user, "groups": groups, "verb": verb, "namespace": "", "api_group": "", "resource": "",
                   "subresource": "", "name": "", "path": path, "resource_request": False}


def policies():
    out = [("preset %s" % name, ap.preset(name)) for name in ap.PRESETS]
    out.append(("security composed", ap.compose(ap.preset("security"), target="deckhouse", basic_policy=True).policy))
    for name in sorted(os.listdir(CORPUS)):
        if name.endswith((".yaml", ".yml", ".json")) and name != "expected.yml":
            with open(os.path.join(CORPUS, name), "rb") as handle:
                loaded = ap.load_policy(handle.read())
            if loaded.accepted and loaded.policy:
                out.append((name, loaded.policy))
    return out


@pytest.mark.parametrize("version", ["1.33", "1.36"])
def test_compiled_tables_decide_as_rule_by_rule(version):
    parsed = ap.parse_version(version)
    checked = 0
    for name, policy in policies():
        decide = ap.compile_policy(policy, parsed)
        for request in requests():
            expected = _audit_evaluate._evaluate(policy, request, parsed)  # pylint: disable=protected-access
            # Twice: the second answer comes from the filled table.
            for got in (decide(request), decide(request)):
                assert got.as_dict() == expected.as_dict(), (name, request)
            checked += 1
    assert checked > 40000


def test_the_tables_stay_bounded_and_keep_deciding(monkeypatch):
    monkeypatch.setattr(_audit_evaluate, "_RULE_CACHE_LIMIT", 3)
    policy = ap.preset("security")
    decide = ap.compile_policy(policy, ap.parse_version("1.33"))
    for request in requests():
        assert decide(request).as_dict() == _audit_evaluate._evaluate(policy, request, ap.parse_version("1.33")).as_dict()  # pylint: disable=protected-access


def test_evaluator_uses_the_tables():
    decide = ap.evaluator(ap.preset("security"))
    secret = next(request for request in requests() if request["resource"] == "secrets" and request["user"] == "alice")
    assert decide(secret) is decide(dict(secret, name="other")), "one Decision per rule, shared"
    assert decide(secret).level == ap.evaluate(ap.preset("security"), {
        key: secret[key] for key in ap.REQUEST_KEYS}).level
