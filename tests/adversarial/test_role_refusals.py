# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile input for the roles (issue 18, "Done when"), against the real kube-apiserver with the Deckhouse CRDs:
each role is refused with a message naming the variable, changes no API object (read before and after) and no file,
and prints no secret at -vv. apiserver_recovery's cases are in test_apiserver_recovery_inputs.py;
test_corpus_complete.py keeps every role in the corpus."""

import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.auditops.deckhouse.tests.adversarial._harness import ROOT, refuse_role

pytestmark = pytest.mark.cluster

KESL_DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
PASSWORD = "corpus-role-sasl-password-91c2"
LOG_SHIPPER = ["/apis/deckhouse.io/v1alpha1/clusterlogdestinations", "/apis/deckhouse.io/v1alpha1/clusterloggingconfigs"]
CONTROL_PLANE = ["/apis/deckhouse.io/v1alpha1/moduleconfigs", "/api/v1/namespaces/kube-system/secrets"]


def test_kuma_log_shipper_refuses_a_bad_broker_and_shows_no_sasl_password(tmp_path, k8s_cluster):
    destination = {"name": "corpus-kafka", "type": "kafka", "topic": "audit", "bootstrap_servers": ["kafka.example:notaport"],
                   "sasl": {"mechanism": "plain", "username": "kuma", "password": PASSWORD}}
    refuse_role(tmp_path, "kuma_log_shipper", {
        "kuma_log_shipper_kubeconfig": k8s_cluster.kubeconfig, "kuma_log_shipper_follow_audit_settings": False,
        "kuma_log_shipper_preflight": False, "kuma_log_shipper_owner": "corpus",
        "kuma_log_shipper_destinations": [destination]}, "kuma_log_shipper_destinations[0].bootstrap_servers[0]",
        watched=[str(tmp_path)], cluster=k8s_cluster, api_paths=LOG_SHIPPER, secrets=[PASSWORD])


def test_control_plane_audit_refuses_a_policy_kube_apiserver_would_not_load(tmp_path, k8s_cluster):
    refuse_role(tmp_path, "control_plane_audit", {
        "control_plane_audit_kubeconfig": k8s_cluster.kubeconfig,
        "control_plane_audit_policy": [{"level": "metadata"}]},
        "rules[0].level", watched=[str(tmp_path)], cluster=k8s_cluster, api_paths=CONTROL_PLANE)


def test_audit_detections_refuses_an_unknown_detection(tmp_path, k8s_cluster):
    refuse_role(tmp_path, "audit_detections", {
        "audit_detections_kubeconfig": k8s_cluster.kubeconfig, "audit_detections_owner": "corpus",
        "audit_detections_detections": ["pod_exec_attach", "nope"]},
        "detections[1]", watched=[str(tmp_path)], cluster=k8s_cluster,
        api_paths=["/apis/deckhouse.io/v1alpha1/moduleconfigs"])


def test_verify_refuses_a_boolean_it_cannot_read(tmp_path, k8s_cluster):
    refuse_role(tmp_path, "verify", {"verify_kubeconfig": k8s_cluster.kubeconfig, "verify_fail_on_problems": "maybe"},
                "verify_fail_on_problems", watched=[str(tmp_path)], cluster=k8s_cluster, api_paths=CONTROL_PLANE)


def test_kesl_refuses_excluding_the_whole_disk(tmp_path):
    # The module names the entry in the list it is given: the role's directories, then the extra ones.
    with open(os.path.join(ROOT, "roles", "kesl", "defaults", "main.yml")) as handle:
        first_extra = len(yaml.safe_load(handle)["kesl_directories"])
    state = tmp_path / "kesl" / "kesl.ini"
    state.parent.mkdir()
    env = dict(os.environ, KESL_DOUBLE_STATE=str(state))
    refuse_role(tmp_path, "kesl", {
        "kesl_control_executable": KESL_DOUBLE, "kesl_control_plane_paths": [str(tmp_path / "no-etcd")],
        "kesl_directories_extra": ["/"]}, "exclusions[%d].path" % first_extra, env={"KESL_DOUBLE_STATE": str(state)})
    # The double keeps its call counts in its state file: its write count says nothing went through kesl-control.
    counts = subprocess.run([KESL_DOUBLE, "--double-counts", "--json"], env=env, stdout=subprocess.PIPE, text=True,
                            check=True)
    assert json.loads(counts.stdout)["write"] == 0
