# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Log-shipper engine, shared part: API names, labels, the error type, field-path helpers, object
metadata and schema validation of a built object. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import ListError
from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show, validate as _validate_schema


GROUP = "deckhouse.io"
KIND_DESTINATION = "ClusterLogDestination"
KIND_CONFIG = "ClusterLoggingConfig"
KINDS = (KIND_DESTINATION, KIND_CONFIG)
CRD_NAMES = {
    KIND_DESTINATION: "clusterlogdestinations.deckhouse.io",
    KIND_CONFIG: "clusterloggingconfigs.deckhouse.io",
}
# Versions whose field layout this engine writes, best first. Another served version is used
# only when none of these is served, and then the live schema decides whether the objects fit.
BUILDER_VERSIONS = ("v1alpha1",)
DEFAULT_PROFILE = "dkp-1.67"
DEFAULT_AUDIT_LOG = "/var/log/kube-audit/audit.log"
# Source built when none is given: the audit log to every destination.
DEFAULT_SOURCE_NAME = "kuma-kube-audit"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "auditops.deckhouse"
ROLE_LABEL = "auditops.deckhouse/role"
DEFAULT_OWNER = "kuma_log_shipper"
# Smallest disk buffer log-shipper accepts (CRD description; not in the schema itself).
MIN_DISK_BUFFER = 268435488
# Fields that hold secrets in any destination type (masked in every result, diff and message).
SECRET_FIELDS = ("keyFile", "keyPass", "password", "token", "awsAccessKey", "awsSecretKey")
MASK = "********"


class LogShipperError(ListError):
    """Input or schema errors; ``errors`` holds one 'path: message' string per problem."""


# --------------------------------------------------------------------------------------------
# Schema trimming and validation: plugins/module_utils/_openapi.py (shared with the settings engine
# and tools/gen_*_schema.py).
# --------------------------------------------------------------------------------------------

def validate(instance, schema, path=""):
    """Validate ``instance`` against a (trimmed or full) CRD OpenAPI v3 schema.

    Returns a list of 'field.path: message' strings; empty means valid. Unknown fields are
    errors (the API server would prune them silently, which is how seed bugs go unnoticed).
    """
    return _validate_schema(instance, schema, path)


def _join(path, key):
    return key if not path else "%s.%s" % (path, key)


def _key(path, key):
    # Map keys use [key] like the API server's field paths, so dotted keys stay readable.
    return "%s[%s]" % (path, key)


def _index(path, index):
    return "%s[%d]" % (path, index)


# \Z, not $: Python's $ also matches before a final newline, and the apiserver refuses "name\n".
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


def _metadata(name, owner):
    return {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ROLE_LABEL: owner}}


def validate_object(obj, profile):
    """Schema errors of a built (or hand-written) object under ``profile``; empty when valid."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in KINDS:
        return ["kind: Unsupported value: %s: supported values: %s" % (_show(kind), ", ".join(KINDS))]
    errors = []
    api_version = obj.get("apiVersion")
    served = ["%s/%s" % (GROUP, v) for v in profile.served[kind]]
    if api_version not in served:
        errors.append("apiVersion: Unsupported value: %s: the %s CRD serves %s" % (_show(api_version), kind, ", ".join(served)))
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        errors.append("metadata.name: Invalid value: %s: must be a lowercase RFC 1123 subdomain" % _show(name))
    errors.extend(validate(obj, profile.schemas[kind]))
    return errors
