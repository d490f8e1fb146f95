# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit settings of the Deckhouse control-plane-manager module: what to server-side apply to
``ModuleConfig/control-plane-manager`` and to ``Secret kube-system/audit-policy``, and what the objects
will look like afterwards. Pure Python, no Ansible imports, no API calls.

    plan_module_config(existing, state, enabled, basic_policy, log_output, log_path, ...) -> dict
    plan_secret(existing, state, policy_yaml, ...)                                        -> dict
    validate_settings(settings, version, profile)                                         -> [errors]

Only the keys this role owns are sent (``OWNED``). The prediction follows server-side apply: keys in the
applied object get our values; keys we applied before and leave out now are removed when no other field
manager also owns them; everything else stays. Field ownership is read from ``metadata.managedFields``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json

try:
    import yaml
    HAS_YAML = True
except ImportError:  # diffs fall back to JSON
    yaml = None
    HAS_YAML = False

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import ListError
from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_settings_schema import SNAPSHOTS
from ansible_collections.auditops.deckhouse.plugins.module_utils._openapi import validate as validate_schema

MODULE_NAME = "control-plane-manager"
API_VERSION = "deckhouse.io/v1alpha1"
KIND = "ModuleConfig"
FIELD_MANAGER = "auditops-deckhouse"
OUTPUTS = ("File", "Stdout")
STATES = ("present", "absent")
PROFILES = tuple(sorted(SNAPSHOTS)) + ("none",)
DEFAULT_PROFILE = "latest"
# An existing ModuleConfig without spec.version is read as settings version 1 (the first one).
CREATE_VERSION = 1

SECRET_NAME = "audit-policy"
SECRET_NAMESPACE = "kube-system"
SECRET_KEY = "audit-policy.yaml"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "auditops.deckhouse"

# The keys of spec.settings this role owns; nothing else is ever sent.
OWNED = (
    ("apiserver", "auditPolicyEnabled"),
    ("apiserver", "basicAuditPolicyEnabled"),
    ("apiserver", "auditLog", "output"),
    ("apiserver", "auditLog", "path"),
)
SETTINGS = ("spec", "settings")

# Deckhouse converts a ModuleConfig's settings from spec.version to the newest version before its webhook
# validates them (modules/040-control-plane-manager/openapi/conversions; see docs/audit-settings.md).
# Version N holds the steps from N-1 to N. None of them touches the audit keys.
CONVERSIONS = {
    2: (("delete", ("etcd", "externalMembersNames")),),
    3: (("move", ("apiserver", "loadBalancer"), ("apiserver", "publishAPI", "loadBalancer")),),
}

# auditLog.path is the hostPath of the directory kube-apiserver writes audit.log into, mounted read-write into
# its container (extraVolume kube-audit-log of Deckhouse's kubeadm config template,
# ../shared/reference/deckhouse/control-plane-kubeadm-config.v1beta4.yaml.tpl). Deckhouse's
# settings schema only asks for ^[a-zA-Z0-9_/.-]+[a-zA-Z0-9_.-]$, which lets through relative paths, '..' and
# the node's system directories: a log directory there makes them writable from kube-apiserver (or, on a file
# such as /etc/shadow, stops kube-apiserver from starting). These are refused.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr",
               "/var/lib/containerd", "/var/lib/etcd", "/var/lib/kubelet")

_MISSING = object()


class SettingsError(ListError):
    """Input that cannot be planned; ``errors`` holds one 'path: message' string per problem."""


# --- small helpers --------------------------------------------------------------------------------

def dotted(path):
    return ".".join(path)


def _get(node, path, default=_MISSING):
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _set(node, path, value):
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _delete(node, path):
    """Remove the leaf at ``path`` and then every parent map the removal left empty."""
    parents = []
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return False
        parents.append((node, key))
        node = node[key]
    if path[-1] not in node:
        return False
    del node[path[-1]]
    for parent, key in reversed(parents):
        if parent[key]:
            break
        del parent[key]
    return True


def _same(one, other):
    # true == 1 in Python; in the API they are different values.
    return type(one) is type(other) and one == other if not isinstance(one, (dict, list)) else one == other


def _show(value):
    return "<unset>" if value is _MISSING else json.dumps(value, sort_keys=True)


def _single(existing, what, kind, name=None, namespace=None):
    """``existing`` as one object or None: k8s_info gives a list, a caller may give the object or {}."""
    if existing is None or existing == {} or existing == []:
        return None
    if isinstance(existing, list):
        if len(existing) > 1:
            raise SettingsError(["%s: expected at most one object, got %d" % (what, len(existing))])
        return _single(existing[0], "%s[0]" % what, kind, name, namespace)
    if not isinstance(existing, dict):
        raise SettingsError(["%s: expected the object as read by kubernetes.core.k8s_info, got %s"
                             % (what, type(existing).__name__)])
    metadata = existing.get("metadata") if isinstance(existing.get("metadata"), dict) else {}
    if existing.get("kind") not in (None, kind):
        raise SettingsError(["%s.kind: expected %s, got %r" % (what, kind, existing.get("kind"))])
    if name is not None and metadata.get("name") not in (None, name):
        raise SettingsError(["%s.metadata.name: expected %s, got %r" % (what, name, metadata.get("name"))])
    if namespace is not None and metadata.get("namespace") not in (None, namespace):
        raise SettingsError(["%s.metadata.namespace: expected %s, got %r" % (what, namespace, metadata.get("namespace"))])
    return existing


# --- field ownership (metadata.managedFields) -----------------------------------------------------

def owners(obj, path):
    """Field managers that own ``path`` (or something below it) of ``obj``: a list of
    ``{"manager", "operation"}``, from ``metadata.managedFields`` (FieldsV1), subresources ignored."""
    found = []
    entries = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("subresource") or entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            continue
        node = entry.get("fieldsV1") or {}
        for key in path:
            node = node.get("f:" + key) if isinstance(node, dict) else None
            if node is None:
                break
        else:
            item = {"manager": entry.get("manager"), "operation": entry.get("operation")}
            if item not in found:
                found.append(item)
    return found


def _is_us(owner, field_manager):
    return owner["manager"] == field_manager and owner["operation"] == "Apply"


def _split_owners(obj, path, field_manager):
    all_owners = owners(obj, path)
    ours = any(_is_us(o, field_manager) for o in all_owners)
    others = [o for o in all_owners if not _is_us(o, field_manager)]
    return ours, others


def _manager_text(others):
    return ", ".join("%s (%s)" % (o["manager"], o["operation"]) for o in others)


# --- validation against the module's settings schema ---------------------------------------------

# Deckhouse sets additionalProperties: false wherever a module schema leaves it out, so its webhook
# refuses settings the schema does not define.
_UNKNOWN_SETTING = "Forbidden: not a setting of %s in this schema version" % MODULE_NAME


def convert(settings, from_version, to_version):
    """``settings`` of version ``from_version`` as Deckhouse converts them to ``to_version`` (a copy)."""
    settings = copy.deepcopy(settings)
    for version in range(int(from_version) + 1, int(to_version) + 1):
        for step in CONVERSIONS.get(version, ()):
            value = _get(settings, step[1])
            if value is _MISSING:
                continue
            _delete(settings, step[1])
            if step[0] == "move" and _get(settings, step[2]) is _MISSING:
                _set(settings, step[2], value)
    return settings


def _version_number(value, path):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise SettingsError(["%s: expected a whole number of 1 or more, got %s" % (path, _show(value))])
    return int(value)


def schema_version(profile=DEFAULT_PROFILE):
    """The settings version (``x-config-version``) of the schema ``profile``: what a new ModuleConfig gets in
    ``spec.version``, so Deckhouse does not count it as outdated. ``none`` (no schema check) writes the version
    of the newest known schema."""
    snapshot = SNAPSHOTS.get(profile) or SNAPSHOTS[DEFAULT_PROFILE]
    return snapshot["config_version"]


def validate_settings(settings, version=CREATE_VERSION, profile=DEFAULT_PROFILE):
    """Errors (``spec.settings.<path>: message``) Deckhouse's webhook would give for ``settings`` of settings
    version ``version``, and warnings. The profile ``none`` skips validation."""
    if profile == "none":
        return [], []
    if profile not in SNAPSHOTS:
        raise SettingsError(["settings_schema: unknown profile %r (known: %s)" % (profile, ", ".join(PROFILES))])
    snapshot = SNAPSHOTS[profile]
    target = snapshot["config_version"]
    version = version or CREATE_VERSION
    warnings = []
    if version > target:
        warnings.append("ModuleConfig/%s uses settings version %d but the %r schema is version %d; settings newer "
                        "than that schema may be reported as unknown (choose another settings_schema, or none)"
                        % (MODULE_NAME, version, profile, target))
    converted = convert(settings, version, target) if version < target else settings
    return validate_schema(converted, snapshot["schema"], dotted(SETTINGS), unknown=_UNKNOWN_SETTING,
                           defaults=False), warnings


# --- ModuleConfig ---------------------------------------------------------------------------------

def log_path_problem(path):
    """Why ``path`` cannot be ``auditLog.path`` (None when it can): an absolute directory named without '.'
    or '..' segments, outside the node's system directories (SYSTEM_DIRS)."""
    if not path.startswith("/"):
        return "%s: expected an absolute directory such as /var/log/kube-audit" % _show(path)
    if path.strip("/") == "":
        return "%s is the root directory; use a directory such as /var/log/kube-audit" % _show(path)
    # A trailing '/' is left to the schema check (Deckhouse's pattern refuses it).
    segments = path.rstrip("/").split("/")[1:]
    if any(segment in ("", ".", "..") for segment in segments):
        return ("%s: name the directory without '.', '..' or empty segments (kube-apiserver's log directory "
                "is a hostPath on every master)" % _show(path))
    for directory in SYSTEM_DIRS:
        if path.rstrip("/") == directory or path.startswith(directory + "/"):
            return ("%s is inside %s: kube-apiserver mounts its log directory read-write, so that system "
                    "directory would become writable from it; use a directory such as /var/log/kube-audit"
                    % (_show(path), directory))
    return None


def desired_leaves(state="present", enabled=True, basic_policy=True, log_output="File", log_path=None):
    """The owned keys to send, as ``{path tuple: value}``. ``absent`` sends only auditPolicyEnabled: false;
    the other keys are left out, so server-side apply removes them where only this role set them."""
    errors = []
    if state not in STATES:
        errors.append("state: expected one of %s, got %r" % (", ".join(STATES), state))
    for name, value in (("enabled", enabled), ("basic_policy", basic_policy)):
        if not isinstance(value, bool):
            errors.append("%s: expected a boolean, got %s" % (name, _show(value)))
    if log_output not in OUTPUTS:
        errors.append("log_output: expected one of %s, got %s" % (", ".join(OUTPUTS), _show(log_output)))
    if log_path is not None and not isinstance(log_path, str):
        errors.append("log_path: expected a string, got %s" % _show(log_path))
    elif log_path:
        problem = log_path_problem(log_path)
        if problem:
            errors.append("log_path: %s" % problem)
    if errors:
        raise SettingsError(errors)
    if state == "absent":
        return {OWNED[0]: False}
    leaves = {OWNED[0]: enabled, OWNED[1]: basic_policy, OWNED[2]: log_output}
    if log_path:
        leaves[OWNED[3]] = log_path
    return leaves


def _nested(leaves):
    out = {}
    for path, value in leaves.items():
        _set(out, path, value)
    return out


def _changes(before, after, paths, prefix):
    lines = []
    for path in paths:
        old, new = _get(before, path), _get(after, path)
        if not (old is _MISSING and new is _MISSING) and (old is _MISSING or new is _MISSING or not _same(old, new)):
            lines.append({"path": dotted(prefix + path), "before": None if old is _MISSING else old,
                          "after": None if new is _MISSING else new,
                          "action": "add" if old is _MISSING else ("remove" if new is _MISSING else "change")})
    return lines


def plan_module_config(existing, state="present", enabled=True, basic_policy=True, log_output="File", log_path=None,
                       field_manager=FIELD_MANAGER, settings_schema=DEFAULT_PROFILE, force_conflicts=False):
    """What to apply to ``ModuleConfig/control-plane-manager`` and the predicted result.

    ``existing`` is the object as kubernetes.core.k8s_info returns it (a ``resources`` list, one object, or
    empty). Raises SettingsError for bad input; schema errors and ownership conflicts are returned in
    ``errors`` / ``conflicts`` so the caller can show them all."""
    existing = _single(existing, "existing", KIND, MODULE_NAME)
    leaves = desired_leaves(state, enabled, basic_policy, log_output, log_path)
    spec = (existing or {}).get("spec") if isinstance((existing or {}).get("spec"), dict) else {}
    if spec.get("settings") is not None and not isinstance(spec.get("settings"), dict):
        # The CRD declares spec.settings an object; anything else is not what the API server stores.
        raise SettingsError(["existing.spec.settings: expected an object (the settings as read from the cluster), "
                             "got %s" % _show(spec.get("settings"))])
    before = copy.deepcopy(spec.get("settings")) if isinstance(spec.get("settings"), dict) else {}
    version = _version_number(spec.get("version"), "existing.spec.version")
    if version is not None and settings_schema in SNAPSHOTS and version > SNAPSHOTS[settings_schema]["config_version"]:
        # Conversions between versions move keys (version 3 moved apiserver.loadBalancer); keys merged into
        # settings of a version this collection has no schema for may land where Deckhouse no longer reads them.
        raise SettingsError(["existing.spec.version: %d is newer than settings version %d of the %r schema, so "
                             "where the audit keys belong in it is unknown; use settings_schema none to merge them "
                             "without a schema check"
                             % (version, SNAPSHOTS[settings_schema]["config_version"], settings_schema)])
    plan = {"action": "none", "object": None, "create": existing is None, "changed": False,
            "before": {"version": version, "settings": before}, "after": {"version": version, "settings": before},
            "changes": [], "released": [], "conflicts": [], "errors": [], "warnings": []}
    if existing is None and state == "absent":
        return plan  # nothing to turn off; do not create the object for that
    if existing is not None and spec.get("enabled") is False:
        plan["warnings"].append("ModuleConfig/%s has spec.enabled: false; Deckhouse ignores its settings"
                                % MODULE_NAME)

    after = copy.deepcopy(before)
    needs_apply = existing is None
    for path, value in leaves.items():
        current = _get(before, path)
        ours, others = _split_owners(existing, SETTINGS + path, field_manager)
        if current is not _MISSING and not _same(current, value) and others:
            plan["conflicts"].append({"path": dotted(SETTINGS + path), "before": current, "after": value,
                                      "managers": others})
        if not ours or current is _MISSING or not _same(current, value):
            needs_apply = True
        _set(after, path, value)
    for path in OWNED:
        if path in leaves or _get(after, path) is _MISSING:
            continue
        ours, others = _split_owners(existing, SETTINGS + path, field_manager)
        if ours:
            needs_apply = True  # releasing our ownership is a change of the object too
            if not others:
                _delete(after, path)
                plan["released"].append(dotted(SETTINGS + path))

    apply_spec = {"settings": _nested(leaves)}
    new_version = version
    if existing is None:
        new_version = apply_spec["version"] = schema_version(settings_schema)
    elif version is not None and _split_owners(existing, ("spec", "version"), field_manager)[0]:
        # We set it when we created the object; leaving it out now would make the server remove it.
        apply_spec["version"] = spec.get("version")

    errors, warnings = validate_settings(after, new_version, settings_schema)
    owned = tuple(dotted(SETTINGS + path) for path in OWNED)
    for error in errors:
        field = error.split(": ", 1)[0]
        if not any(field == name or field.startswith(name + ".") for name in owned):
            error += " (a setting this role does not manage: fix it in the ModuleConfig)"
        plan["errors"].append(error)
    plan["warnings"].extend(warnings)
    if plan["conflicts"] and not force_conflicts:
        for item in plan["conflicts"]:
            plan["errors"].append("%s: %s is set by %s; this role would change it to %s (set force_conflicts to take "
                                  "the key over)" % (item["path"], _show(item["before"]), _manager_text(item["managers"]),
                                                     _show(item["after"])))

    plan["after"] = {"version": new_version, "settings": after}
    plan["changes"] = _changes(before, after, OWNED, SETTINGS)
    if new_version != version:
        plan["changes"].insert(0, {"path": "spec.version", "before": version, "after": new_version, "action": "add"})
    plan["changed"] = existing is None or bool(plan["changes"])
    if needs_apply:
        plan["action"] = "apply"
        plan["object"] = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": MODULE_NAME}, "spec": apply_spec}
    return plan


# --- Secret kube-system/audit-policy -------------------------------------------------------------

def decode_secret_value(value):
    """The text of a Secret ``data`` value, or raise ValueError when it is not Base64 of UTF-8 text."""
    try:
        return base64.b64decode(value.encode("ascii") if isinstance(value, str) else value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError("not Base64 of UTF-8 text: %s" % exc)


def encode_secret_value(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def secret_object(data=None, labels=True, name=SECRET_NAME, namespace=SECRET_NAMESPACE):
    metadata = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
    if data:
        obj["data"] = data
    return obj


def plan_secret(existing, state="present", policy_yaml=None, field_manager=FIELD_MANAGER, force_conflicts=False,
                name=SECRET_NAME, namespace=SECRET_NAMESPACE, key=SECRET_KEY):
    """What to do with the policy Secret: ``action`` apply, delete or none, the object to apply, the decoded
    policy before and after, and how to put the old content back (``rollback``).

    ``policy_yaml`` None with ``present`` leaves the Secret alone. An unchanged policy (same text) is not
    rewritten."""
    existing = _single(existing, "existing_secret", "Secret", name, namespace)
    if policy_yaml is not None and not isinstance(policy_yaml, str):
        raise SettingsError(["policy_yaml: expected text, got %s" % type(policy_yaml).__name__])
    data = (existing or {}).get("data") if isinstance((existing or {}).get("data"), dict) else {}
    before_text, warnings = None, []
    if key in data:
        try:
            before_text = decode_secret_value(data[key])
        except ValueError as exc:
            before_text = ""
            warnings.append("Secret %s/%s data.%s is %s; it is replaced" % (namespace, name, key, exc))
    plan = {"action": "none", "object": None, "changed": False, "exists": existing is not None,
            "before_policy": before_text, "after_policy": before_text, "conflicts": [], "errors": [],
            "warnings": warnings, "rollback": {"action": "none", "object": None}}
    if state == "absent":
        if existing is not None:
            plan.update(action="delete", changed=True, after_policy=None)
    elif policy_yaml is not None and policy_yaml != before_text:
        plan.update(action="apply", changed=True, after_policy=policy_yaml,
                    object=secret_object({key: encode_secret_value(policy_yaml)}, name=name, namespace=namespace))
        ours, others = _split_owners(existing, ("data", key), field_manager)
        if before_text is not None and others:
            plan["conflicts"].append({"path": "data.%s" % key, "managers": others})
            if not force_conflicts:
                plan["errors"].append("Secret %s/%s data.%s is set by %s; this role would replace it (set "
                                      "force_conflicts to take the key over)" % (namespace, name, key, _manager_text(others)))
    if plan["action"] != "none":
        if existing is None:
            plan["rollback"] = {"action": "delete", "object": secret_object(labels=False, name=name, namespace=namespace)}
        else:
            # Applying the old value (or leaving the key out when there was none) with the same field manager
            # puts the Secret back as it was: fields only we set are removed again. The managed-by label goes
            # along when the Secret had it (left out, the apply would remove the label of an earlier run).
            old = {key: data[key]} if key in data else None
            labelled = ((existing.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
            plan["rollback"] = {"action": "apply",
                                "object": secret_object(old, labels=labelled, name=name, namespace=namespace)}
    return plan


# --- what the masters render -------------------------------------------------------------------

DEFAULT_LOG_PATH = "/var/log/kube-audit"


def rendered_audit(settings, policy_text):
    """What Deckhouse renders into kube-apiserver's manifest and audit policy file from ``settings``
    (``spec.settings``) and the Secret's ``audit-policy.yaml`` (None when absent), in a form two of which compare
    equal exactly when the masters get the same audit configuration (hooks/audit_policy.go, the kubeadm config
    templates; docs/audit-settings.md):

    - basic rules when ``basicAuditPolicyEnabled`` (default true); the Secret's rules and omitStages only when
      ``auditPolicyEnabled`` (default false), as the hook parses them (comments and dropped fields do not count);
    - no policy at all, and no audit flags, when neither gives a rule;
    - the log flags from ``auditLog.output`` (default File) and, for File, ``auditLog.path``."""
    from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_policy import deckhouse_parse

    apiserver = (settings or {}).get("apiserver") if isinstance((settings or {}).get("apiserver"), dict) else {}
    basic = apiserver.get("basicAuditPolicyEnabled", True) is not False
    custom = None
    if apiserver.get("auditPolicyEnabled") is True and policy_text is not None:
        hook = deckhouse_parse(policy_text)
        # A Secret the hook refuses stops the module's run; the masters keep what they had.
        custom = {"rules": hook.rules, "omitStages": hook.omit_stages} if hook.accepted else {"refused": policy_text}
        if hook.accepted and not hook.rules and not hook.omit_stages:
            custom = None
    if not basic and (custom is None or not custom.get("rules")) and "refused" not in (custom or {}):
        return {"policy": None}
    log = apiserver.get("auditLog") if isinstance(apiserver.get("auditLog"), dict) else {}
    output = log.get("output", "File")
    return {"policy": {"basic": basic, "custom": custom}, "output": output,
            "path": log.get("path", DEFAULT_LOG_PATH) if output == "File" else None}


def rollout_expected(module_config_plan, secret_plan):
    """``(expected, reason)``: whether the planned change alters what the masters render, so Deckhouse rolls
    kube-apiserver on every master (a new checksum annotation), and why."""
    before = rendered_audit(module_config_plan["before"]["settings"], secret_plan["before_policy"])
    after = rendered_audit(module_config_plan["after"]["settings"], secret_plan["after_policy"])
    if before == after:
        return False, ("the masters render the same audit configuration before and after this change (a policy "
                       "Secret Deckhouse does not read while auditPolicyEnabled is false, or the same rules)")
    changed = [name for name in ("policy", "output", "path") if before.get(name) != after.get(name)]
    return True, "the rendered audit %s change" % " and ".join(changed)


# --- readable diff --------------------------------------------------------------------------------

def to_text(value):
    """Block YAML (JSON without PyYAML) for a diff."""
    if value is None:
        return ""
    if HAS_YAML:
        return yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True)
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def diff(module_config_plan, secret_plan, name=SECRET_NAME, namespace=SECRET_NAMESPACE, key=SECRET_KEY):
    """Ansible diff entries: the ModuleConfig spec (version and settings) and the decoded policy."""
    out = []
    if module_config_plan is not None and module_config_plan["changed"]:
        before = None if module_config_plan["create"] else module_config_plan["before"]
        out.append({"before_header": "ModuleConfig/%s spec" % MODULE_NAME,
                    "after_header": "ModuleConfig/%s spec" % MODULE_NAME,
                    "before": to_text(before), "after": to_text(module_config_plan["after"])})
    if secret_plan is not None and secret_plan["changed"]:
        header = "Secret %s/%s data.%s (decoded)" % (namespace, name, key)
        out.append({"before_header": header, "after_header": header,
                    "before": secret_plan["before_policy"] or "", "after": secret_plan["after_policy"] or ""})
    return out
