# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters audit_level, audit_policy_validate, simulation_summary and simulation_table (documentation in the .yml file of
each next to this one)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

# The engines are imported where a filter runs, not here: to find any one filter of this collection (role_input in
# most roles' first task), ansible-core imports every file in plugins/filter (Jinja2Loader.get_with_context walks
# the package), in each task's worker process. The policy engine's imports cost that task ~0.13 s.


def _plain(value):
    """Templated values may arrive as Ansible's lazy/tagged containers; the engine wants plain ones."""
    if isinstance(value, dict):
        return dict((to_native(key) if isinstance(key, str) else key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


def audit_level(policy, request, kubernetes_version=None):
    """Level and omitted stages kube-apiserver applies to ``request`` under ``policy`` (as given, no target)."""
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_policy import (
        DEFAULT_KUBERNETES_VERSION, PolicyError, evaluate, load_policy)
    kubernetes_version = DEFAULT_KUBERNETES_VERSION if kubernetes_version is None else kubernetes_version
    try:
        loaded = load_policy(_plain(policy), kubernetes_version)
        if not loaded.accepted:
            raise AnsibleFilterError("audit_level: kube-apiserver %s would refuse this policy: %s"
                                     % (loaded.kubernetes_version, loaded.error))
        decision = evaluate(loaded, _plain(request), kubernetes_version)
    except PolicyError as exc:
        raise AnsibleFilterError("audit_level: %s" % to_native(exc))
    return {"level": decision.level, "omit_stages": list(decision.omit_stages)}


def audit_policy_validate(policy, kubernetes_version=None, target=None, basic_policy=True):
    """Verdict and findings for ``policy``, as the audit_policy module computes them."""
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_policy import (
        DEFAULT_KUBERNETES_VERSION, PolicyError, check)
    kubernetes_version = DEFAULT_KUBERNETES_VERSION if kubernetes_version is None else kubernetes_version
    try:
        result = check(_plain(policy), kubernetes_version, target, basic_policy)
    except PolicyError as exc:
        raise AnsibleFilterError("audit_policy_validate: %s" % to_native(exc))
    data = result.as_dict()
    out = {
        "valid": result.apiserver_accepts and not result.blocking,
        "apiserver_accepts": result.apiserver_accepts,
        "apiserver_error": result.apiserver_error,
        "lenient": data["lenient"],
        "errors": [item["message"] if item["message"].startswith(item["path"]) else
                   "%s: %s" % (item["path"], item["message"]) if item["path"] else item["message"]
                   for item in result.blocking],
        "findings": data["findings"],
        "policy": data["policy"],
    }
    if target is not None:
        out["effective_policy"] = data.get("effective_policy")
        if "shadowed_rules" in data:
            out["shadowed_rules"] = data["shadowed_rules"]
    return out


def simulation_summary(result):
    """One line for a result of the audit_policy_simulate module."""
    if not isinstance(result, dict):
        raise AnsibleFilterError("simulation_summary: expects one item of audit_policy_simulate's results, got %s"
                                 % type(result).__name__)
    missing = sorted(set(("name", "events", "bytes", "estimated_body_bytes", "mb_per_day", "security")) - set(result))
    if missing:
        raise AnsibleFilterError("simulation_summary: not an audit_policy_simulate result (no %s)" % ", ".join(missing))
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate import summary_line
    return summary_line(_plain(result))


def simulation_table(report):
    """The command line's tables, as lines, for the whole result of the audit_policy_simulate module."""
    if not isinstance(report, dict) or not isinstance(report.get("input"), dict) or \
            not isinstance(report.get("results"), list):
        raise AnsibleFilterError("simulation_table: expects the registered result of audit_policy_simulate "
                                 "(with input and results)")
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate import format_tables
    data = _plain(report)
    for result in data["results"]:
        simulation_summary(result)  # the same check of each item
    return format_tables(data).splitlines()


class FilterModule(object):
    def filters(self):
        return {
            "audit_level": audit_level,
            "audit_policy_validate": audit_policy_validate,
            "simulation_summary": simulation_summary,
            "simulation_table": simulation_table,
        }
