# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The block of each ClusterLogDestination type (``spec.socket``, ``spec.kafka``, ``spec.loki``,
``spec.elasticsearch``, ``spec.logstash``, ``spec.vector``, ``spec.splunk``) from the compact input,
and the TLS material they share. Field names and encodings follow the served CRD (the January 2025
log-shipper CRD, deckhouse/deckhouse modules/460-log-shipper/crds/cluster-log-destination.yaml):
passwords and AWS keys base64-encoded, tokens as given. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import base64
import binascii
import os

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    _index, _join, KIND_DESTINATION)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_input import (
    _as_bool, _as_dict, _as_str, _as_str_list, _choose, _given, _norm, parse_address, parse_url)


TLS_KEYS = ("verify_certificate", "verify_hostname", "ca", "client_cert", "client_key", "key_pass")
SASL_KEYS = ("mechanism", "username", "password")
LOKI_AUTH_KEYS = ("strategy", "user", "password", "token")
AWS_AUTH_FIELDS = (("aws_access_key", "awsAccessKey"), ("aws_secret_key", "awsSecretKey"),
                   ("aws_assume_role", "awsAssumeRole"), ("aws_region", "awsRegion"))
ELASTICSEARCH_AUTH_KEYS = ("strategy", "user", "password") + tuple(key for key, _field in AWS_AUTH_FIELDS)
# Union of the auth keys of every type (the module's argument spec has one auth dict).
AUTH_KEYS = ("strategy", "user", "password", "token") + tuple(key for key, _field in AWS_AUTH_FIELDS)


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


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


def _with_tls(block, ctx, spec, path):
    """``block`` with its ``tls`` when the input gives one, for the types that keep the verify flags inside it
    (all but Socket)."""
    if _given(spec, "tls") is not None:
        tls, _verify = _build_tls(ctx, spec["tls"], _join(path, "tls"), separate=False)
        if tls:
            block["tls"] = tls
    return block


def _only_for(ctx, auth, apath, keys, strategy):
    """An error for each of ``keys`` that ``auth`` gives although only auth ``strategy`` takes it."""
    for key in keys:
        if _given(auth, key) is not None:
            ctx.error(_join(apath, key), "only for strategy %s" % strategy)


def _endpoint(ctx, spec, path, name, endpoints, url):
    """``endpoint`` as an http(s) URL (``url``: Loki, Elasticsearch, Splunk) or as 'host:port' (Logstash's TCP
    input, Vector's API v2); its host and port join ``endpoints``."""
    endpoint = _as_str(ctx, _given(spec, "endpoint"), _join(path, "endpoint"), required=True)
    if endpoint is None:
        return None
    if not url and "://" in endpoint:
        ctx.error(_join(path, "endpoint"), "%s: expected 'host:port' without a scheme" % _show(endpoint))
        return endpoint
    try:
        host, port = parse_url(endpoint) if url else parse_address(endpoint)
        endpoints.append({"destination": name, "address": endpoint, "host": host, "port": port, "protocol": "tcp"})
    except ValueError as exc:
        ctx.error(_join(path, "endpoint"), str(exc))
    return endpoint


def build_socket(ctx, spec, path, name, profile, endpoints):
    """(spec.socket, codec)."""
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
    return socket, codec


def build_kafka(ctx, spec, path, name, profile, endpoints):
    """(spec.kafka, codec)."""
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
    return _with_tls(kafka, ctx, spec, path), codec


def build_loki(ctx, spec, path, name, profile, endpoints):
    """(spec.loki, None)."""
    loki = {"endpoint": _endpoint(ctx, spec, path, name, endpoints, url=True)}
    tenant = _as_str(ctx, _given(spec, "tenant_id"), _join(path, "tenant_id"))
    if tenant:
        loki["tenantID"] = tenant
    auth = _as_dict(ctx, _given(spec, "auth"), _join(path, "auth"), LOKI_AUTH_KEYS)
    if auth is not None:
        apath = _join(path, "auth")
        strategy = "Bearer" if _norm(_given(auth, "strategy") or "basic") == "bearer" else "Basic"
        if _norm(_given(auth, "strategy") or "basic") not in ("basic", "bearer"):
            ctx.error(_join(apath, "strategy"), "must be basic or bearer")
        # Written although the API server would default it: the stored object then equals ours.
        out = {"strategy": strategy}
        if strategy == "Basic":
            _only_for(ctx, auth, apath, ("token",), "bearer")
            out["user"] = _as_str(ctx, _given(auth, "user"), _join(apath, "user"), required=True)
            password = _as_str(ctx, _given(auth, "password"), _join(apath, "password"), required=True)
            if password is not None:
                # The CRD wants the Basic password base64-encoded; users give it in plain text.
                out["password"] = _b64(password)
        else:
            _only_for(ctx, auth, apath, ("user", "password"), "basic")
            out["token"] = _as_str(ctx, _given(auth, "token"), _join(apath, "token"), required=True)
        loki["auth"] = out
    return _with_tls(loki, ctx, spec, path), None


def build_elasticsearch(ctx, spec, path, name, profile, endpoints):
    """(spec.elasticsearch, None). Basic auth (user, password) or AWS (access and secret key, optional
    role and region), as the CRD's oneOf allows; password and AWS keys are base64-encoded for the CRD."""
    es = {"endpoint": _endpoint(ctx, spec, path, name, endpoints, url=True)}
    for key, field in (("index", "index"), ("pipeline", "pipeline"), ("doc_type", "docType")):
        value = _as_str(ctx, _given(spec, key), _join(path, key))
        if value:
            es[field] = value
    data_stream = _as_bool(ctx, _given(spec, "data_stream_enabled"), _join(path, "data_stream_enabled"))
    if data_stream is not None:
        es["dataStreamEnabled"] = data_stream
    auth = _as_dict(ctx, _given(spec, "auth"), _join(path, "auth"), ELASTICSEARCH_AUTH_KEYS)
    if auth is not None:
        apath = _join(path, "auth")
        strategy = _choose(ctx, _as_str(ctx, _given(auth, "strategy"), _join(apath, "strategy")) or "basic",
                           profile.enum(KIND_DESTINATION, "spec.elasticsearch.auth.strategy"),
                           _join(apath, "strategy"), "auth strategy")
        # Written although the API server would default it: the stored object then equals ours.
        out = {"strategy": strategy}
        if strategy == "Basic":
            _only_for(ctx, auth, apath, [key for key, _field in AWS_AUTH_FIELDS], "aws")
            out["user"] = _as_str(ctx, _given(auth, "user"), _join(apath, "user"), required=True)
            password = _as_str(ctx, _given(auth, "password"), _join(apath, "password"), required=True)
            if password is not None:
                out["password"] = _b64(password)
        elif strategy == "AWS":
            _only_for(ctx, auth, apath, ("user", "password"), "basic")
            for key, field in AWS_AUTH_FIELDS:
                required = field in ("awsAccessKey", "awsSecretKey")
                value = _as_str(ctx, _given(auth, key), _join(apath, key), required=required)
                if value is not None:
                    out[field] = _b64(value) if required else value
        es["auth"] = out
    return _with_tls(es, ctx, spec, path), None


def build_host_port(ctx, spec, path, name, profile, endpoints):
    """(spec.logstash or spec.vector, None): 'host:port' of a Logstash tcp input with the json codec, or of a
    Vector instance (its vector source, API v2); the two blocks have the same fields."""
    block = {"endpoint": _endpoint(ctx, spec, path, name, endpoints, url=False)}
    return _with_tls(block, ctx, spec, path), None


def build_splunk(ctx, spec, path, name, profile, endpoints):
    """(spec.splunk, None): an HTTP Event Collector URL (no path) and its token, as given."""
    splunk = {"endpoint": _endpoint(ctx, spec, path, name, endpoints, url=True),
              "token": _as_str(ctx, _given(spec, "token"), _join(path, "token"), required=True)}
    index = _as_str(ctx, _given(spec, "index"), _join(path, "index"))
    if index:
        splunk["index"] = index
    return _with_tls(splunk, ctx, spec, path), None


# Input type -> (CRD spec.type, builder of spec.<type lowercased>, input options of this type besides the
# common ones), in the order of the user-facing documentation.
BUILDERS = (
    ("socket", "Socket", build_socket, ("address", "mode", "codec", "cef")),
    ("kafka", "Kafka", build_kafka, ("bootstrap_servers", "topic", "key_field", "sasl", "codec", "cef")),
    ("loki", "Loki", build_loki, ("endpoint", "tenant_id", "auth")),
    ("elasticsearch", "Elasticsearch", build_elasticsearch,
     ("endpoint", "index", "pipeline", "doc_type", "data_stream_enabled", "auth")),
    ("logstash", "Logstash", build_host_port, ("endpoint",)),
    ("vector", "Vector", build_host_port, ("endpoint",)),
    ("splunk", "Splunk", build_splunk, ("endpoint", "token", "index")),
)
TYPES = tuple(entry[0] for entry in BUILDERS)
URL_TYPES = ("loki", "elasticsearch", "splunk")
HOSTPORT_TYPES = ("logstash", "vector")
