# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Detections on Kubernetes audit events, the Deckhouse way and the kubeadm way.

One catalogue (``DETECTIONS``) of Falco rules on the ``k8s_audit`` source, each with what it needs from
the audit policy (the level that carries the fields its condition reads, the stage whose event it
matches, and representative requests the policy must record), and an alert. From it this module builds:

- Deckhouse: a ``FalcoAuditRules`` object (runtime-audit-engine loads it into Falco) and a
  ``CustomPrometheusRules`` object alerting on the events falcosidekick exports as the metric
  ``falcosecurity_falcosidekick_falco_events_total{rule=...}`` (runtime-audit-engine docs,
  ADVANCED_USAGE.md "Viewing metrics"), plus alerts on kube-apiserver's own audit metrics;
- kubeadm (no Deckhouse): a Falco rules file and a prometheus-operator ``PrometheusRule`` object.

Every condition goes through the checker in ``_falco_rules`` before anything is built.
kube-apiserver's audit metrics (k8s.io/apiserver pkg/audit/metrics.go, v0.33):
``apiserver_audit_event_total`` (events sent to the backends), ``apiserver_audit_error_total{plugin}``
(events that failed to be audited: ``log``, ``webhook``, ``buffered`` when its buffer is full,
``truncate``), ``apiserver_audit_level_total{level}`` and ``apiserver_audit_requests_rejected_total``
(requests rejected because of an audit backend error).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import PathError
from ansible_collections.auditops.deckhouse.plugins.module_utils import _falco_rules as falco

GROUP = "deckhouse.io"
KIND_FALCO = "FalcoAuditRules"
KIND_CPR = "CustomPrometheusRules"
KIND_PROMETHEUS_RULE = "PrometheusRule"
API_VERSIONS = {KIND_FALCO: "deckhouse.io/v1alpha1", KIND_CPR: "deckhouse.io/v1",
                KIND_PROMETHEUS_RULE: "monitoring.coreos.com/v1"}
DECKHOUSE_KINDS = (KIND_FALCO, KIND_CPR)
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "auditops.deckhouse"
ROLE_LABEL = "auditops.deckhouse/role"
DEFAULT_OWNER = "audit_detections"
DEFAULT_NAME = "auditops-detections"
EVENTS_METRIC = "falcosecurity_falcosidekick_falco_events_total"
TARGETS = ("deckhouse", "kubeadm")
# FalcoAuditRules spec.rules[].rule.priority enum (runtime-audit-engine CRD) -> Falco rules-file spelling.
PRIORITIES = {"Emergency": "EMERGENCY", "Alert": "ALERT", "Critical": "CRITICAL", "Error": "ERROR",
              "Warning": "WARNING", "Notice": "NOTICE", "Informational": "INFORMATIONAL", "Debug": "DEBUG"}
# Alert severities: prometheus-operator convention (severity) and Deckhouse's (severity_level, 1 = worst).
SEVERITY_LEVELS = {"critical": "3", "warning": "5", "info": "7"}

PERSON = {"user": "alice", "groups": ["system:authenticated"]}
NAMESPACE = "prod"

MACROS = [
    ("auditops_kevt", "ka.stage = ResponseComplete"),
    ("auditops_kevt_started", "ka.stage = ResponseStarted"),
    ("auditops_success", "ka.response.code startswith 2"),
    ("auditops_person", "not ka.user.name startswith 'system:'"),
    ("auditops_pod_write", "ka.target.resource = pods and not ka.target.subresource exists and ka.verb in (create, update)"),
]
LISTS = [
    ("auditops_rbac_writes", ["create", "update", "patch", "delete", "deletecollection"]),
    ("auditops_health_uris", ["/healthz", "/livez", "/readyz", "/version"]),
]


def _req(verb, resource, subresource="", group="", namespace=NAMESPACE, user=None, path="", stage="ResponseComplete"):
    request = dict(PERSON)
    if user is not None:
        request.update(user)
    request.update({"verb": verb, "api_group": group, "resource": resource, "subresource": subresource,
                    "namespace": namespace, "name": "x" if verb not in ("list", "create", "deletecollection") else "",
                    "path": path})
    return {"request": request, "stage": stage}


_RBAC = "rbac.authorization.k8s.io"
_ANONYMOUS = {"user": "system:anonymous", "groups": ["system:unauthenticated"]}

# id, Falco rule name, priority, condition, output, level it needs, representative requests, alert.
# alert: (severity, for, threshold over 10 minutes or None for "any event").
DETECTIONS = [
    {"id": "pod_exec_attach", "name": "auditops: exec or attach into a pod", "priority": "Warning",
     "desc": "Someone ran kubectl exec or attach (pods/exec, pods/attach).",
     "condition": "auditops_kevt_started and ka.target.resource = pods and ka.target.subresource in (exec, attach)",
     "output": "%ka.verb pods/%ka.target.subresource %ka.target.namespace/%ka.target.name by %ka.user.name "
               "(command %ka.uri.param[command], from %ka.sourceips)",
     "level": "Metadata",
     "requests": [_req("create", "pods", "exec", stage="ResponseStarted"),
                  _req("create", "pods", "attach", stage="ResponseStarted")],
     "alert": ("warning", "1m", None)},
    {"id": "pod_portforward", "name": "auditops: port-forward to a pod", "priority": "Notice",
     "desc": "Someone opened a port-forward to a pod (pods/portforward).",
     "condition": "auditops_kevt_started and ka.target.resource = pods and ka.target.subresource = portforward",
     "output": "port-forward to %ka.target.namespace/%ka.target.name by %ka.user.name (from %ka.sourceips)",
     "level": "Metadata",
     "requests": [_req("create", "pods", "portforward", stage="ResponseStarted")],
     "alert": ("warning", "1m", None)},
    {"id": "pod_ephemeral_container", "name": "auditops: ephemeral container added", "priority": "Warning",
     "desc": "An ephemeral (debug) container was added to a running pod (kubectl debug).",
     "condition": "auditops_kevt and ka.target.resource = pods and ka.target.subresource = ephemeralcontainers "
                  "and ka.verb in (update, patch) and auditops_success",
     "output": "ephemeral container in %ka.target.namespace/%ka.target.name by %ka.user.name",
     "level": "Metadata",
     "requests": [_req("patch", "pods", "ephemeralcontainers")],
     "alert": ("warning", "1m", None)},
    {"id": "rbac_cluster_admin_binding", "name": "auditops: binding to cluster-admin", "priority": "Critical",
     "desc": "A RoleBinding or ClusterRoleBinding to the cluster-admin ClusterRole was created or changed.",
     "condition": "auditops_kevt and ka.target.resource in (clusterrolebindings, rolebindings) "
                  "and ka.verb in (create, update) and ka.req.binding.role = cluster-admin and auditops_success",
     "output": "%ka.verb %ka.target.resource %ka.target.name -> cluster-admin for %ka.req.binding.subjects "
               "by %ka.user.name",
     "level": "Request",
     "requests": [_req("create", "clusterrolebindings", group=_RBAC, namespace=""),
                  _req("create", "rolebindings", group=_RBAC)],
     "alert": ("critical", "0m", None)},
    {"id": "rbac_role_change", "name": "auditops: Role or ClusterRole changed", "priority": "Notice",
     "desc": "A Role or ClusterRole was created, changed or deleted.",
     "condition": "auditops_kevt and ka.target.resource in (roles, clusterroles) "
                  "and ka.verb in (auditops_rbac_writes) and auditops_success",
     "output": "%ka.verb %ka.target.resource %ka.target.namespace/%ka.target.name by %ka.user.name",
     "level": "Metadata",
     "requests": [_req(verb, resource, group=_RBAC, namespace="" if resource == "clusterroles" else NAMESPACE)
                  for resource in ("roles", "clusterroles") for verb in ("create", "update", "patch", "delete")],
     "alert": ("warning", "1m", None)},
    {"id": "rbac_binding_change", "name": "auditops: RoleBinding or ClusterRoleBinding changed",
     "priority": "Notice",
     "desc": "A RoleBinding or ClusterRoleBinding was created, changed or deleted.",
     "condition": "auditops_kevt and ka.target.resource in (rolebindings, clusterrolebindings) "
                  "and ka.verb in (auditops_rbac_writes) and auditops_success",
     "output": "%ka.verb %ka.target.resource %ka.target.namespace/%ka.target.name by %ka.user.name",
     "level": "Metadata",
     "requests": [_req(verb, resource, group=_RBAC, namespace="" if resource == "clusterrolebindings" else NAMESPACE)
                  for resource in ("rolebindings", "clusterrolebindings") for verb in ("create", "update", "delete")],
     "alert": ("warning", "1m", None)},
    {"id": "rbac_wildcard_role", "name": "auditops: Role with wildcard rules", "priority": "Warning",
     "desc": "A Role or ClusterRole granting '*' verbs or resources was created or changed.",
     "condition": "auditops_kevt and ka.target.resource in (roles, clusterroles) and ka.verb in (create, update) "
                  "and (ka.req.role.rules.verbs intersects ('*') or ka.req.role.rules.resources intersects ('*')) "
                  "and auditops_success",
     "output": "%ka.target.resource %ka.target.name grants %ka.req.role.rules by %ka.user.name",
     "level": "Request",
     "requests": [_req("create", "clusterroles", group=_RBAC, namespace=""), _req("create", "roles", group=_RBAC)],
     "alert": ("warning", "1m", None)},
    {"id": "serviceaccount_change", "name": "auditops: ServiceAccount created or deleted", "priority": "Notice",
     "desc": "A ServiceAccount was created or deleted.",
     "condition": "auditops_kevt and ka.target.resource = serviceaccounts and not ka.target.subresource exists "
                  "and ka.verb in (create, delete, deletecollection) and auditops_success",
     "output": "%ka.verb serviceaccount %ka.target.namespace/%ka.target.name by %ka.user.name",
     "level": "Metadata",
     "requests": [_req("create", "serviceaccounts"), _req("delete", "serviceaccounts")],
     "alert": ("info", "1m", None)},
    {"id": "serviceaccount_token", "name": "auditops: ServiceAccount token requested by a person",
     "priority": "Warning",
     "desc": "A person (not a system component) requested a ServiceAccount token (kubectl create token).",
     "condition": "auditops_kevt and ka.target.resource = serviceaccounts and ka.target.subresource = token "
                  "and ka.verb = create and auditops_person and auditops_success",
     "output": "token for %ka.target.namespace/%ka.target.name requested by %ka.user.name (from %ka.sourceips)",
     "level": "Metadata",
     "requests": [_req("create", "serviceaccounts", "token")],
     "alert": ("warning", "1m", None)},
    {"id": "anonymous_request", "name": "auditops: anonymous request", "priority": "Warning",
     "desc": "A request as system:anonymous, other than the health and version endpoints.",
     "condition": "auditops_kevt and ka.user.name = 'system:anonymous' and not ka.uri in (auditops_health_uris)",
     "output": "anonymous %ka.verb %ka.uri -> %ka.response.code (from %ka.sourceips)",
     "level": "Metadata",
     "requests": [_req("list", "secrets", user=_ANONYMOUS)],
     "alert": ("warning", "5m", 10)},
    {"id": "unauthorized_request", "name": "auditops: unauthenticated or forbidden request", "priority": "Notice",
     "desc": "A request that failed authentication (401, a single ResponseStarted event) or was forbidden (403).",
     "condition": "(auditops_kevt_started and ka.response.code = 401) or (auditops_kevt and ka.response.code = 403)",
     "output": "%ka.verb %ka.uri -> %ka.response.code for %ka.user.name (from %ka.sourceips)",
     "level": "Metadata",
     "requests": [_req("list", "secrets", user={"user": None, "groups": []}, stage="ResponseStarted"),
                  _req("get", "secrets")],
     "alert": ("warning", "5m", 20)},
    {"id": "secret_read_by_person", "name": "auditops: Secret read by a person", "priority": "Warning",
     "desc": "A person (not a system component or ServiceAccount) read Secrets.",
     "condition": "auditops_kevt and ka.target.resource = secrets and ka.verb in (get, list, watch) "
                  "and auditops_person and auditops_success",
     "output": "%ka.verb secrets %ka.target.namespace/%ka.target.name by %ka.user.name (from %ka.sourceips)",
     "level": "Metadata",
     "requests": [_req("get", "secrets"), _req("list", "secrets")],
     "alert": ("warning", "1m", None)},
    {"id": "privileged_pod", "name": "auditops: privileged pod", "priority": "Critical",
     "desc": "A pod with a privileged container was created.",
     "condition": "auditops_kevt and auditops_pod_write and ka.req.pod.containers.privileged intersects (true) "
                  "and auditops_success",
     "output": "privileged pod %ka.target.namespace/%ka.target.name (%ka.req.pod.containers.image) by %ka.user.name",
     "level": "Request",
     "requests": [_req("create", "pods")],
     "alert": ("critical", "0m", None)},
    {"id": "hostpath_pod", "name": "auditops: pod with a hostPath volume", "priority": "Warning",
     "desc": "A pod mounting a hostPath volume was created.",
     "condition": "auditops_kevt and auditops_pod_write and ka.req.pod.volumes.volume_type intersects (hostPath) "
                  "and auditops_success",
     "output": "pod %ka.target.namespace/%ka.target.name mounts %ka.req.pod.volumes.hostpath by %ka.user.name",
     "level": "Request",
     "requests": [_req("create", "pods")],
     "alert": ("warning", "1m", None)},
    {"id": "host_namespace_pod", "name": "auditops: pod in a host namespace", "priority": "Warning",
     "desc": "A pod sharing the host's network, PID or IPC namespace was created.",
     "condition": "auditops_kevt and auditops_pod_write and (ka.req.pod.host_network = true "
                  "or ka.req.pod.host_pid = true or ka.req.pod.host_ipc = true) and auditops_success",
     "output": "pod %ka.target.namespace/%ka.target.name hostNetwork=%ka.req.pod.host_network "
               "hostPID=%ka.req.pod.host_pid hostIPC=%ka.req.pod.host_ipc by %ka.user.name",
     "level": "Request",
     "requests": [_req("create", "pods")],
     "alert": ("warning", "1m", None)},
    {"id": "image_without_digest", "name": "auditops: pod image without a digest", "priority": "Notice",
     "desc": "A pod was created whose (first) container image names no digest (@sha256:).",
     "condition": "auditops_kevt and ka.target.resource = pods and not ka.target.subresource exists "
                  "and ka.verb = create and ka.req.container.image exists "
                  # Without the 'exists' the negation is true when the policy records no body (Metadata), and
                  # the rule would fire on every pod: a check on a missing field is false.
                  "and not ka.req.container.image contains '@sha256:' and auditops_success",
     "output": "pod %ka.target.namespace/%ka.target.name images %ka.req.pod.containers.image by %ka.user.name",
     "level": "Request",
     "requests": [_req("create", "pods")],
     "alert": ("info", "1m", None)},
]
DETECTION_IDS = tuple(item["id"] for item in DETECTIONS)
_BY_ID = dict((item["id"], item) for item in DETECTIONS)

APISERVER_ALERTS = [
    {"alert": "AuditopsApiserverAuditErrors", "severity": "critical", "for": "5m",
     "expr": "sum by (plugin) (rate(apiserver_audit_error_total[5m])) > 0",
     "summary": "kube-apiserver failed to audit events ({{ $labels.plugin }} backend)",
     "description": "apiserver_audit_error_total grows: audit events are lost (the log or webhook backend failed, "
                    "or the buffered backend's buffer is full). Detections and KUMA miss these events."},
    {"alert": "AuditopsApiserverAuditRequestsRejected", "severity": "critical", "for": "1m",
     "expr": "sum(rate(apiserver_audit_requests_rejected_total[5m])) > 0",
     "summary": "kube-apiserver rejects requests because its audit backend fails",
     "description": "apiserver_audit_requests_rejected_total grows: API requests fail because an audit "
                    "backend could not record them."},
    {"alert": "AuditopsApiserverNoAuditEvents", "severity": "warning", "for": "15m",
     "expr": "sum(rate(apiserver_audit_event_total[10m])) == 0",
     "summary": "kube-apiserver writes no audit events",
     "description": "apiserver_audit_event_total has not grown for 10 minutes: auditing is off or the "
                    "policy records nothing, so no detection can fire."},
]


class DetectionError(PathError):
    """``path`` names the option, ``message`` says what is wrong."""


def select(ids=None, path="detections"):
    """The catalogue entries for ``ids`` (None: all), in catalogue order."""
    if ids is None:
        return list(DETECTIONS)
    if not isinstance(ids, (list, tuple)):
        raise DetectionError(path, "must be a list of detection ids")
    for index, item in enumerate(ids):
        if item not in _BY_ID:
            raise DetectionError("%s[%d]" % (path, index), "unknown detection %r; known: %s"
                                 % (item, ", ".join(DETECTION_IDS)))
    wanted = set(ids)
    return [item for item in DETECTIONS if item["id"] in wanted]


def _extra_items(extra, priority_style, path="extra_rules"):
    """The caller's own Falco items (FalcoAuditRules spelling), converted for ``priority_style``."""
    out = []
    if extra is None:
        return out
    if not isinstance(extra, list):
        raise DetectionError(path, "must be a list of Falco items (rule, macro or list)")
    for index, item in enumerate(extra):
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ("rule", "macro", "list") \
                or not isinstance(next(iter(item.values())), dict):
            raise DetectionError("%s[%d]" % (path, index), "must be a mapping with exactly one of rule, macro, list")
        item = copy.deepcopy(item)
        rule = item.get("rule")
        if rule is not None:
            rule.setdefault("source", "K8sAudit")
            if rule["source"] != "K8sAudit":
                raise DetectionError("%s[%d].rule.source" % (path, index), "must be K8sAudit (audit-event rules only)")
            if rule.get("priority") not in PRIORITIES:
                raise DetectionError("%s[%d].rule.priority" % (path, index), "must be one of %s"
                                     % ", ".join(PRIORITIES))
            if priority_style == "falco":
                rule["priority"], rule["source"] = PRIORITIES[rule["priority"]], "k8s_audit"
        out.append(item)
    return out


def falco_items(detections, priority_style="deckhouse", extra=None):
    """Macros, lists and rules as Falco items, checked. ``priority_style``: ``deckhouse`` (CRD enum
    spelling, ``source: K8sAudit``) or ``falco`` (rules-file spelling, ``source: k8s_audit``).
    ``extra``: the caller's own items, checked together with the catalogue's."""
    items = [{"list": {"name": name, "items": list(values)}} for name, values in LISTS]
    items += [{"macro": {"name": name, "condition": condition}} for name, condition in MACROS]
    for item in detections:
        rule = {"name": item["name"], "desc": item["desc"], "condition": item["condition"],
                "output": item["output"],
                "priority": item["priority"] if priority_style == "deckhouse" else PRIORITIES[item["priority"]],
                "source": "K8sAudit" if priority_style == "deckhouse" else "k8s_audit",
                "tags": ["k8s", "auditops", item["id"]]}
        items.append({"rule": rule})
    items += _extra_items(extra, priority_style)
    try:
        falco.check_items(items)
    except falco.FalcoRuleError as exc:
        raise DetectionError("detections", str(exc))
    return items


def needs(item):
    """What a detection needs from the audit policy: fields its condition reads (macros included), the
    level carrying them, the stage it matches."""
    rules, macros = falco.check_items(falco_items([item]))
    fields = sorted(falco.expand_fields(item["name"], rules, macros))
    level = "Metadata"
    if any(field.startswith("ka.req.") for field in fields):
        level = "Request"
    if any(field.startswith("ka.resp.") for field in fields):
        level = "RequestResponse"
    stages = sorted(set(request["stage"] for request in item["requests"]))
    return {"fields": fields, "level": level, "stages": stages}


def _metadata(name, owner, namespace=None):
    meta = {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ROLE_LABEL: owner}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def alert_rules(detections, metric=EVENTS_METRIC, apiserver_alerts=True):
    """Prometheus alerting rules: one per detection on the Falco events metric, plus kube-apiserver's."""
    rules = []
    for item in detections:
        severity, duration, threshold = item["alert"]
        selector = '%s{rule="%s"}' % (metric, item["name"].replace("\\", "\\\\").replace('"', '\\"'))
        if threshold is None:
            expr = "sum(increase(%s[10m])) > 0" % selector
            summary = "Falco detected: %s" % item["desc"]
        else:
            expr = "sum(increase(%s[10m])) > %d" % (selector, threshold)
            summary = "More than %d in 10 minutes: %s" % (threshold, item["desc"])
        rules.append({"alert": _alert_name(item["id"]), "expr": expr, "for": duration,
                      "labels": {"severity": severity, "severity_level": SEVERITY_LEVELS[severity], "tier": "cluster"},
                      "annotations": {"summary": summary,
                                      "description": "Falco rule '%s' fired. The event (user, object, source IP) "
                                                     "is in the runtime-audit-engine output and in KUMA." % item["name"]}})
    if apiserver_alerts:
        for alert in APISERVER_ALERTS:
            rules.append({"alert": alert["alert"], "expr": alert["expr"], "for": alert["for"],
                          "labels": {"severity": alert["severity"], "severity_level": SEVERITY_LEVELS[alert["severity"]],
                                     "tier": "cluster"},
                          "annotations": {"summary": alert["summary"], "description": alert["description"]}})
    return rules


def _alert_name(detection_id):
    return "AuditopsDetection" + "".join(part.capitalize() for part in detection_id.split("_"))


ALERT_NAMES = tuple(_alert_name(i) for i in DETECTION_IDS) + tuple(a["alert"] for a in APISERVER_ALERTS)
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_name(name, path):
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 63:
        raise DetectionError(path, "must be a lowercase RFC 1123 label, got %r" % (name,))


def build(target="deckhouse", detections=None, name=DEFAULT_NAME, owner=DEFAULT_OWNER, namespace="monitoring",
          apiserver_alerts=True, metric=EVENTS_METRIC, extra_rules=None):
    """The objects for ``target``: Deckhouse -> [FalcoAuditRules, CustomPrometheusRules];
    kubeadm -> [PrometheusRule] (the Falco rules go to a file, ``falco_rules_file``)."""
    if target not in TARGETS:
        raise DetectionError("target", "must be one of %s" % ", ".join(TARGETS))
    _check_name(name, "name")
    if not isinstance(owner, str) or not owner:
        raise DetectionError("owner", "must be a non-empty string")
    chosen = select(detections)
    falco_items(chosen, extra=extra_rules)  # checked for every target, before anything is built
    if not chosen:
        raise DetectionError("detections", "select at least one detection")
    groups = [{"name": "auditops-detections", "rules": alert_rules(chosen, metric, apiserver_alerts)}]
    if target == "kubeadm":
        _check_name(namespace, "namespace")
        return [{"apiVersion": API_VERSIONS[KIND_PROMETHEUS_RULE], "kind": KIND_PROMETHEUS_RULE,
                 "metadata": _metadata(name, owner, namespace), "spec": {"groups": groups}}]
    return [{"apiVersion": API_VERSIONS[KIND_FALCO], "kind": KIND_FALCO, "metadata": _metadata(name, owner),
             "spec": {"rules": falco_items(chosen, extra=extra_rules)}},
            {"apiVersion": API_VERSIONS[KIND_CPR], "kind": KIND_CPR, "metadata": _metadata(name, owner),
             "spec": {"groups": groups}}]


def falco_rules_file(detections=None, extra_rules=None):
    """The Falco rules file (a YAML list) for Falco with the k8saudit plugin, as data. A rules file writes each
    item flat (``- rule: NAME`` with its keys beside it, https://falco.org/docs/concepts/rules/basic-elements/),
    where FalcoAuditRules nests them (``- rule: {name: NAME, ...}``)."""
    items = [{"required_plugin_versions": [{"name": "k8saudit", "version": "0.7.0"}]}]
    for item in falco_items(select(detections), priority_style="falco", extra=extra_rules):
        (kind, body), = item.items()
        flat = {kind: body["name"]}
        flat.update((key, value) for key, value in body.items() if key != "name")
        items.append(flat)
    return items


# runtime-audit-engine's settings (deckhouse modules/650-runtime-audit-engine/openapi/config-values.yaml).
MODULE_SETTINGS = ("builtInRulesList", "debugLogging", "resourcesRequests")
BUILT_IN_RULES = ("Fstec",)


def module_config(settings=None, path="module_settings"):
    """ModuleConfig turning runtime-audit-engine on. Its settings are only builtInRulesList, debugLogging and
    resourcesRequests: which namespaces are audited is the audit policy's business (control-plane-manager),
    so the detections need nothing more here than the module being on."""
    settings = settings or {}
    if not isinstance(settings, dict):
        raise DetectionError(path, "must be a mapping")
    for key in sorted(settings):
        if key not in MODULE_SETTINGS:
            raise DetectionError("%s.%s" % (path, key), "unknown runtime-audit-engine setting; known: %s"
                                 % ", ".join(MODULE_SETTINGS))
    rules = settings.get("builtInRulesList")
    if rules is not None:
        if not isinstance(rules, list) or any(item not in BUILT_IN_RULES for item in rules):
            raise DetectionError(path + ".builtInRulesList", "must be a list of %s" % ", ".join(BUILT_IN_RULES))
    if "debugLogging" in settings and not isinstance(settings["debugLogging"], bool):
        raise DetectionError(path + ".debugLogging", "must be a boolean")
    spec = {"enabled": True, "version": 1}
    if settings:
        spec["settings"] = copy.deepcopy(settings)
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "runtime-audit-engine"},
            "spec": spec}


def is_owned(obj, owner):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(ROLE_LABEL) == owner


def plan_prune(objects, existing, owner=DEFAULT_OWNER, kinds=DECKHOUSE_KINDS + (KIND_PROMETHEUS_RULE,)):
    """(prune, foreign): live objects of ``kinds`` with this owner's labels that ``objects`` no longer
    holds; objects ``objects`` names that exist without the labels. Unlabelled objects are never pruned."""
    wanted = set((obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"]) for obj in objects)
    prune, foreign = [], []
    for item in existing or []:
        if not isinstance(item, dict) or item.get("kind") not in kinds:
            continue
        meta = item.get("metadata") or {}
        key = (item["kind"], meta.get("namespace") or "", meta.get("name"))
        ref = {"kind": key[0], "api_version": item.get("apiVersion"), "name": key[2], "namespace": key[1] or None}
        if key in wanted:
            if not is_owned(item, owner):
                foreign.append(ref)
        elif is_owned(item, owner):
            prune.append(ref)
    return sorted(prune, key=lambda r: (r["kind"], r["name"])), sorted(foreign, key=lambda r: (r["kind"], r["name"]))


def catalogue():
    """The detections as documentation rows: id, rule, priority, alert, what each needs."""
    rows = []
    for item in DETECTIONS:
        need = needs(item)
        severity, duration, threshold = item["alert"]
        rows.append({"id": item["id"], "rule": item["name"], "priority": item["priority"], "description": item["desc"],
                     "alert": _alert_name(item["id"]), "severity": severity, "for": duration,
                     "threshold": threshold, "fields": need["fields"], "level": need["level"], "stages": need["stages"]})
    return rows
