# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An in-memory stand-in for the few kube-apiserver answers the apply engine's unit tests need, as
``api(method, path, query, body, content_type) -> (status, body)`` and as a ``Client`` with ``request``.

Only what the Kubernetes API documents and the engine relies on: discovery of a group version lists its
resources (``name``, ``kind``, ``namespaced``); GET answers 200 with the object or 404; a server-side apply
(PATCH, application/apply-patch+yaml) creates or merges the object, records the manager's Apply entry in
``managedFields`` and changes ``resourceVersion`` only when the object changed; ``dryRun=All`` stores nothing;
DELETE answers 200 (404 when missing). Whether the engine's view of field sets matches kube-apiserver's is
checked against the real server in tests/integration."""

import copy
import json

from ansible_collections.auditops.deckhouse.plugins.module_utils import _k8s_apply as k8s

CORE = {"v1": [{"name": "secrets", "kind": "Secret", "namespaced": True},
               {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
               {"name": "secrets/status", "kind": "Secret", "namespaced": True}],
        "deckhouse.io/v1alpha1": [{"name": "moduleconfigs", "kind": "ModuleConfig", "namespaced": False}]}


def not_found(path):
    return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "message": "%s not found" % path}


class FakeApi(object):
    def __init__(self, served=None):
        self.served = copy.deepcopy(CORE if served is None else served)
        self.objects = {}
        self.requests = []
        self.version = 100
        # path -> status and body to answer the next request of that path with (then removed).
        self.answers = {}

    def writes(self):
        return [r for r in self.requests if r[0] in ("PATCH", "DELETE", "POST", "PUT")]

    def put(self, path, obj):
        obj = copy.deepcopy(obj)
        self.version += 1
        obj.setdefault("metadata", {}).update(resourceVersion=str(self.version), uid="uid-%d" % self.version)
        self.objects[path] = obj

    def __call__(self, method, path, query=None, body=None, content_type=None):
        query = dict(query or [])
        self.requests.append((method, path, query))
        if path in self.answers:
            return self.answers.pop(path)
        for api_version, resources in self.served.items():
            if path == k8s.group_version_path(api_version):
                return 200, {"kind": "APIResourceList", "groupVersion": api_version, "resources": resources}
        if method == "GET":
            if path in self.objects:
                return 200, copy.deepcopy(self.objects[path])
            return not_found(path)
        if method == "DELETE":
            if path not in self.objects:
                return not_found(path)
            if query.get("dryRun") != "All":
                del self.objects[path]
            return 200, {"kind": "Status", "status": "Success"}
        if method == "PATCH" and content_type == k8s.APPLY_CONTENT_TYPE:
            return self._apply(path, json.loads(body), query)
        return 405, {"kind": "Status", "message": "not emulated"}

    def _apply(self, path, obj, query):
        manager = query["fieldManager"]
        old = self.objects.get(path)
        new = copy.deepcopy(old) if old else {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                                              "metadata": {"name": obj["metadata"]["name"]}}
        if obj["metadata"].get("namespace"):
            new["metadata"]["namespace"] = obj["metadata"]["namespace"]
        for key in ("labels", "annotations"):
            if key in obj["metadata"]:
                new["metadata"][key] = dict(new["metadata"].get(key) or {}, **obj["metadata"][key])
        for key, value in obj.items():
            if key not in ("apiVersion", "kind", "metadata"):
                new[key] = copy.deepcopy(value)
        entries = [e for e in new["metadata"].get("managedFields") or [] if e["manager"] != manager]
        entries.append({"manager": manager, "operation": "Apply", "apiVersion": obj["apiVersion"],
                        "fieldsType": "FieldsV1", "fieldsV1": k8s.applied_fields(obj)})
        new["metadata"]["managedFields"] = entries
        if old is not None and new == old:
            return 200, copy.deepcopy(old)
        self.version += 1
        new["metadata"]["resourceVersion"] = str(self.version)
        new["metadata"].setdefault("uid", "uid-%d" % self.version)
        if query.get("dryRun") != "All":
            self.objects[path] = new
        return (200 if old else 201), copy.deepcopy(new)


class FakeClient(object):
    """``_apiserver_probe.Client`` over a FakeApi."""

    def __init__(self, api):
        self.api = api
        self.closed = False

    def request(self, method, path, query=None, body=None, content_type=None, timeout=60):
        return self.api(method, path, query, body, content_type)

    def close(self):
        self.closed = True
