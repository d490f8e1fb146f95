# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, lint: findings about a valid policy (shadowed rules, sensitive bodies,
exec/attach coverage, version-dependent fields).
"""

from __future__ import annotations

from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import (  # noqa: F401
    BUILTIN_RESOURCES, DEFAULT_KUBERNETES_VERSION, finding, go_quote, GROUP_WILDCARD_SINCE, KNOWN_VERBS, LEVEL_RANK,
    MAX_SHADOW_CHECK_RULES, parse_version, REMOVED_GROUPS, _RESOURCE_GROUPS, RESOURCE_VERBS, SENSITIVE_RESOURCES)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_decode import _decode_data, load_findings
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_evaluate import _evaluate

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
        for earlier in range(index if index < MAX_SHADOW_CHECK_RULES else 0):
            if rule_covers(rules[earlier], rule, version):
                what = "is a catch-all" if _is_catch_all(rules[earlier]) else "matches every request this rule matches"
                findings.append(finding("warning", "shadowed-rule", path,
                                        "never used: rules[%d] comes first and %s (first match wins)" % (earlier, what)))
                break
    if len(rules) > MAX_SHADOW_CHECK_RULES:
        findings.append(finding("info", "shadowing-not-checked", "rules[%d]" % MAX_SHADOW_CHECK_RULES,
                                "the policy has %d rules; rules after the first %d were not checked for being "
                                "shadowed by earlier ones" % (len(rules), MAX_SHADOW_CHECK_RULES)))
    if rules and not any(_is_catch_all(rule) for rule in rules):
        findings.append(finding("warning", "no-catch-all", "rules",
                                "no rule matches every request: requests that match no rule are not audited at all "
                                "(level None); end with a catch-all rule (level Metadata, or None on purpose)"))
    findings.extend(_lint_sensitive(policy, version))
    findings.extend(_lint_exec(policy, version))
    return findings
