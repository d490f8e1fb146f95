# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile input for the modules the other corpus files do not refuse yet (issue 18, "Done when"): each is refused
with a message naming the field, changes no file (the directories the module could write are compared) and shows
no secret. tests/adversarial/test_corpus_complete.py keeps every module in the corpus."""

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import (
    apiserver_manifest_info, apiserver_readyz, audit_policy, audit_policy_simulate, cpm_audit_settings,
    cpm_rollout_wait, detection_rules, k8s_objects, k8s_objects_info, kesl_exclusion, kesl_info, kesl_task, log_shipper_manifest)
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import FIXTURES, ROOT, refuse

KESL_DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
PASSWORD = "corpus-sasl-password-7f3a"
BAD_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "metadata"}]}


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A manifest, an audit log and a kesl-control double state in tmp_path (the files a module could change)."""
    (tmp_path / "manifests").mkdir()
    shutil.copy(os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml"), str(tmp_path / "manifests" / "kube-apiserver.yaml"))
    (tmp_path / "audit.log").write_text("")
    monkeypatch.setenv("KESL_DOUBLE_STATE", str(tmp_path / "kesl" / "kesl.ini"))
    return tmp_path


@pytest.fixture
def kesl_node(node):
    """The double keeps its call counts in its state file, so a KESL case checks the double's write count (no
    settings or task change went through kesl-control) instead of comparing that directory."""
    (node / "kesl").mkdir()
    yield node
    counts = subprocess.run([KESL_DOUBLE, "--double-counts", "--json"], stdout=subprocess.PIPE, text=True, check=True)
    assert json.loads(counts.stdout)["write"] == 0


def test_apiserver_manifest_info_refuses_a_strip_pattern_beyond_audit_flags(node):
    refuse(apiserver_manifest_info, {"path": str(node / "manifests" / "kube-apiserver.yaml"),
                                     "strip": ["--authorization-mode"]}, "strip[0]", watched=[str(node)])


def test_apiserver_readyz_refuses_a_negative_timeout(node):
    refuse(apiserver_readyz, {"timeout": -1, "kubeconfig": str(node / "no-kubeconfig")}, "timeout", watched=[str(node)])


def test_audit_policy_refuses_a_policy_kube_apiserver_would_not_load_and_writes_no_dest(node):
    refuse(audit_policy, {"policy": BAD_POLICY, "dest": str(node / "policy.yaml")}, "rules[0].level", watched=[str(node)])


def test_audit_policy_simulate_refuses_a_negative_rotation(node):
    refuse(audit_policy_simulate, {"log": str(node / "audit.log"), "policies": [{"name": "a", "preset": "minimal"}],
                                   "rotation": {"max_size_mb": -1}}, "rotation.max_size_mb", watched=[str(node)])


@pytest.mark.parametrize("path", ["/var/log/kube-audit\n--authorization-mode=AlwaysAllow", "/var/log/kube-audit\n"])
def test_cpm_audit_settings_refuses_a_flag_smuggled_into_the_log_path(node, path):
    refuse(cpm_audit_settings, {"log_path": path}, "auditLog.path", watched=[str(node)])


def test_cpm_rollout_wait_refuses_a_negative_timeout(node):
    refuse(cpm_rollout_wait, {"timeout": -5}, "timeout", watched=[str(node)])


def test_detection_rules_refuses_an_unknown_detection_and_renders_nothing(node):
    refuse(detection_rules, {"detections": ["pod_exec_attach", "nope"], "dest_dir": str(node / "rendered")},
           "detections[1]", watched=[str(node)])


@pytest.mark.parametrize("query, field", [
    ({"kind": "Secret", "namespace": "kube-system", "name": "../../nodes/x"}, "queries[1].name"),
    ({"kind": "Secret", "label_selectors": [{"app": "x"}]}, "queries[1].label_selectors"),
])
def test_k8s_objects_info_refuses_a_path_or_selector_it_cannot_ask_and_sends_nothing(node, query, field):
    # The refusal comes before the connection: no API server is needed, and the token never shows.
    refuse(k8s_objects_info, {"host": "https://127.0.0.1:1", "api_key": PASSWORD,
                              "queries": [{"kind": "Namespace"}, query]}, field, watched=[str(node)], secrets=[PASSWORD])


def test_k8s_objects_refuses_an_object_without_a_name_and_sends_nothing(node):
    # The refusal comes before the connection (nothing listens on the host): no object of the list is sent,
    # not even the valid first one, and the token never shows.
    refuse(k8s_objects, {"host": "https://127.0.0.1:1", "api_key": PASSWORD,
                         "definition": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}},
                                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]},
           "definition[1].metadata.name", watched=[str(node)], secrets=[PASSWORD])


def test_kesl_exclusion_refuses_excluding_the_whole_disk(kesl_node):
    refuse(kesl_exclusion, {"exclusions": ["/var/lib/containerd", "/etc/kubernetes/../.."], "executable": KESL_DOUBLE},
           "exclusions[1]", watched=[str(kesl_node / "manifests")])


def test_kesl_task_refuses_a_task_name_kesl_does_not_have(kesl_node):
    refuse(kesl_task, {"tasks": ['Web"Control'], "state": "stopped", "executable": KESL_DOUBLE}, "tasks[0]",
           watched=[str(kesl_node / "manifests")])


def test_kesl_info_refuses_a_timeout_out_of_range(kesl_node):
    refuse(kesl_info, {"timeout": -1, "executable": KESL_DOUBLE}, "timeout", watched=[str(kesl_node / "manifests")])


def test_log_shipper_manifest_refuses_a_bad_broker_without_showing_the_sasl_password(node):
    refuse(log_shipper_manifest, {
        "destinations": [{"type": "kafka", "bootstrap_servers": ["kafka.example:notaport"], "topic": "audit",
                          "sasl": {"mechanism": "plain", "username": "kuma", "password": PASSWORD}}],
        "dest_dir": str(node / "rendered")}, "destinations[0].bootstrap_servers[0]", watched=[str(node)],
        secrets=[PASSWORD], diff=True)


@pytest.mark.parametrize("option,value,field", [
    ("destinations", [{"name": "kuma-tcp\n", "address": "10.0.0.1:514"}], "destinations[0].name"),
    ("owner", "kuma\n", "owner"),
])
def test_log_shipper_manifest_refuses_a_name_with_a_trailing_newline(node, option, value, field):
    args = {"destinations": [{"address": "10.0.0.1:514"}], "dest_dir": str(node / "rendered")}
    refuse(log_shipper_manifest, dict(args, **{option: value}), field, watched=[str(node)])
