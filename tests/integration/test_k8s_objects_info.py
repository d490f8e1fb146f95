# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8s_objects_info against the real kube-apiserver: for the same queries - a ModuleConfig (a Deckhouse CRD), a
Secret, lists of built-in and custom kinds with selectors, a missing object, a missing kind and a missing group
version - its results are kubernetes.core.k8s_info's, in one module start; an anonymous user gets the server's
refusal naming the query."""

import base64
import json
import os

import pytest

from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests.integration._role_run import RoleRun, ansible_playbook, vars_file
from ansible_collections.auditops.deckhouse.tests.integration.conftest import _run_adhoc

pytestmark = pytest.mark.cluster

NAME = "it-objects-info"
LABEL = "auditops.deckhouse/test=objects-info"
MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/" + NAME
SECRET_PATH = "/api/v1/namespaces/default/secrets/" + NAME
QUERIES = [
    {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "name": NAME},
    {"kind": "Secret", "namespace": "default", "name": NAME},
    # Lists: a built-in kind (its items carry no kind in the API's answer) and a custom kind, by label.
    {"kind": "Secret", "namespace": "default", "label_selectors": [LABEL]},
    {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "label_selectors": [LABEL]},
    {"kind": "Namespace", "field_selectors": ["metadata.name=default"]},
    {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "name": "it-objects-info-missing"},
    {"api_version": "deckhouse.io/v1alpha1", "kind": "NoSuchKind"},
    {"api_version": "nosuch.auditops.io/v1", "kind": "Thing"},
]
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Read with k8s_objects_info
      auditops.deckhouse.k8s_objects_info:
        server_version: true
        queries: "{{ queries }}"
      check_mode: true
    - name: Read with k8s_info
      kubernetes.core.k8s_info:
        api_version: "{{ item.api_version | default('v1') }}"
        kind: "{{ item.kind }}"
        namespace: "{{ item.namespace | default(omit) }}"
        name: "{{ item.name | default(omit) }}"
        label_selectors: "{{ item.label_selectors | default(omit) }}"
        field_selectors: "{{ item.field_selectors | default(omit) }}"
      loop: "{{ queries }}"
    - name: Read the version with k8s_cluster_info
      kubernetes.core.k8s_cluster_info:
"""


@pytest.fixture
def objects(k8s_cluster):
    api = k8s_cluster.api

    def wipe():
        for path in (MC_PATH, SECRET_PATH):
            status, body = api.request("DELETE", path)
            assert status in (200, 404), body
    wipe()
    labels = {"auditops.deckhouse/test": "objects-info"}
    status, body = api.request("POST", "/apis/deckhouse.io/v1alpha1/moduleconfigs", {
        "apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": NAME, "labels": labels},
        "spec": {"version": 1, "enabled": False, "settings": {}}})
    assert status == 201, body
    status, body = api.request("POST", "/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": NAME, "namespace": "default", "labels": labels},
        "data": {"audit-policy.yaml": base64.b64encode(b"rules: []\n").decode()}})
    assert status == 201, body
    yield api
    wipe()


def _versions(api):
    return [api.request("GET", path)[1]["metadata"]["resourceVersion"] for path in (MC_PATH, SECRET_PATH)]


def test_the_results_are_k8s_infos_in_one_start(objects, ansible_env, tmp_path):
    before = _versions(objects)
    playbook = tmp_path / "read.yml"
    playbook.write_text(PLAY)
    env = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    run = RoleRun(ansible_playbook(playbook, "localhost,", [vars_file(tmp_path, {"queries": QUERIES})], env))
    assert run.rc == 0, run.stdout[-3000:]
    ours = run.result("Read with k8s_objects_info")
    theirs = run.result("Read with k8s_info")["results"]
    assert len(ours["results"]) == len(theirs) == len(QUERIES)
    for index, (mine, reference) in enumerate(zip(ours["results"], theirs)):
        assert mine["api_found"] == reference["api_found"], (index, mine, reference)
        assert mine["resources"] == reference["resources"], (index, mine, reference)
        assert mine.get("msg") == reference.get("msg"), (index, mine, reference)
    # What the queries found, so the comparison cannot pass on empty answers.
    found = [[item["metadata"]["name"] for item in result["resources"]] for result in ours["results"]]
    assert found == [[NAME], [NAME], [NAME], [NAME], ["default"], [], [], []]
    assert [result["api_found"] for result in ours["results"]] == [True] * 6 + [False, False]
    assert ours["results"][2]["resources"][0]["kind"] == "Secret"
    assert base64.b64decode(ours["results"][1]["resources"][0]["data"]["audit-policy.yaml"]) == b"rules: []\n"
    cluster_info = run.result("Read the version with k8s_cluster_info")
    assert ours["version"]["server"]["kubernetes"] == cluster_info["version"]["server"]["kubernetes"]
    assert ours["connection"]["host"] == cluster_info["connection"]["host"]
    assert ours["changed"] is False and _versions(objects) == before


def test_an_anonymous_user_gets_the_servers_refusal_naming_the_query(k8s_cluster, ansible_env):
    env = dict(ansible_env)
    env.pop("K8S_AUTH_KUBECONFIG", None)
    # Only the server and its CA: no credentials. /version is public; discovery of a group is not.
    args = {"host": k8s_cluster.server, "ca_cert": k8s_cluster.ca_file, "server_version": True,
            "queries": [{"kind": "Namespace", "name": "default"}]}
    result = _run_adhoc("auditops.deckhouse.k8s_objects_info", args, env)
    assert result["_status"] == "FAILED!", result
    assert result["msg"].startswith("queries[0]: v1 Namespace default: API discovery failed: GET /api/v1: HTTP 403: "), result
    assert 'User "system:anonymous"' in result["msg"], result
    assert result["version"]["server"]["kubernetes"]["gitVersion"].startswith("v1.")
    assert result["errors"][0]["path"] == "queries[0]"


def _kubeconfig(tmp_path, server, ca_file):
    """A kubeconfig of ``server`` whose user has no credentials."""
    path = tmp_path / "anonymous.kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "anonymous",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": ca_file}}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [{"name": "anonymous", "context": {"cluster": "c", "user": "anonymous"}}]}))
    return str(path)


def test_verify_reports_an_unreachable_api_and_fails_on_a_refused_read(k8s_cluster, ansible_env, tmp_path):
    """The role's one read: no answer to /version is part of the report; an answer followed by a refused read fails
    the role with the module's message (the read itself is no_log)."""
    env = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(_paths.ROOT, ".collections"))
    env.pop("K8S_AUTH_KUBECONFIG", None)

    def verify(kubeconfig):
        variables = {"verify_fail_on_problems": False, "verify_kesl": False, "verify_apiserver_health": False,
                     "verify_kubeconfig": kubeconfig}
        return RoleRun(ansible_playbook("auditops.deckhouse.verify", "localhost,", [vars_file(tmp_path, variables)], env,
                                        args=("-c", "local")))

    down = verify(_kubeconfig(tmp_path, "https://127.0.0.1:1", k8s_cluster.ca_file))
    assert down.rc == 0, down.stdout[-3000:]
    report = down.result("Show the report")["verify_report"]
    api = report["cluster"]["api"]
    assert api["reachable"] is False and api["server"] == "https://127.0.0.1:1" and api["version"] == ""
    assert api["error"].startswith("cannot reach the API server https://127.0.0.1:1: GET /version: no answer"), api
    assert report["problems"] == ["API server: " + api["error"]]

    refused = verify(_kubeconfig(tmp_path, k8s_cluster.server, k8s_cluster.ca_file))
    assert refused.rc != 0
    failure = refused.result("Fail when the API server answered but a read failed")
    assert failure["failed"] is True
    assert failure["msg"].startswith("queries[0]: deckhouse.io/v1alpha1 ModuleConfig control-plane-manager: API "
                                     "discovery failed: GET /apis/deckhouse.io/v1alpha1: HTTP 403: "), failure
    assert 'User "system:anonymous"' in failure["msg"]
    assert "Show the report" not in [name.split(" : ")[-1] for name, _result in refused.tasks()]
