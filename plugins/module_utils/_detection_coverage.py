# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which detections an audit policy keeps alive.

A detection (``_detections.DETECTIONS``) fires on an audit event only when the policy records the
request at the level that carries the fields its condition reads (``ka.req.*`` is the request body:
``Request`` or more) and keeps the stage whose event it matches (exec/attach/port-forward and failed
authentications match ``ResponseStarted``, everything else ``ResponseComplete``). For each of the
detection's representative requests the policy is asked, with the collection's policy engine, exactly
as kube-apiserver would decide; the detection is kept when every one of them is recorded that way.

The answer names the rule that loses a detection: "lost pod_exec_attach because rule 3 (policy rule 1)
records pods/exec at None".
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as engine
from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as catalogue

_RANK = engine.LEVEL_RANK
_NEEDS = {}


def _needs(item):
    found = _NEEDS.get(item["id"])
    if found is None:
        found = _NEEDS[item["id"]] = catalogue.needs(item)
    return found


def _what(request):
    resource = request["resource"] + ("/" + request["subresource"] if request["subresource"] else "")
    who = "anonymous " if request["user"] == "system:anonymous" else (
        "unauthenticated " if request["user"] is None else "")
    return "%s%s %s" % (who, request["verb"], resource or request["path"])


def _rule_text(decision, origins):
    if decision.rule is None:
        return "no rule matches"
    origin = origins[decision.rule] if origins and decision.rule < len(origins) else ("policy", decision.rule)
    if origin[0] == "policy":
        return "rule %d" % origin[1]
    return "rule %d (%s)" % (decision.rule, origin[0])


def check_request(decide, entry, level, origins=None):
    """None when the policy records ``entry`` (a representative request and its stage) at ``level`` or
    more with that stage kept, else the reason it does not."""
    request = engine.normalize_request(entry["request"])
    decision = decide(request)
    stages = decision.stages(engine.is_long_running(request), authenticated=request["user"] is not None)
    where = _rule_text(decision, origins)
    if decision.level == "None":
        return "%s records %s at None" % (where, _what(request)) if decision.rule is not None else \
            "no rule records %s" % _what(request)
    if _RANK[decision.level] < _RANK[level]:
        return "%s records %s at %s (needs %s)" % (where, _what(request), decision.level, level)
    if entry["stage"] not in stages:
        return "%s omits stage %s for %s" % (where, entry["stage"], _what(request))
    return None


def coverage(decide, origins=None, detections=None):
    """{"total", "kept", "kept_ids", "lost": [{"id", "rule", "reason"}]} for a policy's ``decide``
    (``_audit_policy.evaluator``); ``origins`` maps effective rule indexes to (origin, own index) as the
    simulator knows them."""
    kept, lost = [], []
    for item in catalogue.select(detections):
        need = _needs(item)
        reason = None
        for entry in item["requests"]:
            reason = check_request(decide, entry, need["level"], origins)
            if reason:
                break
        if reason:
            lost.append({"id": item["id"], "rule": item["name"], "reason": reason})
        else:
            kept.append(item["id"])
    return {"total": len(kept) + len(lost), "kept": len(kept), "kept_ids": kept, "lost": lost}


def policy_coverage(policy, kubernetes_version=engine.DEFAULT_KUBERNETES_VERSION, detections=None):
    """coverage() of a policy as kube-apiserver runs it (a mapping, as for ``_audit_policy.evaluator``)."""
    return coverage(engine.evaluator(policy, kubernetes_version), None, detections)


def summary(name, result):
    """One line: "policy X keeps 14/16 detections; lost: a (reason), b (reason)"."""
    text = "policy %s keeps %d/%d detections" % (name, result["kept"], result["total"])
    if result["lost"]:
        text += "; lost: " + ", ".join("%s, because %s" % (lost["id"], lost["reason"]) for lost in result["lost"])
    return text
