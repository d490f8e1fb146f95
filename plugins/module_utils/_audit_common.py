# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit policy engine, shared pieces: Kubernetes versions, constants, findings, field errors and
Go's quoting of values in messages. Pure Python, no Ansible.
"""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import Error, PathError

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
# The most policy text (or JSON of a given mapping) this collection reads: its own limit, checked before
# parsing. kube-apiserver reads a policy file of any size; four times what a Deckhouse Secret can hold keeps a
# mistaken input (a log file, a 15 MB generated policy) from parsing for minutes.
MAX_POLICY_BYTES = 4 * 1024 * 1024
# What one Secret can hold: kube-apiserver refuses a Secret whose data values add up to more (k8s.io/kubernetes
# pkg/apis/core/types.go MaxSecretSize, checked by ValidateSecret in pkg/apis/core/validation/validation.go).
# Deckhouse mode puts the policy into Secret kube-system/audit-policy.
MAX_SECRET_BYTES = 1024 * 1024
# Rules checked pairwise for shadowing (a rule every request of which an earlier one takes): the check is
# quadratic, so past this many rules it is left out and said so.
MAX_SHADOW_CHECK_RULES = 1000

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
