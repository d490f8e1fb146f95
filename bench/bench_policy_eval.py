#!/usr/bin/env python
"""Policy evaluation: the collection's Python engine against kube-apiserver's own evaluator, on the
same events and policies in the same run.

The Go side is k8s.io/apiserver/pkg/audit/policy v0.33.13 (LoadPolicyFromFile + NewPolicyRuleEvaluator)
in the wrapper bench/go/audit-policy-eval, built from the Go module proxy by tests/build-go.sh. Both
sides turn every event of one synthetic audit log (bench/gen_audit_log.py; 200000 events, --smoke 5000)
into a request once (Go: authorizer.AttributesRecord, Python: the simulator's request_from_event), then
only the evaluation loop is timed (CPU time of the process, user + system, on both sides: it moves far
less than the wall time when others share the machine), repeated until it has run for --min-seconds. Policies: the three
presets as kubeadm loads them, and the security preset as Deckhouse composes it with its basic rules.

Python's figure is the per-request call the simulator makes (``_audit_policy.evaluator()``: policy
loaded once, request already normalized). Both must give the same level to every event; any
disagreement fails the run (exit 1), with the first examples on stderr.

    python bench/bench_policy_eval.py [--smoke | --events 50000] [--seed 7] [--min-seconds 1]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import _audit_bench as common
from _audit_bench import engine, simulator
from _table import format_table

FULL_EVENTS, SMOKE_EVENTS = 200000, 5000
WRAPPER = os.path.join("bench", "go", "audit-policy-eval")
LETTERS = {"None": "N", "Metadata": "M", "Request": "Q", "RequestResponse": "R"}
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
EXAMPLES = 5


def policies():
    """(name, policy) pairs, each as the apiserver would load it."""
    out = [("%s (kubeadm)" % name, engine.preset(name)) for name in engine.PRESETS]
    composed = engine.compose(engine.preset("security"), target="deckhouse", basic_policy=True).policy
    out.append(("security (Deckhouse basic)", composed))
    return out


def go_binary():
    """Path of the Go evaluator, built on the first run (cached by tests/build-go.sh)."""
    built = subprocess.run([os.path.join(common.ROOT, "tests", "build-go.sh"), WRAPPER], cwd=common.ROOT,
                           stdout=subprocess.PIPE, universal_newlines=True, check=False)
    if built.returncode:
        raise common.BenchError("building %s failed (exit %d)" % (WRAPPER, built.returncode))
    return built.stdout.strip().splitlines()[-1]


def run_go(log, files, min_seconds):
    cmd = [go_binary(), "-events", log, "-per-event", "-min-seconds", str(min_seconds)] + files
    _seconds, _cpu, _rss, out = common.measure(cmd)
    return json.loads(out)


def read_requests(log):
    with open(log, "rb") as handle:
        return [simulator.request_from_event(json.loads(line)) for line in handle if line.strip()]


def run_python(policy, requests, min_seconds):
    """(levels as one letter per request, evaluations per second)."""
    decide = engine.evaluator(policy)
    letters = "".join(LETTERS[decide(request).level] for request in requests)
    counts = dict.fromkeys(LEVELS, 0)
    evaluations = 0
    started = time.process_time()  # CPU time, as the Go side measures: steadier on a shared machine
    while True:
        for request in requests:
            counts[decide(request).level] += 1
        evaluations += len(requests)
        elapsed = time.process_time() - started
        if elapsed >= min_seconds or not requests:
            return letters, evaluations / elapsed if elapsed else 0.0


def disagreements(name, requests, python_levels, go_levels):
    found = [index for index, (ours, theirs) in enumerate(zip(python_levels, go_levels)) if ours != theirs]
    for index in found[:EXAMPLES]:
        sys.stderr.write("DISAGREE %s: event %d: Python %s, Go %s: %s\n" % (
            name, index + 1, python_levels[index], go_levels[index], json.dumps(requests[index], sort_keys=True)))
    return len(found) + abs(len(python_levels) - len(go_levels))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="%d events instead of %d (CI)" % (SMOKE_EVENTS, FULL_EVENTS))
    parser.add_argument("--events", type=int, help="events in the log (default %d)" % FULL_EVENTS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-seconds", type=float, help="time each evaluation loop at least this long "
                                                          "(default 1, --smoke 0.2)")
    args = parser.parse_args(argv)
    return common.run_main(lambda: run(args))


def run(args):
    count = args.events or (SMOKE_EVENTS if args.smoke else FULL_EVENTS)
    min_seconds = args.min_seconds or (0.2 if args.smoke else 1.0)
    log = common.synthetic_log(events=count, seed=args.seed)
    named = policies()
    workdir = tempfile.mkdtemp(prefix="bench-policy-eval-")
    try:
        files = []
        for index, (_name, policy) in enumerate(named):
            files.append(os.path.join(workdir, "policy-%d.yaml" % index))
            with open(files[-1], "w", encoding="utf-8") as handle:
                handle.write(engine.to_yaml(policy))
        sys.stderr.write("running the Go evaluator\n")
        go = run_go(log, files, min_seconds)
    finally:
        shutil.rmtree(workdir)
    sys.stderr.write("running the Python engine\n")
    requests = read_requests(log)
    if go["events"] != len(requests):
        raise common.BenchError("Go read %d events, Python %d" % (go["events"], len(requests)))
    rows = []
    failed = 0
    for (name, policy), theirs in zip(named, go["results"]):
        letters, rate = run_python(policy, requests, min_seconds)
        wrong = disagreements(name, requests, letters, theirs["per_event"])
        failed += wrong
        shares = "/".join("%d" % theirs["levels"][level] for level in LEVELS)
        rows.append((name, len(policy["rules"]), "%.0f" % theirs["per_second"], "%.0f" % rate,
                     "%.1fx" % (theirs["per_second"] / rate), shares, wrong))
    print("Synthetic audit log: %d events (seed %d), %s" % (len(requests), args.seed, log))
    print("Evaluations per second over pre-built requests; Go = k8s.io/apiserver v0.33.13 pkg/audit/policy.\n")
    print(format_table(["policy", "rules", "Go evals/s", "Python evals/s", "Go / Python",
                       "events None/Metadata/Request/RequestResponse", "disagreements"], rows))
    if failed:
        raise common.BenchError("the Python engine and kube-apiserver's evaluator disagree on %d levels" % failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
