# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes audit policy engine: read a policy the way kube-apiserver reads ``--audit-policy-file``,
validate it for a Kubernetes version, evaluate requests with first-match semantics, lint it, and model
how Deckhouse composes the policy it deploys. Pure Python (PyYAML for YAML text only), no Ansible.

Public API::

    load_policy(source, kubernetes_version)      -> LoadResult   (decode like the apiserver, verdict included)
    validate(policy, kubernetes_version)         -> [FieldError] (ValidatePolicy; messages as the apiserver prints)
    evaluate(policy, request, kubernetes_version) -> Decision    (level, omit_stages, ...)
    lint(policy, kubernetes_version, load_result) -> [finding]
    compose(policy, target, basic_policy)         -> Composition (effective policy, shadowed rules)
    deckhouse_parse(source)                       -> HookResult  (Deckhouse's strict Secret parsing)
    preset(name)                                  -> dict
    check(source, ...)                            -> CheckResult (all of the above)
    to_yaml(policy)                               -> str         (deterministic, safe for Go's YAML reader)

Findings are dicts ``{severity, code, path, message}``; severity is ``error`` (kube-apiserver refuses to
start), ``warning`` or ``info``. Codes in LENIENT_CODES mark what the apiserver accepts but silently
changes (fields dropped by its lenient fallback decoding).

Reference: k8s.io/apiserver pkg/audit/policy (reader.go, checker.go), pkg/apis/audit/validation,
k8s.io/apimachinery runtime/serializer/json, sigs.k8s.io/yaml (go-yaml v2 rules for YAML 1.1 scalars).
"""

from __future__ import annotations

import base64
import copy
import datetime
import difflib
import json
import math
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import Error, PathError
from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import (
    INT64_MAX, INT64_MIN, dump as yaml_dump, go_resolve_plain)

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

DEFAULT_KUBERNETES_VERSION = "1.33"
MIN_KUBERNETES_VERSION = (1, 24)  # audit.k8s.io/v1alpha1 and v1beta1 were removed in 1.24
STRICT_DECODING_SINCE = (1, 26)  # before 1.26 the reader decoded leniently only, without a warning
GROUP_WILDCARD_SINCE = (1, 36)  # group: "*" valid and matching every API group

API_GROUP = "audit.k8s.io"
API_VERSION = "audit.k8s.io/v1"
INTERNAL_VERSION = "__internal"
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
LEVEL_RANK = dict((level, rank) for rank, level in enumerate(LEVELS))
PRESETS = ("minimal", "security", "comprehensive")
TARGETS = ("deckhouse", "kubeadm")
DECKHOUSE_LAYOUTS = ("current", "2025-01")

# Findings that mean "kube-apiserver accepts the policy but silently changes it".
LENIENT_CODES = frozenset(("unknown-field", "duplicate-key"))

# Verbs kube-apiserver puts on requests: resource verbs, plus lower-cased HTTP methods for
# non-resource URLs. Authorization-only verbs (bind, escalate, impersonate, use, approve) never appear.
RESOURCE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy")
NON_RESOURCE_VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
KNOWN_VERBS = frozenset(RESOURCE_VERBS + NON_RESOURCE_VERBS)
# pkg/controlplane/apiserver/config.go: BasicLongRunningRequestCheck
LONG_RUNNING_VERBS = frozenset(("watch", "proxy"))
LONG_RUNNING_SUBRESOURCES = frozenset(("attach", "exec", "proxy", "log", "portforward"))

REQUEST_KEYS = ("user", "groups", "verb", "namespace", "api_group", "resource", "subresource", "name", "path")

# Built-in resources and the API group that serves them (used to catch resources listed under the
# wrong group, which then never match). Resources served by more than one group list each.
BUILTIN_RESOURCES = {
    "": ("bindings", "componentstatuses", "configmaps", "endpoints", "events", "limitranges", "namespaces",
         "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates",
         "replicationcontrollers", "resourcequotas", "secrets", "serviceaccounts", "services"),
    "admissionregistration.k8s.io": ("mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                                     "validatingadmissionpolicies", "validatingadmissionpolicybindings",
                                     "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"),
    "apiextensions.k8s.io": ("customresourcedefinitions",),
    "apiregistration.k8s.io": ("apiservices",),
    "apps": ("controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"),
    "authentication.k8s.io": ("selfsubjectreviews", "tokenreviews"),
    "authorization.k8s.io": ("localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
                             "subjectaccessreviews"),
    "autoscaling": ("horizontalpodautoscalers",),
    "batch": ("cronjobs", "jobs"),
    "certificates.k8s.io": ("certificatesigningrequests", "clustertrustbundles"),
    "coordination.k8s.io": ("leases", "leasecandidates"),
    "discovery.k8s.io": ("endpointslices",),
    "events.k8s.io": ("events",),
    "flowcontrol.apiserver.k8s.io": ("flowschemas", "prioritylevelconfigurations"),
    "networking.k8s.io": ("ingressclasses", "ingresses", "ipaddresses", "networkpolicies", "servicecidrs"),
    "node.k8s.io": ("runtimeclasses",),
    "policy": ("poddisruptionbudgets",),
    "rbac.authorization.k8s.io": ("clusterrolebindings", "clusterroles", "rolebindings", "roles"),
    "resource.k8s.io": ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"),
    "scheduling.k8s.io": ("priorityclasses",),
    "storage.k8s.io": ("csidrivers", "csinodes", "csistoragecapacities", "storageclasses", "volumeattachments",
                       "volumeattributesclasses"),
}
_RESOURCE_GROUPS = {}
for _group, _names in BUILTIN_RESOURCES.items():
    for _name in _names:
        _RESOURCE_GROUPS.setdefault(_name, []).append(_group)
# Groups that are no longer served at all.
REMOVED_GROUPS = {"extensions": "1.22"}

# Requests whose bodies carry credentials: (group, resource, subresource, verbs whose request body does
# (logged from level Request), verbs whose response body does (logged at RequestResponse)).
SENSITIVE_RESOURCES = (
    ("", "secrets", "", ("create", "update", "patch"),
     ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")),
    ("", "serviceaccounts", "token", (), ("create",)),
    ("authentication.k8s.io", "tokenreviews", "", ("create",), ("create",)),
)


class PolicyError(PathError):
    """Bad input to the engine itself (not a policy verdict): names the offending field."""


def finding(severity, code, path, message):
    return {"severity": severity, "code": code, "path": path, "message": message}


def refusal(findings, fallback="refused", within=""):
    """The findings that refuse a policy as one ``Error`` of (path, message), the path not repeated in the
    message (kube-apiserver's own messages start with it). ``within`` prefixes each path (``policy_yaml``)."""
    problems = []
    for item in findings or [{"path": "", "message": fallback}]:
        path, message = item["path"], item["message"]
        if path and message.startswith(path + ": "):
            message = message[len(path) + 2:]
        elif path and message.startswith(path):
            message = message[len(path):].lstrip(": ") or message
        if within:
            path = "%s.%s" % (within, path) if path else within
        problems.append((path, message))
    return Error(problems)


# --- versions -------------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")


def parse_version(version):
    """``"1.33"``, ``"v1.33.13"`` or ``1.33`` -> ``(1, 33)``; PolicyError when unsupported."""
    text = str(version if version is not None else DEFAULT_KUBERNETES_VERSION).strip()
    match = _VERSION_RE.match(text)
    if not match:
        raise PolicyError("kubernetes_version", "%r is not a Kubernetes version such as 1.33 or 1.33.13" % text)
    parsed = (int(match.group(1)), int(match.group(2)))
    if parsed < MIN_KUBERNETES_VERSION:
        raise PolicyError("kubernetes_version", "%s is not supported; the engine models %d.%d and later"
                          % (text, MIN_KUBERNETES_VERSION[0], MIN_KUBERNETES_VERSION[1]))
    return parsed


def _version_text(parsed):
    return "%d.%d" % parsed


# --- Go formatting --------------------------------------------------------------------------

def go_quote(text):
    """strconv.Quote: how Go's %q prints a string in error messages."""
    out = ['"']
    named = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t", "\v": "\\v"}
    for char in text:
        code = ord(char)
        if char in named:
            out.append(named[char])
        elif code < 0x20 or code == 0x7F:
            out.append("\\x%02x" % code)
        elif char == " " or char.isprintable():
            out.append(char)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


def _go_value(value):
    """The %#v / %q rendering field.Error uses for the values that audit validation reports."""
    if isinstance(value, list):
        return "[]string{%s}" % ", ".join(go_quote(item) for item in value)
    return go_quote(value)


# --- validation errors ----------------------------------------------------------------------

class FieldError(object):
    """One apiserver field error (k8s.io/apimachinery util/validation/field)."""

    REQUIRED = "Required value"
    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"

    def __init__(self, path, kind, value=None, detail=""):
        self.path, self.kind, self.value, self.detail = path, kind, value, detail

    @property
    def message(self):
        if self.kind == self.REQUIRED:
            body = self.kind
        else:
            body = "%s: %s" % (self.kind, _go_value(self.value))
        if self.detail:
            body += ": " + self.detail
        return "%s: %s" % (self.path, body)

    def __str__(self):
        return self.message

    def __repr__(self):
        return "FieldError(%r)" % self.message

    def __eq__(self, other):
        return isinstance(other, FieldError) and self.message == other.message

    def __hash__(self):
        return hash(self.message)


def aggregate_message(errors):
    """ErrorList.ToAggregate().Error(): messages de-duplicated, several in brackets."""
    seen = []
    for error in errors:
        text = error.message if isinstance(error, FieldError) else str(error)
        if text not in seen:
            seen.append(text)
    if not seen:
        return ""
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


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


def _compose_first_document(text):
    """The first YAML document's node graph (go-yaml reads only the first), or None for an empty stream."""
    if not HAS_YAML:
        raise PolicyError("policy", "PyYAML is required to read YAML text")
    if _CGoComposer is not None and len(text) > _FAST_COMPOSE_BYTES:
        loader = _CGoComposer(text)
        try:
            if not loader.check_node():
                return None, False
            node = loader.get_node()
            try:
                more = loader.check_node()
            except yaml.YAMLError:
                more = True
            return node, more
        except yaml.YAMLError:
            pass  # read again below for the pure-Python composer's message
        finally:
            loader.dispose()
    loader = _GoComposer(text)
    try:
        if not loader.check_node():
            return None, False
        node = loader.get_node()
        # Whether more documents follow: only report it, never fail on them (Go does not read them).
        try:
            more = loader.check_node()
        except yaml.YAMLError:
            more = True
        return node, more
    except yaml.YAMLError as exc:
        raise _Fatal(_yaml_error_message(exc), stage="syntax")
    finally:
        loader.dispose()


def _key_text(key):
    """How sigs.k8s.io/yaml turns a YAML map key into a JSON object key."""
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


# --- evaluation (pkg/audit/policy/checker.go) -------------------------------------------------

class Decision(object):
    """The audit configuration kube-apiserver applies to one request."""

    def __init__(self, level, omit_stages, omit_managed_fields, rule):
        self.level = level
        self.omit_stages = omit_stages
        self.omit_managed_fields = omit_managed_fields
        self.rule = rule  # index of the matching rule, None for the default (no rule matched)

    def stages(self, long_running=False, authenticated=True):
        """Stages the apiserver emits events for (a request that does not panic). A request that fails
        authentication gets one ResponseStarted event (WithFailedAuthenticationAudit)."""
        if self.level == "None":
            return []
        if not authenticated:
            wanted = ["ResponseStarted"]
        else:
            wanted = ["RequestReceived"] + (["ResponseStarted"] if long_running else []) + ["ResponseComplete"]
        return [stage for stage in wanted if stage not in self.omit_stages]

    def as_dict(self):
        return {"level": self.level, "omit_stages": list(self.omit_stages),
                "omit_managed_fields": self.omit_managed_fields, "rule": self.rule}

    def __repr__(self):
        return "Decision(%r)" % (self.as_dict(),)


def _union_stages(*lists):
    present = set()
    for stages in lists:
        present.update(stages or ())
    ordered = [stage for stage in STAGES if stage in present]
    return ordered + sorted(present.difference(STAGES))


def normalize_request(request):
    """Check a request description and fill defaults. ``user: null`` is a request without a user
    (authentication failed); anonymous requests carry ``system:anonymous``."""
    if not isinstance(request, dict):
        raise PolicyError("request", "must be a mapping with keys %s" % ", ".join(REQUEST_KEYS))
    unknown = sorted(set(request) - set(REQUEST_KEYS))
    if unknown:
        raise PolicyError("request.%s" % unknown[0], "unknown key; known keys are %s" % ", ".join(REQUEST_KEYS))
    out = {}
    for key in REQUEST_KEYS:
        value = request.get(key)
        if key == "groups":
            if value is None:
                value = []
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise PolicyError("request.groups", "must be a list of group names")
            for index, group in enumerate(value):
                if not isinstance(group, str):
                    raise PolicyError("request.groups[%d]" % index, "must be a string")
            out[key] = list(value)
            continue
        if key == "user":
            if value is not None and not isinstance(value, str):
                raise PolicyError("request.user", "must be a string or null")
            out[key] = value
            continue
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise PolicyError("request.%s" % key, "must be a string")
        out[key] = value
    if not out["resource"] and (out["namespace"] or out["api_group"] or out["subresource"] or out["name"]):
        raise PolicyError("request.resource", "required when namespace, api_group, subresource or name is given")
    out["resource_request"] = bool(out["resource"])
    return out


def is_long_running(request):
    """BasicLongRunningRequestCheck: these requests also get a ResponseStarted event."""
    request = request if "resource_request" in request else normalize_request(request)
    if request["verb"] in LONG_RUNNING_VERBS:
        return True
    if request["resource_request"] and request["subresource"] in LONG_RUNNING_SUBRESOURCES:
        return True
    return not request["resource_request"] and request["path"].startswith("/debug/pprof/")


def _path_matches(path, spec):
    if spec == "*" or spec == path:
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def _rule_matches_resource(rule, request, version):
    if not request["resource_request"]:
        return False
    namespaces = rule.get("namespaces")
    if namespaces and request["namespace"] not in namespaces:
        return False
    group_resources = rule.get("resources")
    if not group_resources:
        return True
    resource, subresource = request["resource"], request["subresource"]
    combined = resource + "/" + subresource if subresource else resource
    for entry in group_resources:
        group = entry.get("group", "")
        if group != request["api_group"] and not (group == "*" and version >= GROUP_WILDCARD_SINCE):
            continue
        if not entry.get("resources"):
            return True
        names = entry.get("resourceNames")
        if names and request["name"] not in names:
            continue
        for spec in entry["resources"]:
            if spec == combined or spec == "*":
                return True
            if subresource and spec.startswith("*/") and subresource == spec[2:]:
                return True
            # "pods/*" also matches plain "pods": checker.go does not require a subresource.
            if spec.endswith("/*") and resource == spec[:-2]:
                return True
    return False


def _rule_matches(rule, request, version):
    user = request["user"]
    if rule.get("users") and (user is None or user not in rule["users"]):
        return False
    if rule.get("userGroups"):
        if user is None or not any(group in rule["userGroups"] for group in request["groups"]):
            return False
    if rule.get("verbs") and request["verb"] not in rule["verbs"]:
        return False
    if rule.get("namespaces") or rule.get("resources"):
        return _rule_matches_resource(rule, request, version)
    if rule.get("nonResourceURLs"):
        if request["resource_request"]:
            return False
        return any(_path_matches(request["path"], spec) for spec in rule["nonResourceURLs"])
    return True


def _evaluate(policy, request, version):
    policy_stages = policy.get("omitStages") or []
    policy_omit_managed = bool(policy.get("omitManagedFields", False))
    for index, rule in enumerate(policy.get("rules") or ()):
        if _rule_matches(rule, request, version):
            omit_managed = rule["omitManagedFields"] if "omitManagedFields" in rule else policy_omit_managed
            return Decision(rule.get("level", ""), _union_stages(policy_stages, rule.get("omitStages")),
                            omit_managed, index)
    return Decision("None", _union_stages(policy_stages), policy_omit_managed, None)


# --- compiled evaluation: the same decisions as _evaluate, from rule tables built once ----------------

_RULE_CACHE_LIMIT = 4096   # distinct (verb, group, resource) / (verb, path) keys remembered per policy


class _CompiledRule(object):
    """One rule's restrictions as sets (None: no restriction), in _rule_matches' terms."""

    __slots__ = ("index", "users", "groups", "verbs", "namespaces", "entries", "paths", "scope", "decision")

    def __init__(self, index, rule, version, decision):
        self.index = index
        self.users = frozenset(rule["users"]) if rule.get("users") else None
        self.groups = frozenset(rule["userGroups"]) if rule.get("userGroups") else None
        self.verbs = frozenset(rule["verbs"]) if rule.get("verbs") else None
        self.decision = decision
        self.namespaces = self.entries = self.paths = None
        if rule.get("namespaces") or rule.get("resources"):
            self.scope = "resource"
            self.namespaces = frozenset(rule["namespaces"]) if rule.get("namespaces") else None
            if rule.get("resources"):
                self.entries = tuple(
                    (entry.get("group", "") == "*" and version >= GROUP_WILDCARD_SINCE, entry.get("group", ""),
                     tuple(entry.get("resources") or ()), frozenset(entry.get("resourceNames") or ()))
                    for entry in rule["resources"])
        elif rule.get("nonResourceURLs"):
            self.scope = "non-resource"
            self.paths = tuple(rule["nonResourceURLs"])
        else:
            self.scope = "any"

    def resource_check(self, verb, group, resource, subresource):
        """For resource requests with this verb, API group, resource and subresource, whoever sends them:
        False when none can match, True when every one does (only users and groups are left to check),
        None when the namespace or object name decides too (matches_object)."""
        if not self.may_match_resource(verb, group, resource):
            return False
        if self.namespaces is not None or any(names for _any, _group, _specs, names in self.entries or ()):
            return None
        return self.matches_object({"namespace": "", "name": "", "api_group": group, "resource": resource,
                                    "subresource": subresource})

    def may_match_resource(self, verb, group, resource):
        """Whether a resource request with this verb, API group and resource can match, whoever sends
        it, wherever and on whichever object or subresource."""
        if self.scope == "non-resource" or (self.verbs is not None and verb not in self.verbs):
            return False
        if self.entries is None:
            return True
        for any_group, entry_group, specs, _names in self.entries:
            if not any_group and entry_group != group:
                continue
            if not specs:
                return True
            for spec in specs:
                base = spec.split("/", 1)[0]
                if base == "*" or base == resource:
                    return True
        return False

    def may_match_path(self, verb, path):
        """Whether a non-resource request with this verb and path can match, whoever sends it."""
        if self.scope == "resource" or (self.verbs is not None and verb not in self.verbs):
            return False
        return self.paths is None or any(_path_matches(path, spec) for spec in self.paths)

    def matches_object(self, request):
        """The rest of _rule_matches_resource for a request that may_match_resource() let through."""
        if self.namespaces is not None and request["namespace"] not in self.namespaces:
            return False
        if self.entries is None:
            return True
        group, resource, subresource = request["api_group"], request["resource"], request["subresource"]
        combined = resource + "/" + subresource if subresource else resource
        for any_group, entry_group, specs, names in self.entries:
            if not any_group and entry_group != group:
                continue
            if not specs:
                return True
            if names and request["name"] not in names:
                continue
            for spec in specs:
                if spec == combined or spec == "*":
                    return True
                if subresource and spec.startswith("*/") and subresource == spec[2:]:
                    return True
                if spec.endswith("/*") and resource == spec[:-2]:
                    return True
        return False


def _rule_decision(policy, index):
    """The Decision of rule ``index`` (None: no rule matched), as _evaluate makes it."""
    policy_stages = policy.get("omitStages") or []
    policy_omit_managed = bool(policy.get("omitManagedFields", False))
    if index is None:
        return Decision("None", _union_stages(policy_stages), policy_omit_managed, None)
    rule = policy["rules"][index]
    omit_managed = rule["omitManagedFields"] if "omitManagedFields" in rule else policy_omit_managed
    return Decision(rule.get("level", ""), _union_stages(policy_stages, rule.get("omitStages")), omit_managed, index)


def compile_policy(policy, version):
    """``decide(request)`` for a decoded, accepted policy: _evaluate's answer, with the rules indexed by
    (verb, API group, resource, subresource) for resource requests and by (verb, path) for the others, so a decision
    checks only the rules that can match that kind of request (the index is filled as keys are seen and
    bounded). ``request`` is normalized (normalize_request). The Decision returned is one per rule,
    shared by every request it decides: read it, do not change it."""
    rules = [_CompiledRule(index, rule, version, _rule_decision(policy, index))
             for index, rule in enumerate(policy.get("rules") or ())]
    default = _rule_decision(policy, None)
    by_resource = {}
    by_path = {}

    def candidates_for(table, key, check):
        """Per rule that can match requests of ``key``: the rule, its users and groups (None: anyone) and
        whether matches_object() still has to look at the request (``check``: see resource_check)."""
        if len(table) >= _RULE_CACHE_LIMIT:
            table.clear()
        found = []
        for rule in rules:
            answer = check(rule, *key)
            if answer is not False:
                found.append((rule, rule.users, rule.groups, answer is None))
        found = table[key] = tuple(found)
        return found

    def decide(request):
        if request["resource_request"]:
            key = (request["verb"], request["api_group"], request["resource"], request["subresource"])
            found = by_resource.get(key)
            if found is None:
                found = candidates_for(by_resource, key, _CompiledRule.resource_check)
            user = request["user"]
            for rule, users, groups, by_object in found:
                if users is not None and (user is None or user not in users):
                    continue
                if groups is not None and (user is None or groups.isdisjoint(request["groups"])):
                    continue
                if not by_object or rule.matches_object(request):
                    return rule.decision
        else:
            key = (request["verb"], request["path"])
            found = by_path.get(key)
            if found is None:
                found = candidates_for(by_path, key, _CompiledRule.may_match_path)  # True or False
            user = request["user"]
            for rule, users, groups, _by_object in found:
                if users is not None and (user is None or user not in users):
                    continue
                if groups is None or (user is not None and not groups.isdisjoint(request["groups"])):
                    return rule.decision
        return default
    return decide


def _as_policy(policy, version):
    """A decoded policy kube-apiserver would load, from a LoadResult, a dict or text."""
    if isinstance(policy, LoadResult):
        result = policy
    else:
        result = load_policy(policy, _version_text(version))
    if not result.accepted:
        raise PolicyError(result.error_path or "policy",
                          "kube-apiserver %s refuses this policy: %s" % (_version_text(version), result.error))
    return result.policy


def evaluate(policy, request, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
    """Level and omitted stages kube-apiserver applies to ``request`` under ``policy`` (first match wins;
    no match means level None with the policy-wide omitStages). PolicyError when the apiserver would
    refuse the policy or the request description is malformed."""
    version = parse_version(kubernetes_version)
    return _evaluate(_as_policy(policy, version), normalize_request(request), version)


def evaluator(policy, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
    """``evaluate`` for many requests: the policy is loaded and compiled into rule tables once
    (compile_policy) and the returned function takes requests already normalized by ``normalize_request``
    (the per-request checks are the caller's)."""
    version = parse_version(kubernetes_version)
    return compile_policy(_as_policy(policy, version), version)


# --- lint -------------------------------------------------------------------------------------

def _list_covers(first, later):
    """An earlier list restriction admits everything a later one admits (empty = no restriction)."""
    if not first:
        return True
    return bool(later) and set(later) <= set(first)


def _resource_spec_covers(first, later):
    if first == "*" or first == later:
        return True
    if first.endswith("/*"):
        base = first[:-2]
        return later == base or later.startswith(base + "/")
    if first.startswith("*/"):
        return "/" in later and later.split("/", 1)[1] == first[2:] and later.split("/", 1)[0] not in ("", "*")
    return False


def _group_resources_covers(first, later, version):
    first_group, later_group = first.get("group", ""), later.get("group", "")
    if first_group != later_group and not (first_group == "*" and version >= GROUP_WILDCARD_SINCE):
        return False
    if not first.get("resources"):
        return True
    if not later.get("resources"):
        return False
    if not _list_covers(first.get("resourceNames"), later.get("resourceNames")):
        return False
    return all(any(_resource_spec_covers(spec, item) for spec in first["resources"]) for item in later["resources"])


def _url_covers(first, later):
    if first in ("*", "/*") or first == later:
        return True
    if later == "*":
        return False
    return first.endswith("*") and later.rstrip("*").startswith(first.rstrip("*"))


def _scope(rule):
    if rule.get("namespaces") or rule.get("resources"):
        return "resource"
    if rule.get("nonResourceURLs"):
        return "nonresource"
    return "any"


def rule_covers(first, later, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
    """True when rule ``first`` matches every request that rule ``later`` matches, so ``later``
    placed after ``first`` is never used. Conservative: False when unsure."""
    version = parse_version(kubernetes_version) if not isinstance(kubernetes_version, tuple) else kubernetes_version
    for key in ("users", "userGroups", "verbs"):
        if not _list_covers(first.get(key), later.get(key)):
            return False
    scope = _scope(first)
    if scope == "any":
        return True
    if scope != _scope(later):
        return False
    if scope == "resource":
        if not _list_covers(first.get("namespaces"), later.get("namespaces")):
            return False
        if not first.get("resources"):
            return True
        if not later.get("resources"):
            return False
        return all(any(_group_resources_covers(entry, item, version) for entry in first["resources"])
                   for item in later["resources"])
    return all(any(_url_covers(spec, url) for spec in first["nonResourceURLs"]) for url in later["nonResourceURLs"])


def _lists_overlap(first, later):
    return not first or not later or bool(set(first) & set(later))


def _resource_specs_overlap(one, other):
    if _resource_spec_covers(one, other):
        return True
    if _resource_spec_covers(other, one):
        return True
    # "*/log" and "pods/*" share pods/log.
    return (one.startswith("*/") and other.endswith("/*")) or (other.startswith("*/") and one.endswith("/*"))


def rules_overlap(first, later, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
    """True when some request could match both rules (used to report partial shadowing)."""
    version = parse_version(kubernetes_version) if not isinstance(kubernetes_version, tuple) else kubernetes_version
    if not _lists_overlap(first.get("users"), later.get("users")):
        return False
    if not _lists_overlap(first.get("verbs"), later.get("verbs")):
        return False
    # Any two group lists can overlap: one user can be in groups of both.
    scopes = (_scope(first), _scope(later))
    if "any" in scopes:
        return True
    if scopes[0] != scopes[1]:
        return False
    if scopes[0] == "nonresource":
        return any(_url_covers(a, b) or _url_covers(b, a) for a in first["nonResourceURLs"]
                   for b in later["nonResourceURLs"])
    if not _lists_overlap(first.get("namespaces"), later.get("namespaces")):
        return False
    if not first.get("resources") or not later.get("resources"):
        return True
    for a in first["resources"]:
        for b in later["resources"]:
            group_a, group_b = a.get("group", ""), b.get("group", "")
            if group_a != group_b and not ("*" in (group_a, group_b) and version >= GROUP_WILDCARD_SINCE):
                continue
            if not _lists_overlap(a.get("resourceNames"), b.get("resourceNames")):
                continue
            if not a.get("resources") or not b.get("resources"):
                return True
            if any(_resource_specs_overlap(x, y) for x in a["resources"] for y in b["resources"]):
                return True
    return False


def _is_catch_all(rule):
    return not any(rule.get(key) for key in ("users", "userGroups", "verbs", "resources", "namespaces",
                                             "nonResourceURLs"))


_PROBE_USER = "alice"
_PROBE_GROUPS = ["system:authenticated"]


def _probes_for(rule, group, resource, subresource, verbs):
    """Requests on (group, resource/subresource) that satisfy ``rule``'s user and namespace conditions."""
    user = rule["users"][0] if rule.get("users") else _PROBE_USER
    groups = [rule["userGroups"][0]] if rule.get("userGroups") else list(_PROBE_GROUPS)
    namespaces = rule.get("namespaces") or ["default"]
    names = ["probe"]
    for entry in rule.get("resources") or ():
        if entry.get("resourceNames"):
            names = list(entry["resourceNames"])
    for verb in (rule.get("verbs") or verbs):
        for namespace in namespaces:
            for name in names:
                yield {"user": user, "groups": groups, "verb": verb, "namespace": namespace, "api_group": group,
                       "resource": resource, "subresource": subresource, "name": name, "path": "",
                       "resource_request": True}


def _lint_sensitive(policy, version):
    findings = []
    for index, rule in enumerate(policy.get("rules") or []):
        level = rule.get("level")
        if LEVEL_RANK.get(level, 0) < LEVEL_RANK["Request"] or _scope(rule) == "nonresource":
            continue
        leaks = []
        for group, resource, subresource, request_verbs, response_verbs in SENSITIVE_RESOURCES:
            verbs = response_verbs if level == "RequestResponse" else request_verbs
            if not verbs:
                continue
            what = "%s/%s" % (resource, subresource) if subresource else resource
            hits = []
            for probe in _probes_for(rule, group, resource, subresource, verbs):
                if probe["verb"] in verbs and probe["verb"] not in hits and _evaluate(policy, probe, version).rule == index:
                    hits.append(probe["verb"])
            if hits:
                leaks.append("%s %s%s" % ("/".join(hits), what, " (%s)" % group if group else ""))
        if leaks:
            findings.append(finding(
                "warning", "sensitive-body", "rules[%d]" % index,
                "logs credentials at level %s: %s; those bodies would land in the SIEM - log them at Metadata in an "
                "earlier rule" % (level, ", ".join(leaks))))
    return findings


def _lint_exec(policy, version):
    findings = []
    blind, no_started = [], []
    for subresource in ("exec", "attach"):
        for verb in ("create", "get"):
            request = {"user": _PROBE_USER, "groups": list(_PROBE_GROUPS), "verb": verb, "namespace": "default",
                       "api_group": "", "resource": "pods", "subresource": subresource, "name": "web", "path": "",
                       "resource_request": True}
            decision = _evaluate(policy, request, version)
            label = "%s pods/%s" % (verb, subresource)
            if decision.level == "None":
                blind.append((label, decision.rule))
            elif "ResponseStarted" in decision.omit_stages:
                no_started.append((label, decision.rule))
    if blind:
        where = "rules[%d]" % blind[0][1] if blind[0][1] is not None else ""
        findings.append(finding("warning", "exec-not-audited", where,
                                "%s by an ordinary user is not audited (level None%s); exec and attach into pods "
                                "go unseen" % (", ".join(label for label, _rule in blind),
                                               " from %s" % where if where else ": no rule matches")))
    if no_started:
        where = "rules[%d]" % no_started[0][1]
        findings.append(finding("warning", "exec-response-started-omitted", where,
                                "%s is audited without the ResponseStarted stage (omitted by %s or the policy-wide "
                                "omitStages); exec detection such as Falco's Attach/Exec Pod rule keys on that stage"
                                % (", ".join(label for label, _rule in no_started), where)))
    return findings


def lint(policy, kubernetes_version=DEFAULT_KUBERNETES_VERSION, load_result=None):
    """Findings for what kube-apiserver accepts but is almost surely wrong. ``policy`` is what the
    apiserver decoded (``load_result.policy``); pass ``load_result`` to include dropped fields."""
    version = parse_version(kubernetes_version)
    findings = load_findings(load_result) if load_result is not None else []
    if load_result is not None and not load_result.accepted:
        return findings
    policy = _decode_data(policy)
    rules = policy.get("rules") or []
    for index, rule in enumerate(rules):
        path = "rules[%d]" % index
        for verb_index, verb in enumerate(rule.get("verbs") or ()):
            verb_path = "%s.verbs[%d]" % (path, verb_index)
            if verb == "*":
                findings.append(finding("warning", "wildcard-literal", verb_path,
                                        '"*" is not a wildcard in verbs and matches no request; omit verbs to '
                                        "match every verb"))
            elif verb != verb.lower():
                findings.append(finding("warning", "verb-case", verb_path,
                                        "verbs are compared case-sensitively and request verbs are lower case; %s "
                                        "never matches (use %s)" % (go_quote(verb), go_quote(verb.lower()))))
            elif verb not in KNOWN_VERBS:
                findings.append(finding("warning", "unknown-verb", verb_path,
                                        "requests never carry the verb %s; audit sees %s (non-resource URLs: the "
                                        "lower-case HTTP method)" % (go_quote(verb), ", ".join(RESOURCE_VERBS))))
        for key in ("users", "userGroups", "namespaces"):
            for item_index, item in enumerate(rule.get(key) or ()):
                if "*" in item:
                    findings.append(finding("warning", "wildcard-literal", "%s.%s[%d]" % (path, key, item_index),
                                            "%s is matched literally in %s; there is no wildcard there"
                                            % (go_quote(item), key)))
        for entry_index, entry in enumerate(rule.get("resources") or ()):
            entry_path = "%s.resources[%d]" % (path, entry_index)
            group = entry.get("group", "")
            for name_index, name in enumerate(entry.get("resourceNames") or ()):
                if "*" in name:
                    findings.append(finding("warning", "wildcard-literal", "%s.resourceNames[%d]" % (entry_path, name_index),
                                            "%s is matched literally in resourceNames" % go_quote(name)))
            if group in REMOVED_GROUPS:
                findings.append(finding("info", "legacy-api-group", entry_path + ".group",
                                        "group %s is no longer served (removed in %s); this entry matches nothing"
                                        % (go_quote(group), REMOVED_GROUPS[group])))
            for res_index, spec in enumerate(entry.get("resources") or ()):
                spec_path = "%s.resources[%d]" % (entry_path, res_index)
                if spec != spec.lower():
                    findings.append(finding("warning", "resource-case", spec_path,
                                            "resources are lower-case plurals; %s never matches" % go_quote(spec)))
                    continue
                if spec.count("/") > 1 or spec.endswith("/") or spec.startswith("/"):
                    findings.append(finding("warning", "resource-format", spec_path,
                                            "%s is not resource, resource/subresource, resource/* or */subresource; "
                                            "it never matches" % go_quote(spec)))
                    continue
                base = spec.split("/", 1)[0]
                homes = _RESOURCE_GROUPS.get(base)
                if base != "*" and homes and group not in homes and (group in BUILTIN_RESOURCES or group == "*"):
                    if group == "*":
                        continue
                    findings.append(finding("warning", "wrong-api-group", spec_path,
                                            "%s is served by group %s, not %s; this entry never matches it"
                                            % (go_quote(base), " or ".join(go_quote(home) for home in homes),
                                               go_quote(group))))
            if entry.get("resourceNames") and rule.get("verbs") and set(rule["verbs"]) <= {
                    "list", "create", "watch", "deletecollection"}:
                findings.append(finding("warning", "resource-names-unnamed-verbs", entry_path + ".resourceNames",
                                        "%s requests carry no object name, so resourceNames never match them"
                                        % "/".join(rule["verbs"])))
        for earlier in range(index):
            if rule_covers(rules[earlier], rule, version):
                what = "is a catch-all" if _is_catch_all(rules[earlier]) else "matches every request this rule matches"
                findings.append(finding("warning", "shadowed-rule", path,
                                        "never used: rules[%d] comes first and %s (first match wins)" % (earlier, what)))
                break
    if rules and not any(_is_catch_all(rule) for rule in rules):
        findings.append(finding("warning", "no-catch-all", "rules",
                                "no rule matches every request: requests that match no rule are not audited at all "
                                "(level None); end with a catch-all rule (level Metadata, or None on purpose)"))
    findings.extend(_lint_sensitive(policy, version))
    findings.extend(_lint_exec(policy, version))
    return findings


# --- Deckhouse composition ---------------------------------------------------------------------
# modules/040-control-plane-manager/hooks/audit_policy.go and docs/AUDIT-RULES.md: basic rules first,
# then the Secret's rules, then (current releases, basic policy on) None for system:authenticated and a
# Metadata catch-all. The service-account and namespace lists are generated from the installed modules;
# these are the lists of a recent release.

DECKHOUSE_SYSTEM_NAMESPACES = (
    "d8-admission-policy-engine", "d8-cert-manager", "d8-chrony", "d8-cloud-instance-manager", "d8-cloud-provider-aws",
    "d8-cloud-provider-azure", "d8-cloud-provider-dvp", "d8-cloud-provider-dynamix", "d8-cloud-provider-gcp",
    "d8-cloud-provider-huaweicloud", "d8-cloud-provider-openstack", "d8-cloud-provider-vcd",
    "d8-cloud-provider-vsphere", "d8-cloud-provider-yandex", "d8-cloud-provider-zvirt", "d8-cni-cilium",
    "d8-cni-flannel", "d8-cni-simple-bridge", "d8-csi-vsphere", "d8-descheduler", "d8-ingress-nginx", "d8-istio",
    "d8-keepalived", "d8-local-path-provisioner", "d8-metallb", "d8-monitoring", "d8-multitenancy-manager",
    "d8-network-gateway", "d8-okmeter", "d8-openvpn", "d8-operator-prometheus", "d8-service-with-healthchecks",
    "d8-system", "d8-upmeter", "d8-user-authn", "d8-user-authz", "kube-system")

_DECKHOUSE_SERVICE_ACCOUNTS = {
    "d8-cert-manager": "cainjector cert-manager webhook",
    "d8-chrony": "chrony-exporter chrony-exporter-master",
    "d8-cloud-instance-manager": "caps-controller-manager cluster-autoscaler early-oom fencing-agent "
                                 "machine-controller-manager node-controller node-feature-discovery-gc "
                                 "node-feature-discovery-master node-feature-discovery-worker node-group "
                                 "node-group-exporter nvidia-dcgm-exporter nvidia-device-plugin "
                                 "nvidia-gpu-feature-discovery nvidia-mig-manager registry-packages-proxy",
    "d8-cloud-provider-aws": "cloud-controller-manager cloud-data-discoverer node-termination-handler",
    "d8-cloud-provider-azure": "cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-dvp": "capdvp-controller-manager cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-dynamix": "capd-controller-manager cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-gcp": "cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-huaweicloud": "caphc-controller-manager cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-openstack": "cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-vcd": "capcd-controller-manager cloud-controller-manager cloud-data-discoverer "
                             "infra-controller-manager",
    "d8-cloud-provider-vsphere": "cloud-controller-manager cloud-data-discoverer",
    "d8-cloud-provider-yandex": "capy-controller-manager cloud-controller-manager cloud-data-discoverer "
                                "cloud-metrics-exporter",
    "d8-cloud-provider-zvirt": "capz-controller-manager cloud-controller-manager cloud-data-discoverer",
    "d8-cni-cilium": "agent egress-gateway-agent operator relay safe-agent-updater ui",
    "d8-cni-flannel": "cni-flannel",
    "d8-cni-simple-bridge": "cni-simple-bridge",
    "d8-csi-vsphere": "cloud-data-discoverer",
    "d8-descheduler": "descheduler",
    "d8-ingress-nginx": "failover-cleaner geoproxy ingress-nginx kruise validator validator-full",
    "d8-istio": "alliance-healthcheck alliance-ingressgateway alliance-metadata-exporter cni "
                "ingress-gateway-controller kiali multicluster-api-proxy multicluster-metrics-exporter "
                "waypoint-controller ztunnel",
    "d8-local-path-provisioner": "local-path-provisioner",
    "d8-metallb": "controller l2lb-controller l2lb-speaker speaker",
    "d8-monitoring": "aggregating-proxy alertmanager-internal alerts-receiver control-plane-proxy events-exporter "
                     "extended-monitoring-exporter grafana image-availability-exporter kube-state-metrics loki "
                     "monitoring-ping node-exporter oom-kills-exporter prometheus trickster x509-certificate-exporter",
    "d8-multitenancy-manager": "multitenancy-manager",
    "d8-openvpn": "openvpn",
    "d8-operator-prometheus": "operator-prometheus",
    "d8-service-with-healthchecks": "agent controller",
    "d8-system": "deckhouse documentation network-policy-engine registry-nodeservices terraform-auto-converger "
                 "terraform-state-exporter webhook-handler",
    "d8-upmeter": "smoke-mini upmeter upmeter-agent",
    "d8-user-authn": "basic-auth-proxy dex",
    "d8-user-authz": "permission-browser-apiserver webhook",
    "kube-system": "d8-control-plane-manager d8-kube-dns d8-kube-proxy d8-node-local-dns "
                   "d8-vertical-pod-autoscaler-admission-controller d8-vertical-pod-autoscaler-recommender "
                   "d8-vertical-pod-autoscaler-updater node-local-dns-safe-updater stale-dns-connections-cleaner",
}
DECKHOUSE_SERVICE_ACCOUNTS = tuple(sorted(
    "system:serviceaccount:%s:%s" % (namespace, name)
    for namespace, names in _DECKHOUSE_SERVICE_ACCOUNTS.items() for name in names.split()))

_WRITES = ["create", "update", "patch", "delete"]
_RR = ["RequestReceived"]


# Which basic-rule layout a DKP release runs. 2025-01 is the hook of Deckhouse main at 2025-01-04 (the DKP
# 1.67/1.68 era): no final rules. current is docs/AUDIT-RULES.md (2026) with the final None/Metadata rules of
# PR #16714 (2025-11, in the 1.74 branch, backported). The hook changed in between (PR #15603 in 1.73 moved the
# virtualization rules), and no layout of 1.69-1.73 is modelled: those are refused, not guessed.
DECKHOUSE_RELEASE_LAYOUTS = (((1, 0), (1, 68), "2025-01"), ((1, 74), None, "current"))


def deckhouse_layout(release):
    """The basic-rule layout of a DKP ``release`` (``v1.68.3``, ``1.75``), or ``release`` itself when it is a
    layout name; empty means ``current``. Raises PolicyError for a release no modelled layout matches."""
    if release in (None, ""):
        return "current"
    text = str(release).strip()
    if text in DECKHOUSE_LAYOUTS:
        return text
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$", text)
    if not match:
        raise PolicyError("deckhouse_release", "expected a DKP release such as 1.68 or v1.75.3, or a layout (%s), got %r"
                          % (", ".join(DECKHOUSE_LAYOUTS), text))
    version = (int(match.group(1)), int(match.group(2)))
    for low, high, layout in DECKHOUSE_RELEASE_LAYOUTS:
        if version >= low and (high is None or version <= high):
            return layout
    raise PolicyError("deckhouse_release", "no basic-rule layout is modelled for DKP %d.%d (known: up to 1.68 is "
                      "2025-01, 1.74 and later is current); name the layout instead (%s)"
                      % (version + (", ".join(DECKHOUSE_LAYOUTS),)))


def deckhouse_basic_rules(layout="current", extra_service_accounts=()):
    """(pre, post): Deckhouse's basic rules placed before and after the Secret's rules, each a list of
    (description, rule). ``layout``: ``current`` (2025-2026 releases) or ``2025-01`` (no final rules)."""
    if layout not in DECKHOUSE_LAYOUTS:
        raise PolicyError("layout", "must be one of %s" % ", ".join(DECKHOUSE_LAYOUTS))
    current = layout == "current"
    service_accounts = list(DECKHOUSE_SERVICE_ACCOUNTS) + list(extra_service_accounts)
    pre = [
        ("drop endpoints, endpointslices and events",
         {"level": "None", "resources": [{"resources": ["endpoints", "endpointslices", "events"]}]}),
        ("drop leader-election leases",
         {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]}),
        ("drop cert-manager leader-election configmaps",
         {"level": "None", "resources": [{"resources": ["configmaps"], "resourceNames": [
             "cert-manager-cainjector-leader-election", "cert-manager-controller"]}]}),
        ("drop verticalpodautoscalercheckpoints",
         {"level": "None", "resources": [{"group": "autoscaling.k8s.io",
                                          "resources": ["verticalpodautoscalercheckpoints"]}]}),
        ("drop VPA recommender patches",
         {"level": "None", "users": ["system:serviceaccount:kube-system:d8-vertical-pod-autoscaler-recommender"],
          "verbs": ["patch"], "resources": [{"group": "autoscaling.k8s.io", "resources": ["verticalpodautoscalers"]}]}),
        ("drop upmeterhookprobes",
         {"level": "None", "resources": [{"group": "deckhouse.io", "resources": ["upmeterhookprobes"]}]}),
        ("drop everything in d8-upmeter", {"level": "None", "namespaces": ["d8-upmeter"]}),
        ("drop ingress-nginx leader-election configmap updates",
         {"level": "None", "users": ["system:serviceaccount:d8-ingress-nginx:ingress-nginx"], "verbs": ["update"],
          "resources": [{"resources": ["configmaps"]}], "namespaces": ["d8-ingress-nginx"]}),
        ("drop dex health-check authrequests",
         {"level": "None", "users": ["system:serviceaccount:d8-user-authn:dex"], "verbs": ["create", "delete"],
          "resources": [{"group": "dex.coreos.com", "resources": ["authrequests"]}], "namespaces": ["d8-user-authn"]}),
    ]
    if current:
        pre += [
            ("node create/delete with bodies",
             {"level": "RequestResponse", "verbs": ["create", "delete"], "resources": [{"resources": ["nodes"]}]}),
            ("kubectl logs (pods/log)", {"level": "Metadata", "resources": [{"resources": ["pods/log"]}]}),
        ]
    pre.append(("writes by Deckhouse service accounts",
                {"level": "Metadata", "users": service_accounts, "userGroups": ["system:serviceaccounts"],
                 "verbs": list(_WRITES), "omitStages": list(_RR)}))
    if current:
        pre.append(("pod writes with request bodies",
                    {"level": "Request", "verbs": ["create", "delete", "patch", "update"],
                     "resources": [{"resources": ["pods"]}], "omitStages": list(_RR)}))
    pre += [
        ("writes in system namespaces",
         {"level": "Metadata", "verbs": list(_WRITES), "namespaces": list(DECKHOUSE_SYSTEM_NAMESPACES),
          "omitStages": list(_RR)}),
        ("every list request", {"level": "Metadata", "verbs": ["list"]}),
    ]
    if current:
        pre += [
            ("serviceaccount create/delete",
             {"level": "Metadata", "verbs": ["create", "delete"], "resources": [{"resources": ["serviceaccounts"]}],
              "omitStages": list(_RR)}),
            ("role and clusterrole writes with bodies",
             {"level": "Request", "verbs": ["create", "update", "delete", "patch"],
              "resources": [{"group": "rbac.authorization.k8s.io", "resources": ["roles", "clusterroles"]}],
              "omitStages": list(_RR)}),
            ("clusterrolebinding writes with bodies",
             {"level": "Request", "verbs": ["create", "update", "delete"],
              "resources": [{"group": "rbac.authorization.k8s.io", "resources": ["clusterrolebindings"]}],
              "omitStages": list(_RR)}),
            ("pods/attach and pods/ephemeralcontainers",
             {"level": "Request", "verbs": ["get", "patch", "create"],
              "resources": [{"resources": ["pods/attach", "pods/ephemeralcontainers"]}], "omitStages": list(_RR)}),
            ("virtualmachineoperations create with bodies",
             {"level": "RequestResponse", "verbs": ["create"],
              "resources": [{"group": "virtualization.deckhouse.io", "resources": ["virtualmachineoperations"]}]}),
            ("virtualization.deckhouse.io writes",
             {"level": "Metadata", "verbs": list(_WRITES), "resources": [{"group": "virtualization.deckhouse.io"}]}),
            ("internal virtualization subresource updates",
             {"level": "Metadata", "verbs": ["update", "patch"],
              "resources": [{"group": "internal.virtualization.deckhouse.io",
                             "resources": ["internalvirtualizationvirtualmachineinstances"]}]}),
            ("subresources.virtualization.deckhouse.io reads",
             {"level": "Metadata", "verbs": ["get"], "resources": [{"group": "subresources.virtualization.deckhouse.io"}]}),
            ("pod writes", {"level": "Metadata", "verbs": list(_WRITES), "resources": [{"resources": ["pods"]}]}),
            ("writes in d8-virtualization", {"level": "Metadata", "verbs": list(_WRITES),
                                             "namespaces": ["d8-virtualization"]}),
            ("moduleconfig writes",
             {"level": "Metadata", "verbs": list(_WRITES), "resources": [{"group": "deckhouse.io",
                                                                          "resources": ["moduleconfigs"]}]}),
        ]
    post = []
    if current:
        post = [
            ("no events for authenticated users", {"level": "None", "userGroups": ["system:authenticated"]}),
            ("everything left (unauthenticated) at Metadata", {"level": "Metadata"}),
        ]
    return pre, post


class HookResult(object):
    """Deckhouse's reading of the Secret's audit-policy.yaml (yaml.UnmarshalStrict into v1.Policy)."""

    def __init__(self, accepted, error=None, rules=None, omit_stages=None, dropped=None):
        self.accepted, self.error = accepted, error
        self.rules = rules or []
        self.omit_stages = omit_stages or []
        self.dropped = dropped or []  # top-level fields the hook reads but does not pass on


def _hook_coerce(value, schema):
    """sigs.k8s.io/yaml with a typed target: numbers and booleans become strings where the field is a string."""
    kind = schema[0]
    if isinstance(value, dict):
        if kind == "struct":
            exact = dict(schema[2])
            folded = dict((_fold(name), name) for name, _sub in schema[2])
            result = {}
            for key, item in value.items():
                name = key if key in exact else folded.get(_fold(key))
                result[key] = _hook_coerce(item, exact[name]) if name else item
            return result
        if kind == "map":
            return dict((key, _hook_coerce(item, schema[1])) for key, item in value.items())
        return value
    if isinstance(value, list):
        return [_hook_coerce(item, schema[1]) for item in value] if kind == "list" else value
    if kind == "string" and not isinstance(value, str) and value is not None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if math.isnan(value):
                return "NaN"
            if math.isinf(value):
                return "+Inf" if value > 0 else "-Inf"
            return "%.7g" % value if value != int(value) else str(int(value))
    return value


def deckhouse_parse(source):
    """Parse the Secret's ``audit-policy.yaml`` as Deckhouse's hook does: unknown or duplicate keys are an
    error, field names match case-insensitively, apiVersion and kind are not checked, and only
    ``rules`` and ``omitStages`` are kept."""
    try:
        if isinstance(source, (str, bytes)):
            text = source.decode("utf-8") if isinstance(source, bytes) else source
            node, _more = _compose_first_document(text)
            if node is None:
                return HookResult(True)
            reader = _YamlReader()
            data = reader.value(node, "")
            if reader.duplicates:
                path, key, line = reader.duplicates[0]
                raise _Fatal("error converting YAML to JSON: yaml: unmarshal errors:\n  line %s: key %s already set "
                             "in map" % (line, go_quote(_key_text(key))))
        else:
            data = _plain_data(source) if source is not None else None
        if data is None:
            return HookResult(True)
        data = _hook_coerce(data, _POLICY)
        _check_json_values(data)
        decoded = _Decoder(case_sensitive=False, unknown_fatal=True).decode(data, _POLICY, "")
    except _Fatal as exc:
        return HookResult(False, "invalid audit-policy.yaml format: %s" % exc.message)
    dropped = [name for name in ("metadata", "omitManagedFields") if name in decoded]
    return HookResult(True, rules=decoded.get("rules", []), omit_stages=decoded.get("omitStages", []), dropped=dropped)


class Composition(object):
    """The policy kube-apiserver runs with for a target, and where the user's rules landed."""

    def __init__(self):
        self.target = None
        self.basic_policy = None
        self.policy = None  # the effective policy; None when Deckhouse renders no policy at all
        self.user_offset = 0  # index of the user's first rule in the effective policy
        self.user_count = 0
        self.shadowed = []
        self.findings = []


def compose(policy, target="deckhouse", basic_policy=True, kubernetes_version=DEFAULT_KUBERNETES_VERSION,
            layout="current", extra_service_accounts=()):
    """Effective policy for ``target``: kubeadm deploys the file as it is; Deckhouse keeps only the
    rules and omitStages of the Secret and wraps them in its basic rules when ``basic_policy``."""
    version = parse_version(kubernetes_version)
    if target not in TARGETS:
        raise PolicyError("target", "must be one of %s" % ", ".join(TARGETS))
    decoded = _decode_data(policy)
    result = Composition()
    result.target, result.basic_policy = target, bool(basic_policy)
    user_rules = decoded.get("rules") or []
    result.user_count = len(user_rules)
    if target == "kubeadm":
        result.policy = copy.deepcopy(decoded)
        return result
    hook = deckhouse_parse(decoded)
    for name in hook.dropped:
        result.findings.append(finding("warning", "deckhouse-dropped-field", name,
                                       "Deckhouse keeps only rules and omitStages of the Secret; %s is dropped"
                                       % go_quote(name)))
    pre, post = deckhouse_basic_rules(layout, extra_service_accounts) if basic_policy else ([], [])
    rules = [copy.deepcopy(rule) for _description, rule in pre] + copy.deepcopy(hook.rules) + \
        [copy.deepcopy(rule) for _description, rule in post]
    result.user_offset = len(pre)
    if not rules:
        result.findings.append(finding("warning", "deckhouse-no-policy", "rules",
                                       "with the basic policy off and no rules Deckhouse renders no audit policy and "
                                       "kube-apiserver audits nothing"))
        return result
    effective = {"apiVersion": API_VERSION, "kind": "Policy", "rules": rules}
    if hook.omit_stages:
        effective["omitStages"] = list(hook.omit_stages)
        if basic_policy:
            result.findings.append(finding("info", "deckhouse-omit-stages-global", "omitStages",
                                           "the policy-wide omitStages (%s) also apply to Deckhouse's basic rules"
                                           % ", ".join(hook.omit_stages)))
    result.policy = effective
    for user_index, rule in enumerate(hook.rules):
        fully, partial = None, []
        for index, (description, basic) in enumerate(pre):
            if rule_covers(basic, rule, version):
                fully = index
                break
            if basic.get("level") != rule.get("level") and rules_overlap(basic, rule, version):
                partial.append(index)
        path = "rules[%d]" % user_index
        if fully is not None:
            result.shadowed.append({"rule": user_index, "path": path, "fully": True, "shadowed_by": [
                {"index": fully, "level": pre[fully][1]["level"], "description": pre[fully][0]}]})
            basic = pre[fully][1]
            same = basic.get("level") == rule.get("level") and \
                set(basic.get("omitStages") or ()) == set(rule.get("omitStages") or ())
            # A rule that a basic rule repeats is harmless; one whose level or stages never apply is a mistake.
            result.findings.append(finding("info" if same else "warning",
                                           "deckhouse-redundant" if same else "deckhouse-shadowed", path,
                                           "never used on Deckhouse: basic rule %d (%s, level %s) comes first and "
                                           "matches every request this rule matches%s"
                                           % (fully + 1, pre[fully][0], basic["level"],
                                              " (with the same level, so nothing is lost)" if same else "")))
        elif partial:
            result.shadowed.append({"rule": user_index, "path": path, "fully": False, "shadowed_by": [
                {"index": index, "level": pre[index][1]["level"], "description": pre[index][0]} for index in partial]})
            result.findings.append(finding("info", "deckhouse-overlap", path,
                                           "on Deckhouse some requests this rule targets are decided earlier by basic "
                                           "rules with another level: %s" % "; ".join(
                                               "%d (%s, %s)" % (index + 1, pre[index][0], pre[index][1]["level"])
                                               for index in partial)))
    # Exec detection depends on the whole effective policy (the final None rule hides authenticated users).
    for item in _lint_exec(effective, version):
        result.findings.append(finding(item["severity"], "deckhouse-" + item["code"],
                                       "effective_policy." + item["path"] if item["path"] else "effective_policy",
                                       "on Deckhouse: " + item["message"]))
    if post and user_rules and not any(_is_catch_all(rule) for rule in hook.rules):
        result.findings.append(finding("info", "deckhouse-final-rules", "rules",
                                       "Deckhouse appends None for system:authenticated and a Metadata catch-all: "
                                       "authenticated requests that neither its basic rules nor yours match are not "
                                       "audited"))
    return result


# --- presets ----------------------------------------------------------------------------------

_NOISE = {"level": "None", "resources": [
    {"group": "", "resources": ["events", "endpoints"]}, {"group": "events.k8s.io", "resources": ["events"]},
    {"group": "discovery.k8s.io", "resources": ["endpointslices"]},
    {"group": "coordination.k8s.io", "resources": ["leases"]}]}
_HEALTH = {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]}
_CREDENTIALS = {"level": "Metadata", "resources": [
    {"group": "", "resources": ["secrets", "serviceaccounts/token"]},
    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]}
_WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"]
_KNOWN_GROUPS = ["", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
                 "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
                 "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
                 "metrics.k8s.io", "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
                 "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io"]

_PRESETS = {
    # The seed's minimal policy: every request at Metadata, without the RequestReceived stage.
    "minimal": {"apiVersion": API_VERSION, "kind": "Policy",
                "rules": [{"level": "Metadata", "omitStages": ["RequestReceived"]}]},
    # The security-sensitive events: pods and their images (request bodies), exec/attach/ephemeral
    # containers (ResponseStarted kept), service accounts, RBAC; credentials at Metadata only.
    "security": {"apiVersion": API_VERSION, "kind": "Policy", "omitStages": ["RequestReceived"], "rules": [
        _NOISE,
        _HEALTH,
        _CREDENTIALS,
        {"level": "Request", "resources": [
            {"group": "", "resources": ["pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers"]}]},
        {"level": "Request", "verbs": list(_WRITE_VERBS), "resources": [{"group": "", "resources": ["pods"]}]},
        {"level": "Request", "verbs": list(_WRITE_VERBS), "resources": [
            {"group": "rbac.authorization.k8s.io",
             "resources": ["roles", "clusterroles", "rolebindings", "clusterrolebindings"]}]},
        {"level": "Metadata", "verbs": list(_WRITE_VERBS), "resources": [
            {"group": "", "resources": ["serviceaccounts"]}]},
        {"level": "Metadata", "userGroups": ["system:unauthenticated"]},
        {"level": "Metadata", "verbs": list(_WRITE_VERBS)},
        # Reads by everyone else are not audited on purpose (volume); secrets reads are caught above.
        {"level": "None"},
    ]},
    # GKE-style (kubernetes/kubernetes cluster/gce create-master-audit-policy): drop known noise,
    # credentials at Metadata, reads at Request, writes at RequestResponse in known groups.
    "comprehensive": {"apiVersion": API_VERSION, "kind": "Policy", "rules": [
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
         "resources": [{"group": "", "resources": ["endpoints", "services", "services/status"]}]},
        {"level": "None", "users": ["system:unsecured"], "namespaces": ["kube-system"], "verbs": ["get"],
         "resources": [{"group": "", "resources": ["configmaps"]}]},
        {"level": "None", "users": ["kubelet"], "verbs": ["get"],
         "resources": [{"group": "", "resources": ["nodes", "nodes/status"]}]},
        {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get"],
         "resources": [{"group": "", "resources": ["nodes", "nodes/status"]}]},
        {"level": "None", "users": ["system:kube-controller-manager", "system:cloud-controller-manager",
                                    "system:kube-scheduler", "system:serviceaccount:kube-system:endpoint-controller"],
         "verbs": ["get", "update"], "namespaces": ["kube-system"],
         "resources": [{"group": "", "resources": ["endpoints"]}]},
        {"level": "None", "users": ["system:apiserver"], "verbs": ["get"],
         "resources": [{"group": "", "resources": ["namespaces", "namespaces/status", "namespaces/finalize"]}]},
        {"level": "None", "users": ["cluster-autoscaler"], "verbs": ["get", "update"], "namespaces": ["kube-system"],
         "resources": [{"group": "", "resources": ["configmaps", "endpoints"]}]},
        {"level": "None", "users": ["system:kube-controller-manager", "system:cloud-controller-manager"],
         "verbs": ["get", "list"], "resources": [{"group": "metrics.k8s.io"}]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version", "/swagger*",
                                              "/openapi*"]},
        {"level": "None", "resources": [{"group": "", "resources": ["events"]},
                                        {"group": "events.k8s.io", "resources": ["events"]},
                                        {"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "Request", "users": ["kubelet", "system:node-problem-detector",
                                       "system:serviceaccount:kube-system:node-problem-detector"],
         "verbs": ["update", "patch"], "resources": [{"group": "", "resources": ["nodes/status", "pods/status"]}],
         "omitStages": ["RequestReceived"]},
        {"level": "Request", "userGroups": ["system:nodes"], "verbs": ["update", "patch"],
         "resources": [{"group": "", "resources": ["nodes/status", "pods/status"]}], "omitStages": ["RequestReceived"]},
        {"level": "Request", "users": ["system:serviceaccount:kube-system:namespace-controller"],
         "verbs": ["deletecollection"], "omitStages": ["RequestReceived"]},
        dict(_CREDENTIALS, resources=[{"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                                      {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}],
             omitStages=["RequestReceived"]),
        {"level": "Request", "verbs": ["get", "list", "watch"],
         "resources": [{"group": group} for group in _KNOWN_GROUPS], "omitStages": ["RequestReceived"]},
        {"level": "RequestResponse", "resources": [{"group": group} for group in _KNOWN_GROUPS],
         "omitStages": ["RequestReceived"]},
        {"level": "Metadata", "omitStages": ["RequestReceived"]},
    ]},
}


def preset(name):
    """A copy of a built-in policy: ``minimal``, ``security`` or ``comprehensive``."""
    if name not in _PRESETS:
        raise PolicyError("preset", "must be one of %s" % ", ".join(PRESETS))
    return copy.deepcopy(_PRESETS[name])


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


# --- everything at once -----------------------------------------------------------------------

class CheckResult(object):
    """Verdict, findings and outputs for one policy, target and Kubernetes version."""

    def __init__(self):
        self.kubernetes_version = None
        self.load = None
        self.apiserver_accepts = False
        self.apiserver_error = None
        self.policy = None
        self.policy_yaml = None
        self.policy_base64 = None
        self.findings = []
        self.composition = None

    @property
    def blocking(self):
        """Findings that fail a strict check: refusals and silent changes."""
        return [item for item in self.findings if item["severity"] == "error" or item["code"] in LENIENT_CODES]

    @property
    def errors(self):
        return [item for item in self.findings if item["severity"] == "error"]

    def as_dict(self):
        out = {"kubernetes_version": self.kubernetes_version, "apiserver_accepts": self.apiserver_accepts,
               "apiserver_error": self.apiserver_error, "lenient": bool(self.load and self.load.lenient),
               "policy": copy.deepcopy(self.policy), "policy_yaml": self.policy_yaml,
               "policy_base64": self.policy_base64, "findings": copy.deepcopy(self.findings)}
        if self.composition is not None:
            out["target"] = self.composition.target
            out["effective_policy"] = copy.deepcopy(self.composition.policy)
            if self.composition.target == "deckhouse":
                out["shadowed_rules"] = copy.deepcopy(self.composition.shadowed)
        return out


def check(source, kubernetes_version=DEFAULT_KUBERNETES_VERSION, target=None, basic_policy=True,
          layout="current", extra_service_accounts=()):
    """Load, validate, lint and (with ``target``) compose ``source`` in one go."""
    version = parse_version(kubernetes_version)
    if target is not None and target not in TARGETS:
        raise PolicyError("target", "must be one of %s" % ", ".join(TARGETS))
    result = CheckResult()
    result.kubernetes_version = _version_text(version)
    result.load = load_policy(source, result.kubernetes_version)
    result.apiserver_accepts = result.load.accepted
    result.apiserver_error = result.load.error
    result.findings = lint(result.load.policy, result.kubernetes_version, result.load) if result.load.accepted \
        else load_findings(result.load)
    if not result.load.accepted:
        return result
    result.policy = canonical(result.load.policy)
    result.policy_yaml = to_yaml(result.policy)
    result.policy_base64 = to_base64(result.policy_yaml)
    if target is not None:
        result.composition = compose(result.policy, target, basic_policy, result.kubernetes_version, layout,
                                     extra_service_accounts)
        result.findings.extend(result.composition.findings)
        if result.composition.policy is not None:
            for error in validate(result.composition.policy, result.kubernetes_version):
                result.findings.append(finding("error", "effective-invalid", error.path,
                                               "the effective policy would stop kube-apiserver: %s" % error.message))
        if target == "deckhouse" and isinstance(source, (str, bytes)):
            hook = deckhouse_parse(source)
            if not hook.accepted:
                result.findings.append(finding("warning", "deckhouse-hook-refuses", "",
                                               "this text as the Secret's audit-policy.yaml would make Deckhouse's "
                                               "hook fail (%s); the normalized policy_yaml does not" % hook.error))
    return result
