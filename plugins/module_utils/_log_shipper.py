# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deckhouse log-shipper objects for KUMA: a compact destination/source description becomes
ClusterLogDestination / ClusterLoggingConfig manifests, checked against the CRD's OpenAPI schema
before anything leaves the controller.

Pure Python (no Ansible, no PyYAML, no jsonschema) so it runs wherever a module runs.

Public API:
  resolve_profile(name=None, crds=None) -> Profile     named Deckhouse profile or live CRDs
  build_destination(spec, profile, path) -> dict       one ClusterLogDestination
  build_logging_config(spec, profile, destination_names, path) -> dict
  build(destinations, sources, profile, prefix, owner) -> dict(objects, warnings, endpoints, kinds)
  validate(instance, schema, path) -> [error, ...]      OpenAPI v3 subset used by CRDs
  validate_object(obj, profile) -> [error, ...]
  to_yaml(obj) / plan_render(dest_dir, objects, owner, prune)
  plan_prune(objects, existing, owner) -> (prune, foreign)

This file is the engine's public face (modules, filters, tests and benchmarks import from here); each
concern has its own private file:

  _log_shipper_common.py       API names, labels, LogShipperError, field paths, validate_object
  _log_shipper_profile.py      Profile, profile_from_crds, named_profile, resolve_profile
  _log_shipper_input.py        typed reading of the compact input (collector, types, enums, addresses, filters)
  _log_shipper_destination.py  ClusterLogDestination: type dispatch, labels, rate limit, buffer, secret warnings
  _log_shipper_sinks.py        the block of each destination type (socket ... splunk) and TLS material
  _log_shipper_source.py       ClusterLoggingConfig builder, the audit-log source (follow_audit_log)
  _log_shipper_render.py       to_yaml, secret masking, plan_render, plan_prune
  _log_shipper.py              build, build_destination, build_logging_config and these re-exports
  _log_shipper_apply.py        applying the objects over the API (separate engine)
  _log_shipper_schema.py       generated CRD snapshots (tools/gen_log_shipper_schema.py)
"""

from __future__ import annotations

from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import show as _show, trim_crd, unchecked_rules  # noqa: F401 (re-exported, see __all__)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_common import (  # noqa: F401 (re-exported, see __all__)
    _index, _join, _LABEL_VALUE, BUILDER_VERSIONS, CRD_NAMES, DEFAULT_AUDIT_LOG, DEFAULT_OWNER, DEFAULT_PROFILE,
    DEFAULT_SOURCE_NAME, GROUP, KIND_CONFIG, KIND_DESTINATION, KINDS, LogShipperError, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, MASK, MIN_DISK_BUFFER, ROLE_LABEL, SECRET_FIELDS, validate, validate_object)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_profile import (  # noqa: F401 (re-exported, see __all__)
    named_profile, Profile, profile_from_crds, resolve_profile)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_input import (  # noqa: F401 (re-exported, see __all__)
    _Ctx, parse_address, parse_url, quantity_bytes)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_destination import (  # noqa: F401 (re-exported, see __all__)
    _build_destination, CEF_SEVERITY_NAMES, default_destination_name, DESTINATION_KEYS, endpoints)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_sinks import (  # noqa: F401 (re-exported, see __all__)
    TYPES as DESTINATION_TYPES)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_source import (  # noqa: F401 (re-exported, see __all__)
    _build_logging_config, APISERVER_POD_LABELS, audit_log_settings, DEFAULT_AUDIT_DIR, follow_audit_log,
    MODULE_CONFIG_PATH, SOURCE_KEYS)
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_render import (  # noqa: F401 (re-exported, see __all__)
    file_name, has_secrets, label_selector, mask_secrets, mask_yaml_text, plan_prune, plan_render, to_yaml)

__all__ = [
    "APISERVER_POD_LABELS", "audit_log_settings", "build", "build_destination", "build_logging_config",
    "BUILDER_VERSIONS", "CEF_SEVERITY_NAMES", "CRD_NAMES", "DEFAULT_AUDIT_DIR", "DEFAULT_AUDIT_LOG", "DEFAULT_OWNER",
    "DEFAULT_PROFILE", "DEFAULT_SOURCE_NAME", "default_destination_name", "DESTINATION_KEYS", "DESTINATION_TYPES", "endpoints",
    "file_name", "follow_audit_log", "GROUP", "has_secrets", "KIND_CONFIG", "KIND_DESTINATION", "KINDS",
    "label_selector", "LogShipperError", "MANAGED_BY_LABEL", "MANAGED_BY_VALUE", "MASK", "mask_secrets",
    "mask_yaml_text", "MIN_DISK_BUFFER", "MODULE_CONFIG_PATH", "named_profile", "parse_address", "parse_url",
    "plan_prune", "plan_render", "Profile", "profile_from_crds", "quantity_bytes", "resolve_profile", "ROLE_LABEL",
    "SECRET_FIELDS", "SOURCE_KEYS", "to_yaml", "trim_crd", "unchecked_rules", "validate", "validate_object",
]


def _check_owner(owner):
    if not owner or len(owner) > 63 or not _LABEL_VALUE.match(owner):
        raise LogShipperError(["owner: %s is not a valid label value" % _show(owner)])


def _claim_name(ctx, names, obj, path, what, list_path):
    """Add ``obj``'s name to ``names``, the names taken so far in ``list_path``; the same name twice is an error
    (the second object would silently replace the first, as in the seed examples)."""
    name = obj["metadata"]["name"]
    if name in names:
        ctx.error(_join(path, "name"), "%s name %s is already used by %s[%d]; names must be unique"
                  % (what, _show(name), list_path, names.index(name)))
    names.append(name)


def _check(ctx, built, profile):
    """Raise LogShipperError with the input problems ``ctx`` collected, else with every schema problem of the
    ``(path, object)`` pairs in ``built`` (``path (Kind/name): problem``)."""
    ctx.check()
    errors = ["%s (%s/%s): %s" % (path, obj["kind"], obj["metadata"]["name"], e)
              for path, obj in built for e in validate_object(obj, profile)]
    if errors:
        raise LogShipperError(errors)


def build_destination(spec, profile, path="destinations[0]", owner=DEFAULT_OWNER):
    """One ClusterLogDestination from a compact description; raises LogShipperError."""
    _check_owner(owner)
    ctx = _Ctx()
    obj, _endpoints = _build_destination(ctx, spec, profile, path, owner)
    _check(ctx, [(path, obj)], profile)
    return obj


def build_logging_config(spec, profile, destination_names, path="sources[0]", owner=DEFAULT_OWNER):
    """One ClusterLoggingConfig; ``destination_names`` are the destinations it may reference."""
    _check_owner(owner)
    ctx = _Ctx()
    obj = _build_logging_config(ctx, spec, profile, list(destination_names), path, owner)
    _check(ctx, [(path, obj)], profile)
    return obj


def build(destinations, sources, profile, prefix="", owner=DEFAULT_OWNER):
    """All objects for the given input, validated; raises LogShipperError listing every problem.

    ``prefix`` is prepended to the input names in error paths (the role passes
    'kuma_log_shipper_' so errors read 'kuma_log_shipper_destinations[2].address').
    ``sources=None`` means one File source for the audit log to every destination.
    Returns dict(objects, warnings, endpoints, kinds): destinations first, then sources.
    """
    _check_owner(owner)
    ctx = _Ctx()
    dpath, spath = prefix + "destinations", prefix + "sources"
    if destinations is not None and not isinstance(destinations, list):
        raise LogShipperError(["%s: must be a list" % dpath])
    if sources is not None and not isinstance(sources, list):
        raise LogShipperError(["%s: must be a list" % spath])
    if sources is None:
        sources = [{"name": DEFAULT_SOURCE_NAME}]
    built, endpoints, names = [], [], []
    for index, spec in enumerate(destinations or []):
        path = _index(dpath, index)
        obj, points = _build_destination(ctx, spec, profile, path, owner)
        if obj is None:
            continue
        _claim_name(ctx, names, obj, path, "destination", dpath)
        built.append((path, obj))
        endpoints.extend(points)
    if not names:
        ctx.error(dpath, "define at least one destination")
    source_names = []
    for index, spec in enumerate(sources or []):
        path = _index(spath, index)
        obj = _build_logging_config(ctx, spec, profile, names, path, owner)
        if obj is None:
            continue
        _claim_name(ctx, source_names, obj, path, "source", spath)
        built.append((path, obj))
    _check(ctx, built, profile)
    return {
        "objects": [obj for _path, obj in built],
        "warnings": ctx.warnings,
        "endpoints": endpoints,
        "kinds": profile.kinds(),
    }
