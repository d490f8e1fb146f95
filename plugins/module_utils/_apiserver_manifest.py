# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Static pod manifest editing: find the kube-apiserver container, remove or set its flags and
keep the volumes in step. Pure Python (PyYAML only), no Ansible imports.

Flags may sit in ``command`` (kubeadm, Deckhouse) or ``args``, as ``--flag=value`` or as
``--flag value``. Only the named container is edited; sidecars (Deckhouse's ``healthcheck``) and
the pod's metadata stay as they were, so Deckhouse's checksum annotation survives the edit.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import posixpath
import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import PathError
from ansible_collections.auditops.deckhouse.plugins.module_utils._yaml import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    GoYamlError,
    dump as _dump_yaml,
    go_load_all,
)

APISERVER = "kube-apiserver"

# Every --audit-* flag can stop kube-apiserver at start: --audit-policy-file is loaded even with no
# backend, --audit-log-path opens its file even without a policy, sub-flags fail validation, and a
# mistyped --audit-* flag fails flag parsing. Removing them all turns auditing off and nothing else.
DEFAULT_STRIP = ("--audit-*",)

# pflag booleans: in the "--flag value" form they never take the next item as their value.
BOOL_FLAGS = frozenset((
    "--audit-log-compress",
    "--audit-log-batch-throttle-enable",
    "--audit-log-truncate-enabled",
    "--audit-webhook-batch-throttle-enable",
    "--audit-webhook-truncate-enabled",
    "--allow-privileged",
    "--anonymous-auth",
    "--enable-aggregator-routing",
    "--enable-bootstrap-token-auth",
    "--enable-garbage-collector",
    "--enable-priority-and-fairness",
    "--profiling",
    "--contention-profiling",
    "--enable-logs-handler",
    "--logtostderr",
))
# Only --audit-* flags are ever stripped: removing another one is never a recovery (without
# --authorization-mode the server falls back to AlwaysAllow). The flags below are named in the refusal when a
# pattern would match them: the server cannot start, or starts open, without them.
PROTECTED_FLAGS = (
    "--authorization-mode",
    "--anonymous-auth",
    "--enable-admission-plugins",
    "--etcd-servers",
    "--secure-port",
    "--bind-address",
    "--advertise-address",
    "--client-ca-file",
    "--tls-cert-file",
    "--tls-private-key-file",
    "--service-account-issuer",
    "--service-account-key-file",
    "--service-account-signing-key-file",
    "--service-cluster-ip-range",
    "--etcd-cafile",
    "--etcd-certfile",
    "--etcd-keyfile",
)
_BOOL_WORDS = frozenset(("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"))
_SHORT_FLAG = re.compile(r"^-[A-Za-z]")
# A strip pattern: an --audit- prefix, then flag-name characters and the globs * and ?.
_AUDIT_PATTERN = re.compile(r"^--audit-[a-z0-9*?-]*$")
# Control characters (a newline in a flag value starts a new argument in some renderings).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# An absolute path inside a flag value: the whole value, or after ',', '=', ':' or ';'
# (file lists, key=path pairs). '//' starts a URL authority, not a path.
_PATH_IN_VALUE = re.compile(r"(?:^|[,=:;\s])(/[^,=:;\s]*)")


class ManifestError(PathError):
    """A manifest that cannot be edited; ``field`` is the offending path (``spec.containers[0].args``)."""

    @property
    def field(self):
        return self.path


class StripResult(object):
    """What strip_flags removed: ``removed_flags`` as written in the manifest ("--a=b" or "--a b"),
    ``removed_volumes`` by name."""

    def __init__(self, removed_flags, removed_volumes):
        self.removed_flags = removed_flags
        self.removed_volumes = removed_volumes

    @property
    def changed(self):
        return bool(self.removed_flags or self.removed_volumes)


# --- loading and dumping ------------------------------------------------------------------------
# The kubelet reads manifests with sigs.k8s.io/yaml (go-yaml v2): values are read by those rules (_yaml.go_load_all)
# and written with quoting that Go reads back as the same type (_yaml.dump), so a value nobody edits keeps the
# type and the value the kubelet saw (PyYAML's YAML 1.1 turned "10:30" into 630 and refused a plain "=").

def load_manifest(text, container=APISERVER):
    """Parse ``text`` (YAML or JSON, str or bytes) into a Pod dict and check it is an editable static pod
    with a ``container`` container. Returns ``(pod, fmt)`` where ``fmt`` tells dump_manifest how to write
    it back. Raises ManifestError."""
    if not HAS_YAML:
        raise ManifestError("", "PyYAML is required to read static pod manifests: %s" % YAML_IMPORT_ERROR)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError("", "not UTF-8 text: %s" % exc)
    stripped = text.lstrip()
    header = []
    for line in text.splitlines(True):
        if not line.startswith("#"):
            break
        header.append(line)
    body = text[len("".join(header)):].lstrip()
    fmt = {
        "json": stripped.startswith("{"),
        "explicit_start": body.startswith("---"),
        # The comment block at the top of the file is kept; other comments are lost on an edit.
        "header": "".join(header),
    }
    try:
        docs = [doc for doc in go_load_all(text) if doc is not None]
    except GoYamlError as exc:
        raise ManifestError("", "not valid YAML: %s" % exc)
    if not docs:
        raise ManifestError("", "empty manifest")
    if len(docs) > 1:
        # The kubelet would silently read the first document only; editing one of them is a guess.
        raise ManifestError("", "%d YAML documents; a static pod manifest holds exactly one" % len(docs))
    pod = docs[0]
    if not isinstance(pod, dict):
        raise ManifestError("", "expected a Pod object, got %s" % type(pod).__name__)
    if pod.get("kind") != "Pod":
        raise ManifestError("kind", "expected Pod, got %r" % (pod.get("kind"),))
    if pod.get("apiVersion") != "v1":
        raise ManifestError("apiVersion", "expected v1, got %r" % (pod.get("apiVersion"),))
    find_container(pod, container)
    return pod, fmt


def dump_manifest(pod, fmt=None):
    """Serialise ``pod`` in the format load_manifest reported, keeping key order."""
    fmt = fmt or {}
    if fmt.get("json"):
        return json.dumps(pod, indent=2, ensure_ascii=False) + "\n"
    return fmt.get("header", "") + _dump_yaml(pod, explicit_start=bool(fmt.get("explicit_start")), manifest=True)


def find_container(pod, name=APISERVER):
    """Return ``(index, container)`` of the container called ``name``; ManifestError if there is none."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError("spec", "expected a mapping, got %s" % type(spec).__name__)
    containers = spec.get("containers")
    if not isinstance(containers, list):
        raise ManifestError("spec.containers", "expected a list, got %s" % type(containers).__name__)
    names = []
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            raise ManifestError("spec.containers[%d]" % index, "expected a mapping, got %s" % type(container).__name__)
        if container.get("name") == name:
            for field in ("command", "args"):
                value = container.get(field)
                if value is not None and not isinstance(value, list):
                    raise ManifestError("spec.containers[%d].%s" % (index, field),
                                        "expected a list, got %s" % type(value).__name__)
            return index, container
        names.append(str(container.get("name")))
    raise ManifestError("spec.containers", "no container named %r (found: %s)" % (name, ", ".join(names) or "none"))


# --- flag parsing -------------------------------------------------------------------------------

def normalize_patterns(patterns):
    """``audit-log-*`` and ``--audit-log-*`` mean the same. Only patterns limited to ``--audit-*`` flags are taken;
    anything else (``--au*``, ``*``, ``--anonymous-auth``) is an error naming ``strip[<index>]``."""
    result = []
    for index, pattern in enumerate(patterns):
        field = "strip[%d]" % index
        if not isinstance(pattern, str) or not pattern.strip("-").strip():
            raise ManifestError(field, "expected a flag pattern such as --audit-log-*, got %r" % (pattern,))
        normalized = pattern if pattern.startswith("--") else "--" + pattern.lstrip("-")
        if not _AUDIT_PATTERN.fullmatch(normalized):
            hits = [flag for flag in PROTECTED_FLAGS if fnmatch.fnmatchcase(flag, normalized)]
            if hits:
                raise ManifestError(field, "pattern %r would also remove %s, which kube-apiserver needs to run; only "
                                    "--audit-* flags can be stripped" % (pattern, ", ".join(hits)))
            raise ManifestError(field, "pattern %r is not limited to --audit-* flags (such as --audit-log-*); only "
                                "those can be stripped" % (pattern,))
        result.append(normalized)
    return result


def _flag_start(field, items):
    # command[0] is the executable (kube-apiserver); args have no executable.
    if field == "command" and items and not (isinstance(items[0], str) and items[0].startswith("-")):
        return 1
    return 0


def _takes_next(name, following):
    if not isinstance(following, str):
        return True
    if name in BOOL_FLAGS:
        # pflag would leave "true" as a stray argument; it belongs to the flag in the writer's mind.
        return following in _BOOL_WORDS
    return not ((following.startswith("--") and len(following) > 2) or _SHORT_FLAG.match(following))


def _entries(items, start):
    """Split a command/args list into entries ``(begin, end, name, value)``; ``name`` is None for
    items that are not flags (the executable, stray arguments)."""
    entries = []
    index = start
    while index < len(items):
        item = items[index]
        if not (isinstance(item, str) and item.startswith("--") and len(item) > 2):
            entries.append((index, index + 1, None, item))
            index += 1
            continue
        name, sep, value = item.partition("=")
        if sep:
            entries.append((index, index + 1, name, value))
            index += 1
        elif index + 1 < len(items) and _takes_next(name, items[index + 1]):
            entries.append((index, index + 2, name, items[index + 1]))
            index += 2
        else:
            entries.append((index, index + 1, name, None))
            index += 1
    return entries


def _flag_lists(container):
    for field in ("command", "args"):
        items = container.get(field)
        if isinstance(items, list):
            yield field, items


def get_flags(pod, container=APISERVER):
    """All flags of the container in order, as ``(name, value)``; value is None for a bare flag."""
    container = find_container(pod, container)[1]
    return [(name, value) for field, items in _flag_lists(container)
            for _b, _e, name, value in _entries(items, _flag_start(field, items)) if name]


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _paths(value):
    if not isinstance(value, str):
        return []
    return [posixpath.normpath(m) for m in _PATH_IN_VALUE.findall(value) if not m.startswith("//")]


def _inside(path, directory):
    directory = posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


# --- stripping ----------------------------------------------------------------------------------

def strip_flags(pod, patterns=DEFAULT_STRIP, container=APISERVER):
    """Remove the flags matching ``patterns`` (fnmatch globs on the flag name) from the container's
    command and args, then the volumes that only those flags used. Edits ``pod`` in place."""
    patterns = normalize_patterns(patterns)
    index, target = find_container(pod, container)
    removed = []
    removed_paths = []
    for field, items in list(_flag_lists(target)):
        start = _flag_start(field, items)
        kept = list(items[:start])
        for begin, end, name, value in _entries(items, start):
            if name and _matches(name, patterns):
                removed.append(" ".join(str(item) for item in items[begin:end]))
                removed_paths.extend(_paths(value))
            else:
                kept.extend(items[begin:end])
        if len(kept) != len(items):
            target[field] = kept
    removed_volumes = _drop_unused_volumes(pod, index, target, removed_paths) if removed_paths else []
    return StripResult(removed, removed_volumes)


def _remaining_paths(container):
    paths = []
    for field, items in _flag_lists(container):
        for _b, _e, _name, value in _entries(items, _flag_start(field, items)):
            paths.extend(_paths(value))
    for env in container.get("env") or []:
        if isinstance(env, dict):
            paths.extend(_paths(env.get("value")))
    paths.extend(_paths(container.get("workingDir")))
    return paths


def _drop_unused_volumes(pod, index, target, removed_paths):
    """A volume goes only when a removed flag pointed into one of its mounts, no remaining flag, env
    value or working directory of the container points into any of its mounts, and no other container
    mounts it (Deckhouse's deckhouse-extra-files also holds the admission and encryption configs)."""
    spec = pod["spec"]
    mounts = [m for m in target.get("volumeMounts") or [] if isinstance(m, dict)]
    served = []
    for mount in mounts:
        mount_path = mount.get("mountPath")
        if isinstance(mount_path, str) and any(_inside(p, mount_path) for p in removed_paths):
            if mount.get("name") not in served:
                served.append(mount.get("name"))
    if not served:
        return []
    others = set()
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for position, other in enumerate(spec.get(key) or []):
            if isinstance(other, dict) and not (key == "containers" and position == index):
                others.update(m.get("name") for m in other.get("volumeMounts") or [] if isinstance(m, dict))
    remaining = _remaining_paths(target)
    dropped = []
    for name in served:
        own = [m.get("mountPath") for m in mounts if m.get("name") == name and isinstance(m.get("mountPath"), str)]
        if name in others or any(_inside(p, mp) for p in remaining for mp in own):
            continue
        dropped.append(name)
    if dropped:
        target["volumeMounts"] = [m for m in target.get("volumeMounts") or []
                                  if not (isinstance(m, dict) and m.get("name") in dropped)]
        if isinstance(spec.get("volumes"), list):
            spec["volumes"] = [v for v in spec["volumes"] if not (isinstance(v, dict) and v.get("name") in dropped)]
    return dropped


def strip_manifest(text, patterns=DEFAULT_STRIP, container=APISERVER):
    """Text in, text out: ``(new_text, StripResult)``. ``new_text`` is ``text`` itself when nothing
    matched, so an unchanged manifest is never rewritten."""
    pod, fmt = load_manifest(text, container)
    result = strip_flags(pod, patterns, container)
    if not result.changed:
        return text, result
    return dump_manifest(pod, fmt), result


# --- adding (kubeadm mode of the audit settings role) -------------------------------------------

def _flag_text(name, value):
    return name if value is None else "%s=%s" % (name, value)


def _insert_sorted(items, start, entry, key):
    """Insert keeping alphabetical order when the list is already sorted (kubeadm sorts flags and
    volumes); otherwise append."""
    keys = [key(item) for item in items[start:]]
    if keys == sorted(keys):
        items.insert(start + bisect.bisect_right(keys, key(entry)), entry)
    else:
        items.append(entry)


def set_flags(pod, flags, container=APISERVER):
    """Make each flag in ``flags`` (mapping or ``(name, value)`` pairs; value None = bare flag) appear
    exactly once as ``--name=value``: in place when present, otherwise next to the other flags.
    Returns the names of the flags that changed."""
    pairs = list(flags.items()) if isinstance(flags, dict) else list(flags)
    target = find_container(pod, container)[1]
    changed = []
    for raw_name, value in pairs:
        name = raw_name.strip() if isinstance(raw_name, str) else ""
        name = "--" + name.lstrip("-")
        if name == "--" or any(ch in name for ch in "*?[= "):
            raise ManifestError("flags.%s" % raw_name, "expected a flag name such as --audit-log-path")
        value = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if value is not None and _CONTROL.search(value):
            raise ManifestError("flags.%s" % raw_name, "the value holds a control character (such as a newline)")
        wanted = _flag_text(name, value)
        where = [(field, begin, end) for field, items in _flag_lists(target)
                 for begin, end, n, _v in _entries(items, _flag_start(field, items)) if n == name]
        if len(where) == 1:
            field, begin, end = where[0]
            if end - begin == 1 and target[field][begin] == wanted:
                continue
        changed.append(name)
        if where:
            field, begin, end = where[0]
            # Later occurrences first, so earlier indices stay valid.
            for f, b, e in reversed(where[1:]):
                del target[f][b:e]
            target[field][begin:end] = [wanted]
            continue
        field = "args" if target.get("args") else ("command" if target.get("command") else "args")
        items = target.setdefault(field, [])
        start = _flag_start(field, items)
        _insert_sorted(items, start, wanted, lambda item: str(item).partition("=")[0])
    return changed


def ensure_host_path_volume(pod, name, host_path, mount_path, path_type=None, read_only=True, container=APISERVER):
    """Make volume ``name`` a hostPath volume of ``host_path`` mounted at ``mount_path`` in the container,
    replacing a different definition of the same name. Returns True when the pod changed."""
    spec = pod["spec"]
    target = find_container(pod, container)[1]
    host = {"path": host_path}
    if path_type:
        host["type"] = path_type
    volume = {"hostPath": host, "name": name}
    mount = {"mountPath": mount_path, "name": name}
    if read_only:
        mount["readOnly"] = True
    changed = False
    for key, holder, entry in (("volumes", spec, volume), ("volumeMounts", target, mount)):
        items = holder.get(key)
        if not isinstance(items, list):
            items = holder[key] = []
        same = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name") == name]
        if not same:
            _insert_sorted(items, 0, entry, lambda item: str(item.get("name")) if isinstance(item, dict) else "")
            changed = True
            continue
        current = dict(items[same[0]])
        if current.get("readOnly") is False:
            current.pop("readOnly")  # same as absent
        if current != entry:
            items[same[0]] = entry
            changed = True
        for i in reversed(same[1:]):
            del items[i]
            changed = True
    return changed


# --- facts for the caller -----------------------------------------------------------------------

def endpoint(pod, container=APISERVER):
    """The HTTPS base URL where this apiserver listens, reachable from its own node: the bind address
    (127.0.0.1 for a wildcard bind) and the secure port (6443 when unset)."""
    flags = dict(get_flags(pod, container))
    host = flags.get("--bind-address") or "0.0.0.0"
    port = flags.get("--secure-port") or "6443"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "https://%s:%s" % (host, port)


def annotation(pod, key):
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get(key) if isinstance(annotations, dict) else None


CHECKSUM_ANNOTATION = "control-plane-manager.deckhouse.io/checksum"


def inspect_manifest(text, patterns=DEFAULT_STRIP, container=APISERVER):
    """What a manifest says, read only: where the apiserver listens, Deckhouse's checksum, and what
    strip_manifest with ``patterns`` would remove (nothing is written)."""
    pod = load_manifest(text, container)[0]
    url, checksum = endpoint(pod, container), annotation(pod, CHECKSUM_ANNOTATION)
    result = strip_flags(pod, patterns, container)
    return {"endpoint": url, "deckhouse_checksum": checksum,
            "removable_flags": result.removed_flags, "removable_volumes": result.removed_volumes}
