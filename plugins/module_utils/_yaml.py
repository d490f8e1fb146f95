# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one YAML reader/writer. Pure Python; PyYAML only where text is parsed.

Public API::

    safe_load(text)                     -> object  one document, PyYAML's safe loader (tools, fixtures)
    go_resolve_plain(text)              -> (kind, value)  how go-yaml v2 (sigs.k8s.io/yaml) types a plain scalar
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


def _inline(value, plain_punctuation):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value, plain_punctuation)


def _lines(value, indent, style):
    indent_sequences, plain_punctuation = style
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
                lines.append("%s %s" % (label, _inline(item, plain_punctuation)))
        return lines
    for item in value:
        if isinstance(item, (dict, list)) and item:
            sub = _lines(item, indent + 1, style)
            lines.append("%s- %s" % (pad, sub[0].lstrip()))
            lines.extend(sub[1:])
        else:
            lines.append("%s- %s" % (pad, _inline(item, plain_punctuation)))
    return lines


def dump(value, indent_sequences=False, explicit_start=False, plain_punctuation=True):
    """Deterministic block YAML for ``value`` (dicts keep insertion order), ending in a newline."""
    text = "\n".join(_lines(value, 0, (indent_sequences, plain_punctuation))) + "\n"
    return "---\n" + text if explicit_start else text
