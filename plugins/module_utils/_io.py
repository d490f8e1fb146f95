# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File helpers shared by the modules: atomic writes and backups kept out of
directories that a daemon reads (the kubelet runs every file in its manifests dir)."""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile

# Directories whose every file is acted upon; a backup must never land there.
WATCHED_DIRS = ("/etc/kubernetes/manifests",)


def atomic_write(path, data, mode=None):
    """Write ``data`` (str or bytes) to ``path`` via a dot-prefixed temp file in the
    same directory and a rename, so readers see the old or the new file, never half.

    The temp name starts with a dot so the kubelet ignores it while it exists.
    Keeps the mode of an existing file unless ``mode`` is given.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None and os.path.exists(path):
        mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600 if mode is None else mode)
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


def backup_file(path, backup_dir, now=None):
    """Copy ``path`` into ``backup_dir`` as ``<name>.<UTC timestamp>`` and return the copy's path."""
    error = check_backup_dir(backup_dir, path)
    if error:
        raise ValueError(error)
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = os.path.join(backup_dir, "%s.%s" % (os.path.basename(path), stamp))
    shutil.copy2(path, dest)
    return dest
