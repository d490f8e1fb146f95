# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the cluster hold the log-shipper objects built by _log_shipper: server-side apply of only
the objects that differ, each written object read back, owned objects no longer wanted deleted.

The objects carry secrets (TLS keys, key passphrases, SASL passwords) exactly as the CRD stores
them; this engine sends them to the API server and never returns them: every object, diff and
message it returns has them masked (``_log_shipper.mask_secrets``, ``Scrubber``).

Pure Python (no Ansible, no Kubernetes client): the caller passes ``api``, a callable
``api(method, path, query=None, body=None, content_type=None) -> (status, body)`` where ``body`` is
the decoded JSON answer (or its text) and HTTP errors are returned, not raised.

Public API:
  read_crds(api) -> [crd, ...]                      the two log-shipper CRDs the cluster serves
  list_existing(api, profile) -> [object, ...]      every object of both kinds
  up_to_date(desired, live, manager) -> bool         would applying ``desired`` change nothing?
  sync(api, objects, existing, profile, ...) -> dict(changed, changes, diffs, prune, foreign)
  Scrubber(objects).text(s)                         a message with every secret form masked
"""

from __future__ import annotations

import base64
import binascii
import json

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


class ApplyError(ls.LogShipperError):
    """The API server refused or could not be read; ``errors`` as in LogShipperError."""


def _message(status, body):
    if isinstance(body, dict):
        return "HTTP %s: %s" % (status, body.get("message") or body.get("reason") or json.dumps(body, sort_keys=True))
    return "HTTP %s: %s" % (status, (body or "").strip()[:500])


def read_crds(api):
    """The ClusterLogDestination and ClusterLoggingConfig CRDs; [] for one the cluster lacks."""
    crds = []
    for kind in ls.KINDS:
        status, body = api("GET", CRD_PATH + ls.CRD_NAMES[kind])
        if status == 200 and isinstance(body, dict):
            crds.append(body)
        elif status != 404:
            raise ApplyError(["reading CustomResourceDefinition %s: %s" % (ls.CRD_NAMES[kind], _message(status, body))])
    return crds


def read_module_config(api):
    """The control-plane-manager ModuleConfig, or None when the cluster has none (or no ModuleConfig CRD)."""
    status, body = api("GET", ls.MODULE_CONFIG_PATH)
    if status == 200 and isinstance(body, dict):
        return body
    if status == 404:
        return None
    raise ApplyError(["reading ModuleConfig control-plane-manager: %s" % _message(status, body)])


def object_path(api_version, plural, name=None):
    path = "/apis/%s/%s" % (api_version, plural)
    return path + "/" + name if name else path


def list_existing(api, profile):
    """Every live object of both kinds (not only ours: foreign objects with our names matter)."""
    found = []
    for kind in ls.KINDS:
        status, body = api("GET", object_path(profile.api_version(kind), profile.plurals[kind]))
        if status != 200 or not isinstance(body, dict):
            raise ApplyError(["listing %s: %s" % (kind, _message(status, body))])
        for item in body.get("items") or []:
            # Items of a list carry no kind/apiVersion.
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", profile.api_version(kind))
            found.append(item)
    return found


# --------------------------------------------------------------------------------------------
# Would an apply change anything?
# --------------------------------------------------------------------------------------------

def fields_of(value):
    """FieldsV1 set (as the API server records it in managedFields) of an applied configuration.

    The log-shipper CRDs declare no x-kubernetes-list-type, so every list is atomic (``f:name: {}``),
    as is every scalar; maps list their keys.
    """
    if isinstance(value, dict) and value:
        return dict(("f:" + key, fields_of(item)) for key, item in value.items())
    return {}


def applied_fields(obj):
    """FieldsV1 the API server records for applying ``obj`` (apiVersion, kind and name are not fields)."""
    fields = {}
    metadata = obj.get("metadata") or {}
    meta = dict((key, metadata[key]) for key in ("labels", "annotations") if metadata.get(key))
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


def _comparable(obj):
    """What the apply sets: labels/annotations and the body, without server metadata."""
    metadata = obj.get("metadata") or {}
    out = {"metadata": dict((key, metadata[key]) for key in ("labels", "annotations") if key in metadata)}
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
    if not values_match(_comparable(desired), live):
        return False
    return manager_fields(live, manager, desired.get("apiVersion")) == applied_fields(desired)


# --------------------------------------------------------------------------------------------
# Secrets out of every message
# --------------------------------------------------------------------------------------------

class Scrubber(object):
    """Masks every form of the secrets the objects hold: the stored (base64) value, its decoded text
    (PEM or passphrase) and each line of a decoded PEM body."""

    def __init__(self, objects, extra=()):
        forms = set(value for value in extra if value)
        for obj in objects:
            for value in _secret_values(obj):
                forms.add(value)
                try:
                    text = base64.b64decode(value, validate=True).decode("utf-8")
                except (binascii.Error, ValueError, UnicodeDecodeError):
                    continue
                forms.add(text)
                forms.add(text.strip())
                for line in text.splitlines():
                    if len(line) >= 16 and not line.startswith("-----"):
                        forms.add(line)
        # Longest first, so a line inside a PEM is not masked before the whole PEM.
        self.forms = sorted((f for f in forms if len(f) >= 1), key=len, reverse=True)

    def text(self, value):
        if not isinstance(value, str):
            return value
        for form in self.forms:
            if form in value:
                value = value.replace(form, ls.MASK)
        return value

    def deep(self, value):
        if isinstance(value, dict):
            return dict((self.text(k), self.deep(v)) for k, v in value.items())
        if isinstance(value, list):
            return [self.deep(item) for item in value]
        return self.text(value)


def _secret_values(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ls.SECRET_FIELDS and isinstance(value, str):
                yield value
            else:
                yield from _secret_values(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _secret_values(item)


# --------------------------------------------------------------------------------------------
# Apply, read back, prune
# --------------------------------------------------------------------------------------------

def _shown(obj):
    """An object as diffs show it: what the apply sets, secrets masked."""
    if obj is None:
        return {}
    shown = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind")}
    shown.update(ls.mask_secrets(_comparable(obj)))
    shown["metadata"] = dict([("name", (obj.get("metadata") or {}).get("name"))] + list(shown["metadata"].items()))
    return shown


def _same(body, live):
    """The answer to an apply shows no change against ``live``."""
    return values_match(_comparable(body), _comparable(live)) and values_match(_comparable(live), _comparable(body))


def _ref(obj):
    return "%s/%s" % (obj["kind"], obj["metadata"]["name"])


def sync(api, objects, existing, profile, owner=ls.DEFAULT_OWNER, manager="auditops-deckhouse", adopt=False,
         prune=True, force=False, check_mode=False, scrubber=None):
    """Apply what differs, read it back, delete what this owner no longer wants.

    Returns dict(changed, changes=[{kind, name, action}], diffs=[{before, after, header}], prune, foreign)
    where action is create, update, unchanged or delete; nothing returned holds a secret.
    Raises ApplyError (nothing further is written once one object fails).
    """
    scrubber = scrubber or Scrubber(objects)
    prune_refs, foreign = ls.plan_prune(objects, existing, owner=owner)
    if foreign and not adopt:
        names = ", ".join("%s/%s" % (ref["kind"], ref["name"]) for ref in foreign)
        raise ApplyError(["%s already exist(s) without the labels %s; refusing to take over objects this role "
                          "does not own (rename the destination/source, or allow adoption)"
                          % (names, ls.label_selector(owner))])
    live_by_name = dict(((item["kind"], item["metadata"]["name"]), item) for item in existing
                        if isinstance(item, dict) and item.get("kind") in ls.KINDS)
    changes, diffs = [], []
    foreign_names = set((ref["kind"], ref["name"]) for ref in foreign)
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        live = live_by_name.get(key)
        if up_to_date(obj, live, manager):
            changes.append({"kind": key[0], "name": key[1], "action": "unchanged"})
            continue
        query = [("fieldManager", manager), ("fieldValidation", "Strict")]
        if force or key in foreign_names:
            # Adopting an object means taking over the fields its previous manager set.
            query.append(("force", "true"))
        if check_mode:
            query.append(("dryRun", "All"))
        path = object_path(obj["apiVersion"], profile.plurals[obj["kind"]], key[1])
        status, body = api("PATCH", path, query=query, body=json.dumps(obj), content_type=APPLY_CONTENT_TYPE)
        if status not in (200, 201) or not isinstance(body, dict):
            raise ApplyError([scrubber.text("applying %s: %s" % (_ref(obj), _message(status, body)))])
        # The local comparison is conservative; an apply that changed nothing leaves the resourceVersion
        # (a dry run never changes it, so there the content decides).
        if live is not None and (_same(body, live) if check_mode else
                                 (body.get("metadata") or {}).get("resourceVersion")
                                 == (live.get("metadata") or {}).get("resourceVersion")):
            changes.append({"kind": key[0], "name": key[1], "action": "unchanged"})
            continue
        if not check_mode:
            status, stored = api("GET", path)
            if status != 200 or not isinstance(stored, dict):
                raise ApplyError(["reading back %s: %s" % (_ref(obj), scrubber.text(_message(status, stored)))])
            wrong = first_difference(_comparable(obj), stored)
            if wrong:
                raise ApplyError(["%s was written but the API server holds a different %s than was applied"
                                  % (_ref(obj), wrong)])
            body = stored
        changes.append({"kind": key[0], "name": key[1], "action": "create" if live is None else "update"})
        diffs.append({"before": _shown(live), "after": _shown(body), "header": _ref(obj)})
    pruned = prune_refs if prune else []
    for ref in pruned:
        live = live_by_name.get((ref["kind"], ref["name"]))
        query = [("dryRun", "All")] if check_mode else []
        path = object_path(ref["api_version"], profile.plurals[ref["kind"]], ref["name"])
        status, body = api("DELETE", path, query=query)
        if status == 404:
            continue
        if status not in (200, 202):
            raise ApplyError(["deleting %s/%s: %s" % (ref["kind"], ref["name"], scrubber.text(_message(status, body)))])
        changes.append({"kind": ref["kind"], "name": ref["name"], "action": "delete"})
        diffs.append({"before": _shown(live), "after": {}, "header": "%s/%s" % (ref["kind"], ref["name"])})
    return {
        "changed": any(change["action"] != "unchanged" for change in changes),
        "changes": changes,
        "diffs": diffs,
        "prune": pruned,
        "foreign": foreign,
    }
