# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read Kubernetes objects by apiVersion and kind through ``_apiserver_probe.Client``, several queries with one
connection (module ``k8s_objects_info``). Standard library only; no Ansible imports.

The kind is turned into its resource path by API discovery (``GET /api/v1``, ``GET /apis/<group>/<version>``), once
per group version asked. Each result is shaped like kubernetes.core.k8s_info's: ``api_found`` and ``resources``
(the objects as the API server returns them; ``msg`` when the API is not found)."""

from __future__ import annotations

import json

from urllib.parse import quote, urlencode

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import PathError
from ansible_collections.auditops.deckhouse.plugins.module_utils._k8s_apply import group_version_path

QUERY_KEYS = ("api_version", "kind", "namespace", "name", "label_selectors", "field_selectors")


class ReadError(PathError):
    """A query that cannot be asked or whose answer is an error; ``path`` names the query (``queries[2].kind``)."""


def _text(query, key, where, required=False):
    value = query.get(key)
    if value is None or value == "":
        if required:
            raise ReadError("%s.%s" % (where, key), "required, a non-empty string")
        return None
    if not isinstance(value, str) or not value:
        raise ReadError("%s.%s" % (where, key), "expected a non-empty string, got %r" % (value,))
    if key in ("namespace", "name") and ("/" in value or value in (".", "..")):
        raise ReadError("%s.%s" % (where, key), "%r is not an object name (it holds '/' or is '.' or '..')" % value)
    return value


def _selectors(query, key, where):
    value = query.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ReadError("%s.%s" % (where, key), "expected a list of non-empty strings such as "
                        "app.kubernetes.io/managed-by=auditops.deckhouse, got %r" % (value,))
    return list(value)


def parse_queries(queries):
    """The queries, checked and completed (api_version defaults to v1); a bad one raises ``ReadError`` naming
    ``queries[i].<key>``."""
    if not isinstance(queries, list):
        raise ReadError("queries", "expected a list of mappings, got %s" % type(queries).__name__)
    out = []
    for index, query in enumerate(queries):
        where = "queries[%d]" % index
        if not isinstance(query, dict):
            raise ReadError(where, "expected a mapping with kind (and api_version, namespace, name, label_selectors, "
                            "field_selectors), got %s" % type(query).__name__)
        unknown = sorted(str(key) for key in query if key not in QUERY_KEYS)
        if unknown:
            raise ReadError("%s.%s" % (where, unknown[0]), "unknown key; a query takes %s" % ", ".join(QUERY_KEYS))
        api_version = _text(query, "api_version", where) or "v1"
        parts = api_version.split("/")
        if len(parts) > 2 or not all(parts) or " " in api_version:
            raise ReadError(where + ".api_version", "%r is not v1 or <group>/<version>" % api_version)
        out.append({
            "api_version": api_version,
            "kind": _text(query, "kind", where, required=True),
            "namespace": _text(query, "namespace", where),
            "name": _text(query, "name", where),
            "label_selectors": _selectors(query, "label_selectors", where),
            "field_selectors": _selectors(query, "field_selectors", where),
        })
    return out


def _status_message(body):
    """The ``message`` of a Kubernetes Status answer, else the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return (body or "").strip()[:300] or "(empty answer)"


def _answer(client, path, timeout):
    """``(status, body)``; no HTTP answer raises ``IOError`` with the client's error."""
    status, body, error = client.get(path, timeout, limit=None)
    if status is None:
        raise IOError("GET %s: no answer from %s: %s" % (path, client.conn.server, error))
    return status, body


def _json(path, body):
    try:
        return json.loads(body)
    except ValueError as exc:
        raise IOError("GET %s: the answer is not JSON: %s" % (path, exc))


def server_version(client, timeout):
    """The ``GET /version`` answer (gitVersion, major, minor, ...); ``IOError`` without a usable answer."""
    status, body = _answer(client, "/version", timeout)
    if status != 200:
        raise IOError("GET /version: HTTP %d: %s" % (status, _status_message(body)))
    data = _json("/version", body)
    if not isinstance(data, dict):
        raise IOError("GET /version: expected a JSON object")
    return data


def discover(client, api_version, timeout):
    """The resources of one group version as the discovery document lists them, or None when the API server does
    not serve that group version (404). Subresources (``pods/log``) are left out."""
    path = group_version_path(api_version)
    status, body = _answer(client, path, timeout)
    if status == 404:
        return None
    if status != 200:
        raise IOError("GET %s: HTTP %d: %s" % (path, status, _status_message(body)))
    data = _json(path, body)
    resources = data.get("resources") if isinstance(data, dict) else None
    return [item for item in resources or [] if isinstance(item, dict) and "/" not in str(item.get("name", "/"))]


def find_resource(resources, kind):
    """The discovery entry for ``kind``: its kind first, then (as kubernetes.core does) its plural name, singular
    name or a short name; None when nothing matches or more than one resource would."""
    for keys in (("kind",), ("name", "singularName", "shortNames")):
        found = []
        for item in resources or []:
            names = []
            for key in keys:
                value = item.get(key)
                names.extend(value if isinstance(value, list) else [value])
            if kind in names:
                found.append(item)
        if found:
            return found[0] if len(found) == 1 else None
    return None


def object_path(query, resource):
    """The request path of ``query`` for its discovery entry ``resource``. A namespace given for a cluster-wide kind
    is not used (as in kubernetes.core.k8s_info); a namespaced kind without one is listed in every namespace."""
    path = group_version_path(query["api_version"])
    if resource.get("namespaced") and query["namespace"]:
        path += "/namespaces/" + quote(query["namespace"], safe="")
    path += "/" + resource["name"]
    if query["name"]:
        path += "/" + quote(query["name"], safe="")
    params = []
    if query["label_selectors"]:
        params.append(("labelSelector", ",".join(query["label_selectors"])))
    if query["field_selectors"]:
        params.append(("fieldSelector", ",".join(query["field_selectors"])))
    return path + ("?" + urlencode(params) if params else "")


def _describe(query):
    text = "%s %s" % (query["api_version"], query["kind"])
    if query["name"]:
        text += " " + (query["namespace"] + "/" if query["namespace"] else "") + query["name"]
    elif query["namespace"]:
        text += " in namespace " + query["namespace"]
    return text


def _read_one(client, query, resource, where, timeout):
    path = object_path(query, resource)
    status, body = _answer(client, path, timeout)
    if status == 404:
        # A named object that does not exist (or a kind removed since discovery): nothing found, as k8s_info.
        return []
    if status == 400 and (query["label_selectors"] or query["field_selectors"]):
        key = ("label_selectors" if not query["field_selectors"] else
               "field_selectors" if not query["label_selectors"] else "label_selectors/field_selectors")
        raise ReadError("%s.%s" % (where, key), "%s: the API server refused the selector: HTTP 400: %s"
                        % (_describe(query), _status_message(body)))
    if status != 200:
        raise ReadError(where, "%s: GET %s: HTTP %d: %s" % (_describe(query), path, status, _status_message(body)))
    try:
        data = _json(path, body)
    except IOError as exc:
        raise ReadError(where, "%s: %s" % (_describe(query), exc))
    if not isinstance(data, dict):
        raise ReadError(where, "%s: GET %s: expected a JSON object" % (_describe(query), path))
    if "items" in data or str(data.get("kind", "")).endswith("List"):
        # The items of a list answer of a built-in kind carry no apiVersion and kind; they get those of the list and
        # of the resource, as kubernetes.core.k8s_info returns them.
        items = [item for item in data.get("items") or [] if isinstance(item, dict)]
        for item in items:
            item.setdefault("apiVersion", data.get("apiVersion", query["api_version"]))
            item.setdefault("kind", resource.get("kind", query["kind"]))
        return items
    return [data]


def read(client, queries, timeout):
    """One result per query, in order: ``{query, api_found, resources}`` (and ``msg`` when the API is not found).
    Discovery runs once per group version asked. An answer that is an error (401, 403, 500, no answer) raises
    ``ReadError`` naming the query, what was asked and what the server answered."""
    discovered = {}
    results = []
    for index, query in enumerate(queries):
        where = "queries[%d]" % index
        api_version = query["api_version"]
        if api_version not in discovered:
            try:
                discovered[api_version] = discover(client, api_version, timeout)
            except IOError as exc:
                raise ReadError(where, "%s: API discovery failed: %s" % (_describe(query), exc))
        resource = find_resource(discovered[api_version], query["kind"])
        if resource is None:
            results.append({"query": query, "api_found": False, "resources": [],
                            "msg": 'Failed to find API for resource with apiVersion "%s" and kind "%s"'
                                   % (api_version, query["kind"])})
            continue
        try:
            resources = _read_one(client, query, resource, where, timeout)
        except IOError as exc:
            raise ReadError(where, "%s: %s" % (_describe(query), exc))
        results.append({"query": query, "api_found": True, "resources": resources})
    return results
