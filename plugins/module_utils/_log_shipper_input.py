# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed reading of the compact input shared by destinations and sources: the error/warning
collector, type checks with field paths, enum spelling, names, addresses, URLs, quantities and
log filters. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show, type_name as _type_name
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    _DNS_SUBDOMAIN, _index, _join, LogShipperError)


_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\s\[\]]+)):(?P<port>[^:]*)$")
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY_FACTORS = {
    None: 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}
_URL = re.compile(r"^(?P<scheme>https?)://(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/\s\[\]]+))(?::(?P<port>[0-9]+))?(?:/\S*)?$")
FILTER_KEYS = ("field", "operator", "values")
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


def _labels_value(ctx, value, path):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    ctx.error(path, "must be a string, got %s" % _type_name(value))
    return None


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


def parse_url(value):
    """'http(s)://host[:port][/path]' -> (host, port); ValueError says what is wrong."""
    match = _URL.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("%s is not an http:// or https:// URL with a host" % _show(value))
    port = int(match.group("port")) if match.group("port") else (443 if match.group("scheme") == "https" else 80)
    if not 1 <= port <= 65535:
        raise ValueError("port %d in %s is out of range 1-65535" % (port, _show(value)))
    return match.group("v6") or match.group("host"), port
