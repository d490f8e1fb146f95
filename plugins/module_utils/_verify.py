# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The read-only report of the verify role: what was read in, report and problem list out.

Pure functions over the results of the role's read tasks (kubernetes.core.k8s_info, audit_policy, kesl_info, the
check-mode kesl modules, uri, stat); the role only reads and calls the filters in plugins/filter/verify.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

MANAGED_BY = "app.kubernetes.io/managed-by"
# ClusterAlert objects of the log-shipper (D8LogShipper*) and of this collection's alerts (Auditops*).
WATCHED_ALERTS = re.compile(r"^(D8LogShipper|Auditops)")
# Of those, the ones that are a problem while they fire.
PROBLEM_ALERTS = re.compile(r"^(D8LogShipper|AuditopsApiserver)")
_VERSION = re.compile(r"[0-9]+[.][0-9]+([.][0-9]+)?")
WEB_THREAT_PROTECTION = "KESL Web_Threat_Protection came back: from 12.1 KESL enables it again when a browser binary " \
    "is on the node and no Kaspersky Security Center policy locks it off; lock it in the KSC policy (docs/kesl.md)"


def _get(data, *keys, **kwargs):
    """data[k1][k2]... or ``default`` when a level is missing or not a mapping."""
    default = kwargs.get("default")
    for key in keys:
        if not isinstance(data, dict) or key not in data or data[key] is None:
            return default
        data = data[key]
    return data


def _resources(result):
    return list(_get(result, "resources", default=[]) or [])


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"[0-9]+", text or "0")[:3])


def cluster_version(cluster):
    """``major.minor[.patch]`` of the server's gitVersion in a k8s_cluster_info result, '' without an answer."""
    found = _VERSION.search(_get(cluster, "version", "server", "kubernetes", "gitVersion", default="") or "")
    return found.group(0) if found else ""


def api_reachable(cluster):
    return _get(cluster, "version", "server", "kubernetes") is not None


def audit_settings(module_config):
    """spec.settings.apiserver of ModuleConfig/control-plane-manager from a k8s_info result ({} when absent)."""
    found = _resources(module_config)
    return dict(_get(found[0], "spec", "settings", "apiserver", default={}) or {}) if found else {}


def _destination(item):
    spec = item.get("spec") or {}
    kafka = spec.get("kafka") or {}
    socket = spec.get("socket") or {}
    return {
        "type": spec.get("type") or "",
        "address": socket.get("address") or ",".join(kafka.get("bootstrapServers") or []),
        "mode": socket.get("mode") or "",
        "codec": _get(socket, "encoding", "codec") or _get(kafka, "encoding", "codec") or "",
        "managed_by": _get(item, "metadata", "labels", MANAGED_BY, default=""),
    }


def _config(item, destination_names):
    spec = item.get("spec") or {}
    refs = list(spec.get("destinationRefs") or [])
    return {
        "type": spec.get("type") or "",
        "include": list(_get(spec, "file", "include", default=[]) or []),
        "destinations": refs,
        "missing_destinations": [ref for ref in refs if ref not in destination_names],
        "managed_by": _get(item, "metadata", "labels", MANAGED_BY, default=""),
    }


def shadowing_advice(shadowed, findings):
    """Whether the policy rules that Deckhouse's basic rules decide first need anything done, one sentence per kind
    (``shadowed`` and ``findings`` as audit_policy returns them with target=deckhouse)."""
    warned = set(item.get("path") for item in findings if item.get("code") == "deckhouse-shadowed")
    unused = [item.get("path") for item in shadowed if item.get("fully")]
    partly = [item.get("path") for item in shadowed if not item.get("fully")]
    dead = [path for path in unused if path in warned]
    repeated = [path for path in unused if path not in warned]
    advice = []
    if dead:
        advice.append("unused_rules %s: act - a basic rule with another level comes first for every request they "
                      "match, so they never apply (findings deckhouse-shadowed); change or remove them, or turn "
                      "basicAuditPolicyEnabled off" % ", ".join(dead))
    if repeated:
        advice.append("unused_rules %s: no action needed - a basic rule with the same level comes first, nothing is "
                      "lost" % ", ".join(repeated))
    if partly:
        advice.append("partly_shadowed_rules %s: no action needed - Deckhouse's basic rules decide some of their "
                      "requests first with another level, by design (for example every list at Metadata); the other "
                      "requests follow these rules (findings deckhouse-overlap name the basic rules). Only when you "
                      "need those requests at your own level: basicAuditPolicyEnabled off" % ", ".join(partly))
    return advice


def cluster_report(cluster, module_config=None, policy_text="", policy=None, destinations=None, configs=None,
                   detections=None, secret="kube-system/audit-policy", audit_log_path="/var/log/kube-audit/audit.log"):
    """(report, problems) of the cluster part.

    ``cluster`` is a k8s_cluster_info result, ``module_config`` the k8s_info result for
    ModuleConfig/control-plane-manager, ``policy`` the audit_policy result for ``policy_text`` (the Secret's policy),
    ``destinations``/``configs`` the ClusterLogDestination/ClusterLoggingConfig objects, ``detections`` the k8s_info
    results for ModuleConfig runtime-audit-engine, FalcoAuditRules, CustomPrometheusRules and ClusterAlert.
    """
    reachable = api_reachable(cluster)
    error = "" if reachable else (_get(cluster, "msg") or "no answer")
    settings = audit_settings(module_config)
    policy = policy or {}
    destinations = list(destinations or [])
    names = [_get(item, "metadata", "name") for item in destinations]
    destination_report = dict((_get(item, "metadata", "name"), _destination(item)) for item in destinations)
    config_report = dict((_get(item, "metadata", "name"), _config(item, names)) for item in configs or [])
    detections = list(detections or [{}, {}, {}, {}]) + [{}] * 4
    engine_module, falco_rules, prometheus_rules, alerts = [_resources(item) for item in detections[:4]]
    engine_enabled = bool(_get(engine_module[0], "spec", "enabled", default=False)) if engine_module else False
    watched = [item for item in alerts if WATCHED_ALERTS.match(_get(item, "alert", "name", default="") or "")]
    owned_falco_rules = [_get(item, "metadata", "name") for item in falco_rules
                         if MANAGED_BY in (_get(item, "metadata", "labels", default={}) or {})]
    present = len(policy_text or "") > 0
    findings = list(policy.get("findings") or [])
    shadowed = list(policy.get("shadowed_rules") or [])
    log_output = _get(settings, "auditLog", "output", default="File")
    shipped_by = [name for name, config in config_report.items() if audit_log_path in config["include"]]
    report = {
        "api": {"reachable": reachable, "server": _get(cluster, "connection", "host", default=""),
                "version": cluster_version(cluster), "error": error},
        "audit_settings": {
            "module_config": len(_resources(module_config)) > 0,
            "deckhouse": bool(_get(module_config, "api_found", default=False)),
            "audit_policy_enabled": bool(settings.get("auditPolicyEnabled", False)),
            "basic_audit_policy_enabled": bool(_get(settings, "basicAuditPolicyEnabled", default=True)),
            "log_output": log_output,
            "log_path": _get(settings, "auditLog", "path", default="/var/log/kube-audit"),
        },
        "policy": {
            "secret": secret,
            "present": present,
            "in_use": present and bool(settings.get("auditPolicyEnabled", False)),
            "apiserver_accepts": policy.get("apiserver_accepts"),
            "apiserver_error": policy.get("apiserver_error", policy.get("msg")),
            "rules": len(_get(policy, "policy", "rules", default=[]) or []),
            "findings": [item for item in findings if item.get("severity") != "info"],
            "info_findings": len([item for item in findings if item.get("severity") == "info"]),
            # Rules Deckhouse's basic rules decide first: never used at all, or for some requests.
            "unused_rules": [item.get("path") for item in shadowed if item.get("fully")],
            "partly_shadowed_rules": [item.get("path") for item in shadowed if not item.get("fully")],
            "shadowing_advice": shadowing_advice(shadowed, findings),
        },
        "log_shipper": {"destinations": destination_report, "configs": config_report,
                        "audit_log_shipped_by": shipped_by},
        # Objects present means the API server accepted them against the CRD schema; whether Falco loaded
        # them shows in the falco container's log (docs/detections.md).
        "detections": {
            "runtime_audit_engine_enabled": engine_enabled,
            "falco_audit_rules": [_get(item, "metadata", "name") for item in falco_rules],
            "custom_prometheus_rules": [_get(item, "metadata", "name") for item in prometheus_rules],
            "alerts": [_get(item, "alert", "name") for item in watched],
        },
    }
    problems = [] if reachable else ["API server: " + error]
    if present and not policy.get("apiserver_accepts", False):
        problems.append("audit policy %s: kube-apiserver would refuse it and stop: %s"
                        % (secret, policy.get("apiserver_error") or policy.get("msg")))
    problems.extend("audit policy %s: %s" % (secret, item.get("message")) for item in findings
                    if item.get("code") == "deckhouse-hook-refuses")
    problems.extend("ClusterLoggingConfig %s names destinations that do not exist" % name
                    for name, config in config_report.items() if config["missing_destinations"])
    if shipped_by and log_output == "Stdout":
        problems.append("ClusterLoggingConfig %s reads %s but auditLog.output is Stdout, so that file is never written"
                        % (", ".join(shipped_by), audit_log_path))
    if owned_falco_rules and not engine_enabled:
        problems.append("FalcoAuditRules %s exist but runtime-audit-engine is not enabled, so nothing loads them"
                        % ", ".join(owned_falco_rules))
    problems.extend("alert firing: " + name for name in report["detections"]["alerts"] if PROBLEM_ALERTS.match(name))
    return report, problems


def apiserver_report(manifest, health, audit_log, healthy_status, now, audit_log_path):
    """(report, problems) of one master: ``manifest`` is an apiserver_manifest_info result, ``health`` the uri
    results of /livez and /readyz (in that order), ``audit_log`` a stat result, ``now`` a Unix time."""
    healthy = [int(code) for code in healthy_status]
    results = list(_get(health, "results", default=[]) or [])
    status = [_get(item, "status", default=-1) for item in results] + [-1, -1]
    stat = _get(audit_log, "stat", default={}) or {}
    exists = bool(stat.get("exists", False))
    url = _get(results[0], "url", default="") if results else ""
    report = {
        "url": re.sub(r"/livez$", "", url or ""),
        "livez": status[0],
        "readyz": status[1],
        "manifest": "read" if _get(manifest, "endpoint") is not None else (_get(manifest, "msg") or "not readable"),
        "audit_log": {
            "path": stat.get("path") or audit_log_path,
            "exists": exists,
            "size": stat.get("size") or 0,
            "age_seconds": int(now - stat["mtime"]) if exists and stat.get("mtime") is not None else None,
        },
    }
    problems = ["kube-apiserver /%s does not answer as healthy" % item.get("item") for item in results
                if _get(item, "status", default=-1) not in healthy]
    return report, problems


def kesl_report(installed, node_role, executable, info=None, exclusions=None, tasks=None, required=False):
    """(report, problems) of one node: ``info`` is a kesl_info result, ``exclusions`` and ``tasks`` the check-mode
    results of kesl_exclusion and kesl_task (stopped) with the kesl role's settings."""
    results = [item or {} for item in (info, exclusions, tasks)]
    info, exclusions, tasks = results
    drift = [item for item in exclusions.get("tasks") or [] if item.get("changed")]
    running = [item.get("name") for item in tasks.get("tasks") or [] if item.get("changed")]
    errors = [item.get("msg") for item in results if item.get("failed")]
    report = {
        "installed": bool(installed),
        "node_role": node_role,
        "version": info.get("version"),
        "tasks": dict((item.get("name"), item.get("state")) for item in info.get("tasks") or []),
        "exclusions": dict(info.get("exclusions") or {}),  # task ID -> excluded paths
        "missing_exclusions": dict((item.get("name"), item.get("added")) for item in drift),
        "exclusions_to_fix": dict((item.get("name"), item.get("updated")) for item in drift),
        "tasks_to_stop": running,
        "policy_locked": any(item.get("policy_locked") for item in (exclusions, tasks)),
        "errors": errors,
    }
    problems = []
    if not installed and required:
        problems.append("KESL is not installed (%s) and kesl_required is true" % executable)
    problems.extend("KESL: %s" % error for error in errors)
    problems.extend("KESL task %s lacks exclusions of the Deckhouse directories" % item.get("name") for item in drift)
    problems.extend("KESL task %s runs or starts with KESL" % name for name in running)
    if "Web_Threat_Protection" in running and _version_tuple(info.get("version")) >= (12, 1):
        problems.append(WEB_THREAT_PROTECTION)
    return report, problems


def summary(cluster, nodes, apiserver_wanted=True, kesl_wanted=True):
    """The whole report: ``cluster`` is the cluster_report pair as a mapping {report, problems}; ``nodes`` maps
    each node the node plays targeted to {master, kesl_node, apiserver, kesl}, where apiserver and kesl are that
    node's {report, problems} or None when it sent none (unreachable, or a task failed)."""
    settings = cluster["report"]["audit_settings"]
    # Deckhouse writes the audit log when either policy is on and the output is File.
    log_expected = settings["deckhouse"] and settings["log_output"] == "File" and (
        settings["audit_policy_enabled"] or settings["basic_audit_policy_enabled"])
    problems = list(cluster["problems"])
    out = {}
    for name in nodes:
        node = nodes[name]
        wants_apiserver = bool(node.get("master")) and apiserver_wanted
        wants_kesl = bool(node.get("kesl_node")) and kesl_wanted
        apiserver, kesl = node.get("apiserver"), node.get("kesl")
        out[name] = {
            "role": "master" if node.get("master") else "worker",
            "apiserver": apiserver["report"] if apiserver else ("no report" if wants_apiserver else "not checked"),
            "kesl": kesl["report"] if kesl else ("no report" if wants_kesl else "not checked"),
        }
        found = list(apiserver["problems"] if apiserver else []) + list(kesl["problems"] if kesl else [])
        if (wants_apiserver and not apiserver) or (wants_kesl and not kesl):
            found.append("no report (unreachable, or a task failed)")
        audit_log = apiserver["report"]["audit_log"] if apiserver else {}
        if node.get("master") and log_expected and not audit_log.get("exists", True):
            found.append("audit log %s does not exist although audit is on with output File" % audit_log["path"])
        problems.extend("%s: %s" % (name, problem) for problem in found)
    return {"cluster": cluster["report"], "nodes": out, "problems": problems}
