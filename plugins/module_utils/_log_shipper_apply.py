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

from ansible_collections.auditops.deckhouse.plugins.module_utils import _k8s_apply as k8s
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"

# The generic apply engine's checks (_k8s_apply), under the names this engine's callers and tests use.
applied_fields = k8s.applied_fields
first_difference = k8s.first_difference
manager_fields = k8s.manager_fields
up_to_date = k8s.up_to_date
values_match = k8s.values_match


class ApplyError(ls.LogShipperError):
    """The API server refused or could not be read; ``errors`` as in LogShipperError."""


_message = k8s.message


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
    return k8s.object_path(api_version, plural, name)


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
    return k8s.shown(obj, ls.mask_secrets)


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
        path = object_path(obj["apiVersion"], profile.plurals[obj["kind"]], key[1])
        # Adopting an object means taking over the fields its previous manager set.
        try:
            action, body = k8s.apply_object(api, obj, path, live, manager, force=force or key in foreign_names,
                                            check_mode=check_mode, what=_ref(obj), text=scrubber.text)
        except k8s.ApplyError as exc:
            raise ApplyError(exc.errors)
        changes.append({"kind": key[0], "name": key[1], "action": action})
        if action != "unchanged":
            diffs.append({"before": _shown(live), "after": _shown(body), "header": _ref(obj)})
    pruned = prune_refs if prune else []
    for ref in pruned:
        live = live_by_name.get((ref["kind"], ref["name"]))
        path = object_path(ref["api_version"], profile.plurals[ref["kind"]], ref["name"])
        what = "%s/%s" % (ref["kind"], ref["name"])
        try:
            if k8s.delete_object(api, path, live, check_mode=check_mode, what=what, text=scrubber.text) == "absent":
                continue
        except k8s.ApplyError as exc:
            raise ApplyError(exc.errors)
        changes.append({"kind": ref["kind"], "name": ref["name"], "action": "delete"})
        diffs.append({"before": _shown(live), "after": {}, "header": what})
    return {
        "changed": any(change["action"] != "unchanged" for change in changes),
        "changes": changes,
        "diffs": diffs,
        "prune": pruned,
        "foreign": foreign,
    }
