# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ClusterLogDestination from the compact input: the type dispatcher, the per-type builders
(Socket, Kafka, Loki), TLS material, extra/CEF labels, rate limit and buffer, and the warnings for
secrets the CRD can only hold inline. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import base64
import binascii
import os
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    _index, _join, _key, _metadata, KIND_DESTINATION, MIN_DISK_BUFFER)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_input import (
    _as_bool, _as_dict, _as_str, _as_str_list, _build_filters, _check_name, _choose, _given,
    _labels_value, _norm, _snake, parse_address, parse_url, quantity_bytes)


DESTINATION_KEYS = ("name", "type", "address", "mode", "codec", "tls", "extra_labels", "cef",
                    "bootstrap_servers", "topic", "key_field", "sasl", "rate_limit", "buffer",
                    "endpoint", "tenant_id", "auth")
SOCKET_ONLY = ("address", "mode")
KAFKA_ONLY = ("bootstrap_servers", "topic", "key_field", "sasl")
LOKI_ONLY = ("endpoint", "tenant_id", "auth")
AUTH_KEYS = ("strategy", "user", "password", "token")
TLS_KEYS = ("verify_certificate", "verify_hostname", "ca", "client_cert", "client_key", "key_pass")
CEF_KEYS = ("name", "severity")
SASL_KEYS = ("mechanism", "username", "password")
RATE_LIMIT_KEYS = ("lines_per_minute", "key_field", "excludes")
BUFFER_KEYS = ("type", "max_size", "max_events", "when_full")


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
