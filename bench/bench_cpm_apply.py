#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control_plane_audit role (deckhouse mode) against `kubectl apply -f` of the same ModuleConfig settings and
policy Secret, on the local kube-apiserver (tests/cluster/harness.py) with the ModuleConfig CRD.

Contenders:
- kubectl: one `kubectl apply -f FILE` of ModuleConfig/control-plane-manager (auditPolicyEnabled,
  basicAuditPolicyEnabled, auditLog.output File) and Secret kube-system/audit-policy with the `security` preset,
  as docs/audit-settings.md and the Deckhouse FAQ have a user write them.
- role: playbooks/audit.yml (role auditops.deckhouse.control_plane_audit) with control_plane_audit_preset
  security; the objects it leaves must hold the same settings and policy. No kube-apiserver pods exist here,
  so the role's rollout wait is its /readyz fallback (delay 0).

Each contender gets its own kube-apiserver (a fresh etcd prefix, the CRDs loaded) with a catch-all Metadata audit
policy, and runs twice. Per run: wall time, API requests counted in the audit log as bench_kuma_apply.py counts
them (one per audit ID, the server's loopback user left out), reads and writes, and what was reported changed.
The benchmark fails (exit 1) when a run fails, or the role's second run changes anything or writes.

    python bench/bench_cpm_apply.py            # both contenders, two runs each
    python bench/bench_cpm_apply.py --smoke    # the same (it is small); what CI runs
"""

import json
import os
import shutil
import sys
import tempfile

import yaml

from _playbook_runs import ROOT, BenchError, ansible_env, bench_arguments, build_output, local_inventory, run_playbook_or_stop
from _table import format_table
from bench_kuma_apply import AUDIT_POLICY, KUBECTL_WRAPPER, AuditLog, Kubectl, count_requests

sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import harness  # noqa: E402  (tests/cluster is not a package)

from _audit_bench import engine as ap  # noqa: E402  (the collection's policy engine)

ROLE_PLAYBOOK = os.path.join(ROOT, "playbooks", "audit.yml")
SETTINGS = {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": True, "auditLog": {"output": "File"}}}
MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"


def kubectl_file(workdir):
    """The two objects a user applies: the settings and the preset's policy as stringData."""
    policy = ap.check(ap.preset("security"), ap.DEFAULT_KUBERNETES_VERSION).policy_yaml
    objects = [{"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "control-plane-manager"},
                "spec": {"version": 3, "settings": SETTINGS}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
                "stringData": {"audit-policy.yaml": policy}}]
    path = os.path.join(workdir, "audit-settings.yml")
    with open(path, "w") as handle:
        yaml.safe_dump_all(objects, handle, sort_keys=False)
    return path, policy


class Role(object):
    label = "role"

    def __init__(self, workdir):
        self.vars_file = os.path.join(workdir, "audit-vars.json")
        with open(self.vars_file, "w") as handle:
            json.dump({"control_plane_audit_preset": "security", "control_plane_audit_rollout_delay": 0,
                       "control_plane_audit_rollout_timeout": 60}, handle)
        self.inventory = local_inventory(workdir)

    def run(self, api):
        seconds, result = run_playbook_or_stop("the role", ["-i", self.inventory, "-e", "@" + self.vars_file, ROLE_PLAYBOOK],
                                               ansible_env(K8S_AUTH_KUBECONFIG=api.kubeconfig))
        return seconds, result["changed"]


def live_state(api):
    """The settings and the decoded policy the server holds."""
    import base64
    status, mc = api.request("GET", MC_PATH)
    status_secret, secret = api.request("GET", SECRET_PATH)
    if status != 200 or status_secret != 200:
        raise BenchError("the objects are missing after the run (%s, %s)" % (status, status_secret))
    return mc["spec"]["settings"], base64.b64decode(secret["data"]["audit-policy.yaml"]).decode()


def measure(contender, runner, workdir):
    audit_path = os.path.join(workdir, "audit-%s.log" % contender.label.replace(" ", "-"))
    policy_path = os.path.join(workdir, "audit-policy.yaml")
    with open(policy_path, "w") as handle:
        yaml.safe_dump(AUDIT_POLICY, handle)
    rows = []
    with runner.serve(["--audit-policy-file=" + policy_path, "--audit-log-path=" + audit_path]) as api:
        harness.ensure_namespace(api, "kube-system")
        harness.load_crds(api, files=("deckhouse-crd-module-config.yaml",))
        log = AuditLog(audit_path)
        for run in ("first", "second"):
            log.mark()
            seconds, changed = contender.run(api)
            rows.append({"contender": contender.label, "run": run, "seconds": seconds,
                         "requests": count_requests(log.since_mark()), "changed": changed})
        live = live_state(api)
    return rows, live


def table(rows):
    title = ("Audit settings: control_plane_audit role (playbooks/audit.yml, deckhouse mode, preset security) vs kubectl "
             "apply -f of the same ModuleConfig and Secret, local kube-apiserver v1.33 with the ModuleConfig CRD.\nAPI "
             "requests counted in the server's audit log (one per audit ID, the server's own loopback requests left out); "
             "changed = tasks (role) or objects created/configured (kubectl).")
    headers = ["contender", "run", "wall s", "API requests", "read", "write", "changed"]
    body = [[row["contender"], row["run"], "%.1f" % row["seconds"], row["requests"]["total"], row["requests"]["read"],
             row["requests"]["write"], row["changed"]] for row in rows]
    return title + "\n\n" + format_table(headers, body)


def main(argv=None):
    bench_arguments(__doc__, "the same two runs per contender (the benchmark is small)", argv)
    kubectl = build_output("tests/build-go.sh", KUBECTL_WRAPPER)
    rows, problems = [], []
    workdir = tempfile.mkdtemp(prefix="bench-cpm-")
    cluster = None
    try:
        cluster = harness.Cluster(os.path.join(workdir, "cluster"))
        path, policy = kubectl_file(workdir)
        runner = harness.ApiServerRunner(cluster)
        for contender in (Kubectl(kubectl, [path], workdir), Role(workdir)):
            contender_rows, (settings, live_policy) = measure(contender, runner, workdir)
            rows.extend(contender_rows)
            if settings != SETTINGS or ap.load_policy(live_policy).policy != ap.load_policy(policy).policy:
                problems.append("%s left other objects: %s\n%s" % (contender.label, settings, live_policy))
    except (BenchError, harness.HarnessError) as err:
        print("bench_cpm_apply: %s" % err, file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(rows))
    print()
    for row in rows:
        print("- %s, %s run: %s" % (row["contender"], row["run"], ", ".join(
            "%s %d" % (key, row["requests"]["by_kind"][key]) for key in sorted(row["requests"]["by_kind"]))))
    second = [row for row in rows if row["contender"] == "role" and row["run"] == "second"][0]
    if second["changed"] or second["requests"]["write"]:
        problems.append("the role's second run changed %d tasks and wrote %d times"
                        % (second["changed"], second["requests"]["write"]))
    for problem in problems:
        print("bench_cpm_apply: %s" % problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
