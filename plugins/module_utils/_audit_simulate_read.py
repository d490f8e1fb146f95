# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit simulator, reading: a raw log line to an event without its bodies (measured and cut from the bytes
kube-apiserver wrote, decoded by orjson where installed or by the standard library), an event to the
request key and request description the policy engine decides on, timestamps. The public face is
_audit_simulate.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import json
import re

_TIMESTAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_KEY_REQUEST_OBJECT = b',"requestObject":'
_KEY_RESPONSE_OBJECT = b',"responseObject":'
_KEY_RECEIVED = b',"requestReceivedTimestamp":'
_OBJECT_KEY_END = b'Object":'  # the end of both body keys
_REQUEST_KEY_SIZE = len(_KEY_REQUEST_OBJECT)


def parse_timestamp(text):
    """RFC 3339 (as in audit events) -> seconds since the epoch, None when it is not one."""
    match = _TIMESTAMP.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + float(match.group(7) or 0)
    zone = match.group(8)
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds


def request_key(event, named=None):
    """The request an event belongs to, as a hashable key: (user, groups, verb, namespace, api_group,
    resource, subresource, name, path). The policy sees the authenticated user, not an impersonated one
    (the audit filter runs before impersonation); a failed authentication has no user. Only the event's
    structure is checked here (ValueError); the values' types are checked once per distinct key, by
    ``_request_from_key``. ``named``: the (group, resource) pairs whose object names the policies decide
    by (``_named_resources``); other requests get the name "" (when it is a string), so requests on many
    objects share one key. None keeps every name."""
    user = event.get("user")
    if user is None:
        user = {}
    elif not isinstance(user, dict):
        raise ValueError("user is not an object")
    groups = user.get("groups")
    if groups is None:
        groups = ()
    elif isinstance(groups, list):
        groups = tuple(groups)
    else:
        raise ValueError("user.groups is not a list of strings")
    ref = event.get("objectRef")
    if ref is not None and not isinstance(ref, dict):
        raise ValueError("objectRef is not an object")
    if ref and ref.get("resource"):
        group, resource, name = ref.get("apiGroup") or "", ref["resource"], ref.get("name") or ""
        if named is not None and isinstance(name, str) and isinstance(group, str) and isinstance(resource, str) \
                and (group, resource) not in named:
            name = ""
        return (user.get("username") or None, groups, event.get("verb"), ref.get("namespace") or "",
                group, resource, ref.get("subresource") or "", name, "")
    uri = event.get("requestURI") or ""
    if not isinstance(uri, str):
        raise ValueError("requestURI is not a string")
    return (user.get("username") or None, groups, event.get("verb"), "", "", "", "", "", uri.split("?", 1)[0])


_KEY_FIELDS = ("user", "groups", "verb", "namespace", "api_group", "resource", "subresource", "name", "path")


def _request_from_key(key):
    """The request description the policy engine decides on (engine.normalize_request's shape); ValueError
    when a field has the wrong type."""
    request = dict(zip(_KEY_FIELDS, key))
    if not isinstance(request["verb"], str):
        raise ValueError("verb is missing")
    if request["user"] is not None and not isinstance(request["user"], str):
        raise ValueError("user.username is not a string")
    if not all(isinstance(group, str) for group in request["groups"]):
        raise ValueError("user.groups is not a list of strings")
    for field in _KEY_FIELDS[3:]:
        if not isinstance(request[field], str):
            raise ValueError("%s is not a string" % field)
    request["groups"] = list(request["groups"])
    request["resource_request"] = bool(request["resource"])
    return request


def request_from_event(event):
    """The request description the policy engine decides on, read from an audit event (ValueError when
    the event's fields have the wrong structure or types)."""
    return _request_from_key(request_key(event))


def _body_spans(line, first=0):
    """(request key offset or -1, response key offset or -1, offset of the timestamps) of the top-level
    bodies in a raw line as kube-apiserver writes it (bodies just before requestReceivedTimestamp). None when
    the line is laid out otherwise, or when a body key also appears inside a body, which would make the
    offsets ambiguous. ``first``: where _OBJECT_KEY_END first occurs, when the caller has looked (the count of
    its occurrences starts there)."""
    end = line.rfind(_KEY_RECEIVED)
    # The key cannot overlap itself (only its first byte is a comma), so it is unique when it is not in front of
    # the last one: a scan up to it rather than of the whole line.
    if end < 0 or line.find(_KEY_RECEIVED, 0, end) >= 0:
        return None
    # Both body keys end in _OBJECT_KEY_END, which cannot overlap itself: when the line holds it no more often than
    # the keys found, each found key is the only one of its kind. One scan instead of one per key; only when
    # something else ends alike (an "involvedObject" key in a body) are the keys counted one by one. The same
    # count spares the search for the request key behind a response key that is the line's only such ending
    # (the two keys cannot share one: their bytes before it differ), the usual response-only line.
    endings = line.count(_OBJECT_KEY_END, first)
    response = line.rfind(_KEY_RESPONSE_OBJECT, 0, end)
    if response >= 0 and endings == 1:
        request = -1
    else:
        request = line.rfind(_KEY_REQUEST_OBJECT, 0, response if response >= 0 else end)
    found = (response >= 0) + (request >= 0)
    if found and endings != found and (
            (response >= 0 and line.count(_KEY_RESPONSE_OBJECT) != 1) or
            (request >= 0 and line.count(_KEY_REQUEST_OBJECT) != 1)):
        return None
    return request, response, end


def body_sizes(line, event):
    """Bytes of the top-level requestObject and responseObject (with their keys) in the raw line; measured
    on the line where its layout allows it, else by encoding them again."""
    has_request, has_response = "requestObject" in event, "responseObject" in event
    if not has_request and not has_response:
        return 0, 0
    spans = _body_spans(line)
    if spans is None or (spans[0] >= 0) != has_request or (spans[1] >= 0) != has_response:
        return _encoded_sizes(event)
    request, response, end = spans
    request_end = response if response >= 0 else end
    return (request_end - request if request >= 0 else 0), (end - response if response >= 0 else 0)


def _encoded_sizes(event):
    sizes = []
    for key in ("requestObject", "responseObject"):
        if key in event:
            sizes.append(len(key) + 4 + len(json.dumps(event[key], separators=(",", ":")).encode("utf-8")))
        else:
            sizes.append(0)
    return sizes[0], sizes[1]


class Line(object):
    """One log line read: the event without its bodies, the bodies' sizes in bytes (with their keys),
    the raw or parsed request body (for the privileged-pod check) and the size of the rest."""

    __slots__ = ("event", "request_size", "response_size", "request_body", "meta_size")

    def __init__(self, event, request_size, response_size, request_body, meta_size):
        self.event = event
        self.request_size = request_size
        self.response_size = response_size
        self.request_body = request_body   # bytes (not parsed yet), the parsed object, or None
        self.meta_size = meta_size         # bytes without bodies and without the newline

    def request_object(self):
        if isinstance(self.request_body, bytes):
            try:
                return json.loads(self.request_body)
            except ValueError:
                return None
        return self.request_body


_DECODE = json.JSONDecoder().decode  # json.loads without its per-call encoding detection


def _loads(raw):
    return _DECODE(raw.decode("utf-8"))  # UnicodeDecodeError is a ValueError too


def _fast_loads(raw):
    """orjson where it decodes the line (about twice as fast); anything it refuses (NaN, integers beyond
    64 bits, ...) is decoded by the standard library, so both decoders give the same events and the same
    error for a line that is not JSON."""
    try:
        return _ORJSON_LOADS(raw)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return _loads(raw)


# The optional decoder (orjson, in requirements.txt of neither the collection nor its modules): when it is
# not installed the standard library decodes every line, with the same results.
try:
    from orjson import loads as _ORJSON_LOADS
except ImportError:
    _ORJSON_LOADS = None
DECODERS = {"json": _loads}
if _ORJSON_LOADS is not None:
    DECODERS["orjson"] = _fast_loads
DEFAULT_DECODER = "orjson" if _ORJSON_LOADS is not None else "json"


def read_line(line, loads=_loads):
    """Parse one raw log line (bytes). The bodies - most of a RequestResponse log - are measured and cut
    from the raw line rather than parsed: kube-apiserver writes them just before the timestamps, so they
    are found from the end. A line written another way is parsed whole. ValueError when it is not JSON."""
    first = line.find(_OBJECT_KEY_END)
    if first < 0:  # then neither body key is: one scan of the line instead of two
        # No body key where kube-apiserver writes one (most lines): what the general path below gives when the
        # event has no body either, without measuring bodies that are not there.
        event = loads(line)
        if event.__class__ is dict and "requestObject" not in event and "responseObject" not in event:
            return Line(event, 0, 0, None, len(line.rstrip(b"\r\n")))
        spans = None
    else:
        spans = _body_spans(line, first)
    if spans is not None:
        request, response, end = spans
        start = request if request >= 0 else response
        request_end = response if response >= 0 else end
        if start >= 0:
            event = loads(line[:start] + line[end:])
            # A body written after the timestamps (another key order) is still in the event: parse whole.
            if isinstance(event, dict) and "requestObject" not in event and "responseObject" not in event:
                return Line(event, request_end - request if request >= 0 else 0, end - response if response >= 0 else 0,
                            line[request + _REQUEST_KEY_SIZE:request_end] if request >= 0 else None,
                            len(line.rstrip(b"\r\n")) - (end - start))
    event = loads(line)
    if not isinstance(event, dict):
        return Line(event, 0, 0, None, 0)
    request_size, response_size = body_sizes(line, event)
    return Line(event, request_size, response_size, event.get("requestObject"),
                len(line.rstrip(b"\r\n")) - request_size - response_size)
