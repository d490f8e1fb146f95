#!/usr/bin/env python
"""Compare audit policies on the same synthetic API traffic: what reaches the SIEM, and how fast
the engine decides.

For each policy (the three presets as kubeadm would deploy them, and the `security` preset as
Deckhouse composes it with its basic rules) the benchmark evaluates one seeded stream of requests
with the collection's engine and prints, side by side:

- the share of requests logged at each level and the audit events per request (one per
  non-omitted stage; watches and exec also get ResponseStarted),
- an estimate of the log volume per day at a given request rate, from typical event sizes
  (see ../shared/reference/k8s-audit.md section 7),
- the engine's throughput (decisions per second) on this machine.

    python bench/audit_volume.py [--requests 20000] [--qps 100] [--seed 7] [--write-log FILE]

`--write-log` also writes the synthetic stream as audit.k8s.io/v1 JSON lines for the first policy
(useful to feed a log-shipper or SIEM parser test).
"""

import argparse
import json
import os
import random
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401 (side effect: the collection becomes importable) pylint: disable=unused-import
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as engine  # noqa: E402

# Typical JSON event sizes in bytes per level (Metadata measured on public fixtures; the body levels
# add the request and response objects of an average modern object).
EVENT_BYTES = {"Metadata": 800, "Request": 2500, "RequestResponse": 5000}
LEVELS = ("None", "Metadata", "Request", "RequestResponse")

# (weight, request template): a small cluster's mix, dominated by node and controller traffic.
TRAFFIC = [
    (22, {"user": "system:node:{node}", "groups": ["system:nodes", "system:authenticated"], "verb": "update",
          "namespace": "kube-node-lease", "api_group": "coordination.k8s.io", "resource": "leases", "name": "{node}"}),
    (10, {"user": "system:node:{node}", "groups": ["system:nodes", "system:authenticated"], "verb": "patch",
          "resource": "nodes", "subresource": "status", "name": "{node}"}),
    (8, {"user": "system:node:{node}", "groups": ["system:nodes", "system:authenticated"], "verb": "get",
         "namespace": "{ns}", "resource": "secrets", "name": "token-{n}"}),
    (14, {"user": "system:serviceaccount:kube-system:{controller}",
          "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
          "verb": "watch", "namespace": "", "api_group": "", "resource": "pods"}),
    (10, {"user": "system:serviceaccount:kube-system:{controller}",
          "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
          "verb": "list", "namespace": "{ns}", "api_group": "apps", "resource": "deployments"}),
    (6, {"user": "system:kube-scheduler", "groups": ["system:authenticated"], "verb": "create", "namespace": "{ns}",
         "resource": "pods", "subresource": "binding", "name": "app-{n}"}),
    (6, {"user": "system:serviceaccount:d8-operator:operator", "groups": ["system:serviceaccounts", "system:authenticated"],
         "verb": "get", "namespace": "{ns}", "resource": "configmaps", "name": "settings"}),
    (5, {"user": "system:anonymous", "groups": ["system:unauthenticated"], "verb": "get", "path": "/healthz"}),
    (4, {"user": "system:serviceaccount:monitoring:prometheus", "groups": ["system:serviceaccounts", "system:authenticated"],
         "verb": "get", "path": "/metrics"}),
    (4, {"user": "alice@example.com", "groups": ["developers", "system:authenticated"], "verb": "get", "namespace": "{ns}",
         "resource": "pods", "name": "app-{n}"}),
    (3, {"user": "alice@example.com", "groups": ["developers", "system:authenticated"], "verb": "list", "namespace": "{ns}",
         "resource": "secrets"}),
    (2, {"user": "ci-deployer", "groups": ["ci", "system:authenticated"], "verb": "patch", "namespace": "{ns}",
         "api_group": "apps", "resource": "deployments", "name": "app"}),
    (2, {"user": "ci-deployer", "groups": ["ci", "system:authenticated"], "verb": "create", "namespace": "{ns}",
         "resource": "pods", "name": "job-{n}"}),
    (1, {"user": "bob@example.com", "groups": ["admins", "system:authenticated"], "verb": "create", "namespace": "{ns}",
         "resource": "pods", "subresource": "exec", "name": "app-{n}"}),
    (1, {"user": "bob@example.com", "groups": ["admins", "system:authenticated"], "verb": "create",
         "api_group": "rbac.authorization.k8s.io", "resource": "clusterrolebindings", "name": "crb-{n}"}),
    (2, {"user": "system:serviceaccount:kube-system:generic-garbage-collector",
         "groups": ["system:serviceaccounts", "system:authenticated"], "verb": "get", "path": "/apis"}),
]


def synthetic_requests(count, seed):
    rng = random.Random(seed)
    weights = [weight for weight, _template in TRAFFIC]
    templates = [template for _weight, template in TRAFFIC]
    values = {"node": ["master-0", "worker-0", "worker-1", "worker-2"], "ns": ["default", "prod", "kube-system", "d8-system"],
              "controller": ["replicaset-controller", "deployment-controller", "endpointslice-controller"]}
    for template in rng.choices(templates, weights, k=count):
        fill = {key: rng.choice(options) for key, options in values.items()}
        fill["n"] = rng.randint(1, 50)
        yield {key: ([g.format(**fill) for g in value] if isinstance(value, list) else value.format(**fill))
               for key, value in template.items()}


def policies():
    security = engine.preset("security")
    return [
        ("minimal (kubeadm)", engine.preset("minimal")),
        ("security (kubeadm)", security),
        ("comprehensive (kubeadm)", engine.preset("comprehensive")),
        ("security on Deckhouse basic", engine.compose(security, target="deckhouse", basic_policy=True).policy),
    ]


def measure(policy, requests):
    loaded = engine.load_policy(policy)
    counts = dict.fromkeys(LEVELS, 0)
    events = 0
    volume = 0
    started = time.perf_counter()
    decisions = [engine.evaluate(loaded, request) for request in requests]
    elapsed = time.perf_counter() - started
    for request, decision in zip(requests, decisions):
        counts[decision.level] += 1
        emitted = len(decision.stages(engine.is_long_running(request)))
        events += emitted
        volume += emitted * EVENT_BYTES.get(decision.level, 0)
    return counts, events, volume, len(requests) / elapsed, decisions


def audit_event(request, decision, stage):
    event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": decision.level, "auditID": str(uuid.uuid4()),
             "stage": stage, "verb": request["verb"],
             "user": {"username": request["user"], "groups": request["groups"]}}
    if request.get("resource"):
        ref = {"resource": request["resource"], "namespace": request.get("namespace", ""), "name": request.get("name", ""),
               "apiGroup": request.get("api_group", ""), "subresource": request.get("subresource", "")}
        event["objectRef"] = {key: value for key, value in ref.items() if value}
    else:
        event["requestURI"] = request["path"]
    return event


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--qps", type=float, default=100.0, help="request rate used for the per-day volume estimate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-log", help="write the synthetic audit log (first policy) as JSON lines")
    args = parser.parse_args(argv)

    requests = list(synthetic_requests(args.requests, args.seed))
    print("%d synthetic requests (seed %d), volume estimated at %.0f requests/s\n" % (len(requests), args.seed, args.qps))
    header = "%-30s %6s %6s %6s %6s %10s %12s %14s" % ("policy", "None", "Meta", "Req", "ReqRsp", "events/req",
                                                       "GiB/day", "decisions/s")
    print(header)
    print("-" * len(header))
    first = None
    for name, policy in policies():
        counts, events, volume, rate, decisions = measure(policy, requests)
        if first is None:
            first = decisions
        shares = ["%5.1f%%" % (100.0 * counts[level] / len(requests)) for level in LEVELS]
        per_day = volume / len(requests) * args.qps * 86400 / 2 ** 30
        print("%-30s %6s %6s %6s %6s %10.2f %12.2f %14.0f" % ((name,) + tuple(shares) + (events / len(requests), per_day, rate)))

    if args.write_log:
        with open(args.write_log, "w") as handle:
            for request, decision in zip(requests, first):
                for stage in decision.stages(engine.is_long_running(request)):
                    handle.write(json.dumps(audit_event(request, decision, stage), sort_keys=True) + "\n")
        print("\nwrote %s" % args.write_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
