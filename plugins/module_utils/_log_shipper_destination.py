# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ClusterLogDestination from the compact input: the type dispatcher (which options each type takes,
whether the served CRD accepts the type), what every type shares (extra/CEF labels, rate limit,
buffer), the fields only later CRD versions have, and the warnings for secrets the served CRD can only
hold inline. The per-type blocks are in _log_shipper_sinks.py. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    _join, _key, _metadata, KIND_DESTINATION, MIN_DISK_BUFFER)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_input import (
    _as_dict, _as_list, _as_str, _build_filters, _check_name, _choose, _given, _labels_value, _norm, _snake,
    parse_address, parse_url, quantity_bytes)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_sinks import (
    BUILDERS, HOSTPORT_TYPES, TYPES, URL_TYPES)


DESTINATION_KEYS = ("name", "type", "address", "mode", "codec", "tls", "extra_labels", "cef",
                    "bootstrap_servers", "topic", "key_field", "sasl", "rate_limit", "buffer",
                    "endpoint", "tenant_id", "auth", "index", "pipeline", "doc_type", "data_stream_enabled",
                    "token", "transformations")
# Options of every type; the others belong to the types that list them in BUILDERS.
COMMON_KEYS = ("name", "type", "tls", "extra_labels", "rate_limit", "buffer", "transformations")
CEF_LABEL_KEYS = ("name", "severity")
# CEF header fields of later CRDs (deckhouse/deckhouse PR #13997, encoding.cef in the v1alpha2 Go types).
CEF_DEVICE_FIELDS = (("device_vendor", "deviceVendor"), ("device_product", "deviceProduct"),
                     ("device_version", "deviceVersion"))
CEF_KEYS = CEF_LABEL_KEYS + tuple(key for key, _field in CEF_DEVICE_FIELDS)
RATE_LIMIT_KEYS = ("lines_per_minute", "key_field", "excludes")
BUFFER_KEYS = ("type", "max_size", "max_events", "when_full")
# Secret fields of each block: (CRD field path inside spec.<type>, what it is).
_INLINE_SECRETS = (
    ("tls.clientCrt.keyFile", "client key"), ("tls.clientCrt.keyPass", "client key passphrase"),
    ("tcp.tls.clientCrt.keyFile", "client key"), ("tcp.tls.clientCrt.keyPass", "client key passphrase"),
    ("auth.password", "password"), ("auth.token", "token"), ("auth.awsAccessKey", "AWS access key"),
    ("auth.awsSecretKey", "AWS secret key"), ("sasl.password", "SASL password"), ("token", "HEC token"),
)


def _build_extra_labels(ctx, spec, path, codec):
    labels = {}
    extra = _as_dict(ctx, _given(spec, "extra_labels"), _join(path, "extra_labels"))
    for key in sorted(extra or {}):
        value = _labels_value(ctx, extra[key], _key(_join(path, "extra_labels"), key))
        if value is not None:
            labels[key] = value
    cef = _as_dict(ctx, _given(spec, "cef"), _join(path, "cef"), CEF_KEYS)
    if cef:
        for key in CEF_LABEL_KEYS:
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
    """kuma-<mode>-<codec> for sockets, kuma-<type> for the others (kuma-kafka as in the seed examples)."""
    dtype = _norm(_given(spec, "type") or "socket")
    if dtype in TYPES and dtype != "socket":
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
        elif dtype in HOSTPORT_TYPES:
            addresses, protocol = [_given(spec, "endpoint")], "tcp"
        elif dtype in URL_TYPES:
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


def _served(profile):
    return "the served ClusterLogDestination CRD (%s, profile %s)" % (profile.api_version(KIND_DESTINATION), profile.name)


def _check_type_options(ctx, spec, path, dtype, own):
    """Refuse options of other types, naming the type(s) they belong to."""
    allowed = COMMON_KEYS + own
    for key in DESTINATION_KEYS:
        if key in allowed or _given(spec, key) is None:
            continue
        owners = [entry[0] for entry in BUILDERS if key in entry[3]]
        if dtype == "kafka" and key in ("address", "mode"):
            ctx.error(_join(path, key), "only for type socket (Kafka uses bootstrap_servers)")
        elif len(owners) == 1:
            ctx.error(_join(path, key), "only for type %s" % owners[0])
        else:
            ctx.error(_join(path, key), "not for type %s (only for types %s)" % (dtype, ", ".join(owners)))


def _cef_device(ctx, spec, path, block, kind_key, profile):
    """CEF device vendor/product/version into spec.<type>.encoding.cef where the served CRD has them."""
    cef = _given(spec, "cef")
    if not isinstance(cef, dict) or not isinstance(block, dict):
        return
    for key, field in CEF_DEVICE_FIELDS:
        value = _as_str(ctx, _given(cef, key), _join(_join(path, "cef"), key))
        if value is None:
            continue
        node = "spec.%s.encoding.cef.%s" % (kind_key, field)
        if not profile.has(KIND_DESTINATION, node):
            ctx.error(_join(_join(path, "cef"), key), "%s has no %s (CEF device fields came with a later log-shipper "
                                                      "CRD); remove it, or apply to a cluster whose CRD serves it"
                      % (_served(profile), node))
            continue
        block.setdefault("encoding", {}).setdefault("cef", {})[field] = value


def _transformations(ctx, spec, path, profile):
    """``transformations`` as the CRD writes them, only where the served CRD has spec.transformations
    (its schema then validates them)."""
    items = _as_list(ctx, _given(spec, "transformations"), _join(path, "transformations"))
    if items is None:
        return None
    if not profile.has(KIND_DESTINATION, "spec.transformations"):
        ctx.error(_join(path, "transformations"), "%s has no spec.transformations (log transformations came with a "
                                                  "later log-shipper CRD); remove it, or apply to a cluster whose CRD "
                                                  "serves it" % _served(profile))
        return None
    return items


def _build_destination(ctx, spec, profile, path, owner):
    spec = _as_dict(ctx, spec, path, DESTINATION_KEYS)
    if spec is None:
        return None, []
    name = _as_str(ctx, _given(spec, "name"), _join(path, "name")) or default_destination_name(spec)
    _check_name(ctx, name, _join(path, "name"))
    dtype = _norm(_given(spec, "type") or "socket")
    endpoints = []
    body = {}
    codec = None
    entry = next((entry for entry in BUILDERS if entry[0] == dtype), None)
    if entry is None:
        ctx.error(_join(path, "type"), "unsupported destination type %s; supported: %s"
                  % (_show(_given(spec, "type")), ", ".join(TYPES)))
    else:
        _dtype, crd_type, builder, own = entry
        _check_type_options(ctx, spec, path, dtype, own)
        served = profile.enum(KIND_DESTINATION, "spec.type")
        kind_key = crd_type.lower()
        if served is not None and crd_type not in served:
            ctx.error(_join(path, "type"), "%s does not accept type %s; it accepts: %s"
                      % (_served(profile), crd_type, ", ".join(served)))
        block, codec = builder(ctx, spec, path, name, profile, endpoints)
        _cef_device(ctx, spec, path, block, kind_key, profile)
        body = {"type": crd_type, kind_key: block}
    labels = _build_extra_labels(ctx, spec, path, codec)
    if labels:
        body["extraLabels"] = labels
    rate = _build_rate_limit(ctx, spec, _join(path, "rate_limit"), profile)
    if rate is not None:
        body["rateLimit"] = rate
    buf = _build_buffer(ctx, spec, _join(path, "buffer"), profile)
    if buf is not None:
        body["buffer"] = buf
    transformations = _transformations(ctx, spec, path, profile)
    if transformations is not None:
        body["transformations"] = transformations
    _warn_inline_secrets(ctx, body, path, profile)
    obj = {"apiVersion": profile.api_version(KIND_DESTINATION), "kind": KIND_DESTINATION,
           "metadata": _metadata(name, owner), "spec": body}
    return obj, endpoints


def _field(block, dotted):
    for token in dotted.split("."):
        if not isinstance(block, dict) or token not in block:
            return None
        block = block[token]
    return block


def _warn_inline_secrets(ctx, body, path, profile):
    """Secrets end up in the cluster-wide object when the served CRD offers no reference to a Secret.

    No published log-shipper CRD has a Secret reference for these fields except TLS ``secretRef`` in
    later versions (deckhouse/deckhouse PR #11159), which this release does not write: with no CRD
    that has it to test against, every secret is written inline and each warning names the field.
    """
    kind_key = body.get("type", "").lower() if isinstance(body.get("type"), str) else None
    block = body.get(kind_key) if kind_key else None
    if not isinstance(block, dict):
        return
    by_input = {}
    for dotted, what in _INLINE_SECRETS:
        if isinstance(_field(block, dotted), str):
            top = dotted.split(".", 1)[0]
            where = top if top in ("auth", "sasl", "token") else "tls"
            by_input.setdefault(where, []).append(("spec.%s.%s" % (kind_key, dotted), what))
    for where in ("tls", "auth", "sasl", "token"):
        fields = by_input.get(where)
        if not fields:
            continue
        names = ", ".join(field for field, _what in fields)
        whats = " and ".join(what for _field_name, what in fields)
        if where == "tls":
            tls_node = "spec.%s.%stls.secretRef" % (kind_key, "tcp." if kind_key == "socket" else "")
            why = ("%s declares %s, but this release does not write Secret references yet (no published CRD has "
                   "it to test against)" % (_served(profile), tls_node) if profile.has(KIND_DESTINATION, tls_node)
                   else "%s has no tls.secretRef" % _served(profile))
        elif where == "sasl":
            why = "%s has no Secret reference for SASL credentials" % _served(profile)
        else:
            why = "%s has no Secret reference for %s credentials" % (_served(profile), body["type"])
        ctx.warn(_join(path, where), "%s, so %s (the %s) %s stored inline in the cluster-wide ClusterLogDestination, "
                                     "readable by anyone allowed to get or list clusterlogdestinations.deckhouse.io"
                 % (why, names, whats, "is" if len(fields) == 1 else "are"))
