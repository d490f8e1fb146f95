# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8s_objects in-process over an in-memory API (_fake_apiserver): input checks, order, idempotence, check mode,
diff with Secret values masked, deletes, refusals. Against the real kube-apiserver: tests/integration/test_k8s_objects.py."""

from unittest import mock

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import k8s_objects
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._fake_apiserver import FakeApi, FakeClient
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"
MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
TWO = """---
apiVersion: v1
kind: Secret
metadata: {name: audit-policy, namespace: kube-system}
data: {audit-policy.yaml: c2VjcmV0}
---
apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata: {name: control-plane-manager}
spec: {version: 3, settings: {apiserver: {auditPolicyEnabled: true}}}
"""


@pytest.fixture
def api():
    fake = FakeApi()
    clients = []

    def connect(module, plugins):
        assert plugins == "fail"
        clients.append(FakeClient(fake))
        return clients[-1]
    with mock.patch.object(k8s_objects, "k8s_client", connect):
        yield fake
    assert all(client.closed for client in clients)


def run(args, **kwargs):
    return run_module(k8s_objects, dict({"host": "https://127.0.0.1:1"}, **args), **kwargs)


def run_fail(args, **kwargs):
    return run_module_fail(k8s_objects, dict({"host": "https://127.0.0.1:1"}, **args), **kwargs)


def test_applies_in_order_then_changes_nothing_and_masks_secrets(api):
    result, _warnings = run({"definition": TWO})
    assert result["changed"]
    assert [(r["kind"], r["action"], r["namespace"]) for r in result["results"]] == [
        ("Secret", "create", "kube-system"), ("ModuleConfig", "create", None)]
    assert result["results"][0]["object"]["data"] == {"audit-policy.yaml": "********"}
    assert "result" not in result  # two objects
    assert api.objects[SECRET_PATH]["data"] == {"audit-policy.yaml": "c2VjcmV0"}
    assert [(m, p) for m, p, _q in api.writes()] == [("PATCH", SECRET_PATH), ("PATCH", MC_PATH)]
    del api.requests[:]
    again, _warnings = run({"definition": TWO})
    assert not again["changed"] and [r["action"] for r in again["results"]] == ["unchanged", "unchanged"]
    assert api.writes() == []
    # Discovery once per group version, one GET per object.
    assert [p for _m, p, _q in api.requests] == ["/api/v1", SECRET_PATH, "/apis/deckhouse.io/v1alpha1", MC_PATH]


def test_check_mode_is_a_dry_run_with_a_masked_diff(api):
    api.put(SECRET_PATH, {"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": "audit-policy", "namespace": "kube-system"}, "data": {"audit-policy.yaml": "b2xk"}})
    definition = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy"},
                  "data": {"audit-policy.yaml": "bmV3"}}
    result, _warnings = run({"definition": definition, "namespace": "kube-system", "force_conflicts": True},
                            check_mode=True, diff=True)
    assert result["changed"] and result["result"]["data"] == {"audit-policy.yaml": "********"}
    assert api.objects[SECRET_PATH]["data"] == {"audit-policy.yaml": "b2xk"}
    assert api.writes()[0][2] == {"fieldManager": "auditops-deckhouse", "fieldValidation": "Strict", "force": "true",
                                  "dryRun": "All"}
    assert result["diff"] == [{"before": {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "audit-policy", "namespace": "kube-system"}, "data": {"audit-policy.yaml": "********"}},
        "after": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
                  "data": {"audit-policy.yaml": "********"}},
        "before_header": "Secret kube-system/audit-policy", "after_header": "Secret kube-system/audit-policy"}]
    assert "bmV3" not in repr(result) and "b2xk" not in repr(result)


def test_delete_by_kind_and_name_then_absent(api):
    metadata = {"name": "audit-policy", "namespace": "kube-system"}
    api.put(SECRET_PATH, {"apiVersion": "v1", "kind": "Secret", "metadata": metadata})
    args = {"state": "absent", "kind": "Secret", "namespace": "kube-system", "name": "audit-policy"}
    result, _warnings = run(args)
    assert result["changed"] and result["results"][0]["action"] == "delete" and result["result"] is None
    assert SECRET_PATH not in api.objects
    again, _warnings = run(args)
    assert not again["changed"] and again["results"][0]["action"] == "absent"
    # A kind the cluster does not serve holds no object to delete.
    gone, _warnings = run({"state": "absent", "api_version": "foo.io/v1", "kind": "Foo", "name": "x"})
    assert not gone["changed"] and gone["results"][0]["action"] == "absent"


def test_the_first_failing_object_stops_the_module_and_is_named(api):
    api.answers[MC_PATH] = (403, {"kind": "Status", "message": "forbidden"})
    definition = TWO + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: never, namespace: default}\n"
    failed = run_fail({"definition": definition})
    assert failed["errors"] == [{"path": "definition[1]",
                                 "message": "reading ModuleConfig control-plane-manager: HTTP 403: forbidden"}]
    assert failed["changed"] and [r["kind"] for r in failed["results"]] == ["Secret"]
    assert "/api/v1/namespaces/default/configmaps/never" not in [p for _m, p, _q in api.requests]


@pytest.mark.parametrize("args, path, message", [
    ({"definition": [{"kind": "Secret", "metadata": {"name": "s"}}]}, "definition[0].apiVersion", "required"),
    ({"definition": {"apiVersion": "v1", "kind": "Secret", "metadata": {}}}, "definition.metadata.name", "required"),
    ({"definition": "a: [unclosed"}, "definition", "not valid YAML"),
    ({"definition": []}, "definition", "holds no object"),
    ({"definition": ["text"]}, "definition[0]", "expected a mapping"),
    ({}, "definition", "give the objects"),
    ({"kind": "Secret", "name": "s"}, "definition", "state present applies objects"),
    ({"definition": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, "kind": "Secret"},
     "definition", "give either definition"),
    ({"definition": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}},
     "definition.metadata.namespace", "Secret is namespaced"),
    ({"definition": {"apiVersion": "foo.io/v1", "kind": "Foo", "metadata": {"name": "s"}}},
     "definition.kind", "the cluster serves no Foo in foo.io/v1"),
    ({"kind": "Secret", "name": "s", "state": "absent", "request_timeout": 0}, "request_timeout", "must be 1 or more"),
])
def test_bad_input_names_the_field_and_writes_nothing(api, args, path, message):
    failed = run_fail(args)
    assert failed["errors"][0]["path"] == path and failed["errors"][0]["message"].startswith(message), failed
    assert api.writes() == []


def test_a_kubeconfig_user_with_an_exec_plugin_is_refused(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("""apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {command: get-token, apiVersion: client.authentication.k8s.io/v1}}}]
""")
    args = {"kubeconfig": str(kubeconfig), "state": "absent", "kind": "Secret", "name": "s", "namespace": "n"}
    failed = run_module_fail(k8s_objects, args)
    assert failed["errors"][0]["path"] == "kubeconfig"
    assert "exec or auth-provider plugin, which this module does not run" in failed["errors"][0]["message"]


def test_no_answer_fails_naming_the_request():
    failed = run_module_fail(k8s_objects, {"host": "https://127.0.0.1:1", "state": "absent", "kind": "Secret",
                                           "name": "s", "namespace": "n", "validate_certs": False})
    assert failed["msg"].startswith("GET /api/v1: no answer from the API server: ")
