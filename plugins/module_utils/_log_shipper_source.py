# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ClusterLoggingConfig from the compact input (File and KubernetesPods sources, selectors,
filters, multiline parsers, destination references) and the audit-log source that follows the
control-plane-manager audit settings. Part of the engine behind _log_shipper.py."""

from __future__ import annotations

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (
    _index, _join, _key, _metadata, DEFAULT_AUDIT_LOG, DEFAULT_SOURCE_NAME, KIND_CONFIG, LogShipperError)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_input import (
    _as_dict, _as_list, _as_str, _as_str_list, _build_filters, _check_name, _choose, _given, _labels_value,
    _norm, NO_VALUE_OPERATORS)


SOURCE_KEYS = ("name", "type", "include", "exclude", "line_delimiter", "log_filter", "label_filter",
               "multiline_parser", "destinations", "namespace_selector", "label_selector",
               "keep_deleted_files_opened_for")
FILE_ONLY = ("include", "exclude", "line_delimiter")
PODS_ONLY = ("namespace_selector", "label_selector", "keep_deleted_files_opened_for")
NAMESPACE_SELECTOR_KEYS = ("match_names", "exclude_names", "label_selector")
LABEL_SELECTOR_KEYS = ("match_labels", "match_expressions")
EXPRESSION_KEYS = ("key", "operator", "values")
MULTILINE_KEYS = ("type", "custom")
CUSTOM_KEYS = ("starts_when", "ends_when")
CONDITION_KEYS = ("regex", "not_regex")


# control-plane-manager ModuleConfig (deckhouse.io/v1alpha1, cluster-scoped): spec.settings.apiserver.auditLog
# has output File (default) or Stdout and path (default /var/log/kube-audit, the directory of audit.log).
MODULE_CONFIG_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
DEFAULT_AUDIT_DIR = "/var/log/kube-audit"
# kubeadm labels its kube-apiserver static pod component=kube-apiserver (Deckhouse masters are kubeadm-built).
APISERVER_POD_LABELS = {"component": "kube-apiserver"}


def audit_log_settings(module_config):
    """(output, directory) of the audit log from a control-plane-manager ModuleConfig; None means the defaults."""
    settings = ((module_config or {}).get("spec") or {}).get("settings") or {}
    log = ((settings.get("apiserver") or {}) if isinstance(settings, dict) else {}).get("auditLog") or {}
    if not isinstance(log, dict):
        log = {}
    return _norm_output(log.get("output")), log.get("path") or DEFAULT_AUDIT_DIR


def _norm_output(value):
    return "Stdout" if _norm(value or "file") == "stdout" else "File"


def follow_audit_log(sources, output="File", directory=DEFAULT_AUDIT_DIR, path="audit_log"):
    """The input sources with the audit-log source(s) made to match the audit settings.

    An audit-log source is a file source without ``include`` (``sources=None`` is one named
    kuma-kube-audit). With output File it reads ``<directory>/audit.log``; with Stdout (kube-apiserver
    logs audit events to its container's stdout) it becomes a KubernetesPods source for the
    kube-apiserver pods in kube-system, keeping only lines with an ``auditID`` (the apiserver's own
    log lines are not JSON audit events). Other sources are returned as given.
    """
    output = _norm_output(output)
    if output == "File" and (not isinstance(directory, str) or not directory.startswith("/")
                             or directory.endswith("/") or not re.match(r"^[a-zA-Z0-9_/.-]+$", directory)):
        raise LogShipperError(["%s.path: %s is not an absolute directory without a trailing '/'"
                               % (path, _show(directory))])
    if sources is None:
        sources = [{"name": DEFAULT_SOURCE_NAME}]
    out = []
    for spec in sources:
        audit = (isinstance(spec, dict) and _norm(_given(spec, "type") or "file") == "file"
                 and _given(spec, "include") is None)
        if not audit:
            out.append(spec)
            continue
        spec = dict((k, v) for k, v in spec.items() if v is not None)
        if output == "File":
            spec["include"] = ["%s/audit.log" % directory]
        else:
            spec["type"] = "kubernetes_pods"
            spec["namespace_selector"] = {"match_names": ["kube-system"]}
            spec["label_selector"] = {"match_labels": dict(APISERVER_POD_LABELS)}
            spec["log_filter"] = list(spec.get("log_filter") or []) + [{"field": "auditID", "operator": "Exists"}]
        out.append(spec)
    return out


def _build_label_selector(ctx, value, path, profile, schema_path):
    selector = _as_dict(ctx, value, path, LABEL_SELECTOR_KEYS)
    if selector is None:
        return None
    out = {}
    labels = _as_dict(ctx, _given(selector, "match_labels"), _join(path, "match_labels"))
    if labels:
        out["matchLabels"] = dict((k, _labels_value(ctx, labels[k], _key(_join(path, "match_labels"), k)))
                                  for k in sorted(labels))
    expressions = _as_list(ctx, _given(selector, "match_expressions"), _join(path, "match_expressions"))
    operators = profile.enum(KIND_CONFIG, schema_path + ".matchExpressions[].operator")
    if expressions:
        out["matchExpressions"] = []
        for index, expr in enumerate(expressions):
            epath = _index(_join(path, "match_expressions"), index)
            expr = _as_dict(ctx, expr, epath, EXPRESSION_KEYS)
            if expr is None:
                continue
            item = {
                "key": _as_str(ctx, _given(expr, "key"), _join(epath, "key"), required=True),
                "operator": _choose(ctx, _as_str(ctx, _given(expr, "operator"), _join(epath, "operator"), required=True),
                                    operators, _join(epath, "operator"), "operator"),
            }
            values = _as_str_list(ctx, _given(expr, "values"), _join(epath, "values"))
            if item["operator"] in NO_VALUE_OPERATORS and values:
                ctx.error(_join(epath, "values"), "must be empty for operator %s" % item["operator"])
            elif item["operator"] in ("In", "NotIn") and not values:
                ctx.error(_join(epath, "values"), "required for operator %s" % item["operator"])
            if values:
                item["values"] = values
            out["matchExpressions"].append(item)
    if not out:
        ctx.error(path, "set match_labels or match_expressions")
    return out


def _build_pods(ctx, spec, path, profile):
    pods = {}
    nss = _as_dict(ctx, _given(spec, "namespace_selector"), _join(path, "namespace_selector"), NAMESPACE_SELECTOR_KEYS)
    if nss is not None:
        npath = _join(path, "namespace_selector")
        chosen = [key for key in NAMESPACE_SELECTOR_KEYS if _given(nss, key) is not None]
        if len(chosen) != 1:
            ctx.error(npath, "set exactly one of match_names, exclude_names, label_selector")
        selector = {}
        for key, field in (("match_names", "matchNames"), ("exclude_names", "excludeNames")):
            names = _as_str_list(ctx, _given(nss, key), _join(npath, key))
            if names is not None:
                selector[field] = names
        if _given(nss, "label_selector") is not None:
            selector["labelSelector"] = _build_label_selector(
                ctx, nss["label_selector"], _join(npath, "label_selector"), profile,
                "spec.kubernetesPods.namespaceSelector.labelSelector")
        pods["namespaceSelector"] = selector
    if _given(spec, "label_selector") is not None:
        pods["labelSelector"] = _build_label_selector(ctx, spec["label_selector"], _join(path, "label_selector"),
                                                      profile, "spec.kubernetesPods.labelSelector")
    keep = _as_str(ctx, _given(spec, "keep_deleted_files_opened_for"), _join(path, "keep_deleted_files_opened_for"))
    if keep:
        pods["keepDeletedFilesOpenedFor"] = keep
    return pods


def _build_multiline(ctx, value, path, profile):
    parser = _as_dict(ctx, value, path, MULTILINE_KEYS)
    if parser is None:
        return None
    kind = _choose(ctx, _as_str(ctx, _given(parser, "type"), _join(path, "type"), required=True),
                   profile.enum(KIND_CONFIG, "spec.multilineParser.type"), _join(path, "type"), "multiline parser type")
    out = {"type": kind}
    custom = _as_dict(ctx, _given(parser, "custom"), _join(path, "custom"), CUSTOM_KEYS)
    if kind == "Custom":
        cpath = _join(path, "custom")
        if not custom or not any(_given(custom, k) is not None for k in CUSTOM_KEYS):
            ctx.error(cpath, "required for type custom: set starts_when or ends_when")
        else:
            out["custom"] = {}
            for key, field in (("starts_when", "startsWhen"), ("ends_when", "endsWhen")):
                cond = _as_dict(ctx, _given(custom, key), _join(cpath, key), CONDITION_KEYS)
                if cond is None:
                    continue
                given = [k for k in CONDITION_KEYS if _given(cond, k) is not None]
                if len(given) != 1:
                    ctx.error(_join(cpath, key), "set exactly one of regex, not_regex")
                    continue
                rpath = _join(_join(cpath, key), given[0])
                text = _as_str(ctx, cond[given[0]], rpath)
                try:
                    re.compile(text or "")
                except re.error as exc:
                    ctx.warn(rpath, "does not compile as a Python regex (%s); Vector uses Rust regex syntax" % exc)
                out["custom"][field] = {"regex" if given[0] == "regex" else "notRegex": text}
    elif custom is not None:
        ctx.error(_join(path, "custom"), "only for type custom")
    return out


def _build_logging_config(ctx, spec, profile, destination_names, path, owner):
    spec = _as_dict(ctx, spec, path, SOURCE_KEYS)
    if spec is None:
        return None
    name = _as_str(ctx, _given(spec, "name"), _join(path, "name"), required=True)
    _check_name(ctx, name, _join(path, "name"))
    stype = _norm(_given(spec, "type") or "file")
    body = {}
    if stype == "file":
        for key in PODS_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type kubernetes_pods")
        include = _as_str_list(ctx, _given(spec, "include"), _join(path, "include"))
        if include is None:
            include = [DEFAULT_AUDIT_LOG]
        elif not include:
            ctx.error(_join(path, "include"), "must list at least one path (an empty include reads nothing)")
        for index, item in enumerate(include):
            if not item.startswith("/"):
                ctx.error(_index(_join(path, "include"), index), "must be an absolute path or glob")
        file_block = {"include": include}
        exclude = _as_str_list(ctx, _given(spec, "exclude"), _join(path, "exclude"))
        if exclude:
            file_block["exclude"] = exclude
        delimiter = _as_str(ctx, _given(spec, "line_delimiter"), _join(path, "line_delimiter"))
        if delimiter:
            file_block["lineDelimiter"] = delimiter
        body = {"type": "File", "file": file_block}
    elif stype == "kubernetespods":
        for key in FILE_ONLY:
            if _given(spec, key) is not None:
                ctx.error(_join(path, key), "only for type file")
        body = {"type": "KubernetesPods"}
        pods = _build_pods(ctx, spec, path, profile)
        if pods:
            body["kubernetesPods"] = pods
    else:
        ctx.error(_join(path, "type"), "unsupported source type %s; supported: file, kubernetes_pods"
                  % _show(_given(spec, "type")))
    for key, field, require_field in (("label_filter", "labelFilter", True), ("log_filter", "logFilter", False)):
        filters = _build_filters(ctx, _given(spec, key), _join(path, key), profile, KIND_CONFIG, "spec." + field,
                                 require_field)
        if filters:
            body[field] = filters
    parser = _build_multiline(ctx, _given(spec, "multiline_parser"), _join(path, "multiline_parser"), profile)
    if parser is not None:
        body["multilineParser"] = parser
    refs = _as_str_list(ctx, _given(spec, "destinations"), _join(path, "destinations"))
    if refs is None:
        refs = list(dict.fromkeys(destination_names))
    if not refs and destination_names:
        ctx.error(_join(path, "destinations"), "no destination to send to")
    seen = set()
    for index, ref in enumerate(refs):
        if ref in seen:
            ctx.error(_index(_join(path, "destinations"), index), "destination %s listed twice" % _show(ref))
        seen.add(ref)
        if ref not in destination_names:
            ctx.error(_index(_join(path, "destinations"), index), "unknown destination %s; defined: %s"
                      % (_show(ref), ", ".join(destination_names) or "none"))
    body["destinationRefs"] = refs
    return {"apiVersion": profile.api_version(KIND_CONFIG), "kind": KIND_CONFIG,
            "metadata": _metadata(name, owner), "spec": body}
