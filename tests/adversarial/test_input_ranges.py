# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 9, the cases still accepted after the first fixes: an audit log directory outside a plain
absolute path or inside the node's system directories, a ModuleConfig read back with a settings version newer
than the schema or settings that are not an object, file modes that write key files setuid or readable by
everyone, negative timeouts in the roles, and a policy so large that checking it took minutes. Each is refused
naming the field, with nothing written."""

import os
import shutil
import time

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import (
    audit_policy, cpm_audit_settings, kubeadm_audit, log_shipper_manifest)
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import FIXTURES, refuse, run_role
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module

POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
POLICY_TEXT = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def module_config(version, settings):
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "control-plane-manager"},
            "spec": {"version": version, "settings": settings}}


# --- auditLog.path / log_dir ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../../etc/shadow", "var/log/kube-audit", "/", "/var/log/../../etc",
                                  "/var/log/./kube-audit", "/var//log", "/etc/shadow", "/etc", "/etc/kubernetes/manifests",
                                  "/proc/self", "/usr/local/audit", "/var/lib/kubelet/pods"])
def test_an_audit_log_directory_deckhouse_would_take_but_breaks_a_master_is_refused(path):
    # Deckhouse's settings schema takes all of these (pattern ^[a-zA-Z0-9_/.-]+[a-zA-Z0-9_.-]$).
    result = refuse(cpm_audit_settings, {"log_path": path, "policy_yaml": POLICY_TEXT}, "log_path")
    assert result["msg"].startswith("input refused, nothing changed: log_path: ")


@pytest.mark.parametrize("path", ["/var/log/kube-audit", "/data/kube-audit", "/var/log/kube-audit.d"])
def test_plain_log_directories_reach_the_module_config(path):
    result, _warnings = run_module(cpm_audit_settings, {"log_path": path})
    assert result["module_config"]["object"]["spec"]["settings"]["apiserver"]["auditLog"]["path"] == path


@pytest.fixture
def kubeadm_node(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-no-audit.yaml"), str(manifests / "kube-apiserver.yaml"))
    return {"tmp": str(tmp_path), "args": {"path": str(manifests / "kube-apiserver.yaml"), "policy": POLICY,
                                           "policy_dir": str(tmp_path / "audit"), "backup_dir": str(tmp_path / "backups")}}


@pytest.mark.parametrize("log_dir", ["/var/log/../../etc", "/etc/audit", "/"])
def test_kubeadm_log_dir_follows_the_same_rule(kubeadm_node, log_dir):
    # normpath used to turn /var/log/../../etc into /etc, a read-write hostPath of kube-apiserver.
    refuse(kubeadm_audit, dict(kubeadm_node["args"], log_dir=log_dir), "log_dir", watched=[kubeadm_node["tmp"]])


# --- the ModuleConfig read back ----------------------------------------------------------------------

def test_a_settings_version_newer_than_the_schema_is_refused():
    result = refuse(cpm_audit_settings, {"existing": [module_config(99, {})], "policy_yaml": POLICY_TEXT},
                    "existing.spec.version")
    assert "99 is newer than settings version 3 of the 'latest' schema" in result["msg"]
    # Without a schema check the keys are merged as asked, into the version the cluster has.
    merged, _warnings = run_module(cpm_audit_settings, {"existing": [module_config(99, {})], "settings_schema": "none"})
    assert merged["module_config"]["after"]["version"] == 99


@pytest.mark.parametrize("settings", [[1], "apiserver", 5])
def test_settings_that_are_not_an_object_are_refused(settings):
    refuse(cpm_audit_settings, {"existing": [module_config(3, settings)]}, "existing.spec.settings")


# --- file_mode of rendered files ---------------------------------------------------------------------

KAFKA_WITH_PASSWORD = {"type": "kafka", "bootstrap_servers": ["kafka.example.com:9092"], "topic": "k8s",
                       "sasl": {"mechanism": "PLAIN", "username": "audit", "password": "p4ss-w0rd-kafka"}}


@pytest.mark.parametrize("mode,why", [
    (-1, "is not a mode"), ("7777777", "is not an octal mode"), ("4755", "sets setuid"), ("2640", "sets setuid"),
    (644, "is the decimal number 644 (mode 0o1204); quote the mode: '0644'"), (True, "expected an octal mode"),
    ("0777", "lets every user write"), ("u=rw", "is not an octal mode"),
])
def test_file_modes_that_are_not_plain_permissions_are_refused(tmp_path, mode, why):
    dest = tmp_path / "render"
    result = refuse(log_shipper_manifest, {"destinations": [{"address": "192.0.2.1:5140"}], "dest_dir": str(dest),
                                           "file_mode": mode}, "file_mode", watched=[str(tmp_path)])
    assert why in result["msg"], result["msg"]
    assert not dest.exists()


@pytest.mark.parametrize("mode", ["0644", "0604", 0o755])
def test_a_mode_readable_by_others_is_refused_for_files_holding_secrets(tmp_path, mode):
    dest = tmp_path / "render"
    result = refuse(log_shipper_manifest, {"destinations": [KAFKA_WITH_PASSWORD], "dest_dir": str(dest),
                                           "file_mode": mode, "error_path_prefix": "kuma_log_shipper_"},
                    "kuma_log_shipper_file_mode", watched=[str(tmp_path)], secrets=["p4ss-w0rd-kafka"])
    assert "lets other users read" in result["msg"] and "clusterlogdestination-kuma-kafka.yml" in result["msg"]
    assert not dest.exists()


@pytest.mark.parametrize("mode,expected", [("0640", 0o640), ("0o600", 0o600), (0o600, 0o600), ("600", 0o600)])
def test_plain_modes_are_written(tmp_path, mode, expected):
    dest = tmp_path / "render"
    run_module(log_shipper_manifest, {"destinations": [KAFKA_WITH_PASSWORD], "dest_dir": str(dest), "file_mode": mode})
    modes = set(os.stat(str(dest / name)).st_mode & 0o7777 for name in os.listdir(str(dest)))
    assert modes == {expected}


# --- negative timeouts in the roles ------------------------------------------------------------------

@pytest.mark.parametrize("role,variables,field", [
    ("control_plane_audit", {"control_plane_audit_rollout_timeout": -5, "control_plane_audit_preset": "minimal"},
     "control_plane_audit_rollout_timeout"),
    ("control_plane_audit", {"control_plane_audit_rollout_total_timeout": 0, "control_plane_audit_preset": "minimal"},
     "control_plane_audit_rollout_total_timeout"),
    ("control_plane_audit", {"control_plane_audit_rollout_delay": -1, "control_plane_audit_preset": "minimal"},
     "control_plane_audit_rollout_delay"),
    ("kuma_log_shipper", {"kuma_log_shipper_preflight_timeout": -1,
                          "kuma_log_shipper_destinations": [{"address": "192.0.2.1:5140"}]},
     "kuma_log_shipper_preflight_timeout"),
])
def test_negative_timeouts_stop_a_role_before_it_reads_or_writes_anything(tmp_path, role, variables, field):
    # The kubeconfig does not exist: a role that got past its input checks would fail on it instead.
    variables = dict(variables)
    variables["%s_kubeconfig" % role] = str(tmp_path / "no-kubeconfig")
    run = run_role(tmp_path, role, variables)
    assert run.rc != 0
    failure = run.failure()
    assert failure.startswith("%s: expected a whole number of" % field), failure


def test_a_negative_timeout_from_the_command_line_is_refused_too(tmp_path):
    run = run_role(tmp_path, "control_plane_audit", {"control_plane_audit_preset": "minimal",
                                                     "control_plane_audit_kubeconfig": str(tmp_path / "none")},
                   extra_vars_as_strings={"control_plane_audit_rollout_timeout": "-5"})
    assert run.rc != 0 and run.failure().startswith("control_plane_audit_rollout_timeout: expected"), run.failure()


# --- policy size -------------------------------------------------------------------------------------

def _many_rules(count):
    lines = ["apiVersion: audit.k8s.io/v1", "kind: Policy", "rules:"]
    for index in range(count):
        lines.append('- level: Metadata\n  users: ["user-%d"]\n  verbs: [get]' % index)
    return "\n".join(lines) + "\n"


def test_a_policy_over_the_size_limit_is_refused_before_parsing(tmp_path):
    text = _many_rules(255000)  # 14.7 MB: took 138 s to refuse, and loads in about 100 s since the alias fix
    assert len(text) > 14 * 1000 * 1000
    src = tmp_path / "policy.yaml"
    src.write_text(text)
    started = time.monotonic()
    result = refuse(audit_policy, {"src": str(src), "dest": str(tmp_path / "out.yaml")}, "src", watched=[str(tmp_path)])
    assert time.monotonic() - started < 10
    assert "over the 4194304 (4 MiB) this collection reads" in result["msg"], result["msg"]
    result = refuse(cpm_audit_settings, {"policy_yaml": text}, "policy_yaml")
    assert result["msg"].startswith("policy_yaml: the policy is 14678938 bytes, over the 4194304"), result["msg"]


def test_a_policy_too_large_for_the_deckhouse_secret_is_refused_naming_the_limit():
    # One rule with a 1.1 MB user name: cheap to read, too large for Secret kube-system/audit-policy.
    text = POLICY_TEXT.replace("- level: Metadata\n", "- level: Metadata\n  users: [%s]\n" % ("u" * 1100000))
    result = refuse(cpm_audit_settings, {"policy_yaml": text}, "policy_yaml")
    assert "Secret kube-system/audit-policy can hold at most 1048576" in result["msg"], result["msg"]
    # kube-apiserver reads a file of that size: kubeadm mode takes it.
    assert not ap.check(text, "1.31", "kubeadm").blocking


def test_linting_a_policy_of_thousands_of_rules_takes_seconds_not_minutes():
    # The shadowed-rule check compares each rule with every earlier one; 4,000 rules took 83 s.
    started = time.monotonic()
    result = ap.check(_many_rules(4000), "1.31", "kubeadm")
    assert time.monotonic() - started < 30
    assert result.apiserver_accepts
    skipped = [item for item in result.findings if item["code"] == "shadowing-not-checked"]
    assert skipped and skipped[0]["path"] == "rules[1000]" and skipped[0]["severity"] == "info"
    small = ap.check(_many_rules(3) + "- level: Metadata\n  users: [user-1]\n  verbs: [get]\n", "1.31", "kubeadm")
    assert [item["path"] for item in small.findings if item["code"] == "shadowed-rule"] == ["rules[3]"]


def test_a_refused_role_renders_nothing(tmp_path):
    render = tmp_path / "render"
    run = run_role(tmp_path, "kuma_log_shipper", {"kuma_log_shipper_preflight_timeout": "-3",
                                                  "kuma_log_shipper_destinations": [{"address": "192.0.2.1:5140"}],
                                                  "kuma_log_shipper_render_dir": str(render)})
    assert run.rc != 0 and run.failure().startswith("kuma_log_shipper_preflight_timeout: expected"), run.failure()
    assert not render.exists()
