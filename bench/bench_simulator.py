#!/usr/bin/env python
"""Simulator throughput: how fast the policy simulator replays an audit log, next to what merely
reading the same log costs.

On one synthetic audit log (bench/gen_audit_log.py; 1 GiB, --smoke 20 MiB) each row runs in its own
process, timed from start to exit (start-up included), with that process's peak resident memory:

- parse-only: Python reading the file and calling json.loads on every line, nothing else; the floor
  for any Python tool that looks at every event, so the ratio to it is the figure that matters;
- jq -c with a trivial filter (the secrets requests), the usual shell tool for the job;
- the simulator (plugins/module_utils/_audit_simulate.py) with one candidate policy (security), and
  with the three presets at once in one pass.

The run fails (exit 1) if a tool fails, if the simulator does not see every line of the log as an
event, or if the security preset's result differs between the one- and three-policy runs.

    python bench/bench_simulator.py [--smoke | --size 200M] [--seed 7]
"""

import argparse
import json
import os
import subprocess
import sys

import _audit_bench as common
from _audit_bench import engine, simulator
from _table import format_table

FULL_SIZE, SMOKE_SIZE = "1G", "20M"
JQ_FILTER = 'select(.objectRef.resource == "secrets")'
PRESETS = ("minimal", "security", "comprehensive")


# The baseline runs as a bare interpreter (no collection code imported), so its memory is Python's own.
PARSE_ONLY = """
import json, sys
loads = json.loads
events = 0
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        loads(line)
        events += 1
with open("/proc/self/status") as status:
    peak = int(status.read().split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({"events": events, "peak_rss": peak}))
"""


def simulate(path, presets):
    def progress(lines, done, total):
        sys.stderr.write("  simulator (%s): %d lines, %d of %d MiB\n" % (
            ", ".join(presets), lines, done // common.MIB, total // common.MIB))

    report = simulator.simulate(path, [simulator.Candidate(name, engine.preset(name)) for name in presets],
                                progress=progress).as_dict()
    return {"events": report["input"]["events"], "bad_lines": report["input"]["bad_lines"],
            "results": {result["name"]: {"events": result["events"], "bytes": result["bytes"]}
                        for result in report["results"]}}


def worker(args):
    out = simulate(args.log, args.preset)
    out["peak_rss"] = common.peak_rss()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a %s log instead of %s (CI)" % (SMOKE_SIZE, FULL_SIZE))
    parser.add_argument("--size", type=common.gen_audit_log.parse_size, help="log size (default %s)" % FULL_SIZE)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--preset", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    return common.run_main(lambda: run(args))


def run(args):
    size = args.size or common.gen_audit_log.parse_size(SMOKE_SIZE if args.smoke else FULL_SIZE)
    path = common.synthetic_log(size=size, seed=args.seed)
    size = os.path.getsize(path)
    events = common.count_lines(path)
    script = os.path.abspath(__file__)
    runs = [
        ("parse-only (Python json.loads per line)", [sys.executable, "-c", PARSE_ONLY, path], None),
        ("jq -c '%s'" % JQ_FILTER, ["jq", "-c", JQ_FILTER, path], subprocess.DEVNULL),
        ("simulator, 1 policy (security)",
         common.worker_command(script, "--log", path, "--preset", "security"), None),
        ("simulator, 3 presets in one pass", common.worker_command(
            script, "--log", path, *[arg for name in PRESETS for arg in ("--preset", name)]), None),
    ]
    measured = []
    for name, cmd, stdout in runs:
        sys.stderr.write("running %s\n" % name)
        seconds, cpu, rss, out = common.measure(cmd, subprocess.PIPE if stdout is None else stdout)
        out = json.loads(out) if out else {}
        measured.append((name, seconds, max(rss, out.get("peak_rss", 0)), out, cpu))
    check([row[:4] for row in measured], events)
    base = measured[0][4]
    rows = [(name, "%.1f" % seconds, "%.1f" % cpu, "%.1f" % (size / common.MIB / cpu), "%.0f" % (events / cpu),
             "%.2fx" % (base / cpu), "%.0f" % (rss / common.MIB)) for name, seconds, rss, _out, cpu in measured]
    print("Synthetic audit log: %.1f MiB, %d events (seed %d), %s" % (size / common.MIB, events, args.seed, path))
    print("Each row is its own process from start to exit: wall and CPU seconds (user + system); MiB/s, events/s\n"
          "and the ratio (throughput / parse-only's) are per CPU second, which a busy machine moves least.\n")
    print(format_table(["tool", "wall s", "CPU s", "MiB/s", "events/s", "vs parse-only", "peak RSS MiB"], rows))
    return 0


def check(measured, events):
    """The tools saw the same log and the simulator's answers do not depend on its company."""
    parse, _jq, one, three = (out for _name, _seconds, _rss, out in measured)
    if parse["events"] != events:
        raise common.BenchError("parse-only read %d events, the log has %d lines" % (parse["events"], events))
    for out in (one, three):
        if out["events"] != events or out["bad_lines"]:
            raise common.BenchError("the simulator saw %d events and %d bad lines in a log of %d events" % (
                out["events"], out["bad_lines"], events))
    if one["results"]["security"] != three["results"]["security"]:
        raise common.BenchError("security alone %s, among three presets %s" % (
            one["results"]["security"], three["results"]["security"]))


if __name__ == "__main__":
    sys.exit(main())
