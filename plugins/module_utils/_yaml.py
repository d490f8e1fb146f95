# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one YAML reader/writer. Pure Python; PyYAML only where text is parsed.

Public API::

    safe_load(text)                     -> object  one document, PyYAML's safe loader (tools, fixtures)
    go_resolve_plain(text)              -> (kind, value)  how go-yaml v2 (sigs.k8s.io/yaml) types a plain scalar
    go_load_all(text)                   -> [object]  every document as sigs.k8s.io/yaml reads it (JSON-like data:
                                                   map keys as JSON object keys); GoYamlError when Go would fail
    scalar(value)                       -> str     one scalar; strings Go's YAML reader would take for
                                                   another type are double-quoted
    dump(value, indent_sequences=False, explicit_start=False, plain_punctuation=True) -> str
                                                   deterministic block YAML, keys in insertion order

``dump`` writes the two layouts the collection's goldens hold. Audit policies (the defaults): a list's
dashes at its key's column, like kubectl; ``system:nodes`` stays plain. Log-shipper manifests
(``indent_sequences=True, explicit_start=True, plain_punctuation=False``): dashes indented by two, ``---``
first, strings holding ``*:@+=`` quoted. Strings stay plain only when both YAML 1.1 (go-yaml v2)
and YAML 1.2 readers take them for the same string; everything else is double-quoted with escapes both read.

Readers of other YAML dialects live here too (the audit policy decoder composes nodes with PyYAML and types
plain scalars with ``go_resolve_plain``); a go-yaml v3 / YAML 1.2 loader for static pod manifests belongs
beside them.
"""

from __future__ import annotations

import math
import re

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # only text input needs it
    yaml = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc


def safe_load(text):
    """One YAML document as plain Python data (PyYAML's safe loader)."""
    if not HAS_YAML:
        raise ImportError("PyYAML is required to read YAML text: %s" % YAML_IMPORT_ERROR)
    return yaml.safe_load(text)


# --- go-yaml v2 scalar typing (YAML 1.1 as sigs.k8s.io/yaml reads it) --------------------------------

_GO_TRUE = frozenset(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
_GO_FALSE = frozenset(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))
_GO_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_GO_SPECIAL_FLOATS = {".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan"),
                      ".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"),
                      "+.inf": float("inf"), "+.Inf": float("inf"), "+.INF": float("inf"),
                      "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf")}
_GO_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_TIMESTAMP_PREFIX = re.compile(r"^[0-9]{4}-")
_GO_TIMESTAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]| )\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d{1,9})?"
                           r"(?:Z|[+-]\d{2}:\d{2})?)?$")
INT64_MIN, INT64_MAX, UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1
MERGE = object()


def _go_parse_int(text, signed=True):
    """strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b and leading-0 octal prefixes)."""
    sign = 1
    body = text
    if body[:1] in "+-":
        if not signed:
            return None
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        return None
    lower = body.lower()
    try:
        if lower.startswith("0x"):
            value = int(body[2:], 16) if re.match(r"^[0-9a-fA-F]+$", body[2:]) else None
        elif lower.startswith("0b"):
            value = int(body[2:], 2) if re.match(r"^[01]+$", body[2:]) else None
        elif lower.startswith("0o"):
            value = int(body[2:], 8) if re.match(r"^[0-7]+$", body[2:]) else None
        elif len(body) > 1 and body[0] == "0":
            value = int(body[1:], 8) if re.match(r"^[0-7]+$", body[1:]) else None
        else:
            value = int(body, 10) if re.match(r"^[0-9]+$", body) else None
    except ValueError:
        value = None
    if value is None:
        return None
    value *= sign
    if signed and not INT64_MIN <= value <= INT64_MAX:
        return None
    if not signed and value > UINT64_MAX:
        return None
    return value


def go_resolve_plain(text):
    """Type of an unquoted YAML scalar for go-yaml v2: ('str'|'bool'|'int'|'float'|'null'|'merge', value).

    YAML 1.1 rules as Go reads them: y/n/yes/no/on/off are booleans, 0777 is octal, 1e3 is a float,
    and timestamps stay strings when the target is untyped."""
    if text in _GO_TRUE:
        return "bool", True
    if text in _GO_FALSE:
        return "bool", False
    if text in _GO_NULL:
        return "null", None
    if text in _GO_SPECIAL_FLOATS:
        return "float", _GO_SPECIAL_FLOATS[text]
    if text == "<<":
        return "merge", MERGE
    first = text[0]
    if first == ".":
        if _GO_YAML_FLOAT.match(text):
            return "float", float(text)
        return "str", text
    if first in "+-0123456789":
        if _GO_TIMESTAMP_PREFIX.match(text) and _GO_TIMESTAMP.match(text):
            return "str", text
        plain = text.replace("_", "")
        value = _go_parse_int(plain)
        if value is None:
            value = _go_parse_int(plain, signed=False)
        if value is not None:
            return "int", value
        if _GO_YAML_FLOAT.match(plain):
            return "float", float(plain)
    return "str", text


# --- writer -----------------------------------------------------------------------------------------

_PLAIN_SAFE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./*:@+=-]*$")
_PUNCTUATION = re.compile(r"[*:@+=]")
_YAML11_WORDS = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"))


def quote(text):
    """``text`` as a double-quoted scalar with escapes YAML 1.1 and 1.2 readers both decode to ``text``."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append("\\x%02x" % code)
        elif code in (0xFEFF, 0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append("\\u%04x" % code)
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def string(text, plain_punctuation=True):
    """A string scalar: plain when every reader takes it for this string, else quoted. Without
    ``plain_punctuation`` a string holding any of ``*:@+=`` is quoted too (a layout choice, not a need)."""
    if (_PLAIN_SAFE.match(text) and (plain_punctuation or not _PUNCTUATION.search(text)) and not text.endswith(":") and text.lower() not in _YAML11_WORDS
            and go_resolve_plain(text)[0] == "str"):
        return text
    return quote(text)


def scalar(value, plain_punctuation=True):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    return string(str(value), plain_punctuation)


# Manifest layout: plain scalars as kubeadm writes them (flags, addresses, checksums), when every reader takes them
# for this string; the number patterns below keep anything YAML 1.1 or 1.2 might read as a number quoted.
_MANIFEST_PLAIN = re.compile(r"^(?:[0-9A-Za-z_/.]|-[A-Za-z0-9-])[A-Za-z0-9_./:=,@+*%~-]*$")
_YAML12_NUMBER = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0x[0-9a-fA-F]+$|^0o[0-7]+$")
_YAML11_NUMBER = re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?$|^[-+]?0b[01_]+$|^[-+]?0x[0-9a-fA-F_]+$|"
                            r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$|^\d{4}-\d{1,2}-\d{1,2}")
_BLOCK_UNSAFE = re.compile(u"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _manifest_plain(text):
    """Whether ``text`` may stay plain in the manifest layout: YAML 1.1, YAML 1.2 and go-yaml v2 all read it
    as this string (``--etcd-servers=https://127.0.0.1:2379``, ``10.128.0.11:6443``, a checksum)."""
    return bool(_MANIFEST_PLAIN.match(text) and not text.endswith(":") and text.lower() not in _YAML11_WORDS
                and not _YAML12_NUMBER.match(text) and not _YAML11_NUMBER.match(text)
                and go_resolve_plain(text)[0] == "str")


def _literal(text, pad):
    """``text`` as a literal block scalar (``|``, ``|-`` or ``|+``) whose lines are indented by ``pad``; None when
    a block cannot hold it exactly (leading blank, control characters)."""
    if "\n" not in text or text[0] in " \t\n" or _BLOCK_UNSAFE.search(text) or "\r" in text:
        return None
    if text.endswith("\n\n"):
        indicator, lines = "|+", text.split("\n")[:-1]
    elif text.endswith("\n"):
        indicator, lines = "|", text[:-1].split("\n")
    else:
        indicator, lines = "|-", text.split("\n")
    return [indicator] + [pad + line if line else "" for line in lines]


def _inline(value, style):
    plain_punctuation = style[1]
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if len(style) > 2 and style[2] and isinstance(value, str) and _manifest_plain(value):
        return value
    return scalar(value, plain_punctuation)


def _scalar_lines(prefix, value, pad, style):
    """``prefix`` followed by the scalar ``value``: one line, or a literal block indented by ``pad``."""
    if len(style) > 3 and style[3] and isinstance(value, str):
        block = _literal(value, pad)
        if block:
            return ["%s %s" % (prefix, block[0])] + block[1:]
    return ["%s %s" % (prefix, _inline(value, style))]


def _lines(value, indent, style):
    indent_sequences, plain_punctuation = style[0], style[1]
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            label = "%s%s:" % (pad, string(str(key), plain_punctuation))
            if isinstance(item, dict) and item:
                lines.append(label)
                lines.extend(_lines(item, indent + 1, style))
            elif isinstance(item, list) and item:
                lines.append(label)
                lines.extend(_lines(item, indent + 1 if indent_sequences else indent, style))
            else:
                lines.extend(_scalar_lines(label, item, pad + "  ", style))
        return lines
    for item in value:
        if isinstance(item, (dict, list)) and item:
            sub = _lines(item, indent + 1, style)
            lines.append("%s- %s" % (pad, sub[0].lstrip()))
            lines.extend(sub[1:])
        else:
            lines.extend(_scalar_lines("%s-" % pad, item, pad + "  ", style))
    return lines


def dump(value, indent_sequences=False, explicit_start=False, plain_punctuation=True, manifest=False):
    """Deterministic block YAML for ``value`` (dicts keep insertion order), ending in a newline. ``manifest``
    keeps the look of kubeadm-written files: flags, addresses and checksums that every reader takes as strings
    stay plain, and multi-line strings are literal blocks."""
    text = "\n".join(_lines(value, 0, (indent_sequences, plain_punctuation, manifest, manifest))) + "\n"
    return "---\n" + text if explicit_start else text


# --- reader with go-yaml v2's typing (static pod manifests, kubeadm's ClusterConfiguration) -------------------

class GoYamlError(ValueError):
    """Text sigs.k8s.io/yaml would refuse, or that this reader will not guess about (duplicate keys)."""


_PLAIN = "!auditops/plain"
_QUOTED = "!auditops/quoted"
_STD = "tag:yaml.org,2002:"

if HAS_YAML:
    class _PlainResolver(yaml.resolver.BaseResolver):
        """Leave scalars untyped: plain ones are typed by go_resolve_plain, quoted and block ones are strings."""

        def resolve(self, kind, value, implicit):
            if kind is yaml.ScalarNode:
                return _PLAIN if implicit[0] else _QUOTED
            return yaml.resolver.BaseResolver.resolve(self, kind, value, implicit)

    class _PlainComposer(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                         _PlainResolver):
        def __init__(self, stream):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _PlainResolver.__init__(self)


def _go_scalar(node):
    tag, text = node.tag, node.value
    if tag == _PLAIN:
        kind, value = go_resolve_plain(text)
        return "<<" if kind == "merge" else value
    if tag in (_QUOTED, _STD + "str", "!"):
        return text
    if tag in (_STD + "int", _STD + "float", _STD + "bool", _STD + "null"):
        kind, value = go_resolve_plain(text) if text else ("null", None)
        short = tag[len(_STD):]
        if kind == short or (short == "float" and kind == "int"):
            return float(value) if short == "float" else value
        raise GoYamlError("line %d: cannot decode !!%s `%s` as a !!%s" % (node.start_mark.line + 1, kind, text, short))
    if tag == _STD + "timestamp":
        return text
    raise GoYamlError("line %d: the tag %s is not read the same by every YAML reader" % (node.start_mark.line + 1, tag))


def go_json_key(key):
    """How sigs.k8s.io/yaml turns a decoded YAML map key into a JSON object key (``.nan``, ``.inf``, ``-.inf``
    for those floats); None for a key it refuses (null, a mapping or a sequence)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if math.isnan(key):
            return ".nan"
        if math.isinf(key):
            return ".inf" if key > 0 else "-.inf"
        return "%g" % key
    return None


def _json_key(key, line):
    # A static pod has no field named .nan or .inf: such a key is refused here rather than passed on.
    text = go_json_key(key)
    if text is None or (isinstance(key, float) and (math.isnan(key) or math.isinf(key))):
        raise GoYamlError("line %d: unsupported map key %r" % (line, key))
    return text


def _go_value(node, stack=()):
    if isinstance(node, yaml.ScalarNode):
        value = _go_scalar(node)
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise GoYamlError("line %d: %s cannot be converted to JSON" % (node.start_mark.line + 1, node.value))
        return value
    if id(node) in stack:
        raise GoYamlError("line %d: anchor value contains itself" % (node.start_mark.line + 1))
    stack = stack + (id(node),)
    if isinstance(node, yaml.SequenceNode):
        return [_go_value(child, stack) for child in node.value]
    result = {}
    merged = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise GoYamlError("line %d: invalid map key" % (key_node.start_mark.line + 1))
        key = _go_scalar(key_node)
        if key == "<<" and key_node.tag in (_PLAIN, _STD + "merge"):
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):
                value = _go_value(source, stack)
                if not isinstance(value, dict):
                    raise GoYamlError("line %d: map merge requires a map or a list of maps"
                                      % (value_node.start_mark.line + 1))
                merged.update(value)
            continue
        text = _json_key(key, key_node.start_mark.line + 1)
        if text in result:
            # Readers disagree on which one counts (last wins here, strict decoders refuse): no guess.
            raise GoYamlError("line %d: duplicate key %s" % (key_node.start_mark.line + 1, text))
        result[text] = _go_value(value_node, stack)
    for key, value in merged.items():
        result.setdefault(key, value)
    return result


def go_load_all(text):
    """Every document of ``text`` as sigs.k8s.io/yaml (go-yaml v2, then JSON) reads it: plain scalars typed by
    go_resolve_plain (``10:30`` and ``2025-03-01T10:15:00Z`` stay strings, ``0o17`` is 15, ``=`` is a string),
    quoted and block scalars as strings, map keys as JSON object keys. Raises GoYamlError (or ImportError
    without PyYAML)."""
    if not HAS_YAML:
        raise ImportError("PyYAML is required to read YAML text: %s" % YAML_IMPORT_ERROR)
    composer = _PlainComposer(text)
    docs = []
    try:
        while composer.check_node():
            docs.append(_go_value(composer.get_node()))
    except yaml.YAMLError as exc:
        raise GoYamlError(" ".join(str(exc).split()))
    finally:
        composer.dispose()
    return docs
