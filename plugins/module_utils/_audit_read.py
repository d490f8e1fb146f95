# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, text: YAML read the way sigs.k8s.io/yaml reads it (go-yaml v2, YAML 1.1
scalars, merge keys, aliases) and JSON the way Go's encoding/json does, into plain data.
"""

from __future__ import annotations

import base64
import datetime
import json
import math

from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import go_json_key, go_resolve_plain
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import PolicyError

try:
    import yaml
    from yaml.composer import Composer as _Composer
    from yaml.nodes import MappingNode as _MappingNode, ScalarNode as _ScalarNode, SequenceNode as _SequenceNode
    from yaml.parser import Parser as _Parser
    from yaml.reader import Reader as _Reader
    from yaml.resolver import BaseResolver as _BaseResolver
    from yaml.scanner import Scanner as _Scanner
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # text input needs it; dicts and JSON text do not
    yaml = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

# --- reading YAML like sigs.k8s.io/yaml (go-yaml v2) ------------------------------------------


class _Fatal(Exception):
    """A decoding failure kube-apiserver would refuse to start with."""

    def __init__(self, message, path=None, stage="decode"):
        Exception.__init__(self, message)
        self.message, self.path, self.stage = message, path, stage


_PLAIN_TAG = "!auditops/plain"
_QUOTED_TAG = "!auditops/quoted"
_STD_PREFIX = "tag:yaml.org,2002:"

if HAS_YAML:
    class _GoResolver(_BaseResolver):
        """Leave plain scalars untyped: go_resolve_plain types them later, the way go-yaml v2 does."""

        def resolve(self, kind, value, implicit):
            if kind is _ScalarNode:
                return _PLAIN_TAG if implicit[0] else _QUOTED_TAG
            return _BaseResolver.resolve(self, kind, value, implicit)

    class _GoComposer(_Reader, _Scanner, _Parser, _Composer, _GoResolver):
        def __init__(self, stream):
            _Reader.__init__(self, stream)
            _Scanner.__init__(self)
            _Parser.__init__(self)
            _Composer.__init__(self)
            _GoResolver.__init__(self)

    # libyaml composes the same node graph many times faster (a multi-megabyte policy in seconds, not minutes);
    # its error texts differ, so the pure-Python composer stays for text it refuses (the message users see).
    try:
        from yaml.cyaml import CParser as _CParser

        class _CGoComposer(_CParser, _GoResolver):
            def __init__(self, stream):
                _CParser.__init__(self, stream)
                _GoResolver.__init__(self)
    except ImportError:  # PyYAML built without libyaml
        _CGoComposer = None


def _mark_line(node):
    return node.start_mark.line + 1 if getattr(node, "start_mark", None) is not None else None


def _yaml_error_message(exc):
    text = str(exc).strip()
    return "yaml: " + " ".join(text.split())


_FAST_COMPOSE_BYTES = 64 * 1024


def _first_node(loader):
    """The loader's first document node and whether more documents follow (only reported, never a failure:
    Go does not read them)."""
    if not loader.check_node():
        return None, False
    node = loader.get_node()
    try:
        more = loader.check_node()
    except yaml.YAMLError:
        more = True
    return node, more


def _compose_first_document(text):
    """The first YAML document's node graph (go-yaml reads only the first), or None for an empty stream."""
    if not HAS_YAML:
        raise PolicyError("policy", "PyYAML is required to read YAML text")
    if _CGoComposer is not None and len(text) > _FAST_COMPOSE_BYTES:
        loader = _CGoComposer(text)
        try:
            return _first_node(loader)
        except yaml.YAMLError:
            pass  # read again below for the pure-Python composer's message
        finally:
            loader.dispose()
    loader = _GoComposer(text)
    try:
        return _first_node(loader)
    except yaml.YAMLError as exc:
        raise _Fatal(_yaml_error_message(exc), stage="syntax")
    finally:
        loader.dispose()


def _key_text(key):
    """How sigs.k8s.io/yaml turns a YAML map key into a JSON object key (``_yaml.go_json_key``), or its error."""
    text = go_json_key(key)
    if text is not None:
        return text
    if key is None:
        raise _Fatal("error converting YAML to JSON: unsupported map key of type: <nil>")
    raise _Fatal("error converting YAML to JSON: yaml: invalid map key: %r" % (key,))


def _allowed_alias_ratio(decoded):
    """go-yaml v2's allowedAliasRatio: 99% up to 400,000 decodes, 10% from 4,000,000, linear between."""
    if decoded <= 400000:
        return 0.99
    if decoded >= 4000000:
        return 0.10
    return 0.99 - 0.89 * (float(decoded - 400000) / 3600000)


class _YamlReader(object):
    """Node graph -> JSON-like data with go-yaml v2 semantics; records duplicate keys (strict errors)."""

    def __init__(self):
        self.duplicates = []  # (path, key, line)
        # go-yaml v2's alias budget (sigs.k8s.io/yaml/goyaml.v2 decode.go, unmarshal and allowedAliasRatio): every
        # decoded node counts, those decoded through an alias count as aliased too. PyYAML composes an alias as the
        # anchored node itself, so a node met again is an alias.
        self.decoded = 1  # the document node
        self.aliased = 0
        self.alias_depth = 0
        self.seen = set()

    def _tick(self):
        self.decoded += 1
        if self.alias_depth:
            self.aliased += 1
            if self.aliased > 100 and self.decoded > 1000 and self.aliased > self.decoded * _allowed_alias_ratio(self.decoded):
                raise _Fatal("yaml: document contains excessive aliasing")

    def value(self, node, path, stack=()):
        if not self.alias_depth and id(node) in self.seen:
            self._tick()  # the alias node
            self.alias_depth += 1
            try:
                return self._value(node, path, stack)
            finally:
                self.alias_depth -= 1
        if not self.alias_depth:
            self.seen.add(id(node))
        return self._value(node, path, stack)

    def _value(self, node, path, stack):
        self._tick()
        if isinstance(node, _ScalarNode):
            return self.scalar(node)
        if id(node) in stack:
            raise _Fatal("yaml: anchor value contains itself")
        stack = stack + (id(node),)
        if isinstance(node, _SequenceNode):
            return [self.value(child, "%s[%d]" % (path, index), stack) for index, child in enumerate(node.value)]
        if isinstance(node, _MappingNode):
            entries = []
            self.mapping(node, path, stack, entries, {})
            result = {}
            for key, value in entries:
                result[_key_text(key)] = value
            # Go marshals the intermediate map with sorted keys.
            return dict((key, result[key]) for key in sorted(result))
        raise _Fatal("yaml: unsupported node %r" % (node,))

    def scalar(self, node):
        tag = node.tag
        if tag == _PLAIN_TAG:
            kind, value = go_resolve_plain(node.value)
            if kind == "merge":
                return "<<"
            return value
        if tag in (_QUOTED_TAG, _STD_PREFIX + "str", "!"):
            return node.value
        if tag.startswith(_STD_PREFIX):
            short = tag[len(_STD_PREFIX):]
            kind, value = go_resolve_plain(node.value) if node.value else ("null", None)
            if short == "binary":
                try:
                    return base64.b64decode("".join(node.value.split())).decode("utf-8", "replace")
                except (ValueError, TypeError):
                    raise _Fatal("yaml: !!binary value contains invalid base64 data")
            if short == "timestamp":
                return node.value
            if short == kind or (short == "float" and kind == "int"):
                return float(value) if short == "float" else value
            raise _Fatal("yaml: cannot decode !!%s `%s` as a !!%s" % (kind, node.value, short))
        # Unknown local tags: go-yaml keeps the scalar text.
        return node.value

    @staticmethod
    def _typed_key(key):
        # Go compares interface{} keys by type and value: true, 1 and "1" are three keys.
        return (type(key).__name__, key if not isinstance(key, float) or not math.isnan(key) else "nan")

    def _set(self, entries, index, key, value, path, line):
        typed = self._typed_key(key)
        if typed in index:
            self.duplicates.append((path, key, line))
            entries[index[typed]] = (key, value)
        else:
            index[typed] = len(entries)
            entries.append((key, value))

    def mapping(self, node, path, stack, entries, index):
        for key_node, value_node in node.value:
            if isinstance(key_node, _ScalarNode) and (
                    (key_node.tag == _PLAIN_TAG and key_node.value == "<<") or key_node.tag == _STD_PREFIX + "merge"):
                self.merge(value_node, path, stack, entries, index)
                continue
            if not isinstance(key_node, _ScalarNode):
                raise _Fatal("yaml: line %s: invalid map key" % _mark_line(key_node))
            self._tick()  # go-yaml decodes the key node too
            key = self.scalar(key_node)
            child_path = "%s.%s" % (path, _key_text(key)) if path else _key_text(key)
            value = self.value(value_node, child_path, stack)
            self._set(entries, index, key, value, path, _mark_line(value_node))

    def merge(self, node, path, stack, entries, index):
        if not self.alias_depth and id(node) in self.seen:
            self._tick()  # the alias node
            self.alias_depth += 1
            try:
                return self._merge(node, path, stack, entries, index)
            finally:
                self.alias_depth -= 1
        if not self.alias_depth:
            self.seen.add(id(node))
        return self._merge(node, path, stack, entries, index)

    def _merge(self, node, path, stack, entries, index):
        if isinstance(node, _MappingNode):
            if id(node) in stack:
                raise _Fatal("yaml: anchor value contains itself")
            self.mapping(node, path, stack + (id(node),), entries, index)
        elif isinstance(node, _SequenceNode):
            # Earlier maps in the list take precedence: go-yaml merges them last.
            for child in reversed(node.value):
                if not isinstance(child, _MappingNode):
                    raise _Fatal("yaml: map merge requires map or sequence of maps as the value")
                self.mapping(child, path, stack + (id(child),), entries, index)
        else:
            raise _Fatal("yaml: map merge requires map or sequence of maps as the value")


def _check_json_values(value, path=""):
    """json.Marshal of the intermediate object: NaN and infinities cannot be encoded."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise _Fatal("error converting YAML to JSON: json: unsupported value: %s"
                     % ("NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")), path)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_values(item, "%s.%s" % (path, key) if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_values(item, "%s[%d]" % (path, index))


class _JsonFloat(float):
    """A JSON number written with a fraction or an exponent (Go will not store it in an integer)."""


class _Pairs(list):
    pass


def _json_reject_constant(name):
    raise ValueError("invalid character '%s' looking for beginning of value" % name[0])


def _read_json(text):
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs, parse_float=_JsonFloat, parse_constant=_json_reject_constant)
    except ValueError as exc:
        raise _Fatal("couldn't get version/kind; json parse error: %s" % exc, stage="syntax")
    duplicates = []

    def merge(old, new):
        # encoding/json decodes a repeated key into the value already there: null changes nothing,
        # objects merge, anything else is replaced.
        if new is None:
            return old
        if isinstance(old, dict) and isinstance(new, dict):
            merged = dict(old)
            for key, item in new.items():
                merged[key] = merge(merged[key], item) if key in merged else item
            return merged
        return new

    def convert(value, path):
        if isinstance(value, _Pairs):
            result = {}
            for key, item in value:
                child = "%s.%s" % (path, key) if path else key
                item = convert(item, child)
                if key in result:
                    duplicates.append((path, key, None))
                    item = merge(result.pop(key), item)
                result[key] = item
            return result
        if isinstance(value, list):
            return [convert(item, "%s[%d]" % (path, index)) for index, item in enumerate(value)]
        return value
    return convert(raw, ""), duplicates


def _is_json_text(text):
    """utilyaml.IsJSONBuffer: the decoder treats a document whose first non-space character is '{' as JSON."""
    return text.lstrip(" \t\n\r\v\f\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                       "\u200a\u2028\u2029\u202f\u205f\u3000").startswith("{")


def _plain_data(value, path="policy"):
    """A dict from Ansible or Python: keep only JSON-like values (dates become their text, as in Go)."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                key = _key_text(key)
            result[key] = _plain_data(item, "%s.%s" % (path, key))
        return result
    if isinstance(value, (list, tuple)):
        return [_plain_data(item, "%s[%d]" % (path, index)) for index, item in enumerate(value)]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise PolicyError(path, "unsupported value of type %s" % type(value).__name__)
