# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the audit benchmarks (bench_simulator.py, bench_policy_eval.py, bench_presets.py): the
collection's engines, the synthetic log they run on, a child process measured for time and peak memory,
and the comparison table."""

import os
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (os.path.join(ROOT, "tests"), BENCH):
    if _path not in sys.path:
        sys.path.insert(0, _path)
import _paths  # noqa: E402 pylint: disable=wrong-import-position
# Not tests/conftest.py: it imports pytest, which a measured worker process would carry (12 MiB, 0.15 s).
_paths.make_collection_importable()
import gen_audit_log  # noqa: E402 pylint: disable=wrong-import-position
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as engine  # noqa: E402,F401 pylint: disable=wrong-import-position,unused-import
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as simulator  # noqa: E402,F401 pylint: disable=wrong-import-position,unused-import

MIB = 1024 * 1024


class BenchError(RuntimeError):
    """The numbers would be meaningless (a tool failed, or two tools disagree); exit 1 with the message."""


def synthetic_log(size=None, events=None, seed=7):
    """Path of the cached synthetic log (generated on the first call, with progress on stderr)."""
    started = time.monotonic()

    def progress(done, count):
        sys.stderr.write("  generating the synthetic log: %d MiB, %d events, %.0f s\n" % (
            done // MIB, count, time.monotonic() - started))

    return gen_audit_log.cached_log(size=size, events=events, seed=seed, progress=progress)


def count_lines(path):
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(MIB), b""))


def peak_rss(pid="self"):
    """VmHWM of a running process in bytes (0 when it has gone). Not ru_maxrss: a child's ru_maxrss
    starts from the RSS of the process that forked it, here a Python holding the benchmark."""
    try:
        with open("/proc/%s/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (IOError, OSError):
        pass
    return 0


def measure(cmd, stdout=subprocess.PIPE):
    """Run ``cmd`` (stderr passes through, so progress stays visible); returns (wall seconds, CPU seconds
    (user + system, from the child's rusage), peak RSS in bytes, stdout). On a machine others share, the
    CPU seconds move far less than the wall time. The peak is sampled every 20 ms while it runs; a worker
    that prints JSON with its own final ``peak_rss`` gives the exact figure. A thread drains stdout while
    the child runs: a child that prints more than a pipe holds (64 KiB) would otherwise block on write
    while we wait for it to exit. BenchError when it fails."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout)  # pylint: disable=consider-using-with
    chunks = []
    reader = None
    if proc.stdout:
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
        reader.start()
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, peak_rss(proc.pid))
        time.sleep(0.02)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait for it again
    if reader:
        reader.join()
        proc.stdout.close()
    if proc.returncode:
        raise BenchError("%s exited with %d" % (" ".join(cmd), proc.returncode))
    return seconds, usage.ru_utime + usage.ru_stime, peak, b"".join(chunks)


def worker_command(script, *args):
    """This Python running a bench script in worker mode (a fresh process, so its memory is its own)."""
    return [sys.executable, script, "--worker"] + list(args)


def run_main(main):
    """Exit code of a benchmark's main(): 1 with the message on BenchError."""
    try:
        return main()
    except BenchError as exc:
        sys.stderr.write("FAILED: %s\n" % exc)
        return 1
