# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one home of writing Kubernetes objects: server-side apply with a field manager (``force`` takes over
fields of other managers), delete, each write read back before it counts, an up-to-date check so that an apply
that would change nothing is not sent, and diffs with the values of Secrets masked.

Pure Python (no Ansible, no Kubernetes client): the caller passes ``api``, a callable
``api(method, path, query=None, body=None, content_type=None) -> (status, body)`` where ``body`` is the decoded
JSON answer (or its text) and HTTP errors are returned, not raised (``_apiserver_probe.Client.request``, or
kubernetes.core's client wrapped so).

Public API:
  message(status, body)                              an HTTP answer as text for an error
  object_path(api_version, plural, name, namespace)  the REST path of an object or a collection
  Discovery(api).resource(api_version, kind)         (plural, namespaced) of a served kind, None when not served
  up_to_date(desired, live, manager) -> bool         would applying ``desired`` as ``manager`` change nothing?
  apply_object(api, obj, path, live, manager, ...)   apply one object, read it back -> (action, stored)
  delete_object(api, path, live, ...)                delete one object, read back -> action
  shown(obj, mask)                                   an object as a diff shows it
  mask_secret(obj)                                   a Secret with every data/stringData value masked
"""

from __future__ import annotations

import json

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import ListError

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MASK = "********"
# Server metadata an apply does not set: left out of comparisons and diffs.
SET_METADATA = ("labels", "annotations")


class ApplyError(ListError):
    """The API server refused a request or could not be read; ``errors`` holds one 'path: message' per problem."""


def message(status, body):
    """An HTTP answer as text: the Status message, or the start of the body."""
    if isinstance(body, dict):
        return "HTTP %s: %s" % (status, body.get("message") or body.get("reason") or json.dumps(body, sort_keys=True))
    return "HTTP %s: %s" % (status, (body or "").strip()[:500])


def group_version_path(api_version):
    """``/api/v1`` for the core group, ``/apis/GROUP/VERSION`` for the others."""
    return "/api/" + api_version if "/" not in api_version else "/apis/" + api_version


def object_path(api_version, plural, name=None, namespace=None):
    """The REST path of an object (or, without ``name``, of the collection)."""
    path = group_version_path(api_version)
    if namespace:
        path += "/namespaces/" + namespace
    path += "/" + plural
    return path + "/" + name if name else path


class Discovery(object):
    """The resources each group version serves, asked once per group version (as kubectl's discovery does)."""

    def __init__(self, api):
        self.api = api
        self.served = {}

    def resource(self, api_version, kind):
        """``(plural, namespaced)`` of ``kind`` in ``api_version``, or None when the cluster does not serve it."""
        if api_version not in self.served:
            status, body = self.api("GET", group_version_path(api_version))
            if status == 404:
                self.served[api_version] = {}
            elif status != 200 or not isinstance(body, dict):
                raise ApplyError(["apiVersion: reading the resources of %s: %s" % (api_version, message(status, body))])
            else:
                self.served[api_version] = dict(
                    (item.get("kind"), (item.get("name"), bool(item.get("namespaced"))))
                    for item in body.get("resources") or [] if "/" not in (item.get("name") or "/"))
        return self.served[api_version].get(kind)


# --------------------------------------------------------------------------------------------
# Would an apply change anything?
# --------------------------------------------------------------------------------------------

def fields_of(value):
    """FieldsV1 set (as the API server records it in managedFields) of an applied configuration.

    Every list is taken as atomic (``f:name: {}``), as is every scalar; maps list their keys. For a list the
    schema declares a map or set (``x-kubernetes-list-type``) the server records more: the check then says
    "not up to date" and the apply is sent, and an apply that changes nothing is still reported unchanged.
    """
    if isinstance(value, dict) and value:
        return dict(("f:" + key, fields_of(item)) for key, item in value.items())
    return {}


def applied_fields(obj):
    """FieldsV1 the API server records for applying ``obj`` (apiVersion, kind, name and namespace are not
    fields)."""
    fields = {}
    metadata = obj.get("metadata") or {}
    meta = dict((key, metadata[key]) for key in SET_METADATA if metadata.get(key))
    if meta:
        fields["f:metadata"] = fields_of(meta)
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata"):
            fields["f:" + key] = fields_of(value)
    return fields


def manager_fields(live, manager, api_version):
    """FieldsV1 of the Apply entry of ``manager`` in ``live`` for ``api_version``, or None."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if (entry.get("manager") == manager and entry.get("operation") == "Apply"
                and entry.get("apiVersion") == api_version):
            return entry.get("fieldsV1") or {}
    return None


def without_self_markers(fields):
    """A FieldsV1 set without its ``"."`` entries. The API server records ``".": {}`` for a map it also tracks as a
    member of its parent (maps under ``x-kubernetes-preserve-unknown-fields``, such as ModuleConfig
    ``spec.settings``); applying the same configuration records the same markers again, so they do not tell a
    change."""
    if not isinstance(fields, dict):
        return fields
    return dict((key, without_self_markers(value)) for key, value in fields.items() if key != ".")


def values_match(desired, live):
    """Every field of ``desired`` has the same value in ``live`` (lists and scalars exactly, same types)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(key in live and values_match(value, live[key])
                                              for key, value in desired.items())
    if isinstance(desired, list):
        return (isinstance(live, list) and len(desired) == len(live)
                and all(values_match(a, b) for a, b in zip(desired, live)))
    return type(desired) is type(live) and desired == live


def first_difference(desired, live, path=""):
    """Field path of the first value of ``desired`` that ``live`` does not hold, or None."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return path or "<root>"
        for key, value in desired.items():
            sub = "%s.%s" % (path, key) if path else key
            if key not in live:
                return sub
            found = first_difference(value, live[key], sub)
            if found:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return path
        for index, (a, b) in enumerate(zip(desired, live)):
            found = first_difference(a, b, "%s[%d]" % (path, index))
            if found:
                return found
        return None
    return None if type(desired) is type(live) and desired == live else path


def comparable(obj):
    """What an apply sets: labels/annotations and the body, without server metadata and status."""
    metadata = obj.get("metadata") or {}
    out = {"metadata": dict((key, metadata[key]) for key in SET_METADATA if key in metadata)}
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            out[key] = value
    return out


def up_to_date(desired, live, manager):
    """True when applying ``desired`` as ``manager`` would change nothing: the live object holds every
    value, and the manager's applied field set is exactly ``desired``'s (a field dropped from the input
    must still be removed, which only an apply does)."""
    if live is None:
        return False
    if not values_match(comparable(desired), live):
        return False
    return without_self_markers(manager_fields(live, manager, desired.get("apiVersion"))) == applied_fields(desired)


def same(body, live):
    """The answer to an apply shows no change against ``live``."""
    return values_match(comparable(body), comparable(live)) and values_match(comparable(live), comparable(body))


# --------------------------------------------------------------------------------------------
# Secrets out of diffs and results
# --------------------------------------------------------------------------------------------

def mask_secret(obj):
    """``obj`` with every value of a Secret's ``data`` and ``stringData`` masked (other kinds as they are)."""
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for key in ("data", "stringData"):
        if isinstance(obj.get(key), dict):
            out[key] = dict((name, MASK) for name in obj[key])
    return out


def shown(obj, mask=mask_secret):
    """An object as diffs show it: what the apply sets, with ``mask`` applied; {} for none."""
    if obj is None:
        return {}
    metadata = obj.get("metadata") or {}
    out = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind")}
    body = mask(dict(comparable(obj), kind=obj.get("kind")))
    body.pop("kind", None)
    out.update(body)
    head = [("name", metadata.get("name"))] + ([("namespace", metadata["namespace"])] if metadata.get("namespace") else [])
    out["metadata"] = dict(head + list(out["metadata"].items()))
    return out


# --------------------------------------------------------------------------------------------
# Apply, delete, read back
# --------------------------------------------------------------------------------------------

def read(api, path, what):
    """The object at ``path``, None when there is none."""
    status, body = api("GET", path)
    if status == 200 and isinstance(body, dict):
        return body
    if status == 404:
        return None
    raise ApplyError(["reading %s: %s" % (what, message(status, body))])


def apply_object(api, obj, path, live, manager, force=False, check_mode=False, what=None, text=str):
    """Server-side apply ``obj`` at ``path`` as ``manager`` unless it is up to date with ``live`` (the object as
    read, None when missing); a real apply is read back and must hold every applied value.

    Returns ``(action, stored)``: action create, update or unchanged; stored the object the server holds (the
    dry run's answer in check mode, ``live`` when nothing was sent). ``text`` masks secrets in messages.
    Raises ApplyError.
    """
    what = what or "%s/%s" % (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
    if up_to_date(obj, live, manager):
        return "unchanged", live
    query = [("fieldManager", manager), ("fieldValidation", "Strict")]
    if force:
        query.append(("force", "true"))
    if check_mode:
        query.append(("dryRun", "All"))
    status, body = api("PATCH", path, query=query, body=json.dumps(obj), content_type=APPLY_CONTENT_TYPE)
    if status not in (200, 201) or not isinstance(body, dict):
        raise ApplyError([text("applying %s: %s" % (what, message(status, body)))])
    # The local comparison is conservative; an apply that changed nothing leaves the resourceVersion
    # (a dry run never changes it, so there the content decides).
    if live is not None and (same(body, live) if check_mode else
                             (body.get("metadata") or {}).get("resourceVersion")
                             == (live.get("metadata") or {}).get("resourceVersion")):
        return "unchanged", body
    if not check_mode:
        status, stored = api("GET", path)
        if status != 200 or not isinstance(stored, dict):
            raise ApplyError(["reading back %s: %s" % (what, text(message(status, stored)))])
        wrong = first_difference(comparable(obj), stored)
        if wrong:
            raise ApplyError(["%s was written but the API server holds a different %s than was applied" % (what, wrong)])
        body = stored
    return ("create" if live is None else "update"), body


def delete_object(api, path, live, check_mode=False, what=None, text=str):
    """Delete the object at ``path`` (``live`` as read; None: nothing to delete). A real delete is read back: the
    object must be gone or carry a deletionTimestamp (finalizers still running). Returns ``delete`` or
    ``absent``. Raises ApplyError."""
    what = what or path
    if live is None:
        return "absent"
    status, body = api("DELETE", path, query=[("dryRun", "All")] if check_mode else [])
    if status == 404:
        return "absent"
    if status not in (200, 202):
        raise ApplyError([text("deleting %s: %s" % (what, message(status, body)))])
    if not check_mode:
        status, stored = api("GET", path)
        if status == 200 and isinstance(stored, dict):
            meta = stored.get("metadata") or {}
            # Another object of the same name (made again since) is not the one deleted.
            if meta.get("uid") == (live.get("metadata") or {}).get("uid") and not meta.get("deletionTimestamp"):
                raise ApplyError(["%s was deleted but the API server still holds it without a deletionTimestamp"
                                  % what])
        elif status != 404:
            raise ApplyError(["reading back %s: %s" % (what, text(message(status, stored)))])
    return "delete"
