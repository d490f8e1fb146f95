#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kesl role and the verify playbook over many inventory hosts: does the time per host stay flat?

Each size is an inventory of N worker hosts (20 and 200; --smoke 1 and 3), every one reached with the local
connection and given its own kesl-control test double state (a two-line wrapper per host sets
KESL_DOUBLE_STATE and runs tests/doubles/kesl-control), so every host starts from the same fresh KESL 12
and the calls are counted per host. verify reads the cluster part from a local etcd + kube-apiserver
(tests/cluster/harness.py). Per size the table gives the wall time of `playbooks/kesl.yml` and then of
`playbooks/verify.yml` (KESL part on, apiserver health probes off: there are no masters), both divided by
N, and the kesl-control calls per host (read and write, from each double's call log).

The run fails (exit 1) when a playbook fails, when verify writes anything or finds a KESL problem after the
role ran, when the hosts of one run did not all make the same number of calls, or when the calls per host
differ between the sizes.

    python bench/bench_kesl_hosts.py            # 20 and 200 hosts
    python bench/bench_kesl_hosts.py --smoke    # 1 and 3 hosts (CI)
    python bench/bench_kesl_hosts.py --hosts 20,60
"""

import json
import os
import shutil
import sys
import tempfile

import yaml

from _playbook_runs import ROOT, BenchError, ansible_env, bench_arguments, run_playbook
from _table import format_table

sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import harness  # noqa: E402  (tests/cluster is not a package) pylint: disable=wrong-import-position

DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
FULL_SIZES, SMOKE_SIZES = (20, 200), (1, 3)
WRAPPER = """#!/bin/sh
KESL_DOUBLE_STATE='%s' KESL_DOUBLE_VERSION=12 exec '%s' '%s' "$@"
"""


def inventory(workdir, count):
    """Path of an inventory with ``count`` local worker hosts, each with its own double state."""
    hosts = {}
    for number in range(1, count + 1):
        name = "kesl-%03d" % number
        state = os.path.join(workdir, name, "kesl.ini")
        os.makedirs(os.path.dirname(state))
        wrapper = os.path.join(workdir, name, "kesl-control")
        with open(wrapper, "w") as handle:
            handle.write(WRAPPER % (state, sys.executable, DOUBLE))
        os.chmod(wrapper, 0o755)
        # The hosts are this machine, whose /var/lib/etcd (if any) is not theirs: the role's node-role check
        # looks at paths that do not exist instead.
        hosts[name] = {"kesl_control_executable": wrapper, "bench_state": state,
                       "kesl_control_plane_paths": [os.path.join(workdir, name, "etcd")]}
    data = {"all": {
        "vars": {"ansible_connection": "local", "ansible_become": False, "ansible_python_interpreter": sys.executable},
        "children": {"k8s_api": {"hosts": {"localhost": {}}}, "workers": {"hosts": hosts}}}}
    path = os.path.join(workdir, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return path, hosts


def calls(hosts):
    """kesl-control calls per host so far, as {host: (read, write)} from each double's call log."""
    out = {}
    for name, host in hosts.items():
        read = write = 0
        log = host["bench_state"] + ".log"
        if os.path.exists(log):
            with open(log) as handle:
                for line in handle:
                    kind = line.split("\t")[1] if line.count("\t") >= 3 else ""
                    read += kind == "read"
                    write += kind == "write"
        out[name] = (read, write)
    return out


def per_host_calls(before, after, label):
    """The (read, write) calls one host made between two calls() readings; the same for every host."""
    made = set((after[name][0] - before[name][0], after[name][1] - before[name][1]) for name in after)
    if len(made) != 1:
        raise BenchError("%s: the hosts made different numbers of kesl-control calls: %s" % (label, sorted(made)))
    return made.pop()


def run_size(workdir, count, env):
    path, hosts = inventory(workdir, count)
    rows = []
    before = calls(hosts)
    seconds, result, proc = run_playbook([os.path.join(ROOT, "playbooks", "kesl.yml"), "-i", path], env)
    if proc.returncode or result["failed"]:
        raise BenchError("kesl.yml on %d hosts failed (rc %s): %s" % (count, proc.returncode, result["failures"][:3]))
    after = calls(hosts)
    rows.append(("kesl role", count, seconds, per_host_calls(before, after, "kesl role")))
    extra = os.path.join(workdir, "verify-vars.json")
    with open(extra, "w") as handle:
        json.dump({"verify_fail_on_problems": False, "verify_apiserver_health": False}, handle)
    seconds, result, proc = run_playbook([os.path.join(ROOT, "playbooks", "verify.yml"), "-i", path, "-e", "@" + extra],
                                         env)
    if proc.returncode or result["failed"]:
        raise BenchError("verify.yml on %d hosts failed (rc %s): %s" % (count, proc.returncode, result["failures"][:3]))
    made = per_host_calls(after, calls(hosts), "verify")
    if made[1]:
        raise BenchError("verify wrote to kesl-control %d times per host" % made[1])
    if result["changed"]:
        raise BenchError("verify reported %d changed tasks" % result["changed"])
    rows.append(("verify", count, seconds, made))
    return rows


def main(argv=None):
    def options(parser):
        parser.add_argument("--hosts", type=lambda text: tuple(int(part) for part in text.split(",")),
                            help="inventory sizes to run, e.g. 20,60 (default %s)" % ",".join(map(str, FULL_SIZES)))

    args = bench_arguments(__doc__, "%s hosts instead of %s (CI)" % (SMOKE_SIZES, FULL_SIZES), argv, options)
    sizes = args.hosts or (SMOKE_SIZES if args.smoke else FULL_SIZES)
    workdir = tempfile.mkdtemp(prefix="bench-kesl-hosts-")
    cluster = None
    try:
        cluster = harness.Cluster(os.path.join(workdir, "cluster"))
        env = ansible_env(K8S_AUTH_KUBECONFIG=cluster.kubeconfig)
        measured = []
        for count in sizes:
            sys.stderr.write("running the kesl role and verify on %d hosts\n" % count)
            directory = os.path.join(workdir, "hosts-%d" % count)
            os.makedirs(directory)
            measured.extend(run_size(directory, count, env))
    except BenchError as exc:
        sys.stderr.write("FAILED: %s\n" % exc)
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    first = dict((label, seconds / count) for label, count, seconds, _calls in measured if count == sizes[0])
    # Calls per host must not depend on the inventory's size (the hosts of one run already agree).
    first_calls = dict((label, calls) for label, count, _seconds, calls in measured if count == sizes[0])
    for label, count, _seconds, calls in measured:
        if calls != first_calls[label]:
            sys.stderr.write("FAILED: %s made %s (read, write) kesl-control calls per host on %d hosts, %s on %d\n" % (
                label, calls, count, first_calls[label], sizes[0]))
            return 1
    rows = []
    for label, count, seconds, (read, write) in measured:
        rows.append((label, count, "%.1f" % seconds, "%.2f" % (seconds / count),
                     "%.2fx" % (seconds / count / first[label]), read, write))
    print("kesl role (playbooks/kesl.yml), then verify (playbooks/verify.yml), on N local hosts with one "
          "kesl-control double each; per-host ratio = seconds per host / that at %d hosts.\n" % sizes[0])
    print(format_table(["playbook", "hosts", "seconds", "seconds/host", "per host vs %d" % sizes[0],
                        "kesl-control reads/host", "writes/host"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
