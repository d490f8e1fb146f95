# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The podman connection of containers.podman, with pipelining, for the test nodes only.

Molecule (molecule-plugins' podman driver sets ``ansible_connection: podman``) and bench/bench_kesl_roles.py
reach the node containers through this file when ANSIBLE_CONNECTION_PLUGINS points at this folder. Upstream runs
``podman exec`` without ``-i`` and so cannot pipe a module to the node's Python; each module task then costs a
podman mount, mkdir, a copy, chmod, the run and rm. Here a task with data for stdin runs ``podman exec -i``
(podman-exec(1): "-i, --interactive  Keep STDIN open even if not attached"), which is what Ansible's pipelining
needs: one podman process per module task. The container is mounted only when a file is copied in or out.
Everything else is the upstream plugin."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: podman
short_description: The containers.podman podman connection with pipelining (auditops.deckhouse test nodes)
description:
  - Runs commands in an existing podman container with C(podman exec), piping module data with C(podman exec -i).
  - Test infrastructure of auditops.deckhouse, not part of the collection.
author: auditops.deckhouse contributors
options:
  remote_addr:
    description: Name or ID of the container.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: User to run commands as inside the container (podman exec --user).
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments for every podman command.
    default: ''
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
    vars:
      - name: ansible_podman_extra_args
  podman_executable:
    description: The podman program.
    default: podman
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
    vars:
      - name: ansible_podman_executable
  pipelining:
    description: Pipe modules to the container's Python instead of copying them in.
    env:
      - name: ANSIBLE_PIPELINING
    vars:
      - name: ansible_pipelining
    type: boolean
    default: false
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "podman"
    has_pipelining = True

    def _connect(self):
        # No podman mount per task: only put_file and fetch_file need the container's files (_mounted).
        self._connected = True
        return self

    def _mounted(self):
        if self._mount_point is None:
            PodmanConnection._connect(self)
        return self

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return PodmanConnection.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec", "-i"] + (["--user", self.user] if self.user else [])
        return self._podman(exec_args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        return PodmanConnection.put_file(self._mounted(), in_path, out_path)

    def fetch_file(self, in_path, out_path):
        return PodmanConnection.fetch_file(self._mounted(), in_path, out_path)
