# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit logging for kubeadm control planes (no Deckhouse): the files, flags and hostPath volumes of the
kube-apiserver static pod, and the same settings in the ``kubeadm-config`` ConfigMap's ClusterConfiguration.
Pure Python (PyYAML), no Ansible imports; manifest editing goes through ``_apiserver_manifest``.

Policy and webhook files are content-addressed (``policy-<sha256 prefix>.yaml``): a new policy is a new file
and a new ``--audit-policy-file`` value, so the manifest changes whenever the policy does (the kubelet
restarts kube-apiserver, which reads the policy only at start), and the previous manifest - the backup -
still points to a file that exists, so restoring it is a complete rollback.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import posixpath
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import ListError
from ansible_collections.auditops.deckhouse.plugins.module_utils._cpm_settings import log_path_problem
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import (
    HAS_YAML,
    dump_manifest,
    ensure_host_path_volume,
    find_container,
    get_flags,
    load_manifest,
    set_flags,
    strip_flags,
)

from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import GoYamlError, dump as _dump_yaml, go_load_all

DEFAULT_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
DEFAULT_POLICY_DIR = "/etc/kubernetes/audit"
DEFAULT_LOG_DIR = "/var/log/kubernetes/audit"
LOG_FILE = "audit.log"
POLICY_VOLUME = "auditops-audit-policy"
LOG_VOLUME = "auditops-audit-log"
MANAGED_VOLUMES = (POLICY_VOLUME, LOG_VOLUME)
OUTPUTS = ("File", "Stdout")
POLICY_PATTERN = "policy-*.yaml"
WEBHOOK_PATTERN = "webhook-*.kubeconfig"
# Directories whose every file is acted upon by the kubelet; audit files there would be run as pods.
WATCHED_DIRS = ("/etc/kubernetes/manifests",)

# The flags this role sets; in state present every other --audit-* flag is removed (a stale or mistyped one
# can stop kube-apiserver at start), except those given as extra flags.
POLICY_FLAG = "--audit-policy-file"
WEBHOOK_FLAG = "--audit-webhook-config-file"
MANAGED_FLAGS = (POLICY_FLAG, "--audit-log-path", "--audit-log-format", "--audit-log-maxage", "--audit-log-maxsize",
                 "--audit-log-maxbackup", WEBHOOK_FLAG)

KUBEADM_API_GROUP = "kubeadm.k8s.io"
# v1beta2 and v1beta3 have extraArgs as a map; v1beta4 (kubeadm 1.31+) as a list of {name, value}.
KUBEADM_MAP_ARGS = ("v1beta2", "v1beta3")
KUBEADM_LIST_ARGS = ("v1beta4",)

_IMAGE_VERSION = re.compile(r":v?(\d+\.\d+(?:\.\d+)?)(?:[-+@][^:/]*)?$")
_FLAG_NAME = re.compile(r"^--audit-[a-z0-9-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The rotation flags are Go ints; a larger value fails kube-apiserver's flag parsing and stops it at start
# (2**31 - 1 keeps 32-bit builds safe too).
MAX_FLAG_INT = 2147483647


class KubeadmAuditError(ListError):
    """Input that cannot be applied; ``errors`` holds one 'path: message' string per problem."""


# kubeconfig user fields that hold a credential (k8s.io/client-go/tools/clientcmd/api/v1 AuthInfo).
_SECRET_USER_FIELDS = ("token", "client-key-data", "password")


def kubeconfig_secrets(config):
    """The credentials in a webhook kubeconfig (mapping or YAML text): every user's token, client key data and
    password, the auth-provider config values and the exec plugin's env values. The module hides these from every
    output; an unreadable text has none to find (the audit webhook loader reports it)."""
    if isinstance(config, str):
        if not HAS_YAML:
            return []
        try:
            docs = go_load_all(config)
        except GoYamlError:
            return []
        config = docs[0] if docs else None
    found = []
    users = config.get("users") if isinstance(config, dict) else None
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        found += [user[key] for key in _SECRET_USER_FIELDS if isinstance(user.get(key), str)]
        provider = user.get("auth-provider")
        if isinstance(provider, dict) and isinstance(provider.get("config"), dict):
            found += [value for value in provider["config"].values() if isinstance(value, str)]
        plugin = user.get("exec")
        if isinstance(plugin, dict) and isinstance(plugin.get("env"), list):
            found += [item.get("value") for item in plugin["env"] if isinstance(item, dict)
                      and isinstance(item.get("value"), str)]
    # Short values (such as "x") would mask unrelated text everywhere and are no secret worth the name.
    return sorted(set(value for value in found if len(value) >= 4))


def content_name(pattern, text):
    """``policy-*.yaml`` + text -> ``policy-<first 16 hex of sha256>.yaml``."""
    return pattern.replace("*", hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])


def owned(name, text):
    """Whether file ``name`` with content ``text`` is one this module wrote: it matches a pattern and its name is
    the hash of its content. A hand-made ``policy-mine.yaml`` (or one whose content was edited) is not ours."""
    for pattern in (POLICY_PATTERN, WEBHOOK_PATTERN):
        if fnmatch.fnmatchcase(name, pattern) and isinstance(text, str) and content_name(pattern, text) == name:
            return True
    return False


def _inside(path, directory):
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _flag_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize_flag(name):
    text = name.strip() if isinstance(name, str) else ""
    return "--" + text.lstrip("-") if text else ""


def build_config(policy_yaml, manifest_path=DEFAULT_MANIFEST, policy_dir=DEFAULT_POLICY_DIR, log_output="File",
                 log_dir=DEFAULT_LOG_DIR, log_maxage=30, log_maxsize=100, log_maxbackup=10, webhook_config=None,
                 extra_flags=None):
    """Files, flags and volumes for ``state=present``. ``policy_yaml`` is the checked policy text;
    ``webhook_config`` the text of the webhook kubeconfig (or None). Raises KubeadmAuditError."""
    errors = []
    manifest_dir = posixpath.dirname(posixpath.normpath(manifest_path))
    for option, value in (("policy_dir", policy_dir), ("log_dir", log_dir)):
        if not isinstance(value, str) or not value.startswith("/"):
            errors.append("%s: expected an absolute path, got %r" % (option, value))
            continue
        for watched in WATCHED_DIRS + (manifest_dir,):
            if _inside(value, watched):
                errors.append("%s: %s is inside %s, where the kubelet runs every file as a pod" % (option, value, watched))
                break
        else:
            # The log directory is a read-write hostPath of kube-apiserver, as Deckhouse's auditLog.path is.
            problem = log_path_problem(value) if option == "log_dir" else None
            if problem:
                errors.append("%s: %s" % (option, problem))
    if log_output not in OUTPUTS:
        errors.append("log_output: expected one of %s, got %r" % (", ".join(OUTPUTS), log_output))
    for option, value in (("log_maxage", log_maxage), ("log_maxsize", log_maxsize), ("log_maxbackup", log_maxbackup)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FLAG_INT:
            errors.append("%s: expected a whole number from 0 to %d, got %r" % (option, MAX_FLAG_INT, value))
    if not isinstance(policy_yaml, str) or not policy_yaml.strip():
        errors.append("policy: required with state=present")
    extra = {}
    for raw, value in (extra_flags or {}).items():
        name = normalize_flag(raw)
        if not _FLAG_NAME.fullmatch(name):
            errors.append("extra_flags.%s: expected an --audit-* flag name such as audit-log-compress" % raw)
        elif name in MANAGED_FLAGS:
            errors.append("extra_flags.%s: set by this module; use its own option" % raw)
        elif value is None or isinstance(value, (dict, list)):
            errors.append("extra_flags.%s: expected a single value, got %r" % (raw, value))
        elif _CONTROL.search(_flag_value(value)):
            errors.append("extra_flags.%s: the value holds a control character (such as a newline)" % raw)
        else:
            extra[name] = _flag_value(value)
    if errors:
        raise KubeadmAuditError(errors)

    policy_dir = posixpath.normpath(policy_dir)
    log_dir = posixpath.normpath(log_dir)
    policy_path = posixpath.join(policy_dir, content_name(POLICY_PATTERN, policy_yaml))
    files = [{"path": policy_path, "content": policy_yaml, "kind": "policy"}]
    flags = [(POLICY_FLAG, policy_path), ("--audit-log-format", "json")]
    volumes = [{"name": POLICY_VOLUME, "host_path": policy_dir, "mount_path": policy_dir,
                "type": "DirectoryOrCreate", "read_only": True}]
    if log_output == "File":
        flags += [("--audit-log-path", posixpath.join(log_dir, LOG_FILE)), ("--audit-log-maxage", str(log_maxage)),
                  ("--audit-log-maxsize", str(log_maxsize)), ("--audit-log-maxbackup", str(log_maxbackup))]
        volumes.append({"name": LOG_VOLUME, "host_path": log_dir, "mount_path": log_dir,
                        "type": "DirectoryOrCreate", "read_only": False})
    else:
        flags.append(("--audit-log-path", "-"))
    webhook_path = None
    if webhook_config:
        webhook_path = posixpath.join(policy_dir, content_name(WEBHOOK_PATTERN, webhook_config))
        files.append({"path": webhook_path, "content": webhook_config, "kind": "webhook"})
        flags.append((WEBHOOK_FLAG, webhook_path))
    flags += sorted(extra.items())
    return {"policy_dir": policy_dir, "log_dir": log_dir, "policy_path": policy_path, "webhook_path": webhook_path,
            "files": files, "flags": flags, "volumes": volumes, "log_output": log_output}


def image_version(pod):
    """Kubernetes version from the kube-apiserver image tag (``registry.k8s.io/kube-apiserver:v1.31.4``)."""
    container = find_container(pod)[1]
    match = _IMAGE_VERSION.search(str(container.get("image") or ""))
    return match.group(1) if match else None


def audit_flags(pod):
    return [(name, value) for name, value in get_flags(pod) if name.startswith("--audit-")]


def remove_volumes(pod, names):
    """Remove volumes and the kube-apiserver container's mounts called ``names``; returns the names removed."""
    spec = pod["spec"]
    container = find_container(pod)[1]
    removed = []
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        kept = [v for v in volumes if not (isinstance(v, dict) and v.get("name") in names)]
        removed = [v.get("name") for v in volumes if isinstance(v, dict) and v.get("name") in names]
        if len(kept) != len(volumes):
            spec["volumes"] = kept
    mounts = container.get("volumeMounts")
    if isinstance(mounts, list):
        kept = [m for m in mounts if not (isinstance(m, dict) and m.get("name") in names)]
        if len(kept) != len(mounts):
            removed += [m.get("name") for m in mounts if isinstance(m, dict) and m.get("name") in names]
            container["volumeMounts"] = kept
    return sorted(set(removed))


def _result(text, fmt, original, pod, before_flags, removed_volumes):
    changed = pod != original
    after_flags = audit_flags(pod)
    return (dump_manifest(pod, fmt) if changed else text), {
        "changed": changed,
        "removed_flags": ["%s=%s" % (n, v) if v is not None else n for n, v in before_flags if (n, v) not in after_flags],
        "added_flags": ["%s=%s" % (n, v) if v is not None else n for n, v in after_flags if (n, v) not in before_flags],
        "removed_volumes": removed_volumes,
        "referenced_before": referenced_files(original),
        "kubernetes_version": image_version(pod),
    }


def _drop_same_mount_path(pod, volumes):
    """A container may mount only one volume at a path: other mounts at our mount paths go, and their volumes
    when no other container uses them (a hand-made audit-log volume at the same directory, for instance)."""
    spec = pod["spec"]
    index, container = find_container(pod)
    ours = dict((posixpath.normpath(v["mount_path"]), v["name"]) for v in volumes)
    clashing = [m.get("name") for m in container.get("volumeMounts") or [] if isinstance(m, dict)
                and isinstance(m.get("mountPath"), str) and ours.get(posixpath.normpath(m["mountPath"])) not in (None, m.get("name"))]
    if not clashing:
        return []
    container["volumeMounts"] = [m for m in container["volumeMounts"] if not (isinstance(m, dict) and m.get("name") in clashing)]
    used = set()
    for key in ("containers", "initContainers"):
        for position, other in enumerate(spec.get(key) or []):
            if isinstance(other, dict) and not (key == "containers" and position == index):
                used.update(m.get("name") for m in other.get("volumeMounts") or [] if isinstance(m, dict))
    used.update(m.get("name") for m in container["volumeMounts"] if isinstance(m, dict))
    gone = [name for name in clashing if name not in used]
    if gone and isinstance(spec.get("volumes"), list):
        spec["volumes"] = [v for v in spec["volumes"] if not (isinstance(v, dict) and v.get("name") in gone)]
    return gone


def edit_manifest(text, config):
    """The manifest with exactly the audit flags and volumes of ``config``: ``(new_text, info)``. ``new_text`` is
    ``text`` itself when nothing changes. Raises ManifestError."""
    pod, fmt = load_manifest(text)
    original = copy.deepcopy(pod)
    before_flags = audit_flags(pod)
    wanted = dict(config["flags"])
    # Flags we do not set, and flags whose value changes: stripping them also drops the volumes only their old
    # values used (the docs' single-file policy mount, type File, for instance); set_flags puts ours back in place.
    outdated = sorted(set(name for name, value in before_flags if wanted.get(name) != value))
    removed_volumes = []
    if outdated:
        removed_volumes += strip_flags(pod, outdated).removed_volumes
    set_flags(pod, config["flags"])
    removed_volumes += _drop_same_mount_path(pod, config["volumes"])
    for volume in config["volumes"]:
        ensure_host_path_volume(pod, volume["name"], volume["host_path"], volume["mount_path"], volume["type"],
                                volume["read_only"])
    wanted_volumes = [volume["name"] for volume in config["volumes"]]
    removed_volumes += remove_volumes(pod, [name for name in MANAGED_VOLUMES if name not in wanted_volumes])
    return _result(text, fmt, original, pod, before_flags, sorted(set(removed_volumes)))


def remove_from_manifest(text):
    """The manifest without any --audit-* flag and without this module's volumes: ``(new_text, info)``."""
    pod, fmt = load_manifest(text)
    original = copy.deepcopy(pod)
    before_flags = audit_flags(pod)
    removed = strip_flags(pod, ("--audit-*",)).removed_volumes
    removed += remove_volumes(pod, MANAGED_VOLUMES)
    return _result(text, fmt, original, pod, before_flags, sorted(set(removed)))


def referenced_files(pod):
    """Files the manifest's audit flags point to (policy and webhook config)."""
    flags = dict(get_flags(pod))
    return [flags[name] for name in (POLICY_FLAG, WEBHOOK_FLAG) if flags.get(name)]


def stale_files(listing, directory, keep, current):
    """Which of this module's files in ``directory`` to delete. ``listing`` is ``[(name, mtime)]``; ``keep`` the
    paths still referenced (the new and the previous manifest); ``current`` the paths the new manifest uses.

    The file the previous manifest used is kept for a rollback; on a run that changes nothing, the newest
    other file is kept instead, so a repeated run deletes nothing."""
    delete = []
    for pattern in (POLICY_PATTERN, WEBHOOK_PATTERN):
        ours = sorted(((mtime, name) for name, mtime in listing if fnmatch.fnmatchcase(name, pattern)), reverse=True)
        paths = [posixpath.join(directory, name) for _mtime, name in ours]
        kept = [p for p in paths if p in keep]
        if not [p for p in kept if p not in current]:
            # Nothing older is referenced: keep the newest of the rest as the rollback target.
            kept += [p for p in paths if p not in kept][:1]
        delete += [p for p in paths if p not in kept]
    return sorted(delete)


# --- kubeadm-config ConfigMap ---------------------------------------------------------------------------

def kubeadm_extra_args(config):
    """The flags of ``config`` as ClusterConfiguration apiServer.extraArgs (names without dashes)."""
    return dict((name[2:], value) for name, value in config["flags"])


def kubeadm_extra_volumes(config):
    return [{"name": v["name"], "hostPath": v["host_path"], "mountPath": v["mount_path"], "readOnly": v["read_only"],
             "pathType": v["type"]} for v in config["volumes"]]


def check_extra_args(extra_args):
    """``extra_args`` for the ClusterConfiguration: only ``audit-*`` names (any other, such as
    ``authorization-mode``, would overwrite or duplicate a security setting of the cluster) and single-line values.
    Raises KubeadmAuditError naming ``extra_args.<name>``."""
    errors = []
    for name, value in (extra_args or {}).items():
        if not isinstance(name, str) or not _FLAG_NAME.fullmatch("--" + name):
            errors.append("extra_args.%s: expected an audit-* argument name without dashes, such as audit-log-path"
                          % (name,))
        elif value is None or isinstance(value, (dict, list)):
            errors.append("extra_args.%s: expected a single value, got %r" % (name, value))
        elif _CONTROL.search(_flag_value(value)):
            errors.append("extra_args.%s: the value holds a control character (such as a newline)" % name)
    if errors:
        raise KubeadmAuditError(errors)


def _load_cluster_configuration(text):
    if not HAS_YAML:
        raise KubeadmAuditError(["PyYAML is required to read the ClusterConfiguration"])
    # kubeadm reads it with sigs.k8s.io/yaml: Go's typing, and quoting on the way out that Go reads back the same.
    try:
        docs = go_load_all(text)
    except GoYamlError as exc:
        raise KubeadmAuditError(["data.ClusterConfiguration: not valid YAML: %s" % exc])
    doc = docs[0] if docs else None
    if not isinstance(doc, dict):
        raise KubeadmAuditError(["data.ClusterConfiguration: expected a mapping, got %s" % type(doc).__name__])
    if doc.get("kind") != "ClusterConfiguration":
        raise KubeadmAuditError(["data.ClusterConfiguration.kind: expected ClusterConfiguration, got %r" % doc.get("kind")])
    group, _sep, version = str(doc.get("apiVersion") or "").partition("/")
    if group != KUBEADM_API_GROUP or version not in KUBEADM_MAP_ARGS + KUBEADM_LIST_ARGS:
        raise KubeadmAuditError(["data.ClusterConfiguration.apiVersion: expected %s/%s, got %r"
                                 % (KUBEADM_API_GROUP, "|".join(KUBEADM_MAP_ARGS + KUBEADM_LIST_ARGS), doc.get("apiVersion"))])
    return doc, version


def update_cluster_configuration(text, extra_args=None, extra_volumes=None, state="present"):
    """ClusterConfiguration text with the audit ``extra_args`` (``{name: value}``, names without dashes) and
    ``extra_volumes`` set and every other ``audit-*`` argument and this module's other volumes removed
    (``state=absent`` removes them all). Returns ``(new_text, info)``; ``new_text`` is ``text`` when nothing
    changes."""
    if state != "absent":
        check_extra_args(extra_args)
    doc, version = _load_cluster_configuration(text)
    original = copy.deepcopy(doc)
    wanted = {} if state == "absent" else dict((k, _flag_value(v)) for k, v in (extra_args or {}).items())
    volumes = [] if state == "absent" else list(extra_volumes or [])
    api = doc.get("apiServer")
    if api is None:
        if not wanted and not volumes:
            return text, {"changed": False, "api_version": version}
        api = doc["apiServer"] = {}
    if not isinstance(api, dict):
        raise KubeadmAuditError(["data.ClusterConfiguration.apiServer: expected a mapping, got %s" % type(api).__name__])

    args = api.get("extraArgs")
    if version in KUBEADM_MAP_ARGS:
        if args is not None and not isinstance(args, dict):
            raise KubeadmAuditError(["data.ClusterConfiguration.apiServer.extraArgs: expected a mapping in %s" % version])
        args = dict(args or {})
        for name in [n for n in args if str(n).startswith("audit-") and n not in wanted]:
            del args[name]
        args.update(wanted)
    else:
        if args is not None and not isinstance(args, list):
            raise KubeadmAuditError(["data.ClusterConfiguration.apiServer.extraArgs: expected a list of name/value "
                                     "in %s" % version])
        result, seen = [], set()
        for index, item in enumerate(args or []):
            if not isinstance(item, dict) or "name" not in item:
                raise KubeadmAuditError(["data.ClusterConfiguration.apiServer.extraArgs[%d]: expected name and value" % index])
            name = str(item["name"])
            if not name.startswith("audit-"):
                result.append(item)
            elif name in wanted and name not in seen:
                result.append({"name": name, "value": wanted[name]})
                seen.add(name)
        result += [{"name": n, "value": v} for n, v in sorted(wanted.items()) if n not in seen]
        args = result
    if args:
        api["extraArgs"] = args
    else:
        api.pop("extraArgs", None)

    current = api.get("extraVolumes")
    if current is not None and not isinstance(current, list):
        raise KubeadmAuditError(["data.ClusterConfiguration.apiServer.extraVolumes: expected a list"])
    by_name = dict((v["name"], v) for v in volumes)
    result, seen = [], set()
    for item in current or []:
        name = item.get("name") if isinstance(item, dict) else None
        if name in by_name:
            if name not in seen:
                result.append(by_name[name])
                seen.add(name)
        elif name not in MANAGED_VOLUMES:
            result.append(item)
    result += [v for v in volumes if v["name"] not in seen]
    if result:
        api["extraVolumes"] = result
    else:
        api.pop("extraVolumes", None)
    if not api and "apiServer" not in original:
        doc.pop("apiServer")

    if doc == original:
        return text, {"changed": False, "api_version": version}
    new_text = _dump_yaml(doc, manifest=True)
    return new_text, {"changed": True, "api_version": version}
