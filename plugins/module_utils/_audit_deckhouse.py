# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, Deckhouse: the basic policy Deckhouse puts in front of a custom one,
the hook's strict parsing of the Secret, and the composed effective policy.
"""

from __future__ import annotations

import copy
import math
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import (  # noqa: F401
    API_VERSION, DECKHOUSE_LAYOUTS, DEFAULT_KUBERNETES_VERSION, finding, go_quote, parse_version, PolicyError,
    TARGETS)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_read import (  # noqa: F401
    _check_json_values, _compose_first_document, _Fatal, _key_text, _plain_data, _YamlReader)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_decode import (  # noqa: F401
    _decode_data, _Decoder, _fold, _POLICY)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_lint import (  # noqa: F401
    _is_catch_all, _lint_exec, rule_covers, rules_overlap)

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
                                           % (fully, pre[fully][0], basic["level"],
                                              " (with the same level, so nothing is lost)" if same else "")))
        elif partial:
            result.shadowed.append({"rule": user_index, "path": path, "fully": False, "shadowed_by": [
                {"index": index, "level": pre[index][1]["level"], "description": pre[index][0]} for index in partial]})
            result.findings.append(finding("info", "deckhouse-overlap", path,
                                           "on Deckhouse some requests this rule targets are decided earlier by basic "
                                           "rules with another level: %s" % "; ".join(
                                               "%d (%s, %s)" % (index, pre[index][0], pre[index][1]["level"])
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
