# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Log-shipper output: YAML text, secret masking, the render plan for files on disk and the prune
plan for live objects. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import os
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import dump as yaml_dump, scalar as yaml_scalar
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    DEFAULT_OWNER, KIND_CONFIG, KINDS, MANAGED_BY_LABEL, MANAGED_BY_VALUE, MASK, ROLE_LABEL, SECRET_FIELDS)


# --------------------------------------------------------------------------------------------
# Output: YAML, render plan, prune plan
# --------------------------------------------------------------------------------------------

def to_yaml(obj):
    """One YAML document ('---' first), block style, keys in insertion order: byte-stable."""
    return yaml_dump(obj, indent_sequences=True, explicit_start=True, plain_punctuation=False)


def file_name(obj):
    return "%s-%s.yml" % (obj["kind"].lower(), obj["metadata"]["name"])


def mask_secrets(obj):
    """Copy with private keys, key passphrases and SASL passwords replaced (for diffs and logs)."""
    if isinstance(obj, dict):
        return dict((k, MASK if k in SECRET_FIELDS and isinstance(v, str) else mask_secrets(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [mask_secrets(item) for item in obj]
    return obj


_SECRET_LINE = re.compile(r"^(\s*(?:%s): ).*$" % "|".join(SECRET_FIELDS), re.MULTILINE)


def mask_yaml_text(text):
    """Mask secret values in YAML this module rendered (for diffs of files on disk)."""
    return _SECRET_LINE.sub(lambda m: m.group(1) + MASK, text) if text else text


def has_secrets(obj):
    return mask_secrets(obj) != obj


def _owned_marker(owner):
    return ("    %s: %s\n" % (MANAGED_BY_LABEL, MANAGED_BY_VALUE), "    %s: %s\n" % (ROLE_LABEL, yaml_scalar(owner, plain_punctuation=False)))


_RENDERED_NAME = re.compile(r"^(clusterlogdestination|clusterloggingconfig)-[a-z0-9.-]+\.yml$")


def plan_render(dest_dir, objects, owner=DEFAULT_OWNER, prune=True):
    """What writing ``objects`` into ``dest_dir`` changes: list of dicts with path, action
    (create/update/unchanged/delete), before, after, secret. Deletes only files this owner
    rendered earlier (recognised by name pattern and the owner labels inside)."""
    plan = []
    wanted = set()
    for obj in objects:
        path = os.path.join(dest_dir, file_name(obj))
        wanted.add(os.path.basename(path))
        after = to_yaml(obj)
        before = None
        if os.path.isfile(path):
            with open(path, "r") as handle:
                before = handle.read()
        action = "create" if before is None else ("unchanged" if before == after else "update")
        plan.append({"path": path, "action": action, "before": before, "after": after, "secret": has_secrets(obj)})
    if prune and os.path.isdir(dest_dir):
        markers = _owned_marker(owner)
        for entry in sorted(os.listdir(dest_dir)):
            path = os.path.join(dest_dir, entry)
            if entry in wanted or not _RENDERED_NAME.match(entry) or not os.path.isfile(path):
                continue
            with open(path, "r") as handle:
                before = handle.read()
            if before.startswith("---\n") and all(marker in before for marker in markers):
                plan.append({"path": path, "action": "delete", "before": before, "after": None, "secret": False})
    return plan


def _is_owned(obj, owner):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(ROLE_LABEL) == owner


def label_selector(owner=DEFAULT_OWNER):
    return "%s=%s,%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROLE_LABEL, owner)


def plan_prune(objects, existing, owner=DEFAULT_OWNER):
    """(prune, foreign) from the live objects of our kinds.

    prune:   objects carrying this owner's labels that the input no longer describes.
    foreign: objects the input describes that exist without this owner's labels (applying
             would take them over).
    Objects of other kinds, or without our labels, are never put on the prune list.
    """
    wanted = set((obj["kind"], obj["metadata"]["name"]) for obj in objects)
    prune, foreign = [], []
    for item in existing or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("kind")
        name = (item.get("metadata") or {}).get("name")
        if kind not in KINDS or not name:
            continue
        ref = {"kind": kind, "api_version": item.get("apiVersion"), "name": name}
        if (kind, name) in wanted:
            if not _is_owned(item, owner):
                foreign.append(ref)
        elif _is_owned(item, owner):
            prune.append(ref)
    # Sources before destinations, so no config points at a deleted destination meanwhile.
    prune.sort(key=lambda r: (r["kind"] != KIND_CONFIG, r["name"]))
    foreign.sort(key=lambda r: (r["kind"], r["name"]))
    return prune, foreign
