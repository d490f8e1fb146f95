# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One OpenAPI v3 schema trimmer and validator: the subset Kubernetes CRDs and Deckhouse module settings
use, with the CRD specifics (int-or-string, unknown-field pruning, the CEL rules this code can read).

Used by the log-shipper engine (CRD schemas), the control-plane-manager settings engine (ModuleConfig
settings schema) and both schema generators in tools/. Pure Python, no Ansible, no PyYAML.

Public API::

    trim(schema)            -> dict   a copy with only the keys validation needs
    trim_crd(crd)           -> dict   a CustomResourceDefinition reduced to names, versions and trimmed schemas
    validate(instance, schema, path="", unknown=UNKNOWN_PRUNED, defaults=True) -> ["path: message", ...]
    is_integer(value)       -> bool   whether kube-apiserver takes ``value`` for ``type: integer``
    unchecked_rules(schema) -> [str]  CEL rules this validator cannot evaluate

Whether ``3.0`` is an integer is decided once, here, as kube-apiserver decides it: a custom resource body is
decoded with numbers that parse as int64 kept as integers and the rest as float64
(k8s.io/apimachinery pkg/util/json), and kube-openapi's type validator
(k8s.io/kube-openapi pkg/validation/validate/type.go, ``isFloatInt``) accepts a float64 for ``type: integer``
when go-openapi/swag ``IsFloat64AJSONInteger`` holds: finite, within +-(2**53 - 1), and whole. So ``3.0`` is
an integer, ``3.5`` and ``1e300`` are not. (swag also accepts a float within a relative 1e-9 of a whole
number; values that close are not claimed here and are refused, the safe side.)
"""

from __future__ import annotations

import copy
import json
import math
import re

# --- trimming ---------------------------------------------------------------------------------------

# Keys of JSONSchemaProps that decide validity; descriptions, doc examples and x-doc-* are dropped.
KEEP_SCALARS = frozenset([
    "type", "enum", "pattern", "required", "minItems", "maxItems", "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minProperties", "maxProperties",
    "format", "default", "nullable", "uniqueItems", "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-embedded-resource",
])
_MAP_KEYS = ("properties", "patternProperties")
_LIST_KEYS = ("oneOf", "anyOf", "allOf")
_NODE_KEYS = ("items", "not", "additionalProperties")
_CEL_KEYS = ("rule", "message", "messageExpression", "fieldPath", "reason")


def trim(schema):
    """Copy of an OpenAPI v3 schema node with only the validation-relevant keys."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in KEEP_SCALARS:
            out[key] = copy.deepcopy(value)
        elif key in _MAP_KEYS:
            out[key] = dict((name, trim(sub)) for name, sub in value.items())
        elif key in _LIST_KEYS:
            out[key] = [trim(sub) for sub in value]
        elif key in _NODE_KEYS:
            out[key] = trim(value)
        elif key == "x-kubernetes-validations":
            out[key] = [dict((k, r[k]) for k in _CEL_KEYS if k in r) for r in value]
    return out


def trim_crd(crd):
    """Reduce a CustomResourceDefinition to what validation needs (names, versions, trimmed schemas)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = []
    for version in spec.get("versions") or []:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        versions.append({
            "name": version.get("name"),
            "served": bool(version.get("served")),
            "storage": bool(version.get("storage")),
            "schema": {"openAPIV3Schema": trim(schema) if schema is not None else None},
        })
    return {
        "apiVersion": crd.get("apiVersion", "apiextensions.k8s.io/v1"),
        "kind": "CustomResourceDefinition",
        "metadata": {"name": (crd.get("metadata") or {}).get("name")},
        "spec": {
            "group": spec.get("group"),
            "names": {"kind": names.get("kind"), "plural": names.get("plural")},
            "scope": spec.get("scope"),
            "versions": versions,
        },
    }


# --- values -----------------------------------------------------------------------------------------

# go-openapi/swag: same as ECMA Number.MAX_SAFE_INTEGER / MIN_SAFE_INTEGER.
MAX_JSON_FLOAT = float(2 ** 53 - 1)


def is_integer(value):
    """True when kube-apiserver's schema validation takes ``value`` for ``type: integer`` (see the module doc)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= MAX_JSON_FLOAT and value.is_integer()
    return False


def type_ok(value, expected):
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return is_integer(value)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def type_name(value):
    """The JSON type of ``value`` as validation messages name it (``3.0`` is a number that passes as integer)."""
    for name, kind in (("boolean", bool), ("object", dict), ("array", list), ("string", str), ("integer", int),
                       ("number", float)):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def show(value):
    """A value as messages quote it (JSON)."""
    return json.dumps(value, sort_keys=True)


def same(one, other):
    """Enum membership: ``true`` and ``1`` are different values in the API (they are equal in Python)."""
    if isinstance(one, (dict, list)):
        return one == other
    return type(one) is type(other) and one == other


# --- CEL rules this validator can read --------------------------------------------------------------

# CEL: !(['a', 'b'].exists(k, k in self)) -- "none of these keys may be set".
_CEL_FORBIDDEN_KEYS = re.compile(
    r"^\s*!\s*\(\s*\[(?P<list>[^\]]*)\]\s*\.\s*exists\s*\(\s*(?P<v>\w+)\s*,\s*(?P=v)\s+in\s+self\s*\)\s*\)\s*$")
_CEL_STRING = re.compile(r"'([^'\\]*)'|\"([^\"\\]*)\"")


def cel_forbidden_keys(rule):
    """Keys a CEL rule of the form ``!([...].exists(k, k in self))`` forbids, else None."""
    match = _CEL_FORBIDDEN_KEYS.match(rule or "")
    if not match:
        return None
    return [a or b for a, b in _CEL_STRING.findall(match.group("list"))]


def unchecked_rules(schema, path=""):
    """CEL rules in ``schema`` that this validator cannot evaluate."""
    found = []
    if not isinstance(schema, dict):
        return found
    for rule in schema.get("x-kubernetes-validations") or []:
        if cel_forbidden_keys(rule.get("rule")) is None:
            found.append("%s: %s" % (path or "<root>", rule.get("rule")))
    for name, sub in (schema.get("properties") or {}).items():
        found.extend(unchecked_rules(sub, _join(path, name)))
    if isinstance(schema.get("items"), dict):
        found.extend(unchecked_rules(schema["items"], path + "[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        found.extend(unchecked_rules(schema["additionalProperties"], path + "[*]"))
    return found


# --- validation -------------------------------------------------------------------------------------

# What an unknown field is, by who reads the object: kube-apiserver prunes fields a structural CRD schema
# does not define (silently); Deckhouse's settings webhook refuses them (it sets additionalProperties: false
# wherever a module schema leaves it out).
UNKNOWN_PRUNED = "Unknown field: not in the CRD schema (the API server would drop it silently)"

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _join(path, key):
    return key if not path else "%s.%s" % (path, key)


def _key(path, key):
    # Map keys use [key] like the API server's field paths, so dotted keys stay readable.
    return "%s[%s]" % (path, key)


def _field(path, name):
    return _join(path, name) if _PLAIN_KEY.match(name) else _key(path, name)


class _Run(object):
    """One validation: options and the (path, message, enum_matched) triples found."""

    def __init__(self, unknown, defaults):
        self.unknown = unknown
        self.defaults = defaults


_GO_PATTERNS = {}


def go_pattern(pattern):
    """``pattern`` compiled to match as Go's regexp (the apiserver's) does: ``$`` outside a character class is the end
    of the text only; in Python it also matches before a final newline, so "/var/log/x\\n" passed '^...[a-z]$'."""
    compiled = _GO_PATTERNS.get(pattern)
    if compiled is None:
        out, index, in_class = [], 0, False
        while index < len(pattern):
            char = pattern[index]
            if char == "\\":
                out.append(pattern[index:index + 2])
                index += 2
                continue
            if in_class:
                in_class = char != "]" or out[-1] in ("[", "[^")
            elif char == "[":
                in_class = True
                if pattern[index + 1:index + 2] == "^":
                    char, index = "[^", index + 1
            elif char == "$":
                char = r"\Z"
            out.append(char)
            index += 1
        compiled = _GO_PATTERNS[pattern] = re.compile("".join(out))
    return compiled


def _validate(run, value, schema, path, errors, structural):
    if not isinstance(schema, dict) or not schema:
        return
    if value is None:
        if not schema.get("nullable"):
            errors.append((path, "Invalid value: null: must not be null", False))
        return

    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or is_integer(value)):
            errors.append((path, "Invalid value: %s: must be an integer or a string" % type_name(value), False))
            return
    elif expected and not type_ok(value, expected):
        errors.append((path, "Invalid value: %s: must be of type %s" % (type_name(value), expected), False))
        return

    if "enum" in schema and not any(same(value, item) for item in schema["enum"]):
        errors.append((path, "Unsupported value: %s: supported values: %s"
                       % (show(value), ", ".join(show(item) for item in schema["enum"])), True))

    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern is not None and not go_pattern(pattern).search(value):
            errors.append((path, "Invalid value: %s: must match '%s'" % (show(value), pattern), False))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, "Invalid value: %s: must be at least %d characters long"
                           % (show(value), schema["minLength"]), False))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, "Too long: must have at most %d characters" % schema["maxLength"], False))

    if type_ok(value, "number"):
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") and value == low):
                errors.append((path, "Invalid value: %s: must be greater than%s %s"
                               % (value, "" if schema.get("exclusiveMinimum") else " or equal to", low), False))
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") and value == high):
                errors.append((path, "Invalid value: %s: must be less than%s %s"
                               % (value, "" if schema.get("exclusiveMaximum") else " or equal to", high), False))

    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append((path, "Invalid value: %d items: must have at least %d items"
                           % (len(value), schema["minItems"]), False))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append((path, "Too many: %d: must have at most %d items" % (len(value), schema["maxItems"]), False))
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                _validate(run, item, schema["items"], "%s[%d]" % (path, index), errors, structural)

    if isinstance(value, dict):
        if structural and run.defaults:
            # The API server applies structural defaults before it validates (a oneOf that
            # "requires" a defaulted field passes), so do the same.
            missing = [name for name, sub in (schema.get("properties") or {}).items()
                       if name not in value and isinstance(sub, dict) and "default" in sub]
            if missing:
                value = dict(value)
                for name in missing:
                    value[name] = copy.deepcopy(schema["properties"][name]["default"])
        _validate_object(run, value, schema, path, errors, structural)

    for rule in schema.get("x-kubernetes-validations") or []:
        forbidden = cel_forbidden_keys(rule.get("rule"))
        if forbidden is not None and isinstance(value, dict):
            used = [key for key in forbidden if key in value]
            if used:
                message = rule.get("message") or rule.get("rule")
                errors.append((path, "Invalid value: %s (%s)" % (message, ", ".join(used)), False))

    _validate_junctors(run, value, schema, path, errors)


def _validate_object(run, value, schema, path, errors, structural):
    for name in schema.get("required") or []:
        if name not in value:
            errors.append((_join(path, name), "Required value", False))
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for name in sorted(value):
        if name in properties:
            _validate(run, value[name], properties[name], _join(path, name), errors, structural)
        elif isinstance(extra, dict):
            _validate(run, value[name], extra, _key(path, name), errors, structural)
        elif extra is False:
            errors.append((_join(path, name), "Forbidden: additional properties are not allowed", False))
        elif structural and not schema.get("x-kubernetes-preserve-unknown-fields") and extra is not True:
            # Only the structural (outer) schema decides pruning; junctor branches do not.
            errors.append((_field(path, name), run.unknown, False))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append((path, "Invalid value: must have at least %d properties" % schema["minProperties"], False))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append((path, "Too many: must have at most %d properties" % schema["maxProperties"], False))


def _closest(branch_errors):
    # The alternative that failed least, preferring ones whose discriminator (an enum) matched.
    return min(branch_errors, key=lambda errs: (sum(1 for e in errs if e[2]), len(errs)))


def _detail(errs):
    return "; ".join("%s: %s" % (p or "<root>", m) for p, m, _enum in errs)


def _branches(run, value, schemas, path):
    results = []
    for sub in schemas:
        errs = []
        _validate(run, value, sub, path, errs, False)
        results.append(errs)
    return results


def _validate_junctors(run, value, schema, path, errors):
    for sub in schema.get("allOf") or []:
        _validate(run, value, sub, path, errors, False)

    if schema.get("anyOf"):
        results = _branches(run, value, schema["anyOf"], path)
        if all(results):
            errors.append((path, "Invalid value: must validate at least one schema (anyOf); closest: %s"
                           % _detail(_closest(results)), False))

    if schema.get("oneOf"):
        results = _branches(run, value, schema["oneOf"], path)
        passed = sum(1 for errs in results if not errs)
        if passed == 0:
            errors.append((path, "Invalid value: must validate one and only one schema (oneOf); closest: %s"
                           % _detail(_closest(results)), False))
        elif passed > 1:
            errors.append((path, "Invalid value: must validate one and only one schema (oneOf); %d match" % passed,
                           False))

    if isinstance(schema.get("not"), dict):
        errs = []
        _validate(run, value, schema["not"], path, errs, False)
        if not errs:
            banned = schema["not"].get("required")
            if banned and len(schema["not"]) == 1:
                errors.append((path, "Forbidden: %s must not be set together" % " and ".join(banned), False))
            else:
                errors.append((path, "Invalid value: must not validate the schema (not)", False))


def validate(instance, schema, path="", unknown=UNKNOWN_PRUNED, defaults=True):
    """Validate ``instance`` against a (trimmed or full) OpenAPI v3 schema.

    Returns ``'field.path: message'`` strings; empty means valid. A field the schema does not define is an
    error worded by ``unknown`` (default: what kube-apiserver's pruning means). ``defaults`` applies the
    schema's defaults before validating, as kube-apiserver does for custom resources. At the top of an
    object (``path`` empty) apiVersion, kind, metadata and status are left out: every CRD schema implies them.
    """
    errors = []
    run = _Run(unknown, defaults)
    if path == "" and isinstance(instance, dict) and isinstance(schema, dict):
        body = dict((k, v) for k, v in instance.items() if k not in ("apiVersion", "kind", "metadata", "status"))
        _validate(run, body, schema, path, errors, True)
    else:
        _validate(run, instance, schema, path, errors, True)
    return ["%s: %s" % (p or "<root>", m) for p, m, _enum in errors]
