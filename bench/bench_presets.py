#!/usr/bin/env python
"""The presets side by side: what each would write for the same traffic, and which security-relevant
requests it keeps.

One pass of the policy simulator over a synthetic audit log (bench/gen_audit_log.py; 256 MiB, --smoke
5 MiB: a 20-node Deckhouse cluster at 25 requests/s, written under a catch-all RequestResponse policy)
with every preset twice: as kubeadm loads the file, and as Deckhouse composes it with its basic rules.
Per policy: the share of requests at each level, events per request, the projected MiB per day, how
many hours Deckhouse's log rotation (100 MiB x 10 files) keeps, and per security-relevant kind of
request (exec/attach/port-forward, RBAC changes, privileged pods, secrets) how many it records.

The run fails (exit 1) if a preset breaks its own promise on this traffic: minimal must record every
request, security and comprehensive every exec, RBAC change and privileged pod (with its body).

    python bench/bench_presets.py [--smoke | --size 1G] [--seed 7]
"""

import argparse
import sys

import _audit_bench as common
from _audit_bench import engine, simulator
from _table import format_table

FULL_SIZE, SMOKE_SIZE = "256M", "5M"
SECURITY = ("pod_exec_attach", "rbac_changes", "privileged_pods", "secrets_access")
MUST_KEEP = ("pod_exec_attach", "rbac_changes", "privileged_pods")


def candidates():
    out = []
    for name in engine.PRESETS:
        out.append(simulator.Candidate("%s (kubeadm)" % name, engine.preset(name), target="kubeadm"))
        out.append(simulator.Candidate("%s (Deckhouse basic)" % name, engine.preset(name), target="deckhouse"))
    return out


def check(result):
    """The preset's promises on this traffic; the list of broken ones."""
    broken = []
    name = result["name"]
    if name.startswith("minimal (kubeadm)") and result["requests_by_level"]["None"]:
        broken.append("%s left %d requests unrecorded" % (name, result["requests_by_level"]["None"]))
    if name.startswith(("security", "comprehensive")):
        for kind in MUST_KEEP:
            found = result["security"][kind]
            if found["lost"] or found["with_body"] < found["requests"]:
                broken.append("%s: %s %s" % (name, kind, found))
    return broken


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a %s log instead of %s (CI)" % (SMOKE_SIZE, FULL_SIZE))
    parser.add_argument("--size", type=common.gen_audit_log.parse_size, help="log size (default %s)" % FULL_SIZE)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    return common.run_main(lambda: run(args))


def run(args):
    size = args.size or common.gen_audit_log.parse_size(SMOKE_SIZE if args.smoke else FULL_SIZE)
    path = common.synthetic_log(size=size, seed=args.seed)
    report = simulator.simulate(path, candidates()).as_dict()
    source = report["input"]
    requests = source["requests"]
    rows = []
    broken = []
    for result in report["results"]:
        broken.extend(check(result))
        shares = "/".join("%.0f" % (100.0 * result["requests_by_level"][level] / requests) for level in engine.LEVELS)
        kept = ["%d/%d" % (result["security"][kind]["recorded"], result["security"][kind]["requests"]) for kind in SECURITY]
        rows.append([result["name"], shares, "%.2f" % (result["events"] / float(requests)),
                     "%.0f" % result["mb_per_day"], "%.1f" % result["retention_hours"]] + kept)
    print("Synthetic audit log: %.1f MiB, %d events, %d requests over %.0f s (seed %d), %s" % (
        source["bytes"] / float(common.MIB), source["events"], requests, source["duration_seconds"], args.seed, path))
    print("Requests kept per kind: recorded/seen; retention with 100 MiB x 10 rotated files.\n")
    print(format_table(["policy", "% requests None/Meta/Req/ReqResp", "events/request", "MiB/day",
                       "retention h", "exec/attach", "RBAC changes", "privileged pods", "secrets"], rows))
    if broken:
        raise common.BenchError("; ".join(broken))
    return 0


if __name__ == "__main__":
    sys.exit(main())
