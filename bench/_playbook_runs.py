# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the benchmarks that run playbooks (bench_cpm_apply.py, bench_kesl_hosts.py, bench_kesl_roles.py,
bench_kuma_apply.py): run one ansible-playbook with the JSON callback and time it (stopping the benchmark when
the run fails), read what it reports, write a localhost inventory, and stop the benchmark cleanly
(cleanup included) on SIGTERM (the comparison table is _table.py's)."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)


class BenchError(RuntimeError):
    """Something went wrong that makes the numbers meaningless; the benchmark exits 1 with the message."""


def bench_arguments(description, smoke_help, argv=None, options=None):
    """The command line every benchmark has (``--smoke``, the small size CI runs; ``options(parser)`` adds a
    benchmark's own). Also turns SIGTERM into SystemExit, so the ``finally`` blocks that remove containers
    and servers run when the run is stopped."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)

    def _exit(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, _exit)
    return args


def build_output(script, *args):
    """Last line a build script of the repo prints (the path of what it built or tagged)."""
    out = subprocess.run([os.path.join(ROOT, script)] + list(args), stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    return out.strip().splitlines()[-1]


def parse_play_json(stdout):
    """Read the output of the ansible.posix.json callback: per-host stats and totals.

    Returns a dict with ``stats`` (host -> counters), ``changed`` (tasks reported changed, summed over
    hosts; a loop counts once), ``failed`` (failed + unreachable tasks) and ``failures`` (host: message
    of each failed task). Text before the JSON document (a warning printed to stdout) is skipped.
    """
    start = stdout.find("{")
    if start < 0:
        raise BenchError("no JSON in the ansible-playbook output:\n%s" % stdout[-2000:])
    data = json.loads(stdout[start:])
    stats = data.get("stats", {})
    failures = []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable"):
                    items = [item for item in result.get("results", []) if item.get("failed")]
                    msg = (items[0] if items else result).get("msg", "")
                    failures.append("%s: %s: %s" % (host, task["task"]["name"], msg))
    return {
        "stats": stats,
        "changed": sum(host.get("changed", 0) for host in stats.values()),
        "failed": sum(host.get("failures", 0) + host.get("unreachable", 0) for host in stats.values()),
        "failures": failures,
    }


def ansible_env(**extra):
    """Environment for ansible-playbook: the project's ansible.cfg and collections, the JSON callback."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
    })
    env.update(extra)
    return env


def local_inventory(workdir):
    """``workdir``/localhost.ini: localhost on the local connection with this Python (the venv that has the
    kubernetes libraries kubernetes.core needs). Returns its path."""
    path = os.path.join(workdir, "localhost.ini")
    with open(path, "w") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    return path


def run_playbook_or_stop(what, args, env):
    """run_playbook, stopping the benchmark (BenchError naming ``what``, the failed tasks and the end of stderr)
    when ansible-playbook exits non-zero or a task failed: a failed run's time means nothing. Returns (wall
    seconds, parse_play_json result)."""
    seconds, result, proc = run_playbook(args, env)
    if proc.returncode != 0 or result["failed"]:
        raise BenchError("%s failed (rc %s): %s\n%s" % (what, proc.returncode, result["failures"], proc.stderr[-2000:]))
    return seconds, result


def run_playbook(args, env, cwd=ROOT):
    """Run ``ansible-playbook ARGS``; returns (wall seconds, parse_play_json result, completed process)."""
    cmd = [os.path.join(VENV_BIN, "ansible-playbook")] + list(args)
    begin = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    seconds = time.monotonic() - begin
    try:
        result = parse_play_json(proc.stdout)
    except ValueError:
        raise BenchError("ansible-playbook %s printed no JSON (rc %s):\n%s" % (" ".join(args), proc.returncode, proc.stderr[-2000:]))
    return seconds, result, proc
