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

This file is the engine's public face (modules, filters, tests and benchmarks import from here); each
concern has its own private file:

    _audit_common.py     versions, constants, findings, FieldError, PolicyError, refusal()
    _audit_read.py       text to plain data: YAML as sigs.k8s.io/yaml reads it, JSON as Go's encoding/json
    _audit_decode.py     load_policy, validate, canonical, to_yaml (typed decoding as kube-apiserver does)
    _audit_evaluate.py   evaluate, evaluator, compile_policy, Decision (the one evaluator)
    _audit_lint.py       lint, rule_covers, rules_overlap
    _audit_deckhouse.py  compose, deckhouse_parse, deckhouse_basic_rules
    _audit_presets.py    preset
    _audit_policy.py     check (all of the above at once) and these re-exports

Findings are dicts ``{severity, code, path, message}``; severity is ``error`` (kube-apiserver refuses to
start), ``warning`` or ``info``. Codes in LENIENT_CODES mark what the apiserver accepts but silently
changes (fields dropped by its lenient fallback decoding).

Reference: k8s.io/apiserver pkg/audit/policy (reader.go, checker.go), pkg/apis/audit/validation,
k8s.io/apimachinery runtime/serializer/json, sigs.k8s.io/yaml (go-yaml v2 rules for YAML 1.1 scalars).
"""

from __future__ import annotations

import copy
import json

from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import go_resolve_plain  # noqa: F401 (re-exported)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import (  # noqa: F401 (re-exported, see __all__)
    aggregate_message, API_GROUP, API_VERSION, BUILTIN_RESOURCES, DECKHOUSE_LAYOUTS, DEFAULT_KUBERNETES_VERSION,
    FieldError, finding, go_quote, GROUP_WILDCARD_SINCE, INTERNAL_VERSION, KNOWN_VERBS, LENIENT_CODES, LEVEL_RANK,
    LEVELS, LONG_RUNNING_SUBRESOURCES, LONG_RUNNING_VERBS, MAX_POLICY_BYTES, MAX_SECRET_BYTES, MIN_KUBERNETES_VERSION,
    NON_RESOURCE_VERBS,
    parse_version, PolicyError, PRESETS, refusal, REMOVED_GROUPS, REQUEST_KEYS, RESOURCE_VERBS, SENSITIVE_RESOURCES,
    STAGES, STRICT_DECODING_SINCE, TARGETS, _version_text)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_read import (  # noqa: F401 (re-exported, see __all__)
    HAS_YAML, YAML_IMPORT_ERROR)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_decode import (  # noqa: F401 (re-exported, see __all__)
    canonical, GROUP_RESOURCES_FIELDS, load_findings, load_policy, LoadResult, POLICY_FIELDS, RULE_FIELDS,
    to_base64, to_yaml, validate)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_evaluate import (  # noqa: F401 (re-exported, see __all__)
    compile_policy, Decision, evaluate, evaluator, is_long_running, normalize_request)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_lint import (  # noqa: F401 (re-exported, see __all__)
    lint, rule_covers, rules_overlap)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_deckhouse import (  # noqa: F401 (re-exported, see __all__)
    compose, Composition, deckhouse_basic_rules, deckhouse_layout, deckhouse_parse, DECKHOUSE_RELEASE_LAYOUTS,
    DECKHOUSE_SERVICE_ACCOUNTS, DECKHOUSE_SYSTEM_NAMESPACES, HookResult)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_presets import (  # noqa: F401 (re-exported, see __all__)
    preset)


__all__ = [
    "aggregate_message", "API_GROUP", "API_VERSION", "BUILTIN_RESOURCES", "canonical", "check",
    "CheckResult", "compile_policy", "compose", "Composition", "Decision", "deckhouse_basic_rules",
    "deckhouse_layout", "DECKHOUSE_LAYOUTS", "deckhouse_parse", "DECKHOUSE_RELEASE_LAYOUTS",
    "DECKHOUSE_SERVICE_ACCOUNTS", "DECKHOUSE_SYSTEM_NAMESPACES", "DEFAULT_KUBERNETES_VERSION", "evaluate",
    "evaluator", "FieldError", "finding", "go_quote", "go_resolve_plain", "GROUP_RESOURCES_FIELDS",
    "GROUP_WILDCARD_SINCE", "HAS_YAML", "HookResult", "INTERNAL_VERSION", "is_long_running", "KNOWN_VERBS",
    "LENIENT_CODES", "LEVEL_RANK", "LEVELS", "lint", "load_findings", "load_policy", "LoadResult",
    "LONG_RUNNING_SUBRESOURCES", "LONG_RUNNING_VERBS", "MAX_POLICY_BYTES", "MAX_SECRET_BYTES",
    "MIN_KUBERNETES_VERSION", "NON_RESOURCE_VERBS",
    "normalize_request", "parse_version", "POLICY_FIELDS", "PolicyError", "preset", "PRESETS", "refusal",
    "REMOVED_GROUPS", "REQUEST_KEYS", "RESOURCE_VERBS", "rule_covers", "RULE_FIELDS", "rules_overlap",
    "SENSITIVE_RESOURCES", "STAGES", "STRICT_DECODING_SINCE", "TARGETS", "to_base64", "to_yaml", "validate",
    "YAML_IMPORT_ERROR",
]


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


def _size(source):
    """Bytes of policy text, or of a mapping written as JSON (what the size limit counts)."""
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, str):
        return len(source.encode("utf-8"))
    try:
        return len(json.dumps(source, default=str))
    except (TypeError, ValueError):
        return 0


def check(source, kubernetes_version=DEFAULT_KUBERNETES_VERSION, target=None, basic_policy=True,
          layout="current", extra_service_accounts=()):
    """Load, validate, lint and (with ``target``) compose ``source`` in one go."""
    version = parse_version(kubernetes_version)
    if target is not None and target not in TARGETS:
        raise PolicyError("target", "must be one of %s" % ", ".join(TARGETS))
    size = _size(source)
    if size > MAX_POLICY_BYTES:
        raise PolicyError("", "the policy is %d bytes%s, over the %d (4 MiB) this collection reads; a policy that "
                              "large is almost surely not the intended file (a Deckhouse Secret holds at most %d)"
                          % (size, "" if isinstance(source, (str, bytes)) else " as JSON", MAX_POLICY_BYTES,
                             MAX_SECRET_BYTES))
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
    if target == "deckhouse" and len(result.policy_yaml.encode("utf-8")) > MAX_SECRET_BYTES:
        result.findings.append(finding("error", "secret-too-large", "",
                                       "the normalized policy is %d bytes, but Secret kube-system/audit-policy can "
                                       "hold at most %d: kube-apiserver refuses a larger Secret"
                                       % (len(result.policy_yaml.encode("utf-8")), MAX_SECRET_BYTES)))
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
