# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 8: every role and playbook simulate takes what ``-e name=value`` and AWX surveys send.

Each case runs twice: once with its options typed (a JSON vars file) and once with every option that a string can
carry (bool, int, float, a list of scalars) given as ``-e name=value``. Both runs must end the same way: the same
tasks with the same status, the same loop items, the same failure messages and the same converted variables.
The options come from the argument spec, so an option added later is part of the test without a change here."""

import json
import os
import shutil
import socket
import subprocess

import pytest
import yaml

from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests.integration._role_run import ansible_playbook, role_env, vars_file

pytestmark = pytest.mark.cluster

ROOT = _paths.ROOT
KESL_DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
MANIFEST = os.path.join(ROOT, "tests", "fixtures", "manifests", "deckhouse-file.yaml")
STRING_TYPES = ("bool", "int", "float")
LIST_ELEMENTS = (None, "str", "path", "int", "float", "bool")


def _role_options(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    options = {}
    for spec in specs.values():
        options.update(spec.get("options") or {})
    return options


def _simulate_options():
    with open(os.path.join(ROOT, "playbooks", "simulate.yml")) as handle:
        return yaml.safe_load(handle)[0]["vars"]["simulate__argument_spec"]


def string_options(options):
    """The options a string can carry, with their spec."""
    return dict((name, spec) for name, spec in options.items()
                if spec.get("type") in STRING_TYPES
                or (spec.get("type") == "list" and spec.get("elements") in LIST_ELEMENTS))


def as_string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_string(item) for item in value)
    return str(value)


def outcome(data):
    """What a run did, without timings: per task and host the status, loop items, failure messages, and the
    variables the conversion task set."""
    found = []
    for play in data["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            for host, result in sorted(task["hosts"].items()):
                items = result.get("results") or []
                entry = {"task": name, "host": host, "failed": bool(result.get("failed")),
                         "changed": bool(result.get("changed")), "skipped": bool(result.get("skipped")),
                         "unreachable": bool(result.get("unreachable")),
                         "items": [json.dumps(item.get("_ansible_item_label", item.get("item")), sort_keys=True,
                                              default=str) for item in items],
                         "failures": [item.get("msg") for item in items if item.get("failed")]}
                if result.get("failed") and not items:
                    entry["failures"] = [result.get("msg")]
                if name.endswith("Convert the role variables once") or name.endswith("Convert the variables once"):
                    entry["facts"] = result.get("ansible_facts")
                found.append(entry)
    return found


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that accepts connections (a KUMA collector for the preflight check)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def run_twice(ansible_env, k8s_cluster, tmp_path):
    """run_twice(playbook, options, typed, base, inventory, check, env) -> (typed outcome, string outcome, typed rc).

    ``options`` are the spec's options; ``typed`` gives a value to each option a string can carry (the spec's
    default is used where it has one)."""
    def run(playbook, options, typed, base, inventory="localhost,", check=True, env=None):
        carried = string_options(options)
        values = dict((name, spec["default"]) for name, spec in carried.items() if spec.get("default") is not None)
        values.update(typed)
        missing = sorted(set(carried) - set(values))
        assert not missing, "give these options a value in the case: %s" % missing
        assert not set(typed) - set(carried), "not options a string carries: %s" % sorted(set(typed) - set(carried))
        if not playbook.startswith("auditops.deckhouse."):
            path = tmp_path / "play.yml"
            path.write_text(playbook)
            playbook = str(path)
        environ = dict(role_env(ansible_env), **(env or {}))
        results = []
        for as_strings in (False, True):
            extra_vars = [vars_file(tmp_path, base if as_strings else dict(base, **values))]
            if as_strings:
                extra_vars += ["%s=%s" % (name, as_string(value)) for name, value in sorted(values.items())]
            proc = ansible_playbook(playbook, inventory, extra_vars, environ, check=check, args=["-c", "local"])
            start = proc.stdout.find("{")
            assert start >= 0, "no JSON from ansible-playbook:\n%s\n%s" % (proc.stdout, proc.stderr[-3000:])
            results.append((proc.returncode, outcome(json.loads(proc.stdout[start:])), proc.stderr))
        typed_rc, typed_outcome = results[0][:2]
        string_rc, string_outcome, stderr = results[1]
        assert string_outcome == typed_outcome, "as strings:\n%s\ntyped:\n%s\n%s" % (
            json.dumps(string_outcome, indent=1), json.dumps(typed_outcome, indent=1), stderr[-2000:])
        assert string_rc == typed_rc
        return typed_outcome, typed_rc
    return run


def _play(role, hosts="localhost", entry_points=("main",)):
    tasks = "".join("    - name: Run %s\n      ansible.builtin.import_role:\n        name: auditops.deckhouse.%s\n"
                    "        tasks_from: %s\n" % (entry, role, entry) for entry in entry_points)
    return "- hosts: %s\n  gather_facts: false\n  tasks:\n%s" % (hosts, tasks)


def _failures(found):
    return [(entry["task"], entry["failures"]) for entry in found if entry["failed"] or entry["unreachable"]]


def _ran(found, name):
    return [entry for entry in found if entry["task"].endswith(name) and not entry["skipped"]]


@pytest.mark.parametrize("preflight", [True, False])
def test_kuma_log_shipper(run_twice, k8s_cluster, listener, preflight):
    """kuma_log_shipper_preflight=false failed at the first when; preflight_hosts=localhost delegated to l, o, c..."""
    found, rc = run_twice(_play("kuma_log_shipper"), _role_options("kuma_log_shipper"), {
        "kuma_log_shipper_preflight": preflight, "kuma_log_shipper_preflight_hosts": ["localhost"],
        "kuma_log_shipper_preflight_timeout": 3, "kuma_log_shipper_follow_audit_settings": False,
        "kuma_log_shipper_force_conflicts": True, "kuma_log_shipper_validate_certs": True},
        {"kuma_log_shipper_kubeconfig": k8s_cluster.kubeconfig, "kuma_log_shipper_owner": "it_strings",
         "kuma_log_shipper_destinations": [{"name": "it-strings-tcp", "address": "127.0.0.1:%d" % listener}],
         "kuma_log_shipper_sources": [{"name": "it-strings-audit"}]})
    assert rc == 0, _failures(found)
    checks = _ran(found, "Check that each TCP endpoint accepts connections")
    assert [check["items"] for check in checks] == ([['"localhost -> 127.0.0.1:%d"' % listener]] if preflight else [])


def test_control_plane_audit(run_twice, k8s_cluster):
    found, rc = run_twice(_play("control_plane_audit"), _role_options("control_plane_audit"), {
        "control_plane_audit_enabled": True, "control_plane_audit_refuse_findings": ["sensitive-body", "no-rules"],
        "control_plane_audit_rollout_timeout": 30, "control_plane_audit_rollout_delay": 0,
        "control_plane_audit_validate_certs": True, "control_plane_audit_log_maxage": 7},
        {"control_plane_audit_kubeconfig": k8s_cluster.kubeconfig, "control_plane_audit_preset": "minimal"})
    assert rc == 0, _failures(found)
    assert _ran(found, "Check the audit policy")


def test_audit_detections(run_twice, k8s_cluster):
    found, rc = run_twice(_play("audit_detections"), _role_options("audit_detections"), {
        "audit_detections_detections": ["pod_exec_attach", "rbac_role_change"], "audit_detections_enable_module": False,
        "audit_detections_adopt": False, "audit_detections_validate_certs": True},
        {"audit_detections_kubeconfig": k8s_cluster.kubeconfig, "audit_detections_owner": "it_strings",
         "audit_detections_name": "it-strings"})
    assert rc == 0, _failures(found)
    assert not _ran(found, "Turn runtime-audit-engine on (ModuleConfig, server-side apply)")


def test_verify(run_twice, k8s_cluster, tmp_path):
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    shutil.copy(MANIFEST, str(manifest))
    found, rc = run_twice(_play("verify", entry_points=("main", "apiserver", "kesl", "report")), _role_options("verify"), {
        "verify_apiserver_health": True, "verify_kesl": False, "verify_fail_on_problems": False},
        {"verify_kubeconfig": k8s_cluster.kubeconfig, "apiserver_recovery_manifest": str(manifest),
         "apiserver_recovery_api_url": k8s_cluster.server, "verify_audit_log_path": str(tmp_path / "audit.log")})
    assert rc == 0, _failures(found)
    assert _ran(found, "Probe /livez and /readyz") and not _ran(found, "Look for kesl-control")


def test_apiserver_recovery(run_twice, tmp_path):
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    shutil.copy(MANIFEST, str(manifest))
    original = manifest.read_bytes()
    found, rc = run_twice(_play("apiserver_recovery"), _role_options("apiserver_recovery"), {
        "apiserver_recovery_strip": ["--audit-policy-file", "--audit-log-*"], "apiserver_recovery_healthy_status": [200],
        "apiserver_recovery_probe_timeout": 1, "apiserver_recovery_wait_timeout": 1, "apiserver_recovery_wait_delay": 1,
        "apiserver_recovery_restart_grace": 0, "apiserver_recovery_log_lines": 5},
        {"apiserver_recovery_manifest": str(manifest), "apiserver_recovery_backup_dir": str(tmp_path / "backups"),
         "apiserver_recovery_runtime": "none", "apiserver_recovery_secret_action": "keep",
         "apiserver_recovery_api_url": "https://127.0.0.1:9"})
    assert rc == 0, _failures(found)
    assert _ran(found, "Remove the audit flags from the manifest")
    assert manifest.read_bytes() == original


def test_kesl(run_twice, tmp_path):
    env = {"KESL_DOUBLE_STATE": str(tmp_path / "kesl.ini"), "KESL_DOUBLE_VERSION": "12.3"}
    subprocess.run([KESL_DOUBLE, "--start-task", "Web_Control"], env=dict(os.environ, **env), check=True)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"workers": {"hosts": {"it-node": {
        "ansible_connection": "local", "ansible_become": False, "kesl_control_executable": KESL_DOUBLE}}}}}}))
    found, rc = run_twice(_play("kesl", hosts="all"), _role_options("kesl"), {
        "kesl_required": True, "kesl_exclusion_tasks": ["File_Threat_Protection"],
        "kesl_exclusion_tasks_extra": ["Scan_My_Computer"], "kesl_stop_tasks": ["Web_Control"],
        "kesl_stop_tasks_extra": ["Firewall_Management"], "kesl_exclusion_user_ods_tasks": False, "kesl_timeout": 30,
        "kesl_control_plane_paths": [str(tmp_path / "no-etcd"), str(tmp_path / "no-manifest")]},
        {}, inventory=inventory, env=env)
    assert rc == 0, _failures(found)
    assert _ran(found, "Stop the KESL tasks that break Kubernetes nodes")


def test_simulate(run_twice, tmp_path):
    """-e simulate_min_retention_hours=24 (docs/audit-simulate.md) crashed comparing a float with a string."""
    log = tmp_path / "audit.log"
    with open(str(log), "w") as handle:
        for index in range(50):
            stamp = "2026-11-23T10:00:%09.6fZ" % (index * 0.2)
            handle.write(json.dumps({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "id-%d" % index,
                "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/prod/secrets/db", "verb": "get",
                "user": {"username": "alice"}, "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
                "responseStatus": {"code": 200}, "requestReceivedTimestamp": stamp, "stageTimestamp": stamp}) + "\n")
    found, rc = run_twice("auditops.deckhouse.simulate", _simulate_options(), {
        "simulate_min_retention_hours": 24, "simulate_become": False},
        {"auditops_masters_hosts": "localhost", "simulate_log": str(log),
         "simulate_rotation": {"max_size_mb": 1, "max_backups": 1},
         "simulate_policies": [{"name": "metadata", "target": "kubeadm", "policy": {
             "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}}]},
        check=False)
    assert rc != 0
    gate = _ran(found, "Check every candidate keeps enough hours of events")
    assert len(gate[0]["failures"]) == 1 and "simulate_min_retention_hours=24" in gate[0]["failures"][0], gate
    # A failed item shows (name, hours, MiB per day), not the whole simulation result.
    assert len(json.dumps(gate)) < 2000, gate
