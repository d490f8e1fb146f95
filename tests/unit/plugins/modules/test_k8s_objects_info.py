# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8s_objects_info against a local HTTP server that answers like kube-apiserver (discovery documents, objects,
lists, Status errors): the requests it makes, the results it returns and how it fails. The real API server and the
comparison with kubernetes.core.k8s_info are in tests/integration/test_k8s_objects_info.py."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import unquote

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import k8s_objects_info
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.13", "platform": "linux/amd64"}
CORE = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret"},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace", "shortNames": ["ns"]},
    {"name": "namespaces/status", "singularName": "", "namespaced": False, "kind": "Namespace"},
]}
DECKHOUSE = {"kind": "APIResourceList", "groupVersion": "deckhouse.io/v1alpha1", "resources": [
    {"name": "moduleconfigs", "singularName": "moduleconfig", "namespaced": False, "kind": "ModuleConfig"},
    {"name": "clusterlogdestinations", "singularName": "clusterlogdestination", "namespaced": False,
     "kind": "ClusterLogDestination"},
]}
MODULE_CONFIG = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig",
                 "metadata": {"name": "control-plane-manager"}, "spec": {"version": 2, "settings": {}}}
DESTINATION = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination",
               "metadata": {"name": "kuma", "labels": {"app.kubernetes.io/managed-by": "auditops.deckhouse"}}}
SECRET = {"metadata": {"name": "audit-policy", "namespace": "kube-system"}, "data": {"audit-policy.yaml": "e30K"}}


def _status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
                  "code": code}


def _routes():
    """What the server answers, by request path (query string included); anything else is a 404 Status."""
    return {
        "/version": (200, VERSION),
        "/api/v1": (200, CORE),
        "/apis/deckhouse.io/v1alpha1": (200, DECKHOUSE),
        "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager": (200, MODULE_CONFIG),
        "/apis/deckhouse.io/v1alpha1/clusterlogdestinations?labelSelector=app.kubernetes.io/managed-by=auditops.deckhouse":
            (200, {"kind": "ClusterLogDestinationList", "apiVersion": "deckhouse.io/v1alpha1", "items": [DESTINATION]}),
        "/api/v1/namespaces/kube-system/secrets":
            (200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [SECRET]}),
        "/api/v1/namespaces/kube-system/secrets/audit-policy": (200, dict(SECRET, kind="Secret", apiVersion="v1")),
        "/api/v1/namespaces": (200, {"kind": "NamespaceList", "apiVersion": "v1", "items": [{"metadata": {"name": "a"}}]}),
    }


class Api(object):
    """Answers GET from ``routes``; records (method, path, Authorization) of every request."""

    def __init__(self):
        self.routes = _routes()
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                path = unquote(self.path)
                outer.requests.append((self.command, path, self.headers.get("Authorization")))
                status, body = outer.routes.get(path) or _status(404, "NotFound", "the server could not find the "
                                                                 "requested resource")
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def paths(self):
        return [request[1] for request in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api(monkeypatch):
    for name in ("K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_SSL_CA_CERT",
                 "K8S_AUTH_CERT_FILE", "K8S_AUTH_KEY_FILE", "K8S_AUTH_VERIFY_SSL", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    server = Api()
    yield server
    server.close()


def _run(api, queries, **args):
    return run_module(k8s_objects_info, dict(args, host=api.url, queries=queries))[0]


def test_several_kinds_in_one_start_with_one_discovery_per_group_version(api):
    result = _run(api, [
        {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "name": "control-plane-manager"},
        {"kind": "Secret", "namespace": "kube-system", "name": "audit-policy"},
        {"api_version": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination",
         "label_selectors": ["app.kubernetes.io/managed-by=auditops.deckhouse"]},
        {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "name": "runtime-audit-engine"},
        {"api_version": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules"},
        {"api_version": "deckhouse.io/v1", "kind": "CustomPrometheusRules"},
    ], server_version=True, api_key="t0ken")
    assert result["changed"] is False
    assert result["version"] == {"server": {"kubernetes": VERSION}}
    assert result["connection"] == {"host": api.url}
    results = result["results"]
    assert [item["api_found"] for item in results] == [True, True, True, True, False, False]
    assert results[0]["resources"] == [MODULE_CONFIG]
    assert results[1]["resources"] == [dict(SECRET, kind="Secret", apiVersion="v1")]
    assert results[2]["resources"] == [DESTINATION]
    assert results[3]["resources"] == []  # the named object does not exist; its API does
    assert results[4] == {"query": {"api_version": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules", "namespace": None,
                                    "name": None, "label_selectors": [], "field_selectors": []},
                          "api_found": False, "resources": [],
                          "msg": 'Failed to find API for resource with apiVersion "deckhouse.io/v1alpha1" and kind '
                                 '"FalcoAuditRules"'}
    assert results[5]["msg"] == 'Failed to find API for resource with apiVersion "deckhouse.io/v1" and kind ' \
                                '"CustomPrometheusRules"'
    assert "msg" not in results[0]
    # Discovery once per group version, then one request per query whose kind exists; only GET, always the token.
    assert api.paths() == [
        "/version",
        "/apis/deckhouse.io/v1alpha1",
        "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager",
        "/api/v1",
        "/api/v1/namespaces/kube-system/secrets/audit-policy",
        "/apis/deckhouse.io/v1alpha1/clusterlogdestinations?labelSelector=app.kubernetes.io/managed-by=auditops.deckhouse",
        "/apis/deckhouse.io/v1alpha1/moduleconfigs/runtime-audit-engine",
        "/apis/deckhouse.io/v1",
    ]
    assert {(request[0], request[2]) for request in api.requests} == {("GET", "Bearer t0ken")}


def test_list_items_get_the_apiversion_and_kind_k8s_info_gives_them(api):
    results = _run(api, [{"kind": "Secret", "namespace": "kube-system"}, {"kind": "ns"}])["results"]
    assert results[0]["resources"] == [dict(SECRET, apiVersion="v1", kind="Secret")]
    # A short name finds the kind too; the status subresource of the discovery document is no candidate.
    assert results[1]["resources"] == [{"metadata": {"name": "a"}, "apiVersion": "v1", "kind": "Namespace"}]
    assert "server_version" not in api.paths() and "/version" not in api.paths()


def test_paths_namespace_and_selectors(api):
    api.routes["/api/v1/secrets?labelSelector=a=b,c&fieldSelector=metadata.name=x"] = (
        200, {"kind": "SecretList", "apiVersion": "v1", "items": []})
    results = _run(api, [
        # A namespaced kind without a namespace: every namespace; selectors joined with commas.
        {"kind": "Secret", "label_selectors": ["a=b", "c"], "field_selectors": ["metadata.name=x"]},
        # A namespace for a cluster-wide kind is not used, as in kubernetes.core.k8s_info.
        {"kind": "Namespace", "namespace": "kube-system"},
    ])["results"]
    assert [item["api_found"] for item in results] == [True, True] and results[0]["resources"] == []
    assert api.paths()[1:] == ["/api/v1/secrets?labelSelector=a=b,c&fieldSelector=metadata.name=x", "/api/v1/namespaces"]
    assert results[0]["query"]["label_selectors"] == ["a=b", "c"]


def test_check_mode_reads_the_same_and_sends_only_gets(api):
    queries = [{"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "name": "control-plane-manager"}]
    normal = _run(api, queries)
    checked = run_module(k8s_objects_info, dict(host=api.url, queries=queries), check_mode=True)[0]
    assert checked == normal and checked["changed"] is False
    assert {request[0] for request in api.requests} == {"GET"}


def test_a_refused_query_fails_naming_it_and_what_the_server_said(api):
    api.routes["/api/v1/namespaces/kube-system/secrets/audit-policy"] = _status(
        403, "Forbidden", 'secrets "audit-policy" is forbidden: User "ro" cannot get resource "secrets"')
    failed = run_module_fail(k8s_objects_info, {"host": api.url, "server_version": True, "queries": [
        {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "name": "control-plane-manager"},
        {"kind": "Secret", "namespace": "kube-system", "name": "audit-policy"}]})
    assert failed["errors"][0]["path"] == "queries[1]"
    assert failed["msg"] == ('queries[1]: v1 Secret kube-system/audit-policy: GET /api/v1/namespaces/kube-system/secrets/'
                             'audit-policy: HTTP 403: secrets "audit-policy" is forbidden: User "ro" cannot get resource '
                             '"secrets"')
    # The server answered /version: a caller can tell this from an unreachable API server.
    assert failed["version"] == {"server": {"kubernetes": VERSION}} and "results" not in failed


def test_a_refused_discovery_fails_naming_the_query(api):
    api.routes["/apis/deckhouse.io/v1alpha1"] = _status(401, "Unauthorized", "Unauthorized")
    failed = run_module_fail(k8s_objects_info, {"host": api.url, "queries": [
        {"kind": "Namespace"}, {"api_version": "deckhouse.io/v1alpha1", "kind": "ModuleConfig"}]})
    assert failed["msg"] == ("queries[1]: deckhouse.io/v1alpha1 ModuleConfig: API discovery failed: "
                             "GET /apis/deckhouse.io/v1alpha1: HTTP 401: Unauthorized")


def test_a_selector_the_server_refuses_fails_naming_it(api):
    api.routes["/api/v1/secrets?labelSelector=a==="] = _status(
        400, "BadRequest", 'unable to parse requirement: found "=", expected: identifier')
    failed = run_module_fail(k8s_objects_info, {"host": api.url, "queries": [{"kind": "Secret", "label_selectors": ["a==="]}]})
    assert failed["errors"][0]["path"] == "queries[0].label_selectors"
    assert "the API server refused the selector: HTTP 400: unable to parse requirement" in failed["msg"]


def test_no_answer_fails_without_version(api):
    url = api.url
    api.close()
    queries = [{"kind": "Secret"}]
    failed = run_module_fail(k8s_objects_info, {"host": url, "server_version": True, "queries": queries})
    assert failed["msg"].startswith("cannot reach the API server %s: GET /version: no answer from %s: " % (url, url))
    assert "version" not in failed and failed["connection"] == {"host": url}
    failed = run_module_fail(k8s_objects_info, {"host": url, "queries": queries})
    assert failed["msg"].startswith("queries[0]: v1 Secret: API discovery failed: GET /api/v1: no answer from %s: " % url)


@pytest.mark.parametrize("queries, path, message", [
    ([{"kind": "Secret", "names": "x"}], "queries[0].names", "unknown key; a query takes api_version, kind, "),
    ([{"api_version": "v1"}], "queries[0].kind", "required, a non-empty string"),
    ([{"kind": ""}], "queries[0].kind", "required, a non-empty string"),
    ([{"kind": ["Secret"]}], "queries[0].kind", "expected a non-empty string, got ['Secret']"),
    ([{"kind": "X", "api_version": "a/b/c"}], "queries[0].api_version", "'a/b/c' is not v1 or <group>/<version>"),
    ([{"kind": "X", "api_version": "deckhouse.io/"}], "queries[0].api_version", "'deckhouse.io/' is not v1"),
    ([{"kind": "Secret", "name": "../x"}], "queries[0].name", "'../x' is not an object name"),
    ([{"kind": "Secret", "namespace": ".."}], "queries[0].namespace", "'..' is not an object name"),
    ([{"kind": "Secret", "label_selectors": [1]}], "queries[0].label_selectors", "expected a list of non-empty strings"),
    ([{"kind": "Secret", "field_selectors": {"a": "b"}}], "queries[0].field_selectors", "expected a list of non-empty"),
])
def test_bad_queries_fail_naming_the_query_and_key_before_anything_is_asked(api, queries, path, message):
    failed = run_module_fail(k8s_objects_info, {"host": api.url, "queries": queries})
    assert failed["errors"][0]["path"] == path and failed["errors"][0]["message"].startswith(message), failed
    assert failed["msg"].startswith(path + ": ")
    assert api.requests == []


def test_a_query_that_is_no_mapping_is_refused_by_the_argument_spec(api):
    # elements=dict: ansible-core refuses it before the module runs, naming the option.
    failed = run_module_fail(k8s_objects_info, {"host": api.url, "queries": [{"kind": "Secret"}, "Secret"]})
    assert "queries" in failed["msg"] and "dict" in failed["msg"], failed
    assert api.requests == []


def test_a_bad_request_timeout_fails_naming_it(api):
    failed = run_module_fail(k8s_objects_info, {"host": api.url, "request_timeout": 0, "queries": [{"kind": "Secret"}]})
    assert failed["msg"] == "request_timeout: must be 1 or more, got 0" and api.requests == []


def test_a_single_selector_string_is_one_selector(api):
    api.routes["/api/v1/secrets?labelSelector=a=b"] = (200, {"kind": "SecretList", "apiVersion": "v1", "items": []})
    result = _run(api, [{"kind": "Secret", "label_selectors": "a=b"}])
    assert result["results"][0]["query"]["label_selectors"] == ["a=b"] and result["results"][0]["resources"] == []
