# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, decoding: decode a policy the way kube-apiserver reads --audit-policy-file
(sigs.k8s.io/yaml, strict then lenient JSON decoding), validate it (ValidatePolicy), and write
the canonical form. Reference: k8s.io/apiserver pkg/audit/policy/reader.go,
pkg/apis/audit/validation, k8s.io/apimachinery runtime/serializer/json.
"""

from __future__ import annotations

import base64
import copy
import datetime
import difflib
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import dump as yaml_dump, INT64_MAX, INT64_MIN
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import (  # noqa: F401
    aggregate_message, API_GROUP, API_VERSION, DEFAULT_KUBERNETES_VERSION, _DNS1123_MESSAGE, _DNS1123_SUBDOMAIN,
    FieldError, finding, go_quote, GROUP_WILDCARD_SINCE, INTERNAL_VERSION, LEVELS, parse_version, PolicyError,
    STAGES, STRICT_DECODING_SINCE, _version_text)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_read import (  # noqa: F401
    _check_json_values, _compose_first_document, _Fatal, _is_json_text, _JsonFloat, _key_text, _plain_data,
    _read_json, _YamlReader)


def _dns1123_subdomain_errors(value):
    errors = []
    if len(value.encode("utf-8")) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.match(value):
        errors.append(_DNS1123_MESSAGE)
    return errors


def _validate_omit_stages(stages, path):
    errors = []
    for index, stage in enumerate(stages or ()):
        if stage not in STAGES:
            errors.append(FieldError("%s[%d]" % (path, index), FieldError.INVALID, stage,
                                     "allowed stages are " + ",".join(STAGES)))
    return errors


def _validate_rule(rule, path, version):
    errors = []
    level = rule.get("level", "")
    if level == "":
        errors.append(FieldError(path + ".level", FieldError.REQUIRED))
    elif level not in LEVELS:
        errors.append(FieldError(path + ".level", FieldError.NOT_SUPPORTED, level,
                                 "supported values: " + ", ".join(go_quote(item) for item in LEVELS)))
    for index, url in enumerate(rule.get("nonResourceURLs") or ()):
        if url == "*":
            continue
        url_path = "%s.nonResourceURLs[%d]" % (path, index)
        if not url.startswith("/"):
            errors.append(FieldError(url_path, FieldError.INVALID, url,
                                     "non-resource URL rules must begin with a '/' character"))
        if url != "" and "*" in url[:-1]:
            errors.append(FieldError(url_path, FieldError.INVALID, url,
                                     "non-resource URL wildcards '*' must be the final character of the rule"))
    for group_resources in rule.get("resources") or ():
        group = group_resources.get("group", "")
        # The path has no index: the apiserver reports rules[i].resources.group.
        if group and not (group == "*" and version >= GROUP_WILDCARD_SINCE):
            messages = _dns1123_subdomain_errors(group)
            if messages:
                errors.append(FieldError(path + ".resources.group", FieldError.INVALID, group, ",".join(messages)))
        if group_resources.get("resourceNames") and not group_resources.get("resources"):
            errors.append(FieldError(path + ".resources.resourceNames", FieldError.INVALID,
                                     list(group_resources["resourceNames"]),
                                     "using resourceNames requires at least one resource"))
    errors.extend(_validate_omit_stages(rule.get("omitStages"), path + ".omitStages"))
    if rule.get("nonResourceURLs") and (rule.get("resources") or rule.get("namespaces")):
        errors.append(FieldError(path + ".nonResourceURLs", FieldError.INVALID, list(rule["nonResourceURLs"]),
                                 "rules cannot apply to both regular resources and non-resource URLs"))
    return errors


def validate(policy, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
    """ValidatePolicy for ``kubernetes_version``: a list of FieldError, empty when valid.

    ``policy`` is a decoded policy (``LoadResult.policy``) or a plain dict; a dict whose field types
    the apiserver could not decode yields a single error for that field. Like upstream, a policy
    without rules passes here (the reader refuses it afterwards, see load_policy)."""
    version = parse_version(kubernetes_version)
    try:
        policy = _decode_data(policy)
    except _Fatal as exc:
        return [FieldError(exc.path or "policy", FieldError.INVALID, "", exc.message)]
    errors = _validate_omit_stages(policy.get("omitStages"), "omitStages")
    for index, rule in enumerate(policy.get("rules") or ()):
        errors.extend(_validate_rule(rule, "rules[%d]" % index, version))
    return errors


# --- typed decoding into audit.k8s.io/v1 Policy ------------------------------------------------
# Schemas: ("string"|"bool"|"int64"|"time"|"raw", gotype), ("list", elem, gotype),
# ("map", elem, gotype), ("struct", gotype, [(field, schema), ...]).

_S = ("string", "string")
_LEVEL = ("string", "v1.Level")
_STAGE = ("string", "v1.Stage")
_TIME = ("time", "v1.Time")
_STRINGS = ("list", _S, "[]string")
_STAGES = ("list", _STAGE, "[]v1.Stage")
_LABELS = ("map", _S, "map[string]string")
_OWNER_REFERENCE = ("struct", "v1.OwnerReference", [
    ("apiVersion", _S), ("kind", _S), ("name", _S), ("uid", ("string", "types.UID")),
    ("controller", ("bool", "bool")), ("blockOwnerDeletion", ("bool", "bool"))])
_MANAGED_FIELDS_ENTRY = ("struct", "v1.ManagedFieldsEntry", [
    ("manager", _S), ("operation", ("string", "v1.ManagedFieldsOperationType")), ("apiVersion", _S),
    ("time", _TIME), ("fieldsType", _S), ("fieldsV1", ("raw", "v1.FieldsV1")), ("subresource", _S)])
_OBJECT_META = ("struct", "v1.ObjectMeta", [
    ("name", _S), ("generateName", _S), ("namespace", _S), ("selfLink", _S), ("uid", ("string", "types.UID")),
    ("resourceVersion", _S), ("generation", ("int64", "int64")), ("creationTimestamp", _TIME),
    ("deletionTimestamp", _TIME), ("deletionGracePeriodSeconds", ("int64", "int64")), ("labels", _LABELS),
    ("annotations", _LABELS), ("ownerReferences", ("list", _OWNER_REFERENCE, "[]v1.OwnerReference")),
    ("finalizers", _STRINGS), ("managedFields", ("list", _MANAGED_FIELDS_ENTRY, "[]v1.ManagedFieldsEntry"))])
_GROUP_RESOURCES = ("struct", "v1.GroupResources", [
    ("group", _S), ("resources", _STRINGS), ("resourceNames", _STRINGS)])
_POLICY_RULE = ("struct", "v1.PolicyRule", [
    ("level", _LEVEL), ("users", _STRINGS), ("userGroups", _STRINGS), ("verbs", _STRINGS),
    ("resources", ("list", _GROUP_RESOURCES, "[]v1.GroupResources")), ("namespaces", _STRINGS),
    ("nonResourceURLs", _STRINGS), ("omitStages", _STAGES), ("omitManagedFields", ("bool", "bool"))])
_POLICY = ("struct", "v1.Policy", [
    ("apiVersion", _S), ("kind", _S), ("metadata", _OBJECT_META),
    ("rules", ("list", _POLICY_RULE, "[]v1.PolicyRule")), ("omitStages", _STAGES),
    ("omitManagedFields", ("bool", "bool"))])

RULE_FIELDS = tuple(name for name, _schema in _POLICY_RULE[2])
POLICY_FIELDS = tuple(name for name, _schema in _POLICY[2])
GROUP_RESOURCES_FIELDS = tuple(name for name, _schema in _GROUP_RESOURCES[2])
_ALL_FIELD_NAMES = frozenset(RULE_FIELDS + POLICY_FIELDS + GROUP_RESOURCES_FIELDS)

_ABSENT = object()
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _json_kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _fold(name):
    # encoding/json matches keys case-insensitively with Unicode simple folding (ſ = s, K = k).
    return name.lower().replace("\u017f", "s")


class _Decoder(object):
    """encoding/json into the typed structs, either as the apiserver does (case-sensitive field names,
    unknown fields recorded as strict errors) or as Deckhouse's hook does (case-insensitive,
    unknown fields fatal)."""

    def __init__(self, case_sensitive=True, unknown_fatal=False):
        self.case_sensitive = case_sensitive
        self.unknown_fatal = unknown_fatal
        self.unknown = []  # strict error paths

    def _type_error(self, value, gotype, struct, field_chain, path):
        if struct:
            where = "Go struct field %s.%s" % (struct, ".".join(field_chain))
        else:
            where = "Go value"
        raise _Fatal("json: cannot unmarshal %s into %s of type %s" % (_json_kind(value), where, gotype), path)

    def decode(self, value, schema, path, struct="", chain=()):
        if value is None:
            return _ABSENT
        kind = schema[0]
        if kind == "string":
            if not isinstance(value, str):
                self._type_error(value, schema[1], struct, chain, path)
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                self._type_error(value, schema[1], struct, chain, path)
            return value
        if kind == "int64":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._type_error(value, schema[1], struct, chain, path)
            if isinstance(value, _JsonFloat) or (isinstance(value, float) and (
                    value != int(value) or abs(value) >= 1e21)):
                raise _Fatal("json: cannot unmarshal number %s into Go struct field %s.%s of type int64"
                             % (value, struct, ".".join(chain)), path)
            value = int(value)
            if not INT64_MIN <= value <= INT64_MAX:
                raise _Fatal("json: cannot unmarshal number %s into Go struct field %s.%s of type int64"
                             % (value, struct, ".".join(chain)), path)
            return value
        if kind == "time":
            if not isinstance(value, str):
                raise _Fatal("json: cannot unmarshal %s into Go value of type string" % _json_kind(value), path)
            match = _RFC3339.match(value)
            valid = False
            if match:
                try:
                    datetime.datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)),
                                      int(match.group(4)), int(match.group(5)), int(match.group(6)))
                    valid = True
                except ValueError:
                    valid = False
            if not valid:
                raise _Fatal('parsing time %s as "2006-01-02T15:04:05Z07:00": cannot parse %s'
                             % (go_quote(value), go_quote(value)), path)
            return value
        if kind == "raw":
            return value
        if kind == "list":
            if not isinstance(value, list):
                self._type_error(value, schema[2], struct, chain, path)
            result = []
            for index, item in enumerate(value):
                decoded = self.decode(item, schema[1], "%s[%d]" % (path, index), struct, chain)
                if decoded is _ABSENT:  # null element: the element's zero value
                    decoded = {} if schema[1][0] == "struct" else ("" if schema[1][0] == "string" else False)
                result.append(decoded)
            return result
        if kind == "map":
            if not isinstance(value, dict):
                self._type_error(value, schema[2], struct, chain, path)
            result = {}
            for key, item in value.items():
                decoded = self.decode(item, schema[1], "%s.%s" % (path, key), struct, chain)
                result[key] = "" if decoded is _ABSENT else decoded
            return result
        if kind == "struct":
            if not isinstance(value, dict):
                self._type_error(value, schema[1], struct, chain, path)
            fields = schema[2]
            exact = dict(fields)
            folded = dict((_fold(name), name) for name, _sub in fields)
            result = {}
            for key, item in value.items():
                name = key if key in exact else None
                if name is None and not self.case_sensitive:
                    name = folded.get(_fold(key))
                child_path = "%s.%s" % (path, key) if path else key
                if name is None:
                    if self.unknown_fatal:
                        raise _Fatal('json: unknown field %s' % go_quote(key), child_path)
                    self.unknown.append(child_path)
                    continue
                decoded = self.decode(item, exact[name], child_path, schema[1].split(".")[-1],
                                      chain + (name,))
                if decoded is _ABSENT:
                    result.pop(name, None)
                else:
                    result[name] = decoded
            # Field order of the Go struct, empty values dropped (omitempty), so equal policies compare equal.
            ordered = {}
            for name, _sub in fields:
                if name in result and result[name] not in ([], "", {}):
                    ordered[name] = result[name]
            return ordered
        raise ValueError("unknown schema %r" % (schema,))


def _decode_data(policy):
    """A plain dict (or an already decoded policy) -> decoded policy; _Fatal on type mismatches."""
    if policy is None:
        return {}
    if not isinstance(policy, dict):
        raise _Fatal("json: cannot unmarshal %s into Go value of type v1.Policy" % _json_kind(policy), "policy")
    return _Decoder().decode(_plain_data(policy), _POLICY, "")


# --- the loader -----------------------------------------------------------------------------

class LoadResult(object):
    """What kube-apiserver makes of a policy file.

    ``accepted``: it would start. ``error``: the message it would exit with (LoadPolicyFromBytes's
    error, without the "loading audit policy file:" prefix and file name). ``stage``: syntax, decode,
    version, validation or rules. ``policy``: the decoded policy (unknown fields dropped), None when
    decoding failed. ``strict_errors``: what its strict decoder complained about before it fell back
    to lenient decoding. ``field_errors``: FieldError list when validation failed."""

    def __init__(self):
        self.format = None
        self.accepted = False
        self.error = None
        self.error_path = None
        self.stage = None
        self.policy = None
        self.strict_errors = []
        self.lenient = False
        self.field_errors = []
        self.more_documents = False
        self.api_version = None
        self.kind = None
        self.kubernetes_version = None

    def strict_error_text(self):
        """The strict decoding error as the apiserver's warning prints it."""
        parts = []
        for item in self.strict_errors:
            if item["code"] == "duplicate-key":
                if self.format == "json":
                    parts.append("duplicate field %s" % go_quote(item["path"]))
                else:
                    parts.append('yaml: unmarshal errors:\n  line %s: key %s already set in map'
                                 % (item.get("line"), item.get("go_key", go_quote(item["key"]))))
            else:
                parts.append("unknown field %s" % go_quote(item["path"]))
        return "strict decoding error: " + ", ".join(parts) if parts else ""

    def as_dict(self):
        return {"format": self.format, "accepted": self.accepted, "error": self.error, "error_path": self.error_path,
                "stage": self.stage, "lenient": self.lenient, "strict_errors": copy.deepcopy(self.strict_errors),
                "policy": copy.deepcopy(self.policy)}


def _go_key(key):
    """%#v of a YAML map key as go-yaml prints it in "key ... already set in map"."""
    if isinstance(key, str):
        return go_quote(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "<nil>"
    if isinstance(key, float):
        return repr(key)
    return str(key)


def _parse_group_version(api_version):
    if api_version in ("", "/"):
        return "", ""
    slashes = api_version.count("/")
    if slashes == 0:
        return "", api_version
    if slashes == 1:
        group, version = api_version.split("/")
        return group, version
    raise _Fatal("unexpected GroupVersion string: %s" % api_version, "apiVersion", stage="version")


def _interpret(data):
    """SimpleMetaFactory.Interpret: apiVersion and kind via encoding/json (case-insensitive keys)."""
    if data is None:
        return "", ""
    if not isinstance(data, dict):
        raise _Fatal("couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go value of type "
                     "struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string "
                     "\"json:\\\"kind,omitempty\\\"\" }" % _json_kind(data), "policy", stage="version")
    found = {"apiversion": "", "kind": ""}
    for key, value in data.items():
        folded = _fold(key)
        if folded in found:
            if value is None:
                continue
            if not isinstance(value, str):
                name = "apiVersion" if folded == "apiversion" else "kind"
                raise _Fatal("couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go struct "
                             "field .%s of type string" % (_json_kind(value), name), key, stage="version")
            found[folded] = value
    return found["apiversion"], found["kind"]


# Kinds the audit scheme knows for audit.k8s.io/v1 besides Policy; they decode but cannot become a Policy.
_OTHER_V1_KINDS = frozenset(("Event", "EventList", "PolicyList", "WatchEvent", "ListOptions", "GetOptions",
                             "DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions"))
_UNVERSIONED_KINDS = frozenset(("Status", "APIVersions", "APIGroupList", "APIGroup", "APIResourceList"))


def _check_kind(api_version, kind):
    """Which Go object the decoder would create: only audit.k8s.io/v1 Policy goes on."""
    group, gv_version = _parse_group_version(api_version)
    if not kind:
        kind = "Policy"
    if not gv_version and (not group or group == API_GROUP):
        group, gv_version = API_GROUP, INTERNAL_VERSION
    gv_text = "%s/%s" % (group, gv_version) if group else gv_version
    if (group, gv_version) == (API_GROUP, INTERNAL_VERSION) and kind == "Policy":
        raise _Fatal("unknown group version field %s, Kind=%s in policy" % (gv_text, kind), "apiVersion",
                     stage="version")
    if (group, gv_version) == (API_GROUP, "v1"):
        if kind == "Policy":
            return
        if kind in _OTHER_V1_KINDS:
            raise _Fatal("converting (v1.%s) to (audit.Policy): unknown conversion" % kind, "kind", stage="version")
    if kind in _UNVERSIONED_KINDS:
        raise _Fatal("converting (v1.%s) to (audit.Policy): unknown conversion" % kind, "kind", stage="version")
    # The apiserver appends ' in scheme "<file:line>"', which depends on how the binary was built.
    raise _Fatal('no kind %s is registered for version %s' % (go_quote(kind), go_quote(gv_text)),
                 "apiVersion" if kind == "Policy" else "kind", stage="version")


def _read_source(source):
    """(format, data, duplicates, more_documents) from text, bytes or a dict."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Fatal("yaml: invalid UTF-8: %s" % exc, stage="syntax")
    if isinstance(source, str):
        if _is_json_text(source):
            data, duplicates = _read_json(source)
            return "json", data, duplicates, False
        node, more = _compose_first_document(source)
        if node is None:
            return "yaml", None, [], more
        reader = _YamlReader()
        data = reader.value(node, "")
        _check_json_values(data)
        return "yaml", data, reader.duplicates, more
    if isinstance(source, dict) or source is None:
        return "data", _plain_data(source) if source is not None else None, [], False
    raise PolicyError("policy", "must be a mapping or YAML/JSON text, not %s" % type(source).__name__)


def load_policy(source, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
    """Read ``source`` (YAML/JSON text, bytes or a dict) as kube-apiserver ``kubernetes_version`` reads
    ``--audit-policy-file`` (pkg/audit/policy/reader.go) and return a LoadResult with its verdict."""
    version = parse_version(kubernetes_version)
    result = LoadResult()
    result.kubernetes_version = _version_text(version)
    try:
        result.format, data, duplicates, result.more_documents = _read_source(source)
        for path, key, line in duplicates:
            key_text = _key_text(key) if not isinstance(key, str) else key
            full = "%s.%s" % (path, key_text) if path else key_text
            result.strict_errors.append({"code": "duplicate-key", "path": full, "key": key_text, "line": line,
                                         "go_key": _go_key(key)})
        api_version, kind = _interpret(data)
        result.api_version, result.kind = api_version, kind
        _check_kind(api_version, kind)
        decoder = _Decoder()
        policy = decoder.decode(data, _POLICY, "")
        for path in decoder.unknown:
            result.strict_errors.append({"code": "unknown-field", "path": path})
        if policy is _ABSENT:
            policy = {}
    except _Fatal as exc:
        result.stage = exc.stage
        result.error = exc.message if exc.stage == "version" and exc.message.startswith("unknown group") \
            else "failed decoding: " + exc.message
        result.error_path = exc.path
        return result
    result.lenient = bool(result.strict_errors) and version >= STRICT_DECODING_SINCE
    result.policy = policy
    result.field_errors = validate(policy, kubernetes_version)
    if result.field_errors:
        result.stage = "validation"
        result.error = aggregate_message(result.field_errors)
        result.error_path = result.field_errors[0].path
        return result
    if not policy.get("rules"):
        result.stage = "rules"
        result.error = "loaded illegal policy with 0 rules"
        result.error_path = "rules"
        return result
    result.accepted = True
    return result


def load_findings(result):
    """Findings for what the loader saw: the refusal, or what the lenient fallback drops."""
    findings = []
    if result.error:
        if result.field_errors:
            for error in result.field_errors:
                findings.append(finding("error", "invalid", error.path, error.message))
        else:
            findings.append(finding("error", {"syntax": "syntax-error", "version": "unsupported-version",
                                              "rules": "no-rules"}.get(result.stage, "decode-error"),
                                    result.error_path or "", result.error))
    quiet = result.kubernetes_version and parse_version(result.kubernetes_version) < STRICT_DECODING_SINCE
    how = "silently drops" if quiet else "drops"
    for item in result.strict_errors:
        if item["code"] == "duplicate-key":
            findings.append(finding("warning", "duplicate-key", item["path"],
                                    "key %s appears more than once%s; kube-apiserver falls back to lenient decoding "
                                    "and keeps only the last value" % (
                                        go_quote(item["key"]), " (line %s)" % item["line"] if item.get("line") else "")))
        else:
            findings.append(finding("warning", "unknown-field", item["path"], _unknown_field_message(item["path"], how)))
    if result.more_documents:
        findings.append(finding("warning", "multi-document", "", "the text holds more than one YAML document; "
                                "kube-apiserver reads only the first"))
    return findings


def _unknown_field_message(path, how):
    key = path.rsplit(".", 1)[-1]
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    message = "unknown field; kube-apiserver %s it (lenient decoding)" % how
    if re.search(r"\.resources\[\d+\]$", parent) and key in RULE_FIELDS:
        rule = parent.rsplit(".resources", 1)[0]
        return ("%s belongs to the rule, not to a resources entry; kube-apiserver %s it, so %s no longer "
                "restricts %s" % (go_quote(key), how, rule, key))
    matches = [name for name in _ALL_FIELD_NAMES if _fold(name) == _fold(key)]
    if not matches:
        matches = difflib.get_close_matches(key, sorted(_ALL_FIELD_NAMES), n=1, cutoff=0.75)
    if matches:
        message += "; field names are case-sensitive, did you mean %s?" % go_quote(matches[0])
    return message


# --- output -----------------------------------------------------------------------------------

def canonical(policy):
    """A decoded policy in a stable layout: apiVersion, kind, metadata, omitStages, omitManagedFields, rules."""
    policy = _decode_data(policy)
    out = {"apiVersion": API_VERSION, "kind": "Policy"}
    for key in ("metadata", "omitStages", "omitManagedFields", "rules"):
        if key in policy:
            out[key] = copy.deepcopy(policy[key])
    return out


def to_yaml(policy):
    """Deterministic YAML for a policy; strings Go's YAML reader would take for another type are quoted."""
    return yaml_dump(canonical(policy))


def to_base64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
