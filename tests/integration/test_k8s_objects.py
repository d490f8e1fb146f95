# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8s_objects against the real kube-apiserver (with the ModuleConfig CRD): the field sets the up-to-date check
predicts are the ones the server records (a second apply sends no write), conflicts with another field manager
and force, check mode stores nothing, deletes. The module's main() runs in this process (the module code as
Ansible runs it, without an ansible start per case); one case goes through ansible for the packaging."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _k8s_apply as k8s
from ansible_collections.auditops.deckhouse.plugins.modules import k8s_objects
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

pytestmark = pytest.mark.cluster

NS = "k8s-objects-test"
SECRET_PATH = "/api/v1/namespaces/%s/secrets/probe" % NS
MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/k8s-objects-probe"


def secret(value):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "probe", "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "test"}},
            "data": {"audit-policy.yaml": value}}


MODULE_CONFIG = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "k8s-objects-probe"},
                 "spec": {"version": 1, "settings": {"apiserver": {"auditPolicyEnabled": True,
                                                                   "auditLog": {"output": "File"}}}}}


@pytest.fixture
def cluster(k8s_cluster):
    api = k8s_cluster.api
    status, body = api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                              "metadata": {"name": NS}})
    assert status in (201, 409), body
    for path in (SECRET_PATH, MC_PATH):
        api.request("DELETE", path)
    yield k8s_cluster
    for path in (SECRET_PATH, MC_PATH):
        api.request("DELETE", path)


def run(cluster, args, **kwargs):
    return run_module(k8s_objects, dict({"kubeconfig": cluster.kubeconfig}, **args), **kwargs)[0]


def version(cluster, path):
    status, body = cluster.api.request("GET", path)
    return body["metadata"]["resourceVersion"] if status == 200 else None


def test_apply_then_nothing_to_send_on_the_real_server(cluster):
    first = run(cluster, {"definition": [secret("YQ=="), MODULE_CONFIG]})
    assert first["changed"] and [r["action"] for r in first["results"]] == ["create", "create"]
    versions = (version(cluster, SECRET_PATH), version(cluster, MC_PATH))
    # The field sets the server recorded are the ones the check predicts, so the second run sends no apply.
    for path, obj in ((SECRET_PATH, secret("YQ==")), (MC_PATH, MODULE_CONFIG)):
        live = cluster.api.request("GET", path)[1]
        recorded = k8s.manager_fields(live, "auditops-deckhouse", obj["apiVersion"])
        assert k8s.without_self_markers(recorded) == k8s.applied_fields(obj)
        assert k8s.up_to_date(obj, live, "auditops-deckhouse")
    again = run(cluster, {"definition": [secret("YQ=="), MODULE_CONFIG]})
    assert not again["changed"] and [r["action"] for r in again["results"]] == ["unchanged", "unchanged"]
    assert (version(cluster, SECRET_PATH), version(cluster, MC_PATH)) == versions
    # Check mode: the server's dry run says what would change, nothing is stored.
    check = run(cluster, {"definition": secret("Yg==")}, check_mode=True, diff=True)
    assert check["changed"] and check["results"][0]["action"] == "update"
    assert check["diff"][0]["after"]["data"] == {"audit-policy.yaml": "********"}
    assert cluster.api.request("GET", SECRET_PATH)[1]["data"] == {"audit-policy.yaml": "YQ=="}
    # Dropping a field this manager applied removes it (only an apply does): not up to date, sent.
    fewer = dict(MODULE_CONFIG, spec={"version": 1, "settings": {"apiserver": {"auditPolicyEnabled": True}}})
    dropped = run(cluster, {"definition": fewer})
    assert dropped["results"][0]["action"] == "update"
    assert cluster.api.request("GET", MC_PATH)[1]["spec"]["settings"] == {"apiserver": {"auditPolicyEnabled": True}}


def test_a_key_of_another_manager_needs_force(cluster):
    status, body = cluster.api.request("PATCH", SECRET_PATH + "?fieldManager=kubectl-edit", secret("b3RoZXI="),
                                       content_type="application/apply-patch+yaml")
    assert status == 201, body
    failed = run_module_fail(k8s_objects, {"kubeconfig": cluster.kubeconfig, "definition": secret("YQ==")})
    assert failed["errors"][0]["path"] == "definition"
    assert 'conflict with "kubectl-edit"' in failed["msg"] and ".data.audit-policy.yaml" in failed["msg"], failed
    assert "b3RoZXI=" not in repr(failed)
    assert cluster.api.request("GET", SECRET_PATH)[1]["data"] == {"audit-policy.yaml": "b3RoZXI="}
    forced = run(cluster, {"definition": secret("YQ=="), "force_conflicts": True})
    assert forced["changed"] and cluster.api.request("GET", SECRET_PATH)[1]["data"] == {"audit-policy.yaml": "YQ=="}


def test_delete_through_ansible_and_again(cluster, run_module):
    run(cluster, {"definition": secret("YQ==")})
    args = {"state": "absent", "kind": "Secret", "namespace": NS, "name": "probe"}
    deleted = run_module("auditops.deckhouse.k8s_objects", args)
    assert deleted["_status"] == "CHANGED" and deleted["results"][0]["action"] == "delete", deleted
    assert cluster.api.request("GET", SECRET_PATH)[0] == 404
    again = run(cluster, args)
    assert not again["changed"] and again["results"][0]["action"] == "absent"
