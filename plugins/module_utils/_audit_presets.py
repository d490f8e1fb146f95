# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, presets: the collection's named starting policies.
"""

from __future__ import annotations

import copy

from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_common import API_VERSION, PolicyError, PRESETS

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
