# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_k8s_apply without a cluster: paths, discovery, which requests an apply or delete sends, the read-back, masking.
The same engine runs against the real kube-apiserver in tests/integration/test_k8s_objects.py."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _k8s_apply as k8s
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._fake_apiserver import FakeApi

SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"


def secret(value="YQ=="):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "audit-policy", "namespace": "kube-system", "labels": {"a": "b"}},
            "data": {"audit-policy.yaml": value}}


def test_object_paths():
    assert k8s.object_path("v1", "secrets", "s", "ns") == "/api/v1/namespaces/ns/secrets/s"
    assert k8s.object_path("deckhouse.io/v1alpha1", "moduleconfigs", "m") == "/apis/deckhouse.io/v1alpha1/moduleconfigs/m"
    assert k8s.object_path("v1", "secrets", namespace="ns") == "/api/v1/namespaces/ns/secrets"


def test_discovery_asks_once_per_group_version_and_skips_subresources():
    api = FakeApi()
    discovery = k8s.Discovery(api)
    assert discovery.resource("v1", "Secret") == ("secrets", True)
    assert discovery.resource("v1", "ConfigMap") == ("configmaps", True)
    assert discovery.resource("deckhouse.io/v1alpha1", "ModuleConfig") == ("moduleconfigs", False)
    assert discovery.resource("foo.io/v1", "Foo") is None
    assert [r[1] for r in api.requests] == ["/api/v1", "/apis/deckhouse.io/v1alpha1", "/apis/foo.io/v1"]
    api.answers["/apis/bar.io/v1"] = (403, {"message": "forbidden"})
    with pytest.raises(k8s.ApplyError) as info:
        discovery.resource("bar.io/v1", "Bar")
    assert info.value.errors == ["apiVersion: reading the resources of bar.io/v1: HTTP 403: forbidden"]


def test_apply_creates_reads_back_and_then_sends_nothing():
    api = FakeApi()
    action, stored = k8s.apply_object(api, secret(), SECRET_PATH, None, "us")
    assert action == "create" and stored["data"] == {"audit-policy.yaml": "YQ=="}
    assert [(m, q) for m, _p, q in api.requests] == [
        ("PATCH", {"fieldManager": "us", "fieldValidation": "Strict"}), ("GET", {})]
    api.requests[:] = []
    live = api(("GET"), SECRET_PATH)[1]
    assert k8s.up_to_date(secret(), live, "us")
    assert k8s.apply_object(api, secret(), SECRET_PATH, live, "us") == ("unchanged", live)
    assert api.writes() == []
    # Another manager has not applied these fields: its apply is sent.
    assert not k8s.up_to_date(secret(), live, "them")


def test_apply_update_force_and_check_mode():
    api = FakeApi()
    api.put(SECRET_PATH, secret())
    live = api("GET", SECRET_PATH)[1]
    action, body = k8s.apply_object(api, secret("Yg=="), SECRET_PATH, live, "us", force=True, check_mode=True)
    assert action == "update" and body["data"]["audit-policy.yaml"] == "Yg=="
    query = {"fieldManager": "us", "fieldValidation": "Strict", "force": "true", "dryRun": "All"}
    assert api.requests[-1] == ("PATCH", SECRET_PATH, query)
    # A dry run stores nothing and is not read back.
    assert api("GET", SECRET_PATH)[1]["data"]["audit-policy.yaml"] == "YQ=="
    assert [m for m, _p, _q in api.requests] == ["GET", "PATCH", "GET"]


def test_an_apply_that_keeps_the_resource_version_is_unchanged():
    api = FakeApi()
    api.put(SECRET_PATH, secret())
    live = api("GET", SECRET_PATH)[1]
    # Same values, but our manager owns none of the fields yet: the apply is sent, the server changes nothing
    # visible but the field owners (here: answers with the same resourceVersion).
    api.answers[SECRET_PATH] = (200, live)
    assert k8s.apply_object(api, secret(), SECRET_PATH, live, "us")[0] == "unchanged"
    assert [m for m, _p, _q in api.requests] == ["GET", "PATCH"]


def test_apply_fails_when_the_read_back_differs_or_the_server_refuses():
    api = FakeApi()
    original = api.__call__

    def lying(method, path, query=None, body=None, content_type=None):
        status, answer = original(method, path, query, body, content_type)
        if method == "GET" and status == 200:
            answer["data"] = {"audit-policy.yaml": "other"}
        return status, answer
    with pytest.raises(k8s.ApplyError) as info:
        k8s.apply_object(lying, secret(), SECRET_PATH, None, "us", what="Secret kube-system/audit-policy")
    assert info.value.errors == ["Secret kube-system/audit-policy was written but the API server holds a different "
                                 "data.audit-policy.yaml than was applied"]
    api.answers[SECRET_PATH] = (409, {"kind": "Status", "message": "Apply failed with 1 conflict: conflict with "
                                      "\"kubectl\": .data.audit-policy.yaml"})
    with pytest.raises(k8s.ApplyError) as info:
        k8s.apply_object(api, secret("c2VjcmV0"), SECRET_PATH, None, "us", text=lambda t: t.replace("kubectl", "M"))
    assert info.value.errors == ["applying Secret/audit-policy: HTTP 409: Apply failed with 1 conflict: conflict "
                                 "with \"M\": .data.audit-policy.yaml"]


def test_delete_reads_back_and_absent_sends_nothing():
    api = FakeApi()
    assert k8s.delete_object(api, SECRET_PATH, None) == "absent" and api.requests == []
    api.put(SECRET_PATH, secret())
    live = api("GET", SECRET_PATH)[1]
    assert k8s.delete_object(api, SECRET_PATH, live, check_mode=True) == "delete"
    assert SECRET_PATH in api.objects and api.requests[-1] == ("DELETE", SECRET_PATH, {"dryRun": "All"})
    assert k8s.delete_object(api, SECRET_PATH, live) == "delete"
    assert SECRET_PATH not in api.objects
    assert [m for m, _p, _q in api.requests[-2:]] == ["DELETE", "GET"]


def test_delete_fails_when_the_object_is_still_there_and_not_terminating():
    api = FakeApi()
    api.put(SECRET_PATH, secret())
    live = api("GET", SECRET_PATH)[1]
    api.answers[SECRET_PATH] = (200, {"kind": "Status", "status": "Success"})
    with pytest.raises(k8s.ApplyError) as info:
        k8s.delete_object(api, SECRET_PATH, live, what="Secret kube-system/audit-policy")
    assert "still holds it without a deletionTimestamp" in info.value.errors[0]
    # Finalizers still running: deleted as far as the API goes.
    api.objects[SECRET_PATH]["metadata"]["deletionTimestamp"] = "2026-12-03T00:00:00Z"
    api.answers[SECRET_PATH] = (200, {"kind": "Status", "status": "Success"})
    assert k8s.delete_object(api, SECRET_PATH, live) == "delete"
    # A new object of the same name made since is not the deleted one.
    api.put(SECRET_PATH, secret())
    api.answers[SECRET_PATH] = (200, {"kind": "Status", "status": "Success"})
    assert k8s.delete_object(api, SECRET_PATH, live) == "delete"


def test_secrets_are_masked_in_what_is_shown():
    shown = k8s.shown(dict(secret(), stringData={"x": "plain"}, metadata=dict(secret()["metadata"], uid="u")))
    assert shown == {"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": "audit-policy", "namespace": "kube-system", "labels": {"a": "b"}},
                     "data": {"audit-policy.yaml": k8s.MASK}, "stringData": {"x": k8s.MASK}}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    assert k8s.shown(config_map)["data"] == {"k": "v"} and k8s.mask_secret(config_map) is config_map
    assert k8s.shown(None) == {}


def test_self_markers_of_the_recorded_field_set_do_not_make_an_object_stale():
    module_config = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "m"},
                     "spec": {"version": 1, "settings": {"apiserver": {"auditLog": {"output": "File"}}}}}
    # Recorded by kube-apiserver v1.33.13 for this apply (spec.settings preserves unknown fields).
    recorded = {"f:spec": {"f:settings": {"f:apiserver": {".": {}, "f:auditLog": {".": {}, "f:output": {}}}},
                           "f:version": {}}}
    live = dict(module_config, metadata={"name": "m", "managedFields": [
        {"manager": "us", "operation": "Apply", "apiVersion": "deckhouse.io/v1alpha1", "fieldsV1": recorded}]})
    assert k8s.up_to_date(module_config, live, "us")
    assert k8s.without_self_markers(recorded) == k8s.applied_fields(module_config)
