#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kuma_log_shipper role against `kubectl apply -f` of the Deckhouse page's KUMA examples, on the local
kube-apiserver (tests/cluster/harness.py) with the Deckhouse CRDs.

Contenders:
- kubectl: one `kubectl apply -f FILE...` (kubectl v0.33.13 built from bench/go/kubectl) of the examples as a
  user copies them from the page (shared/seeds/001), placeholders replaced by the golden files' addresses.
  Each document is first offered to the server (`--dry-run=server`); an example with a rejected document is
  applied in its corrected form, the golden file (tests/fixtures/log_shipper/golden, docs/kuma.md), and the
  notes under the table say which and why.
- kubernetes.core.k8s: bench/playbooks/k8s_apply.yml, one task applying the files kubectl applies (in one
  multi-document file, apply: true): what an Ansible user writes without this collection.
- role: playbooks/kuma.yml (role auditops.deckhouse.kuma_log_shipper) with bench/vars/kuma_examples.yml,
  the same examples as role input; the objects it leaves must be the golden ones.
- one module task and empty play, the floors of the role: ansible-playbook with the same inventory and variables
  running one ansible.builtin.ping task (bench/playbooks/one_module_task.yml), and running no task at all.

Each contender gets its own kube-apiserver (ApiServerRunner.serve, a fresh etcd prefix, the CRDs loaded)
with a catch-all Metadata audit policy, and runs twice (at full size the second run five times: the table gives
its median wall time). Per run: wall time, API requests (audit events
after the run started, one per audit ID, without the server's own loopback user system:apiserver), split
into reads and writes, and what the contender reported changed (plays: tasks, kubectl: objects "created"
or "configured"). The benchmark fails (exit 1) when a run fails, the role changes anything on its second
run, or the role's objects differ from the golden files.

    python bench/bench_kuma_apply.py            # the five examples
    python bench/bench_kuma_apply.py --smoke    # the first example (what CI runs)
"""

import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

from _playbook_runs import ROOT, BenchError, ansible_env, bench_arguments, build_output, local_inventory, run_playbook_or_stop
from _table import format_table

sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import harness  # noqa: E402  (tests/cluster is not a package)

# The page's examples come with the shared seeds beside the checkout (AUDITOPS_SHARED as in tests/_paths.py).
SHARED = os.environ.get("AUDITOPS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
SEED = os.path.join(SHARED, "seeds", "001_289d90cff70fa122.txt")
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "log_shipper", "golden")
ROLE_PLAYBOOK = os.path.join(ROOT, "playbooks", "kuma.yml")
EMPTY_PLAYBOOK = os.path.join(ROOT, "bench", "playbooks", "empty.yml")
ONE_MODULE_PLAYBOOK = os.path.join(ROOT, "bench", "playbooks", "one_module_task.yml")
K8S_PLAYBOOK = os.path.join(ROOT, "bench", "playbooks", "k8s_apply.yml")
ROLE_VARS = os.path.join(ROOT, "bench", "vars", "kuma_examples.yml")
KUBECTL_WRAPPER = os.path.join(ROOT, "bench", "go", "kubectl")
PLURALS = {"ClusterLogDestination": "clusterlogdestinations", "ClusterLoggingConfig": "clusterloggingconfigs"}
# Catch-all Metadata, without the RequestReceived stage: one ResponseComplete event per request (long-running
# requests add ResponseStarted, hence counting audit IDs).
AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata"}]}
LOOPBACK_USERS = ("system:apiserver",)
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# Placeholders of the page ("Replace as needed.") and where the golden object has the real value.
PLACEHOLDERS = {
    "IP_ADDRESS:PORT": lambda spec: spec["socket"]["address"],
    "kafka-address:9092": lambda spec: spec["kafka"]["bootstrapServers"][0],
}
SMOKE_EXAMPLES = 1
# The second run is repeated and its median wall time shown: a 0.2 s kubectl run moves by 50% with every
# scheduling hiccup, which made the ratio of one run meaningless (5.5-9.3x for the same code).
SECOND_RUNS = 5


# --- the examples --------------------------------------------------------------------------------------

def seed_blocks(text):
    """The YAML code blocks of a Markdown page, dedented (the page indents them under list items)."""
    blocks = []
    for match in re.finditer(r"^([ \t]*)```yaml[ \t]*\n(.*?)^[ \t]*```", text, re.M | re.S):
        indent = len(match.group(1))
        lines = [line[indent:] if line[:indent].strip() == "" else line for line in match.group(2).splitlines()]
        blocks.append("\n".join(lines) + "\n")
    return blocks


def destination_name(documents):
    """metadata.name of the ClusterLogDestination among parsed documents (the key shared by seed and golden)."""
    for doc in documents:
        if doc and doc.get("kind") == "ClusterLogDestination":
            return doc["metadata"]["name"]
    return None


def user_copy(block, golden_destination):
    """The seed example as a user pastes it, with the page's placeholders replaced by the golden's values."""
    for placeholder, value in PLACEHOLDERS.items():
        if placeholder in block:
            block = block.replace(placeholder, value(golden_destination["spec"]))
    return block


def load_golden():
    """Golden file name (without .yml) -> (path, objects), in file order."""
    examples = collections.OrderedDict()
    for filename in sorted(os.listdir(GOLDEN)):
        path = os.path.join(GOLDEN, filename)
        with open(path) as handle:
            examples[filename[:-len(".yml")]] = (path, yaml.safe_load(handle)["items"])
    return examples


# --- counting requests -----------------------------------------------------------------------------------

def count_requests(lines, loopback_users=LOOPBACK_USERS):
    """Requests in audit log lines (JSON events): one per audit ID, without the server's own loopback traffic.
    Returns {"total", "read", "write", "by_agent": {user agent: n}, "by_verb": {verb: n}, "by_kind": {kind: n}}
    where kind is "discovery" (API and OpenAPI discovery) or the verb of a request for resources."""
    seen = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        event = json.loads(line)
        if event.get("user", {}).get("username") in loopback_users:
            continue
        seen.setdefault(event["auditID"], event)
    by_agent = collections.Counter(_agent(event.get("userAgent", "")) for event in seen.values())
    by_verb = collections.Counter(event["verb"] for event in seen.values())
    writes = sum(n for verb, n in by_verb.items() if verb in WRITE_VERBS)
    by_kind = collections.Counter(request_kind(event) for event in seen.values())
    return {"total": len(seen), "read": len(seen) - writes, "write": writes,
            "by_agent": dict(by_agent), "by_verb": dict(by_verb), "by_kind": dict(by_kind)}


def request_kind(event):
    """"discovery" for /api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, /openapi/..., /version; else the verb."""
    parts = event.get("requestURI", "").split("?", 1)[0].strip("/").split("/")
    if parts[0] in ("openapi", "version") or (parts[0] == "api" and len(parts) <= 2) or (parts[0] == "apis" and len(parts) <= 3):
        return "discovery"
    return event["verb"]


def _agent(user_agent):
    """The program part of a user agent: "kubectl/v0.0.0 (linux/amd64) kubernetes/$Format" -> "kubectl"."""
    return user_agent.split("/", 1)[0].split(" ", 1)[0] or "(none)"


def kubectl_changed(stdout):
    """Objects kubectl apply reports as created or configured ("kind.group/name configured")."""
    return sum(1 for line in stdout.splitlines() if line.rstrip().endswith((" created", " configured")))


class AuditLog(object):
    """Reads the audit events written since the last mark."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def mark(self):
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def since_mark(self):
        # The log backend writes each event before the response goes out (blocking mode); give the file a
        # moment anyway, then read whole lines only.
        time.sleep(0.5)
        with open(self.path) as handle:
            handle.seek(self.offset)
            data = handle.read()
        return data[:data.rfind("\n") + 1].splitlines()


# --- the contenders --------------------------------------------------------------------------------------

class Kubectl(object):
    label = "kubectl apply"

    def __init__(self, binary, files, workdir):
        self.binary, self.files = binary, files
        # A cache of its own: cold discovery on the first run, warm on the second, as for a user.
        self.cache = os.path.join(workdir, "kubectl-cache")

    def run(self, api):
        cmd = [self.binary, "--kubeconfig", api.kubeconfig, "--cache-dir", self.cache, "apply"]
        for path in self.files:
            cmd += ["-f", path]
        begin = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        seconds = time.monotonic() - begin
        if proc.returncode != 0:
            raise BenchError("kubectl apply failed (rc %s): %s" % (proc.returncode, proc.stderr.strip()))
        return seconds, kubectl_changed(proc.stdout)


class Role(object):
    label = "role"
    playbook = ROLE_PLAYBOOK

    def __init__(self, destinations, workdir):
        with open(ROLE_VARS) as handle:
            variables = yaml.safe_load(handle)
        variables["kuma_log_shipper_destinations"] = [d for d in variables["kuma_log_shipper_destinations"]
                                                      if d["name"] in destinations]
        variables["kuma_log_shipper_sources"] = [s for s in variables["kuma_log_shipper_sources"]
                                                 if set(s["destinations"]) <= set(destinations)]
        self.vars_file = os.path.join(workdir, "kuma-vars.json")
        with open(self.vars_file, "w") as handle:
            json.dump(variables, handle)
        self.inventory = local_inventory(workdir)

    def run(self, api):
        return play(self.label, ["-i", self.inventory, "-e", "@" + self.vars_file, self.playbook], api)


class OneModuleTask(Role):
    """The floor of a role that runs a module: the same inventory and variables, one ansible.builtin.ping task."""
    label = "one module task"
    playbook = ONE_MODULE_PLAYBOOK


class EmptyPlay(Role):
    """The floor of ansible-playbook: the same inventory and variables and a play with no task."""
    label = "empty play"
    playbook = EMPTY_PLAYBOOK


class KubernetesCoreK8s(object):
    """One kubernetes.core.k8s task applying kubectl's files, merged into one multi-document file (one module
    run for all objects, the quickest way to write it)."""
    label = "kubernetes.core.k8s"

    def __init__(self, files, workdir):
        documents = []
        for path in files:
            with open(path) as handle:
                documents.extend(doc for doc in yaml.safe_load_all(handle) if doc)
        self.src = os.path.join(workdir, "k8s-apply.yml")
        with open(self.src, "w") as handle:
            yaml.safe_dump_all(documents, handle, sort_keys=False)
        self.inventory = local_inventory(workdir)

    def run(self, api):
        return play(self.label, ["-i", self.inventory, "-e", "bench_k8s_src=" + self.src, K8S_PLAYBOOK], api)


def play(label, args, api):
    """Run ansible-playbook ARGS against ``api``; (wall seconds, tasks changed). A failed run stops the benchmark."""
    seconds, result = run_playbook_or_stop(label, args, ansible_env(K8S_AUTH_KUBECONFIG=api.kubeconfig))
    return seconds, result["changed"]


def server_objects(api, golden_objects):
    """The live counterparts of the golden objects, trimmed to what the golden file sets."""
    found = []
    for obj in golden_objects:
        status, body = api.request("GET", "/apis/%s/%s/%s" % (obj["apiVersion"], PLURALS[obj["kind"]], obj["metadata"]["name"]))
        if status != 200:
            found.append(None)
            continue
        found.append({"apiVersion": body["apiVersion"], "kind": body["kind"],
                      "metadata": {"name": body["metadata"]["name"], "labels": body["metadata"].get("labels")},
                      "spec": body["spec"]})
    return found


# --- the benchmark -----------------------------------------------------------------------------------------

def probe(kubectl, api, workdir, examples):
    """Offer each seed document to the server (dry run). Returns (files to apply, notes)."""
    if not os.path.exists(SEED):
        # A clone with nothing beside it: kubectl applies the golden files (the same objects the role writes),
        # said in the notes; in CI the seed is always present, so its absence is an error there.
        if os.environ.get("CI"):
            raise BenchError("the seed %s is not beside the checkout, and CI is set, where it must be present" % SEED)
        return ([golden_path for golden_path, _objects in examples.values()],
                ["the seed %s is not beside the checkout: kubectl applies the golden files instead" % SEED])
    with open(SEED) as handle:
        blocks = seed_blocks(handle.read())
    by_name = {}
    for block in blocks:
        name = destination_name(list(yaml.safe_load_all(block)))
        if name:
            by_name[name] = block
    files, notes = [], []
    for key, (golden_path, golden_objects) in examples.items():
        destination = [obj for obj in golden_objects if obj["kind"] == "ClusterLogDestination"][0]
        block = by_name.get(destination["metadata"]["name"])
        if block is None:
            raise BenchError("no seed example for %s" % key)
        copy = user_copy(block, destination)
        rejected = []
        for index, doc in enumerate(yaml.safe_load_all(copy)):
            path = os.path.join(workdir, "seed-%s-%d.yml" % (key, index))
            with open(path, "w") as handle:
                yaml.safe_dump(doc, handle, sort_keys=False)
            proc = subprocess.run([kubectl, "--kubeconfig", api.kubeconfig, "--cache-dir", os.path.join(workdir, "probe-cache"),
                                   "apply", "--dry-run=server", "-f", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
            if proc.returncode != 0:
                rejected.append("%s/%s: %s" % (doc["kind"], doc["metadata"]["name"], rejection_reason(proc.stderr)))
        if rejected:
            files.append(golden_path)
            notes.append("%s: the seed example is rejected, the golden file is applied instead: %s" % (key, "; ".join(rejected)))
        else:
            path = os.path.join(workdir, "seed-%s.yml" % key)
            with open(path, "w") as handle:
                handle.write(copy)
            files.append(path)
            notes.append("%s: the seed example is accepted and applied as copied" % key)
    return files, notes


def rejection_reason(stderr):
    """The server's reason in kubectl's error output, without kubectl's wrapping and the local file names."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    for pattern in (r'no matches for kind "[^"]*" in version "[^"]*"', r"strict decoding error: .*",
                    r"Invalid value: .*"):
        match = re.search(pattern, lines[0])
        if match:
            return match.group(0)
    return re.sub(r'"(/[^"]*/)?([^"/]+)"', r'"\2"', lines[0])


def table(rows, count):
    title = ("KUMA: kuma_log_shipper role (playbooks/kuma.yml) vs kubectl apply -f and kubernetes.core.k8s of the page's "
             "examples, %d example(s), "
             "local kube-apiserver v1.33 with the Deckhouse CRDs.\nAPI requests counted in the server's audit log "
             "(one per audit ID, the server's own loopback requests left out); changed = tasks (plays) or objects "
             "created/configured (kubectl)." % count)
    headers = ["contender", "run", "wall s", "API requests", "read", "write", "changed"]
    body = [[row["contender"], row["run"], "%.1f" % row["seconds"], row["requests"]["total"], row["requests"]["read"],
             row["requests"]["write"], row["changed"]] for row in rows]
    return title + "\n\n" + format_table(headers, body)


def main(argv=None):
    args = bench_arguments(__doc__, "the first example only", argv)
    examples = load_golden()
    if args.smoke:
        examples = collections.OrderedDict(list(examples.items())[:SMOKE_EXAMPLES])
    kubectl = build_output("tests/build-go.sh", KUBECTL_WRAPPER)
    rows, notes, problems = [], [], []
    workdir = tempfile.mkdtemp(prefix="bench-kuma-")
    cluster = None
    try:
        cluster = harness.Cluster(os.path.join(workdir, "cluster"))
        files, notes = probe(kubectl, cluster.api, workdir, examples)
        golden_objects = [obj for _path, objects in examples.values() for obj in objects]
        destinations = [obj["metadata"]["name"] for obj in golden_objects if obj["kind"] == "ClusterLogDestination"]
        # One runner: each server it starts gets an etcd prefix of its own, so each contender starts empty.
        runner = harness.ApiServerRunner(cluster)
        contenders = (Kubectl(kubectl, files, workdir), KubernetesCoreK8s(files, workdir), Role(destinations, workdir),
                      OneModuleTask(destinations, workdir), EmptyPlay(destinations, workdir))
        for contender in contenders:
            contender_rows, live = measure_contender(contender, runner, workdir, golden_objects,
                                                     1 if args.smoke else SECOND_RUNS)
            rows.extend(contender_rows)
            if contender.label == "role" and live != golden_objects:
                problems.append("the role's objects differ from the golden files:\n%s" % yaml.safe_dump(live))
    except (BenchError, harness.HarnessError) as err:
        print("bench_kuma_apply: %s" % err, file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(rows, len(examples)))
    print()
    for note in notes:
        print("- " + note)
    for row in rows:
        reads = row["requests"]["repeat_reads"]
        repeats = "" if len(reads) == 1 else " (median wall time of %d runs; reads of each: %s)" % (
            len(reads), ", ".join(str(n) for n in reads))
        print("- %s, %s run: %s%s" % (row["contender"], row["run"], _counts(row["requests"]["by_kind"]), repeats))
    for line in ratios(rows):
        print("- " + line)
    second = [row for row in rows if row["contender"] == "role" and row["run"] == "second"][0]
    if second["changed"]:
        problems.append("the role is not idempotent: its second run reported %d changed tasks" % second["changed"])
    for problem in problems:
        print("bench_kuma_apply: %s" % problem, file=sys.stderr)
    return 1 if problems else 0


def ratios(rows):
    """One line per run: each contender's wall time as a multiple of kubectl's, kubernetes.core.k8s's as a multiple
    of the role's, and what the role takes beyond its floors (the one-module-task play and the empty play)."""
    seconds = dict(((row["contender"], row["run"]), row["seconds"]) for row in rows)
    lines = []
    for run in ("first", "second"):
        kubectl = seconds["kubectl apply", run]
        multiples = ", ".join("%s %.1fx" % (label, seconds[label, run] / kubectl)
                              for label in ("role", "kubernetes.core.k8s", "one module task", "empty play"))
        lines.append("%s run, wall time as a multiple of kubectl's: %s; kubernetes.core.k8s %.1fx the role's; role minus "
                     "one module task %.1f s, minus empty play %.1f s" % (
                         run, multiples, seconds["kubernetes.core.k8s", run] / seconds["role", run],
                         seconds["role", run] - seconds["one module task", run], seconds["role", run] - seconds["empty play", run]))
    return lines


def _counts(counter):
    return ", ".join("%s %d" % (key, counter[key]) for key in sorted(counter))


def warm_up(api, objects):
    """Create and delete a throwaway copy of one object of each kind. The first write of custom resources on a
    fresh server takes ~2 s here (once per server), which a cluster in use has long paid; neither contender
    should be timed with it."""
    for kind in PLURALS:
        obj = json.loads(json.dumps([o for o in objects if o["kind"] == kind][0]))
        obj["metadata"] = {"name": "bench-warm-up"}
        path = "/apis/%s/%s" % (obj["apiVersion"], PLURALS[kind])
        for method, url, body, wanted in (("POST", path, obj, 201), ("DELETE", path + "/bench-warm-up", None, 200)):
            status, answer = api.request(method, url, body)
            if status != wanted:
                raise BenchError("warm-up %s %s: %s %s" % (method, url, status, answer))


def repeated_run(contender, api, log, repeats):
    """Run ``contender`` ``repeats`` times. Returns (median wall seconds, the first run's requests, most changed
    of any run); the requests carry "repeat_reads", the reads of each run. Runs that write differently are an
    error: then a median time would mix different work. Reads may differ: kubectl keeps discovery and OpenAPI
    documents in its --cache-dir and read 13 times on its first warm run, then 12 (make bench, 2026-12-04)."""
    times, runs = [], []
    for _repeat in range(repeats):
        log.mark()
        seconds, changed = contender.run(api)
        times.append(seconds)
        runs.append((count_requests(log.since_mark()), changed))
    writes = [dict((verb, n) for verb, n in requests["by_verb"].items() if verb in WRITE_VERBS) for requests, _changed in runs]
    if any(by_verb != writes[0] for by_verb in writes):
        raise BenchError("%s: repeated runs wrote differently: %s" % (contender.label, writes))
    first = dict(runs[0][0], repeat_reads=[requests["read"] for requests, _changed in runs])
    return statistics.median(times), first, max(changed for _requests, changed in runs)


def measure_contender(contender, runner, workdir, golden_objects, second_runs=SECOND_RUNS):
    """Both runs of one contender on a fresh audited kube-apiserver; rows, and its objects as the server has them."""
    audit_path = os.path.join(workdir, "audit-%s.log" % contender.label.replace(" ", "-"))
    policy_path = os.path.join(workdir, "audit-policy.yaml")
    with open(policy_path, "w") as handle:
        yaml.safe_dump(AUDIT_POLICY, handle)
    rows = []
    with runner.serve(["--audit-policy-file=" + policy_path, "--audit-log-path=" + audit_path]) as api:
        harness.load_crds(api)
        warm_up(api, golden_objects)
        log = AuditLog(audit_path)
        for run, repeats in (("first", 1), ("second", second_runs)):
            seconds, requests, changed = repeated_run(contender, api, log, repeats)
            rows.append({"contender": contender.label, "run": run, "seconds": seconds, "requests": requests,
                         "changed": changed})
        live = server_objects(api, golden_objects)
    return rows, live


if __name__ == "__main__":
    sys.exit(main())
