# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deckhouse log-shipper objects for KUMA: a compact destination/source description becomes
ClusterLogDestination / ClusterLoggingConfig manifests, checked against the CRD's OpenAPI schema
before anything leaves the controller.

Pure Python (no Ansible, no PyYAML, no jsonschema) so it runs wherever a module runs.

Public API:
  resolve_profile(name=None, crds=None) -> Profile     named Deckhouse profile or live CRDs
  build_destination(spec, profile, path) -> dict       one ClusterLogDestination
  build_logging_config(spec, profile, destination_names, path) -> dict
  build(destinations, sources, profile, prefix, owner) -> dict(objects, warnings, endpoints, kinds)
  validate(instance, schema, path) -> [error, ...]      OpenAPI v3 subset used by CRDs
  validate_object(obj, profile) -> [error, ...]
  to_yaml(obj) / plan_render(dest_dir, objects, owner, prune)
  plan_prune(objects, existing, owner) -> (prune, foreign)
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import ListError
from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import (
    show as _show, trim_crd, type_name as _type_name, unchecked_rules, validate as _validate_schema)
from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import dump as yaml_dump, scalar as yaml_scalar

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
SECRET_FIELDS = ("keyFile", "keyPass", "password", "token")
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


# --------------------------------------------------------------------------------------------
# Profiles: which CRD version serves which fields
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Compact input -> objects
# --------------------------------------------------------------------------------------------

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\s\[\]]+)):(?P<port>[^:]*)$")
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY_FACTORS = {
    None: 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}

DESTINATION_KEYS = ("name", "type", "address", "mode", "codec", "tls", "extra_labels", "cef",
                    "bootstrap_servers", "topic", "key_field", "sasl", "rate_limit", "buffer",
                    "endpoint", "tenant_id", "auth")
SOCKET_ONLY = ("address", "mode")
KAFKA_ONLY = ("bootstrap_servers", "topic", "key_field", "sasl")
LOKI_ONLY = ("endpoint", "tenant_id", "auth")
AUTH_KEYS = ("strategy", "user", "password", "token")
_URL = re.compile(r"^(?P<scheme>https?)://(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/\s\[\]]+))(?::(?P<port>[0-9]+))?(?:/\S*)?$")
TLS_KEYS = ("verify_certificate", "verify_hostname", "ca", "client_cert", "client_key", "key_pass")
CEF_KEYS = ("name", "severity")
SASL_KEYS = ("mechanism", "username", "password")
RATE_LIMIT_KEYS = ("lines_per_minute", "key_field", "excludes")
BUFFER_KEYS = ("type", "max_size", "max_events", "when_full")
FILTER_KEYS = ("field", "operator", "values")
SOURCE_KEYS = ("name", "type", "include", "exclude", "line_delimiter", "log_filter", "label_filter",
               "multiline_parser", "destinations", "namespace_selector", "label_selector",
               "keep_deleted_files_opened_for")
FILE_ONLY = ("include", "exclude", "line_delimiter")
PODS_ONLY = ("namespace_selector", "label_selector", "keep_deleted_files_opened_for")
NAMESPACE_SELECTOR_KEYS = ("match_names", "exclude_names", "label_selector")
LABEL_SELECTOR_KEYS = ("match_labels", "match_expressions")
EXPRESSION_KEYS = ("key", "operator", "values")
MULTILINE_KEYS = ("type", "custom")
CUSTOM_KEYS = ("starts_when", "ends_when")
CONDITION_KEYS = ("regex", "not_regex")
# Operators whose filter takes no values (CRD oneOf: maxItems 0).
NO_VALUE_OPERATORS = ("Exists", "DoesNotExist")


class _Ctx(object):
    """Collects input errors and warnings, each prefixed with the input field path."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, path, message):
        self.errors.append("%s: %s" % (path, message))

    def warn(self, path, message):
        self.warnings.append("%s: %s" % (path, message))

    def check(self):
        if self.errors:
            raise LogShipperError(self.errors)


def _given(data, key):
    """Value of ``key`` unless absent or None (Ansible fills unset suboptions with None)."""
    if not isinstance(data, dict):
        return None
    return data.get(key)


def _unknown_keys(ctx, data, allowed, path):
    for key in sorted(data):
        if key not in allowed and data[key] is not None:
            ctx.error(_join(path, key), "unknown option; expected one of: %s" % ", ".join(allowed))


def _as_dict(ctx, value, path, allowed=None):
    if value is None:
        return None
    if not isinstance(value, dict):
        ctx.error(path, "must be a mapping, got %s" % _type_name(value))
        return None
    if allowed is not None:
        _unknown_keys(ctx, value, allowed, path)
    return value


def _as_str(ctx, value, path, required=False, allow_empty=False):
    if value is None:
        if required:
            ctx.error(path, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        ctx.error(path, "must be a string, got %s" % _type_name(value))
        return None
    value = str(value)
    if not value and not allow_empty:
        ctx.error(path, "must not be empty")
        return None
    return value


def _as_list(ctx, value, path):
    if value is None:
        return None
    if not isinstance(value, list):
        ctx.error(path, "must be a list, got %s" % _type_name(value))
        return None
    return value


def _as_str_list(ctx, value, path):
    items = _as_list(ctx, value, path)
    if items is None:
        return None
    out = []
    for index, item in enumerate(items):
        text = _as_str(ctx, item, _index(path, index))
        if text is not None:
            out.append(text)
    return out


def _as_bool(ctx, value, path):
    if value is None:
        return None
    if not isinstance(value, bool):
        ctx.error(path, "must be a boolean, got %s" % _type_name(value))
        return None
    return value


def _norm(text):
    return re.sub(r"[-_ ]", "", str(text)).lower()


def _snake(text):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()


def _choose(ctx, value, choices, path, what):
    """Map user spelling (json, drop_newest, scram-sha-256) onto the CRD enum value."""
    if value is None:
        return None
    if choices is None:
        return value
    for choice in choices:
        if _norm(choice) == _norm(value):
            return choice
    ctx.error(path, "unknown %s %s; this CRD accepts: %s" % (what, _show(value), ", ".join(_snake(c) for c in choices)))
    return None


def _check_name(ctx, name, path):
    if name is None:
        return
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        ctx.error(path, "invalid object name %s: lowercase letters, digits, '-' and '.', at most 253 characters" % _show(name))


def parse_address(value):
    """'host:port' or '[ipv6]:port' -> (host, port); ValueError says what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty 'host:port' string")
    match = _HOSTPORT.match(value)
    if not match:
        if ":" not in value:
            raise ValueError("missing port in %s: expected 'host:port'" % _show(value))
        if value.count(":") > 1 and not value.startswith("["):
            raise ValueError("IPv6 address %s must be written as '[address]:port'" % _show(value))
        raise ValueError("%s is not 'host:port'" % _show(value))
    host = match.group("v6") or match.group("host")
    port = match.group("port")
    if not port:
        raise ValueError("missing port in %s: expected 'host:port'" % _show(value))
    if not re.match(r"^[0-9]+$", port):
        raise ValueError("port %s in %s is not a number" % (_show(port), _show(value)))
    if not 1 <= int(port) <= 65535:
        raise ValueError("port %s in %s is out of range 1-65535" % (port, _show(value)))
    return host, int(port)


def quantity_bytes(value):
    """Bytes in a Kubernetes quantity such as 512Mi or 268435488; None when not understood."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _QUANTITY.match(str(value))
    if not match:
        return None
    return int(float(match.group("num")) * _QUANTITY_FACTORS[match.group("suffix")])


def _pem_b64(ctx, value, path, expect):
    """Inline PEM, base64-encoded PEM or a file path -> base64 PEM, as the CRD wants it."""
    text = _as_str(ctx, value, path)
    if text is None:
        return None
    pem = None
    if "-----BEGIN" in text:
        pem = text
    else:
        try:
            decoded = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if decoded.lstrip().startswith(b"-----BEGIN"):
            pem = decoded.decode("utf-8", "replace")
        elif os.path.isfile(text):
            try:
                with open(text, "r") as handle:
                    pem = handle.read()
            except (IOError, OSError, UnicodeDecodeError) as exc:
                ctx.error(path, "cannot read %s: %s" % (text, exc))
                return None
            if "-----BEGIN" not in pem:
                ctx.error(path, "file %s holds no PEM block" % text)
                return None
        else:
            ctx.error(path, "expected inline PEM, base64-encoded PEM or the path of a readable PEM file")
            return None
    pem = pem.strip() + "\n"
    if expect == "key":
        if "PRIVATE KEY-----" not in pem:
            ctx.error(path, "expected a PEM private key")
            return None
        if "BEGIN RSA PRIVATE KEY" in pem or "BEGIN EC PRIVATE KEY" in pem:
            ctx.warn(path, "log-shipper expects a PKCS#8 key ('BEGIN PRIVATE KEY'); convert it with 'openssl pkcs8 -topk8'")
    elif "CERTIFICATE-----" not in pem:
        ctx.error(path, "expected a PEM certificate")
        return None
    return base64.b64encode(pem.encode("utf-8")).decode("ascii")


def _build_tls(ctx, tls, path, separate):
    """Returns (tls block, verify flags). With ``separate`` the flags are returned apart
    (the caller places them), else they go into the block."""
    tls = _as_dict(ctx, tls, path, TLS_KEYS)
    if tls is None:
        return None, {}
    block = {}
    ca = _pem_b64(ctx, _given(tls, "ca"), _join(path, "ca"), "cert")
    if ca:
        block["caFile"] = ca
    cert_given = _given(tls, "client_cert") is not None
    key_given = _given(tls, "client_key") is not None
    if cert_given or key_given:
        if not cert_given:
            ctx.error(_join(path, "client_cert"), "required when client_key is set")
        if not key_given:
            ctx.error(_join(path, "client_key"), "required when client_cert is set")
        crt = _pem_b64(ctx, _given(tls, "client_cert"), _join(path, "client_cert"), "cert")
        key = _pem_b64(ctx, _given(tls, "client_key"), _join(path, "client_key"), "key")
        client = {}
        if crt:
            client["crtFile"] = crt
        if key:
            client["keyFile"] = key
        key_pass = _as_str(ctx, _given(tls, "key_pass"), _join(path, "key_pass"))
        if key_pass:
            # The CRD wants the passphrase base64-encoded; users give it in plain text.
            client["keyPass"] = base64.b64encode(key_pass.encode("utf-8")).decode("ascii")
        block["clientCrt"] = client
    elif _given(tls, "key_pass") is not None:
        ctx.error(_join(path, "key_pass"), "only meaningful with client_cert and client_key")
    verify = {}
    for key, field in (("verify_certificate", "verifyCertificate"), ("verify_hostname", "verifyHostname")):
        flag = _as_bool(ctx, _given(tls, key), _join(path, key))
        if flag is not None:
            verify[field] = flag
    if verify and not ("caFile" in block or "crtFile" in block.get("clientCrt", {})):
        ctx.warn(path, "log-shipper enables TLS only when a CA or client certificate is given; "
                       "verify_certificate/verify_hostname alone change nothing")
    if not separate:
        block.update(verify)
        verify = {}
    return block, verify


def _labels_value(ctx, value, path):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    ctx.error(path, "must be a string, got %s" % _type_name(value))
    return None


def _build_extra_labels(ctx, spec, path, codec):
    labels = {}
    extra = _as_dict(ctx, _given(spec, "extra_labels"), _join(path, "extra_labels"))
    for key in sorted(extra or {}):
        value = _labels_value(ctx, extra[key], _key(_join(path, "extra_labels"), key))
        if value is not None:
            labels[key] = value
    cef = _as_dict(ctx, _given(spec, "cef"), _join(path, "cef"), CEF_KEYS)
    if cef:
        for key in CEF_KEYS:
            if _given(cef, key) is None:
                continue
            label = "cef." + key
            if label in labels:
                ctx.error(_join(_join(path, "cef"), key), "also set as extra_labels[%s]; set it in one place" % label)
                continue
            value = _labels_value(ctx, cef[key], _join(_join(path, "cef"), key))
            if value is not None:
                labels[label] = value
        if codec not in (None, "CEF"):
            ctx.warn(_join(path, "cef"), "CEF labels are only used by the CEF codec (codec is %s)" % _snake(codec))
    if codec == "Syslog" and any(k.startswith("cef.") for k in labels):
        ctx.warn(_join(path, "extra_labels"), "cef.* labels have no effect with the syslog codec")
    severity = labels.get("cef.severity")
    if severity is not None and not _TEMPLATE_VALUE.match(severity) and not _CEF_SEVERITY.match(severity) \
            and severity not in CEF_SEVERITY_NAMES:
        where = _join(_join(path, "cef"), "severity") if _given(cef, "severity") is not None else \
            _key(_join(path, "extra_labels"), "cef.severity")
        ctx.error(where, "CEF severity %s: must be a number from 0 to 10 (the CEF header's range), one of the "
                         "names log-shipper maps (%s) or a {{ field }} template"
                  % (_show(severity), ", ".join(CEF_SEVERITY_NAMES)))
    return dict((k, labels[k]) for k in sorted(labels))


# CEF header severity: an integer 0-10 (ArcSight CEF format; Vector's cef codec refuses others), or a name
# log-shipper maps to one (deckhouse/deckhouse modules/460-log-shipper/hooks/internal/vrl/codecs.go, exact case).
_CEF_SEVERITY = re.compile(r"^(?:[0-9]|10)$")
CEF_SEVERITY_NAMES = ("Debug", "Informational", "Notice", "Warning", "Error", "Critical", "Emergency")
_TEMPLATE_VALUE = re.compile(r"^\{\{\s*[^{}\s]+\s*\}\}$")


def _build_filters(ctx, items, path, profile, kind, schema_path, require_field):
    items = _as_list(ctx, items, path)
    if items is None:
        return None
    operators = profile.enum(kind, schema_path + "[].operator")
    out = []
    for index, item in enumerate(items):
        ipath = _index(path, index)
        item = _as_dict(ctx, item, ipath, FILTER_KEYS)
        if item is None:
            continue
        field = _as_str(ctx, _given(item, "field"), _join(ipath, "field"), required=True, allow_empty=not require_field)
        operator = _choose(ctx, _as_str(ctx, _given(item, "operator"), _join(ipath, "operator"), required=True),
                           operators, _join(ipath, "operator"), "operator")
        values = _as_list(ctx, _given(item, "values"), _join(ipath, "values"))
        entry = {"field": field, "operator": operator}
        if operator in NO_VALUE_OPERATORS:
            if values:
                ctx.error(_join(ipath, "values"), "must be empty for operator %s" % operator)
        elif operator is not None:
            if not values:
                ctx.error(_join(ipath, "values"), "required (at least one value) for operator %s" % operator)
            else:
                converted = []
                for vindex, value in enumerate(values):
                    vpath = _index(_join(ipath, "values"), vindex)
                    # The CRD takes int-or-string; floats and booleans are compared as strings anyway.
                    if isinstance(value, bool):
                        converted.append("true" if value else "false")
                    elif isinstance(value, float):
                        converted.append(repr(value))
                    elif isinstance(value, (int, str)):
                        converted.append(value)
                    else:
                        ctx.error(vpath, "must be a string or a number, got %s" % _type_name(value))
                entry["values"] = converted
        out.append(entry)
    return out


def _build_rate_limit(ctx, spec, path, profile):
    rate = _as_dict(ctx, _given(spec, "rate_limit"), path, RATE_LIMIT_KEYS)
    if rate is None:
        return None
    out = {}
    lines = _given(rate, "lines_per_minute")
    if lines is None:
        ctx.error(_join(path, "lines_per_minute"), "required")
    elif isinstance(lines, bool) or not isinstance(lines, (int, float)) or lines <= 0:
        ctx.error(_join(path, "lines_per_minute"), "must be a positive number")
    else:
        out["linesPerMinute"] = lines
    key_field = _as_str(ctx, _given(rate, "key_field"), _join(path, "key_field"))
    if key_field:
        out["keyField"] = key_field
    excludes = _build_filters(ctx, _given(rate, "excludes"), _join(path, "excludes"), profile, KIND_DESTINATION,
                              "spec.rateLimit.excludes", require_field=True)
    if excludes:
        out["excludes"] = excludes
    return out


def _build_buffer(ctx, spec, path, profile):
    buf = _as_dict(ctx, _given(spec, "buffer"), path, BUFFER_KEYS)
    if buf is None:
        return None
    kind = _choose(ctx, _as_str(ctx, _given(buf, "type"), _join(path, "type"), required=True),
                   profile.enum(KIND_DESTINATION, "spec.buffer.type"), _join(path, "type"), "buffer type")
    out = {"type": kind}
    max_size = _given(buf, "max_size")
    max_events = _given(buf, "max_events")
    if kind == "Disk":
        if max_events is not None:
            ctx.error(_join(path, "max_events"), "only for memory buffers")
        if max_size is None:
            ctx.error(_join(path, "max_size"), "required for a disk buffer (e.g. 1Gi)")
        elif isinstance(max_size, bool) or not isinstance(max_size, (int, str)):
            ctx.error(_join(path, "max_size"), "must be a quantity such as 512Mi or a number of bytes")
        else:
            size = quantity_bytes(max_size)
            if size is not None and size < MIN_DISK_BUFFER:
                ctx.error(_join(path, "max_size"), "log-shipper needs at least %d bytes (~256Mi), got %s"
                          % (MIN_DISK_BUFFER, _show(max_size)))
            out["disk"] = {"maxSize": max_size}
    elif kind == "Memory":
        if max_size is not None:
            ctx.error(_join(path, "max_size"), "only for disk buffers")
        if max_events is None:
            ctx.error(_join(path, "max_events"), "required for a memory buffer")
        elif isinstance(max_events, bool) or not isinstance(max_events, int) or max_events <= 0:
            ctx.error(_join(path, "max_events"), "must be a positive integer")
        else:
            out["memory"] = {"maxEvents": max_events}
    # Written although the API server would default it: the stored object then equals ours.
    out["whenFull"] = _choose(ctx, _as_str(ctx, _given(buf, "when_full"), _join(path, "when_full")) or "Block",
                              profile.enum(KIND_DESTINATION, "spec.buffer.whenFull"), _join(path, "when_full"),
                              "when_full value")
    return out


def default_destination_name(spec):
    """kuma-<mode>-<codec> for sockets, kuma-kafka for Kafka (the seed examples' names)."""
    dtype = _norm(_given(spec, "type") or "socket")
    if dtype in ("kafka", "loki"):
        return "kuma-" + dtype
    return "kuma-%s-%s" % (_norm(_given(spec, "mode") or "tcp"), _norm(_given(spec, "codec") or "json"))


def endpoints(destinations):
    """Network endpoints of destinations as given (before building, so a reachability check can run
    first): dicts with destination, address, host, port, protocol. Entries that do not parse are left
    out; building reports them."""
    found = []
    for spec in destinations or []:
        if not isinstance(spec, dict):
            continue
        name = _given(spec, "name") or default_destination_name(spec)
        dtype = _norm(_given(spec, "type") or "socket")
        if dtype == "socket":
            addresses, protocol = [_given(spec, "address")], _norm(_given(spec, "mode") or "tcp")
        elif dtype == "kafka":
            servers = _given(spec, "bootstrap_servers")
            addresses, protocol = (servers if isinstance(servers, list) else []), "tcp"
        elif dtype == "loki":
            try:
                host, port = parse_url(_given(spec, "endpoint"))
            except ValueError:
                continue
            found.append({"destination": name, "address": spec["endpoint"], "host": host, "port": port,
                          "protocol": "tcp"})
            continue
        else:
            continue
        for address in addresses:
            try:
                host, port = parse_address(address)
            except ValueError:
                continue
            found.append({"destination": name, "address": address, "host": host, "port": port, "protocol": protocol})
    return found


# control-plane-manager ModuleConfig (deckhouse.io/v1alpha1, cluster-scoped): spec.settings.apiserver.auditLog
# has output File (default) or Stdout and path (default /var/log/kube-audit, the directory of audit.log).
MODULE_CONFIG_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
DEFAULT_AUDIT_DIR = "/var/log/kube-audit"
# kubeadm labels its kube-apiserver static pod component=kube-apiserver (Deckhouse masters are kubeadm-built).
APISERVER_POD_LABELS = {"component": "kube-apiserver"}


def audit_log_settings(module_config):
    """(output, directory) of the audit log from a control-plane-manager ModuleConfig; None means the defaults."""
    settings = ((module_config or {}).get("spec") or {}).get("settings") or {}
    log = ((settings.get("apiserver") or {}) if isinstance(settings, dict) else {}).get("auditLog") or {}
    if not isinstance(log, dict):
        log = {}
    return _norm_output(log.get("output")), log.get("path") or DEFAULT_AUDIT_DIR


def _norm_output(value):
    return "Stdout" if _norm(value or "file") == "stdout" else "File"


def follow_audit_log(sources, output="File", directory=DEFAULT_AUDIT_DIR, path="audit_log"):
    """The input sources with the audit-log source(s) made to match the audit settings.

    An audit-log source is a file source without ``include`` (``sources=None`` is one named
    kuma-kube-audit). With output File it reads ``<directory>/audit.log``; with Stdout (kube-apiserver
    logs audit events to its container's stdout) it becomes a KubernetesPods source for the
    kube-apiserver pods in kube-system, keeping only lines with an ``auditID`` (the apiserver's own
    log lines are not JSON audit events). Other sources are returned as given.
    """
    output = _norm_output(output)
    if output == "File" and (not isinstance(directory, str) or not directory.startswith("/")
                             or directory.endswith("/") or not re.match(r"^[a-zA-Z0-9_/.-]+$", directory)):
        raise LogShipperError(["%s.path: %s is not an absolute directory without a trailing '/'"
                               % (path, _show(directory))])
    if sources is None:
        sources = [{"name": DEFAULT_SOURCE_NAME}]
    out = []
    for spec in sources:
        audit = (isinstance(spec, dict) and _norm(_given(spec, "type") or "file") == "file"
                 and _given(spec, "include") is None)
        if not audit:
            out.append(spec)
            continue
        spec = dict((k, v) for k, v in spec.items() if v is not None)
        if output == "File":
            spec["include"] = ["%s/audit.log" % directory]
        else:
            spec["type"] = "kubernetes_pods"
            spec["namespace_selector"] = {"match_names": ["kube-system"]}
            spec["label_selector"] = {"match_labels": dict(APISERVER_POD_LABELS)}
            spec["log_filter"] = list(spec.get("log_filter") or []) + [{"field": "auditID", "operator": "Exists"}]
        out.append(spec)
    return out


def _metadata(name, owner):
    return {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ROLE_LABEL: owner}}


def _build_destination(ctx, spec, profile, path, owner):
    spec = _as_dict(ctx, spec, path, DESTINATION_KEYS)
    if spec is None:
        return None, []
    name = _as_str(ctx, _given(spec, "name"), _join(path, "name")) or default_destination_name(spec)
    _check_name(ctx, name, _join(path, "name"))
    dtype = _norm(_given(spec, "type") or "socket")
    endpoints = []
    body = {}
    if dtype in ("socket", "kafka"):
        for key in LOKI_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type loki")
    if dtype == "socket":
        for key in KAFKA_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type kafka")
        address = _as_str(ctx, _given(spec, "address"), _join(path, "address"), required=True)
        hostport = None
        if address is not None:
            try:
                hostport = parse_address(address)
            except ValueError as exc:
                ctx.error(_join(path, "address"), str(exc))
        mode = _choose(ctx, _as_str(ctx, _given(spec, "mode"), _join(path, "mode")) or "tcp",
                       profile.enum(KIND_DESTINATION, "spec.socket.mode"), _join(path, "mode"), "mode")
        codec = _choose(ctx, _as_str(ctx, _given(spec, "codec"), _join(path, "codec")) or "json",
                        profile.enum(KIND_DESTINATION, "spec.socket.encoding.codec"), _join(path, "codec"), "codec")
        if hostport:
            endpoints.append({"destination": name, "address": address, "host": hostport[0], "port": hostport[1],
                              "protocol": (mode or "TCP").lower()})
        socket = {"address": address, "mode": mode, "encoding": {"codec": codec}}
        if _given(spec, "tls") is not None:
            if mode == "UDP":
                ctx.error(_join(path, "tls"), "TLS needs mode tcp")
            else:
                place = profile.features.get("socket_tls_verify")
                block, verify = _build_tls(ctx, spec["tls"], _join(path, "tls"), separate=place != "tcp.tls")
                if place is None and verify:
                    ctx.error(_join(path, "tls"), "this CRD version has no verify flags for socket destinations")
                    verify = {}
                if place == "tcp" and verify:
                    ctx.warn(_join(path, "tls"), "profile %s: verify flags are written to spec.socket.tcp as this CRD "
                                                 "declares them, but log-shipper reads spec.socket.tcp.tls: they have "
                                                 "no effect on this version" % profile.name)
                tcp = {}
                if block:
                    tcp["tls"] = block
                tcp.update(verify)
                if tcp:
                    socket["tcp"] = tcp
        body = {"type": "Socket", "socket": socket}
    elif dtype == "kafka":
        for key in SOCKET_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type socket (Kafka uses bootstrap_servers)")
        servers = _as_str_list(ctx, _given(spec, "bootstrap_servers"), _join(path, "bootstrap_servers"))
        if not servers:
            ctx.error(_join(path, "bootstrap_servers"), "required: at least one 'host:port'")
        for index, server in enumerate(servers or []):
            try:
                host, port = parse_address(server)
                endpoints.append({"destination": name, "address": server, "host": host, "port": port, "protocol": "tcp"})
            except ValueError as exc:
                ctx.error(_index(_join(path, "bootstrap_servers"), index), str(exc))
        topic = _as_str(ctx, _given(spec, "topic"), _join(path, "topic"), required=True)
        codec = _choose(ctx, _as_str(ctx, _given(spec, "codec"), _join(path, "codec")) or "json",
                        profile.enum(KIND_DESTINATION, "spec.kafka.encoding.codec"), _join(path, "codec"), "codec")
        kafka = {"bootstrapServers": servers or [], "topic": topic, "encoding": {"codec": codec}}
        key_field = _as_str(ctx, _given(spec, "key_field"), _join(path, "key_field"))
        if key_field:
            kafka["keyField"] = key_field
        sasl = _as_dict(ctx, _given(spec, "sasl"), _join(path, "sasl"), SASL_KEYS)
        if sasl is not None:
            spath = _join(path, "sasl")
            kafka["sasl"] = {
                "mechanism": _choose(ctx, _as_str(ctx, _given(sasl, "mechanism"), _join(spath, "mechanism"), required=True),
                                     profile.enum(KIND_DESTINATION, "spec.kafka.sasl.mechanism"),
                                     _join(spath, "mechanism"), "SASL mechanism"),
                "username": _as_str(ctx, _given(sasl, "username"), _join(spath, "username"), required=True),
                "password": _as_str(ctx, _given(sasl, "password"), _join(spath, "password"), required=True),
            }
        if _given(spec, "tls") is not None:
            block, _verify = _build_tls(ctx, spec["tls"], _join(path, "tls"), separate=False)
            if block:
                kafka["tls"] = block
        body = {"type": "Kafka", "kafka": kafka}
    elif dtype == "loki":
        codec = None
        body = {"type": "Loki", "loki": _build_loki(ctx, spec, path, name, endpoints)}
    else:
        codec = None
        ctx.error(_join(path, "type"), "unsupported destination type %s; supported: socket, kafka, loki"
                  % _show(_given(spec, "type")))
    labels = _build_extra_labels(ctx, spec, path, codec)
    if labels:
        body["extraLabels"] = labels
    rate = _build_rate_limit(ctx, spec, _join(path, "rate_limit"), profile)
    if rate is not None:
        body["rateLimit"] = rate
    buf = _build_buffer(ctx, spec, _join(path, "buffer"), profile)
    if buf is not None:
        body["buffer"] = buf
    _warn_inline_secrets(ctx, body, path, profile)
    obj = {"apiVersion": profile.api_version(KIND_DESTINATION), "kind": KIND_DESTINATION,
           "metadata": _metadata(name, owner), "spec": body}
    return obj, endpoints


def parse_url(value):
    """'http(s)://host[:port][/path]' -> (host, port); ValueError says what is wrong."""
    match = _URL.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("%s is not an http:// or https:// URL with a host" % _show(value))
    port = int(match.group("port")) if match.group("port") else (443 if match.group("scheme") == "https" else 80)
    if not 1 <= port <= 65535:
        raise ValueError("port %d in %s is out of range 1-65535" % (port, _show(value)))
    return match.group("v6") or match.group("host"), port


def _build_loki(ctx, spec, path, name, endpoints):
    for key in SOCKET_ONLY + KAFKA_ONLY + ("codec", "cef"):
        if _given(spec, key) is not None:
            ctx.error(_join(path, key), "not for type loki")
    endpoint = _as_str(ctx, _given(spec, "endpoint"), _join(path, "endpoint"), required=True)
    if endpoint is not None:
        try:
            host, port = parse_url(endpoint)
            endpoints.append({"destination": name, "address": endpoint, "host": host, "port": port, "protocol": "tcp"})
        except ValueError as exc:
            ctx.error(_join(path, "endpoint"), str(exc))
    loki = {"endpoint": endpoint}
    tenant = _as_str(ctx, _given(spec, "tenant_id"), _join(path, "tenant_id"))
    if tenant:
        loki["tenantID"] = tenant
    auth = _as_dict(ctx, _given(spec, "auth"), _join(path, "auth"), AUTH_KEYS)
    if auth is not None:
        apath = _join(path, "auth")
        strategy = "Bearer" if _norm(_given(auth, "strategy") or "basic") == "bearer" else "Basic"
        if _norm(_given(auth, "strategy") or "basic") not in ("basic", "bearer"):
            ctx.error(_join(apath, "strategy"), "must be basic or bearer")
        # Written although the API server would default it: the stored object then equals ours.
        out = {"strategy": strategy}
        if strategy == "Basic":
            if _given(auth, "token") is not None:
                ctx.error(_join(apath, "token"), "only for strategy bearer")
            out["user"] = _as_str(ctx, _given(auth, "user"), _join(apath, "user"), required=True)
            password = _as_str(ctx, _given(auth, "password"), _join(apath, "password"), required=True)
            if password is not None:
                # The CRD wants the Basic password base64-encoded; users give it in plain text.
                out["password"] = base64.b64encode(password.encode("utf-8")).decode("ascii")
        else:
            for key in ("user", "password"):
                if _given(auth, key) is not None:
                    ctx.error(_join(apath, key), "only for strategy basic")
            out["token"] = _as_str(ctx, _given(auth, "token"), _join(apath, "token"), required=True)
        loki["auth"] = out
    if _given(spec, "tls") is not None:
        block, _verify = _build_tls(ctx, spec["tls"], _join(path, "tls"), separate=False)
        if block:
            loki["tls"] = block
    return loki


def _warn_inline_secrets(ctx, body, path, profile):
    """Secrets end up in the cluster-wide object when the CRD offers no reference to a Secret."""
    block = body.get(body.get("type", "").lower()) if isinstance(body.get("type"), str) else None
    if not isinstance(block, dict):
        return
    tls = (block.get("tcp") or {}).get("tls") if body["type"] == "Socket" else block.get("tls")
    client = (tls or {}).get("clientCrt") or {}
    if "keyFile" in client or "keyPass" in client:
        ctx.warn(_join(path, "tls"), "this %s CRD version has no tls.secretRef, so the client key%s is stored inline in "
                                     "the cluster-wide ClusterLogDestination, readable by anyone allowed to read "
                                     "those objects" % (profile.name, " and its passphrase" if "keyPass" in client else ""))
    auth = block.get("auth") or {}
    if "password" in auth or "token" in auth:
        ctx.warn(_join(path, "auth"), "the ClusterLogDestination CRD has no Secret reference for %s credentials, so the "
                                      "%s is stored inline in the cluster-wide object, readable by anyone allowed to "
                                      "read ClusterLogDestination objects"
                 % (body["type"], "password" if "password" in auth else "token"))
    if "password" in (block.get("sasl") or {}):
        ctx.warn(_join(path, "sasl"), "the ClusterLogDestination CRD has no Secret reference for SASL credentials, so "
                                      "the password is stored inline in the cluster-wide object, readable by anyone "
                                      "allowed to read ClusterLogDestination objects")


def _build_label_selector(ctx, value, path, profile, schema_path):
    selector = _as_dict(ctx, value, path, LABEL_SELECTOR_KEYS)
    if selector is None:
        return None
    out = {}
    labels = _as_dict(ctx, _given(selector, "match_labels"), _join(path, "match_labels"))
    if labels:
        out["matchLabels"] = dict((k, _labels_value(ctx, labels[k], _key(_join(path, "match_labels"), k)))
                                  for k in sorted(labels))
    expressions = _as_list(ctx, _given(selector, "match_expressions"), _join(path, "match_expressions"))
    operators = profile.enum(KIND_CONFIG, schema_path + ".matchExpressions[].operator")
    if expressions:
        out["matchExpressions"] = []
        for index, expr in enumerate(expressions):
            epath = _index(_join(path, "match_expressions"), index)
            expr = _as_dict(ctx, expr, epath, EXPRESSION_KEYS)
            if expr is None:
                continue
            item = {
                "key": _as_str(ctx, _given(expr, "key"), _join(epath, "key"), required=True),
                "operator": _choose(ctx, _as_str(ctx, _given(expr, "operator"), _join(epath, "operator"), required=True),
                                    operators, _join(epath, "operator"), "operator"),
            }
            values = _as_str_list(ctx, _given(expr, "values"), _join(epath, "values"))
            if item["operator"] in NO_VALUE_OPERATORS and values:
                ctx.error(_join(epath, "values"), "must be empty for operator %s" % item["operator"])
            elif item["operator"] in ("In", "NotIn") and not values:
                ctx.error(_join(epath, "values"), "required for operator %s" % item["operator"])
            if values:
                item["values"] = values
            out["matchExpressions"].append(item)
    if not out:
        ctx.error(path, "set match_labels or match_expressions")
    return out


def _build_pods(ctx, spec, path, profile):
    pods = {}
    nss = _as_dict(ctx, _given(spec, "namespace_selector"), _join(path, "namespace_selector"), NAMESPACE_SELECTOR_KEYS)
    if nss is not None:
        npath = _join(path, "namespace_selector")
        chosen = [key for key in NAMESPACE_SELECTOR_KEYS if _given(nss, key) is not None]
        if len(chosen) != 1:
            ctx.error(npath, "set exactly one of match_names, exclude_names, label_selector")
        selector = {}
        for key, field in (("match_names", "matchNames"), ("exclude_names", "excludeNames")):
            names = _as_str_list(ctx, _given(nss, key), _join(npath, key))
            if names is not None:
                selector[field] = names
        if _given(nss, "label_selector") is not None:
            selector["labelSelector"] = _build_label_selector(
                ctx, nss["label_selector"], _join(npath, "label_selector"), profile,
                "spec.kubernetesPods.namespaceSelector.labelSelector")
        pods["namespaceSelector"] = selector
    if _given(spec, "label_selector") is not None:
        pods["labelSelector"] = _build_label_selector(ctx, spec["label_selector"], _join(path, "label_selector"),
                                                      profile, "spec.kubernetesPods.labelSelector")
    keep = _as_str(ctx, _given(spec, "keep_deleted_files_opened_for"), _join(path, "keep_deleted_files_opened_for"))
    if keep:
        pods["keepDeletedFilesOpenedFor"] = keep
    return pods


def _build_multiline(ctx, value, path, profile):
    parser = _as_dict(ctx, value, path, MULTILINE_KEYS)
    if parser is None:
        return None
    kind = _choose(ctx, _as_str(ctx, _given(parser, "type"), _join(path, "type"), required=True),
                   profile.enum(KIND_CONFIG, "spec.multilineParser.type"), _join(path, "type"), "multiline parser type")
    out = {"type": kind}
    custom = _as_dict(ctx, _given(parser, "custom"), _join(path, "custom"), CUSTOM_KEYS)
    if kind == "Custom":
        cpath = _join(path, "custom")
        if not custom or not any(_given(custom, k) is not None for k in CUSTOM_KEYS):
            ctx.error(cpath, "required for type custom: set starts_when or ends_when")
        else:
            out["custom"] = {}
            for key, field in (("starts_when", "startsWhen"), ("ends_when", "endsWhen")):
                cond = _as_dict(ctx, _given(custom, key), _join(cpath, key), CONDITION_KEYS)
                if cond is None:
                    continue
                given = [k for k in CONDITION_KEYS if _given(cond, k) is not None]
                if len(given) != 1:
                    ctx.error(_join(cpath, key), "set exactly one of regex, not_regex")
                    continue
                rpath = _join(_join(cpath, key), given[0])
                text = _as_str(ctx, cond[given[0]], rpath)
                try:
                    re.compile(text or "")
                except re.error as exc:
                    ctx.warn(rpath, "does not compile as a Python regex (%s); Vector uses Rust regex syntax" % exc)
                out["custom"][field] = {"regex" if given[0] == "regex" else "notRegex": text}
    elif custom is not None:
        ctx.error(_join(path, "custom"), "only for type custom")
    return out


def _build_logging_config(ctx, spec, profile, destination_names, path, owner):
    spec = _as_dict(ctx, spec, path, SOURCE_KEYS)
    if spec is None:
        return None
    name = _as_str(ctx, _given(spec, "name"), _join(path, "name"), required=True)
    _check_name(ctx, name, _join(path, "name"))
    stype = _norm(_given(spec, "type") or "file")
    body = {}
    if stype == "file":
        for key in PODS_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type kubernetes_pods")
        include = _as_str_list(ctx, _given(spec, "include"), _join(path, "include"))
        if include is None:
            include = [DEFAULT_AUDIT_LOG]
        elif not include:
            ctx.error(_join(path, "include"), "must list at least one path (an empty include reads nothing)")
        for index, item in enumerate(include):
            if not item.startswith("/"):
                ctx.error(_index(_join(path, "include"), index), "must be an absolute path or glob")
        file_block = {"include": include}
        exclude = _as_str_list(ctx, _given(spec, "exclude"), _join(path, "exclude"))
        if exclude:
            file_block["exclude"] = exclude
        delimiter = _as_str(ctx, _given(spec, "line_delimiter"), _join(path, "line_delimiter"))
        if delimiter:
            file_block["lineDelimiter"] = delimiter
        body = {"type": "File", "file": file_block}
    elif stype == "kubernetespods":
        for key in FILE_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type file")
        body = {"type": "KubernetesPods"}
        pods = _build_pods(ctx, spec, path, profile)
        if pods:
            body["kubernetesPods"] = pods
    else:
        ctx.error(_join(path, "type"), "unsupported source type %s; supported: file, kubernetes_pods"
                  % _show(_given(spec, "type")))
    for key, field, require_field in (("label_filter", "labelFilter", True), ("log_filter", "logFilter", False)):
        filters = _build_filters(ctx, _given(spec, key), _join(path, key), profile, KIND_CONFIG, "spec." + field,
                                 require_field)
        if filters:
            body[field] = filters
    parser = _build_multiline(ctx, _given(spec, "multiline_parser"), _join(path, "multiline_parser"), profile)
    if parser is not None:
        body["multilineParser"] = parser
    refs = _as_str_list(ctx, _given(spec, "destinations"), _join(path, "destinations"))
    if refs is None:
        refs = list(dict.fromkeys(destination_names))
    if not refs and destination_names:
        ctx.error(_join(path, "destinations"), "no destination to send to")
    seen = set()
    for index, ref in enumerate(refs):
        if ref in seen:
            ctx.error(_index(_join(path, "destinations"), index), "destination %s listed twice" % _show(ref))
        seen.add(ref)
        if ref not in destination_names:
            ctx.error(_index(_join(path, "destinations"), index), "unknown destination %s; defined: %s"
                      % (_show(ref), ", ".join(destination_names) or "none"))
    body["destinationRefs"] = refs
    return {"apiVersion": profile.api_version(KIND_CONFIG), "kind": KIND_CONFIG,
            "metadata": _metadata(name, owner), "spec": body}


def _check_owner(owner):
    if not owner or len(owner) > 63 or not _LABEL_VALUE.match(owner):
        raise LogShipperError(["owner: %s is not a valid label value" % _show(owner)])


def build_destination(spec, profile, path="destinations[0]", owner=DEFAULT_OWNER):
    """One ClusterLogDestination from a compact description; raises LogShipperError."""
    _check_owner(owner)
    ctx = _Ctx()
    obj, _endpoints = _build_destination(ctx, spec, profile, path, owner)
    ctx.check()
    errors = ["%s (%s/%s): %s" % (path, obj["kind"], obj["metadata"]["name"], e) for e in validate_object(obj, profile)]
    if errors:
        raise LogShipperError(errors)
    return obj


def build_logging_config(spec, profile, destination_names, path="sources[0]", owner=DEFAULT_OWNER):
    """One ClusterLoggingConfig; ``destination_names`` are the destinations it may reference."""
    _check_owner(owner)
    ctx = _Ctx()
    obj = _build_logging_config(ctx, spec, profile, list(destination_names), path, owner)
    ctx.check()
    errors = ["%s (%s/%s): %s" % (path, obj["kind"], obj["metadata"]["name"], e) for e in validate_object(obj, profile)]
    if errors:
        raise LogShipperError(errors)
    return obj


def build(destinations, sources, profile, prefix="", owner=DEFAULT_OWNER):
    """All objects for the given input, validated; raises LogShipperError listing every problem.

    ``prefix`` is prepended to the input names in error paths (the role passes
    'kuma_log_shipper_' so errors read 'kuma_log_shipper_destinations[2].address').
    ``sources=None`` means one File source for the audit log to every destination.
    Returns dict(objects, warnings, endpoints, kinds): destinations first, then sources.
    """
    _check_owner(owner)
    ctx = _Ctx()
    dpath, spath = prefix + "destinations", prefix + "sources"
    if destinations is not None and not isinstance(destinations, list):
        raise LogShipperError(["%s: must be a list" % dpath])
    if sources is not None and not isinstance(sources, list):
        raise LogShipperError(["%s: must be a list" % spath])
    if sources is None:
        sources = [{"name": DEFAULT_SOURCE_NAME}]
    built, endpoints, names = [], [], []
    for index, spec in enumerate(destinations or []):
        path = _index(dpath, index)
        obj, points = _build_destination(ctx, spec, profile, path, owner)
        if obj is None:
            continue
        name = obj["metadata"]["name"]
        if name in names:
            ctx.error(_join(path, "name"), "destination name %s is already used by %s[%d]; names must be unique"
                      % (_show(name), dpath, names.index(name)))
        names.append(name)
        built.append((path, obj))
        endpoints.extend(points)
    if not names:
        ctx.error(dpath, "define at least one destination")
    source_names = []
    for index, spec in enumerate(sources or []):
        path = _index(spath, index)
        obj = _build_logging_config(ctx, spec, profile, names, path, owner)
        if obj is None:
            continue
        name = obj["metadata"]["name"]
        if name in source_names:
            # Same name twice means the second object silently replaces the first (seed examples).
            ctx.error(_join(path, "name"), "source name %s is already used by %s[%d]; names must be unique"
                      % (_show(name), spath, source_names.index(name)))
        source_names.append(name)
        built.append((path, obj))
    ctx.check()
    errors = []
    for path, obj in built:
        errors.extend("%s (%s/%s): %s" % (path, obj["kind"], obj["metadata"]["name"], e)
                      for e in validate_object(obj, profile))
    if errors:
        raise LogShipperError(errors)
    return {
        "objects": [obj for _path, obj in built],
        "warnings": ctx.warnings,
        "endpoints": endpoints,
        "kinds": profile.kinds(),
    }


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
