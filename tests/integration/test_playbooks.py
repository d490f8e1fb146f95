# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection playbooks, run as a user runs them, against the real local test cluster.

Inventory: tests/integration/inventory/ (localhost as the k8s_api host, no nodes); the KESL and recovery tests
add a node (the controller itself) in a temporary inventory: a worker whose kesl-control is the test double,
and a master whose kube-apiserver is the test cluster's.
"""

import base64
import json
import re
import os
import shutil
import subprocess

import pytest
import yaml
from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests.integration._role_run import ansible_playbook, vars_file

pytestmark = pytest.mark.cluster

ROOT = _paths.ROOT
INVENTORY = os.path.join(ROOT, "tests", "integration", "inventory")
KESL_DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
MANIFEST = os.path.join(ROOT, "tests", "fixtures", "manifests", "deckhouse-file.yaml")
MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"
OWNER = "it_playbooks"
LOG_SHIPPER = {"ClusterLogDestination": "clusterlogdestinations", "ClusterLoggingConfig": "clusterloggingconfigs"}
KUMA_VARS = {
    "kuma_log_shipper_owner": OWNER,
    "kuma_log_shipper_preflight": False,
    "kuma_log_shipper_destinations": [{"name": "itpb-kuma-udp", "address": "127.0.0.1:5140", "mode": "udp"}],
    "kuma_log_shipper_sources": [{"name": "itpb-kube-audit"}],
}
AUDIT_VARS = {"control_plane_audit_preset": "minimal", "control_plane_audit_rollout_delay": 0,
              "control_plane_audit_rollout_timeout": 30}
BROKEN_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: metadata\n"


class Run(object):
    """One ansible-playbook run read through the ansible.posix.json callback."""

    def __init__(self, proc):
        self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        try:
            self.data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            raise AssertionError("no JSON from ansible-playbook:\n%s\n%s" % (proc.stdout, proc.stderr))
        self.stats = self.data["stats"]

    def changed(self):
        return sum(host["changed"] for host in self.stats.values())

    def results(self, name):
        """{host: result} of the last task called ``name`` (role tasks are '<role> : <name>')."""
        found = {}
        for play in self.data["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"].split(" : ")[-1] == name:
                    found = task["hosts"]
        return found

    def plays(self):
        return [play["play"]["name"] for play in self.data["plays"]]

    def report(self):
        return self.results("Show the report")["localhost"]["verify_report"]

    def failures(self):
        out = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                for host, result in task["hosts"].items():
                    if result.get("failed") and not result.get("ignore_errors"):
                        out.append("%s: %s: %s" % (host, task["task"]["name"], result.get("msg")))
        return out

    def __repr__(self):
        return "rc=%s stats=%s failures=%s\n%s" % (self.rc, self.stats, self.failures(), self.stderr[-3000:])


@pytest.fixture
def play(ansible_env, tmp_path):
    """play(playbook, variables, inventory=INVENTORY, check=False, env=None) -> Run.

    ``playbook`` is an FQCN (auditops.deckhouse.<name>) or a path relative to the repository."""

    def run(playbook, variables=None, inventory=INVENTORY, check=False, env=None):
        environ = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                       ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
        environ.update(env or {})
        return Run(ansible_playbook(playbook, inventory, [vars_file(tmp_path, variables or {})], environ, check=check))
    return run


def _delete(api, path):
    status, body = api.request("DELETE", path)
    assert status in (200, 404), body


def _owned(api, kind):
    status, body = api.request("GET", "/apis/deckhouse.io/v1alpha1/%s?labelSelector=auditops.deckhouse/role%%3D%s"
                               % (LOG_SHIPPER[kind], OWNER))
    assert status == 200, body
    return body["items"]


@pytest.fixture
def clean(k8s_cluster):
    """No audit settings, no audit policy Secret and none of this module's log-shipper objects, before and after."""
    api = k8s_cluster.api

    def wipe():
        for path in (MC_PATH, SECRET_PATH):
            _delete(api, path)
        for kind, plural in LOG_SHIPPER.items():
            for obj in _owned(api, kind):
                _delete(api, "/apis/deckhouse.io/v1alpha1/%s/%s" % (plural, obj["metadata"]["name"]))
    wipe()
    yield api
    wipe()


def _secret_text(api):
    status, body = api.request("GET", SECRET_PATH)
    return base64.b64decode(body["data"]["audit-policy.yaml"]).decode() if status == 200 else None


def _put_secret(api, text):
    _delete(api, SECRET_PATH)
    status, body = api.request("POST", "/api/v1/namespaces/kube-system/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
        "data": {"audit-policy.yaml": base64.b64encode(text.encode()).decode()}})
    assert status == 201, body


def _versions(api):
    """resourceVersion of everything the collection manages here (None when absent)."""
    found = {}
    for path in (MC_PATH, SECRET_PATH):
        status, body = api.request("GET", path)
        found[path] = body["metadata"]["resourceVersion"] if status == 200 else None
    for kind in LOG_SHIPPER:
        for obj in _owned(api, kind):
            found[kind + "/" + obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]
    return found


def _node_inventory(tmp_path, group, **host_vars):
    """The k8s_api localhost plus the controller once more as a node of ``group``."""
    node = dict(ansible_connection="local", ansible_become=False, **host_vars)
    inventory = {"all": {"children": {"k8s_api": {"hosts": {"localhost": {"ansible_connection": "local"}}},
                                      group: {"hosts": {"it-node": node}}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


# --- audit, kuma, verify ---------------------------------------------------------------------------------

def test_audit_and_kuma_then_verify_reports_them_and_changes_nothing(play, clean):
    # The 0.1.0 names (aliases of control_plane_audit and kuma_log_shipper) run the same plays.
    audit = play("auditops.deckhouse.audit", AUDIT_VARS)
    assert audit.rc == 0, audit
    assert audit.changed() >= 1
    # The kubeadm play of audit.yml ends at once on a Deckhouse cluster (and has no hosts here).
    assert audit.plays() == ["Configure Kubernetes API auditing - Deckhouse",
                             "Configure Kubernetes API auditing - kubeadm, one master at a time"]
    kuma = play("auditops.deckhouse.kuma", KUMA_VARS)
    assert kuma.rc == 0, kuma
    assert kuma.changed() >= 1
    applied = _versions(clean)

    first = play("auditops.deckhouse.verify", {"verify_fail_on_problems": False})
    assert first.rc == 0, first
    report = first.report()
    cluster = report["cluster"]
    assert cluster["api"]["reachable"] is True and cluster["api"]["version"].startswith("1.")
    assert cluster["audit_settings"]["module_config"] is True
    assert cluster["audit_settings"]["audit_policy_enabled"] is True
    assert cluster["audit_settings"]["log_output"] == "File"
    policy = cluster["policy"]
    assert policy["present"] is True and policy["in_use"] is True and policy["apiserver_accepts"] is True
    assert policy["rules"] >= 1
    destinations = cluster["log_shipper"]["destinations"]
    assert destinations["itpb-kuma-udp"] == {"type": "Socket", "address": "127.0.0.1:5140", "mode": "UDP", "codec": "JSON",
                                             "managed_by": "auditops.deckhouse"}
    config = cluster["log_shipper"]["configs"]["itpb-kube-audit"]
    assert config["destinations"] == ["itpb-kuma-udp"] and config["missing_destinations"] == []
    assert "itpb-kube-audit" in cluster["log_shipper"]["audit_log_shipped_by"]
    assert report["nodes"] == {}
    assert not [p for p in report["problems"] if "itpb-" in p or "audit policy" in p], report["problems"]
    assert first.changed() == 0, first

    # The AWX wrapper runs the same playbook; a second verify changes nothing either.
    second = play("awx/verify.yml", {"verify_fail_on_problems": False})
    assert second.rc == 0, second
    assert second.changed() == 0, second
    assert second.report()["cluster"] == cluster
    assert _versions(clean) == applied


def test_verify_fails_on_a_policy_kube_apiserver_would_refuse(play, clean):
    _put_secret(clean, BROKEN_POLICY)
    before = _versions(clean)
    run = play("auditops.deckhouse.verify")
    assert run.rc != 0
    failure = run.results("Fail when a problem was found")["localhost"]
    assert failure["failed"] is True
    assert "kube-apiserver would refuse it and stop: rules[0].level: Unsupported value: \"metadata\"" in failure["msg"]
    assert run.report()["cluster"]["policy"]["apiserver_accepts"] is False
    # Reported, never repaired.
    assert _versions(clean) == before and _secret_text(clean) == BROKEN_POLICY

    relaxed = play("auditops.deckhouse.verify", {"verify_fail_on_problems": False})
    assert relaxed.rc == 0, relaxed
    assert any("rules[0].level" in p for p in relaxed.report()["problems"])


# --- site ----------------------------------------------------------------------------------------------------

def test_site_check_mode_reports_changes_and_sends_nothing(play, clean):
    applied = play("auditops.deckhouse.site", dict(KUMA_VARS, **AUDIT_VARS))
    assert applied.rc == 0, applied
    assert applied.plays()[0] == "Site - check the variables of the cluster roles before anything changes"
    before = _versions(clean)
    assert _secret_text(clean) is not None

    # Another preset and one more destination: check mode sees both changes and the cluster keeps the old state.
    changed_vars = dict(KUMA_VARS, **AUDIT_VARS)
    changed_vars["control_plane_audit_preset"] = "security"
    changed_vars["kuma_log_shipper_destinations"] = KUMA_VARS["kuma_log_shipper_destinations"] + [
        {"name": "itpb-kuma-udp-cef", "address": "127.0.0.1:5141", "mode": "udp", "codec": "cef"}]
    text = _secret_text(clean)
    check = play("auditops.deckhouse.site", changed_vars, check=True)
    assert check.rc == 0, check
    assert check.changed() >= 2, check
    assert _versions(clean) == before and _secret_text(clean) == text


def test_site_stops_on_a_bad_variable_before_anything_changes(play, clean):
    bad = dict(KUMA_VARS, **AUDIT_VARS)
    bad["control_plane_audit_log_output"] = "file"
    run = play("auditops.deckhouse.site", bad)
    assert run.rc != 0
    # Each role's own argument validation (entry point validate) fails, and one task reports every error of the play.
    failures = run.failures()
    assert len(failures) == 2 and failures[0].startswith(
        "localhost: auditops.deckhouse.control_plane_audit : Validating arguments against arg spec 'validate'"), failures
    assert failures[-1] == ("localhost: Stop when a variable does not fit: value of control_plane_audit_log_output "
                            "must be one of: File, Stdout, got: file")
    assert len(run.plays()) == 1
    # The errors of both cluster roles, not only the first one's.
    bad["kuma_log_shipper_preflight"] = "maybe"
    both = play("auditops.deckhouse.site", bad)
    assert both.rc != 0 and len(both.plays()) == 1
    last = both.failures()[-1]
    assert "control_plane_audit_log_output" in last and "kuma_log_shipper_preflight" in last, last
    assert _versions(clean) == {MC_PATH: None, SECRET_PATH: None}


# --- node plays ------------------------------------------------------------------------------------------------

def _double_counts(env):
    out = subprocess.run([KESL_DOUBLE, "--double-counts", "--json"], env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout)


def test_kesl_on_a_node_then_verify_reads_it_without_writing(play, clean, tmp_path):
    env = dict(os.environ, KESL_DOUBLE_STATE=str(tmp_path / "kesl.ini"), KESL_DOUBLE_VERSION="12")
    # The node is this machine; its /var/lib/etcd (the test cluster's, if any) does not make it a master.
    inventory = _node_inventory(tmp_path, "workers", kesl_control_executable=KESL_DOUBLE,
                                kesl_control_plane_paths=[str(tmp_path / "no-etcd")])
    verify_vars = {"verify_fail_on_problems": False}

    before = play("auditops.deckhouse.verify", verify_vars, inventory=inventory, env=env)
    assert before.rc == 0, before
    kesl = before.report()["nodes"]["it-node"]["kesl"]
    assert kesl["installed"] is True and kesl["version"].startswith("12.") and kesl["node_role"] == "worker"
    assert "/var/lib/containerd" in kesl["missing_exclusions"]["File_Threat_Protection"]
    assert "/var/lib/etcd" not in kesl["missing_exclusions"]["File_Threat_Protection"]  # master-only
    assert any(p.startswith("it-node: KESL task File_Threat_Protection lacks exclusions") for p in before.report()["problems"])
    assert _double_counts(env)["write"] == 0

    configured = play("auditops.deckhouse.kesl", {}, inventory=inventory, env=env)
    assert configured.rc == 0, configured
    assert configured.stats["it-node"]["changed"] >= 1
    writes = _double_counts(env)["write"]
    assert writes >= 1

    after = play("auditops.deckhouse.verify", verify_vars, inventory=inventory, env=env)
    assert after.rc == 0, after
    kesl = after.report()["nodes"]["it-node"]["kesl"]
    assert kesl["missing_exclusions"] == {} and kesl["tasks_to_stop"] == [] and kesl["errors"] == []
    assert "/var/lib/containerd" in kesl["exclusions"]["1"]
    assert kesl["tasks"]["Web_Control"] == "Stopped"
    assert not [p for p in after.report()["problems"] if p.startswith("it-node")]
    assert after.changed() == 0, after
    assert _double_counts(env)["write"] == writes  # verify only read


def test_verify_probes_a_master_with_the_recovery_roles_settings(play, k8s_cluster, tmp_path):
    """The master part: the manifest read by apiserver_manifest_info, /livez and /readyz of the real kube-apiserver
    with the recovery role's probe settings, the audit log file; a missing one is a problem while audit is on."""
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    shutil.copy(MANIFEST, str(manifest))
    original = manifest.read_bytes()
    audit_log = tmp_path / "audit.log"
    audit_log.write_text("{}\n")
    inventory = _node_inventory(tmp_path, "masters", apiserver_recovery_manifest=str(manifest),
                                apiserver_recovery_api_url=k8s_cluster.server,
                                kesl_control_executable=str(tmp_path / "no-kesl-control"))
    verify_vars = {"verify_fail_on_problems": False, "verify_audit_log_path": str(audit_log)}
    run = play("auditops.deckhouse.verify", verify_vars, inventory=inventory)
    assert run.rc == 0, run
    node = run.report()["nodes"]["it-node"]
    assert node["role"] == "master"
    apiserver = node["apiserver"]
    assert apiserver["url"] == k8s_cluster.server and apiserver["manifest"] == "read", apiserver
    assert apiserver["livez"] in (200, 401, 403) and apiserver["readyz"] in (200, 401, 403), apiserver
    assert apiserver["audit_log"]["exists"] is True and apiserver["audit_log"]["size"] == 3
    assert node["kesl"]["installed"] is False and node["kesl"]["node_role"] == "master"
    assert not [p for p in run.report()["problems"] if p.startswith("it-node")], run.report()["problems"]
    assert run.changed() == 0 and manifest.read_bytes() == original

    # A probe the recovery role's settings say is unhealthy (only 299 counts), and no manifest to read.
    manifest.unlink()
    run = play("auditops.deckhouse.verify", dict(verify_vars, apiserver_recovery_healthy_status=[299]), inventory=inventory)
    assert run.rc == 0, run
    node = run.report()["nodes"]["it-node"]
    assert node["apiserver"]["manifest"].startswith("path: ") and "does not exist" in node["apiserver"]["manifest"]
    assert "it-node: kube-apiserver /livez does not answer as healthy" in run.report()["problems"]
    assert "it-node: kube-apiserver /readyz does not answer as healthy" in run.report()["problems"]


def test_kesl_role_takes_lists_and_booleans_as_strings(play, tmp_path):
    """Issue 18 item 8: -e and AWX surveys send strings; kesl_stop_tasks_extra=Web_Control wrote five exclusions and
    then failed on list + string."""
    env = dict(os.environ, KESL_DOUBLE_STATE=str(tmp_path / "kesl.ini"), KESL_DOUBLE_VERSION="12.3")
    subprocess.run([KESL_DOUBLE, "--start-task", "Web_Control"], env=env, check=True)
    subprocess.run([KESL_DOUBLE, "--start-task", "Firewall_Management"], env=env, check=True)
    inventory = _node_inventory(tmp_path, "workers", kesl_control_executable=KESL_DOUBLE,
                                kesl_control_plane_paths=[str(tmp_path / "no-etcd")])
    run = play("auditops.deckhouse.kesl", {"kesl_stop_tasks": "Network_Threat_Protection",
                                           "kesl_stop_tasks_extra": "Web_Control",
                                           "kesl_directories_extra": "/srv/data",
                                           "kesl_exclusion_user_ods_tasks": "false", "kesl_persistent": "true",
                                           "kesl_timeout": "30"}, inventory=inventory, env=env)
    assert run.rc == 0, run
    listed = subprocess.run([KESL_DOUBLE, "--get-task-list"], env=dict(env, LANG="C"), stdout=subprocess.PIPE,
                            text=True, check=True).stdout
    assert "Name:  Web_Control\nID:    26\nState: Stopped" in listed
    assert "Name:  Firewall_Management\nID:    12\nType:  Firewall\nState: Started" in listed  # not in the list given
    settings = subprocess.run([KESL_DOUBLE, "--get-settings", "1"], env=dict(env, LANG="C"), stdout=subprocess.PIPE,
                              text=True, check=True).stdout
    assert "Path=/srv/data\n" in settings and "Path=/etc/kubernetes\n" in settings


def test_kesl_role_fails_when_the_node_is_a_master_the_inventory_calls_a_worker(play, tmp_path):
    env = dict(os.environ, KESL_DOUBLE_STATE=str(tmp_path / "kesl.ini"), KESL_DOUBLE_VERSION="12.3")
    (tmp_path / "etcd").mkdir()
    inventory = _node_inventory(tmp_path, "workers", kesl_control_executable=KESL_DOUBLE,
                                kesl_control_plane_paths=[str(tmp_path / "kube-apiserver.yaml"), str(tmp_path / "etcd")])
    run = play("auditops.deckhouse.kesl", {}, inventory=inventory, env=env)
    assert run.rc != 0
    assert any("is a worker by the inventory" in f and str(tmp_path / "etcd") in f for f in run.failures()), run
    assert _double_counts(env)["write"] == 0


def test_recover_apiserver_check_mode_leaves_a_healthy_master_alone(play, k8s_cluster, tmp_path):
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    shutil.copy(MANIFEST, str(manifest))
    original = manifest.read_bytes()
    backups = tmp_path / "backups"
    inventory = _node_inventory(tmp_path, "masters", apiserver_recovery_manifest=str(manifest),
                                apiserver_recovery_api_url=k8s_cluster.server, apiserver_recovery_backup_dir=str(backups),
                                apiserver_recovery_k8s_delegate_to="localhost", apiserver_recovery_kubeconfig="")
    run = play("auditops.deckhouse.apiserver_recovery", {}, inventory=inventory, check=True)
    assert run.rc == 0, run
    assert run.changed() == 0, run
    report = run.results("Report what happened on this master")["it-node"]["msg"]
    assert report["before"].startswith("healthy (/livez answered 200")
    assert report["action"].startswith("none - the apiserver is healthy")
    assert report["removed_flags"] == [] and report["restarted"].strip().startswith("not attempted")
    assert manifest.read_bytes() == original
    assert not backups.exists()


# --- simulate ------------------------------------------------------------------------------------------------

def _busy_log(path, requests=100, seconds=10):
    """``requests`` secret reads by alice, evenly over ``seconds``: ~10 events a second."""
    with open(str(path), "w") as handle:
        for index in range(requests):
            stamp = "2026-11-23T10:00:%09.6fZ" % (index * float(seconds) / requests)
            handle.write(json.dumps({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "id-%d" % index,
                "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/prod/secrets/db", "verb": "get",
                "user": {"username": "alice", "groups": ["system:authenticated"]},
                "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db", "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": stamp, "stageTimestamp": stamp}) + "\n")


def test_simulate_reports_every_candidate_and_gates_on_retention(play, tmp_path):
    log = tmp_path / "audit.log"
    _busy_log(log)
    common = {"auditops_masters_hosts": "localhost", "simulate_become": False, "simulate_log": str(log)}
    run = play("auditops.deckhouse.simulate", common)
    assert run.rc == 0, run
    table = run.results("Show the comparison")["localhost"]["msg"]
    assert table[0].startswith(str(log)) and "100 requests" in table[0] and "(9.9 s)" in table[0], table
    rows = {}  # policy -> its events column in the first table (the second table lists the policies again)
    for line in table:
        cells = line.split()
        if cells and cells[0] in ("minimal", "security", "comprehensive"):
            rows.setdefault(cells[0], cells[1])
    assert sorted(rows) == ["comprehensive", "minimal", "security"], table
    assert rows["comprehensive"] == "100", table  # comprehensive records each secret read
    summary = run.results("Show one summary line per candidate")["localhost"]["msg"]
    for preset in ("minimal", "security", "comprehensive"):
        assert any(line.startswith("%s: " % preset) for line in summary), summary
    assert re.match(r"simulated 3 candidates on 100 requests in [0-9.]+ s$", summary[-1]), summary
    assert run.changed() == 0
    # 1 MiB x 1 file at ~10 events a second lasts minutes: a 1 hour minimum fails, naming the policy.
    gated = play("auditops.deckhouse.simulate", dict(common, simulate_min_retention_hours=1,
                                                     simulate_rotation={"max_size_mb": 1, "max_backups": 1},
                                                     simulate_policies=[{"name": "metadata", "target": "kubeadm",
                                                                         "policy": {"apiVersion": "audit.k8s.io/v1",
                                                                                    "kind": "Policy",
                                                                                    "rules": [{"level": "Metadata"}]}}]))
    assert gated.rc != 0
    items = gated.results("Check every candidate keeps enough hours of events")["localhost"]["results"]
    assert [item["failed"] for item in items] == [True]
    assert "metadata keeps 0.0" in items[0]["msg"] and "simulate_min_retention_hours=1" in items[0]["msg"]
