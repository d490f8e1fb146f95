# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Log-shipper profiles: which CRD version (and which schema) the objects are written for, from the
live CRDs or a named snapshot (_log_shipper_schema.py). Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import trim_crd, unchecked_rules
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    CRD_NAMES, DEFAULT_PROFILE, GROUP, KIND_DESTINATION, KINDS, BUILDER_VERSIONS, LogShipperError)


def _schema_node(schema, dotted):
    """Follow 'spec.socket.encoding.codec' / 'spec.logFilter[].operator' through properties."""
    node = schema
    for token in re.findall(r"\[\]|[^.\[\]]+", dotted):
        if not isinstance(node, dict):
            return None
        node = node.get("items") if token == "[]" else (node.get("properties") or {}).get(token)
    return node


class Profile(object):
    """CRD versions and schemas generation follows, with where the information came from."""

    def __init__(self, name, source, description=""):
        self.name = name
        self.source = source
        self.description = description
        self.versions = {}
        self.served = {}
        self.schemas = {}
        self.notes = []
        self.features = {}
        self.plurals = {}

    def api_version(self, kind):
        return "%s/%s" % (GROUP, self.versions[kind])

    def node(self, kind, dotted):
        return _schema_node(self.schemas[kind], dotted)

    def enum(self, kind, dotted):
        node = self.node(kind, dotted)
        return list(node["enum"]) if isinstance(node, dict) and "enum" in node else None

    def has(self, kind, dotted):
        return self.node(kind, dotted) is not None

    def kinds(self):
        return [{"kind": kind, "api_version": self.api_version(kind)} for kind in KINDS]

    def as_dict(self):
        unchecked = []
        for kind in KINDS:
            unchecked.extend("%s %s" % (kind, rule) for rule in unchecked_rules(self.schemas[kind]))
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "api_versions": dict((kind, self.api_version(kind)) for kind in KINDS),
            "served_versions": dict((kind, list(self.served[kind])) for kind in KINDS),
            "features": dict(self.features),
            "notes": list(self.notes),
            "unchecked_rules": unchecked,
        }


def _pick_version(kind, crd, notes):
    versions = [v for v in crd["spec"]["versions"] if v.get("served")]
    if not versions:
        raise LogShipperError(["%s: the CRD serves no version" % CRD_NAMES[kind]])
    by_name = dict((v["name"], v) for v in versions)
    for name in BUILDER_VERSIONS:
        if name in by_name:
            return by_name[name]
    chosen = next((v for v in versions if v.get("storage")), versions[0])
    notes.append("%s: none of %s is served; writing %s/%s and relying on its schema to reject what does not fit"
                 % (kind, ", ".join(BUILDER_VERSIONS), GROUP, chosen["name"]))
    return chosen


def profile_from_crds(crds, name="live", source="live", description=""):
    """Profile from CustomResourceDefinition objects (live from the cluster or a snapshot)."""
    found = {}
    for crd in crds or []:
        if not isinstance(crd, dict):
            continue
        spec = crd.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        if spec.get("group") == GROUP and kind in KINDS:
            found[kind] = trim_crd(crd)
    missing = [CRD_NAMES[kind] for kind in KINDS if kind not in found]
    if missing:
        raise LogShipperError(["CustomResourceDefinition %s not found: is the Deckhouse log-shipper module enabled?"
                               % ", ".join(missing)])
    profile = Profile(name, source, description)
    for kind in KINDS:
        version = _pick_version(kind, found[kind], profile.notes)
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            raise LogShipperError(["%s version %s has no openAPIV3Schema" % (CRD_NAMES[kind], version["name"])])
        profile.versions[kind] = version["name"]
        profile.served[kind] = [v["name"] for v in found[kind]["spec"]["versions"] if v.get("served")]
        profile.schemas[kind] = schema
        profile.plurals[kind] = found[kind]["spec"]["names"].get("plural") or kind.lower() + "s"
    _derive_features(profile)
    return profile


def _derive_features(profile):
    # Where the socket TLS verify flags live differs between CRD versions (the "verify trap").
    if profile.has(KIND_DESTINATION, "spec.socket.tcp.tls.verifyCertificate"):
        profile.features["socket_tls_verify"] = "tcp.tls"
    elif profile.has(KIND_DESTINATION, "spec.socket.tcp.verifyCertificate"):
        profile.features["socket_tls_verify"] = "tcp"
        profile.notes.append(
            "ClusterLogDestination: this CRD declares socket.tcp.verifyCertificate/verifyHostname beside tls, but "
            "log-shipper reads them from socket.tcp.tls, where this CRD prunes them: on this version the flags "
            "have no effect and verification stays on")
    else:
        profile.features["socket_tls_verify"] = None
    profile.features["socket_tls_secret_ref"] = profile.has(KIND_DESTINATION, "spec.socket.tcp.tls.secretRef")


def named_profile(name):
    """Profile from a CRD snapshot generated into _log_shipper_schema.py."""
    # Imported here so tools/gen_log_shipper_schema.py can load this file without the snapshot.
    from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_schema import SNAPSHOTS
    if name not in SNAPSHOTS:
        raise LogShipperError(["profile: unknown profile %r; known: %s" % (name, ", ".join(sorted(SNAPSHOTS)))])
    snap = SNAPSHOTS[name]
    return profile_from_crds(snap["crds"], name=name, source="named",
                             description="%s (%s)" % (snap["description"], snap["upstream"]))


def resolve_profile(name=None, crds=None):
    """Live CRDs win when given (None means 'not connected'); otherwise a named profile.

    The returned profile's notes always say which one was used and why.
    """
    if crds is not None:
        profile = profile_from_crds(crds)
        profile.notes.insert(0, "generated for the CRDs read from the cluster")
        if name:
            profile.notes.insert(1, "profile %r not used: the live CRDs take precedence" % name)
        return profile
    profile = named_profile(name or DEFAULT_PROFILE)
    profile.notes.insert(0, "no live CRDs given: generated for the named profile %r%s"
                         % (profile.name, "" if name else " (the default)"))
    return profile
