# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, evaluation: which level and stages kube-apiserver gives a request
(first match wins; pkg/audit/policy/checker.go), rule by rule and compiled into rule tables.
The one home of policy evaluation.
"""

from __future__ import annotations

from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import (  # noqa: F401
    DEFAULT_KUBERNETES_VERSION, GROUP_WILDCARD_SINCE, LONG_RUNNING_SUBRESOURCES, LONG_RUNNING_VERBS, parse_version,
    PolicyError, REQUEST_KEYS, STAGES, _version_text)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_decode import load_policy, LoadResult

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


def _resources_match(specs, resource, subresource, combined):
    """Whether one GroupResources entry's ``resources`` match the request's resource and subresource
    (``combined`` is ``resource/subresource``, or the resource alone)."""
    for spec in specs:
        if spec == combined or spec == "*":
            return True
        if subresource and spec.startswith("*/") and subresource == spec[2:]:
            return True
        # "pods/*" also matches plain "pods": checker.go does not require a subresource.
        if spec.endswith("/*") and resource == spec[:-2]:
            return True
    return False


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
        if _resources_match(entry["resources"], resource, subresource, combined):
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
            if _resources_match(specs, resource, subresource, combined):
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
