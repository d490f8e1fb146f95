# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File helpers shared by the modules: atomic writes and backups kept out of
directories that a daemon reads (the kubelet runs every file in its manifests dir)."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import tempfile

# Directories whose every file is acted upon; a backup must never land there.
WATCHED_DIRS = ("/etc/kubernetes/manifests",)
# What backup_file appends to a file name: a sortable UTC timestamp. Only such names are backups.
BACKUP_STAMP = "%Y%m%dT%H%M%S.%fZ"
_BACKUP_SUFFIX = re.compile(r"\.(\d{8}T\d{6}\.\d{6}Z)$")


class ConcurrentChange(ValueError):
    """The file changed between the read and the write; nothing was written."""


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


_ANY = object()


def atomic_write(path, data, mode=None, expect=_ANY):
    """Write ``data`` (str or bytes) to ``path`` via a dot-prefixed temp file in the
    same directory and a rename, so readers see the old or the new file, never half.

    The temp name starts with a dot so the kubelet ignores it while it exists.
    Keeps the mode of an existing file unless ``mode`` is given. A symlink is followed: its target is
    replaced and the link stays. With ``expect`` (the bytes the caller read and edited, or None when the file
    did not exist), the write is a compare-and-swap: when the file no longer holds ``expect`` right before the
    rename, ConcurrentChange is raised and nothing is written.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    if mode is None and os.path.exists(path):
        mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600 if mode is None else mode)
        if expect is not _ANY and _read_bytes(path) != expect:
            raise ConcurrentChange("%s changed while this module ran; nothing was written, run again" % path)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def is_inside(path, directory):
    """True when ``path`` is ``directory`` or below it (symlinks resolved)."""
    path = os.path.realpath(path)
    directory = os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def check_backup_dir(backup_dir, source_path):
    """Return an error message when backups would be written where they do harm:
    into a watched directory or into the directory of the file being edited."""
    for watched in WATCHED_DIRS + (os.path.dirname(os.path.abspath(source_path)),):
        if is_inside(backup_dir, watched):
            return "backup_dir %s is inside %s; a backup there would be picked up as a live file" % (backup_dir, watched)
    return None


def backup_file(path, backup_dir, now=None, data=None):
    """Copy ``path`` into ``backup_dir`` as ``<name>.<UTC timestamp>`` and return the copy's path. With ``data``
    (the bytes the caller read and edited), those are saved instead of what the file holds now, so the backup is
    of the version that was edited."""
    error = check_backup_dir(backup_dir, path)
    if error:
        raise ValueError(error)
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime(BACKUP_STAMP)
    dest = os.path.join(backup_dir, "%s.%s" % (os.path.basename(path), stamp))
    if data is None:
        shutil.copy2(path, dest)
    else:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        shutil.copystat(path, dest)
    return dest


def newest_backup(backup_dir, path):
    """The newest backup of ``path`` in ``backup_dir`` by the timestamp in its name (only names backup_file
    writes count: a hand-made ``kube-apiserver.yaml.orig`` is not a backup); None when there is none."""
    prefix = os.path.basename(path)
    try:
        names = os.listdir(backup_dir)
    except OSError:
        return None
    stamped = []
    for name in names:
        match = _BACKUP_SUFFIX.search(name)
        if match and name[:match.start()] == prefix and os.path.isfile(os.path.join(backup_dir, name)):
            try:
                stamped.append((datetime.datetime.strptime(match.group(1), BACKUP_STAMP), name))
            except ValueError:
                continue
    return os.path.join(backup_dir, max(stamped)[1]) if stamped else None
