# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 2 (kubeadm part): the webhook kubeconfig's token and client key never show, at -vvvv with --diff,
in check mode and in a real run, while the file written holds them intact."""

import base64
import os
import shutil

import pytest
import yaml

from ansible_collections.auditops.deckhouse.tests.adversarial._harness import FIXTURES, assert_no_secret, run_play

TOKEN = "s3cr3t-t0ken-aud1t-webhook-4f9a1c"
KEY_PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
           "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----\n")
KEY_DATA = base64.b64encode(KEY_PEM.encode()).decode()
PASSWORD = "hunter2-webhook-basic-pass"
KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "default",
    "clusters": [{"name": "siem", "cluster": {"server": "https://127.0.0.1:8443/k8s-audit"}}],
    "contexts": [{"name": "default", "context": {"cluster": "siem", "user": "audit"}}],
    "users": [{"name": "audit", "user": {"token": TOKEN, "client-key-data": KEY_DATA,
                                         "client-certificate-data": base64.b64encode(b"cert").decode()}},
              {"name": "basic", "user": {"username": "u", "password": PASSWORD}}],
}
PLAY = """- hosts: localhost
  gather_facts: false
  tasks:
    - name: Audit with a webhook
      auditops.deckhouse.kubeadm_audit:
        path: "{{ manifest }}"
        policy: {apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: Metadata}]}
        policy_dir: "{{ policy_dir }}"
        log_dir: "{{ log_dir }}"
        backup_dir: "{{ backup_dir }}"
        webhook_config: "{{ webhook }}"
      register: audit
    - name: Show the result
      ansible.builtin.debug:
        var: audit
"""


@pytest.fixture
def node(tmp_path):
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    shutil.copy(os.path.join(FIXTURES, "manifests", "kubeadm-no-audit.yaml"), str(manifest))
    return {"manifest": str(manifest), "policy_dir": str(tmp_path / "audit"), "log_dir": str(tmp_path / "log"),
            "backup_dir": str(tmp_path / "backups")}


@pytest.mark.parametrize("as_text", [False, True], ids=["mapping", "text"])
def test_kubeadm_webhook_secrets_never_show(tmp_path, node, as_text):
    webhook = yaml.safe_dump(KUBECONFIG) if as_text else KUBECONFIG
    secrets = [TOKEN, KEY_PEM, KEY_DATA, PASSWORD]
    check = run_play(tmp_path, PLAY, dict(node, webhook=webhook), check=True, diff=True, verbosity=4)
    assert check.rc == 0, check
    assert "webhook-" in check.output  # the run did plan the webhook file
    assert_no_secret(check.output, secrets)
    run = run_play(tmp_path, PLAY, dict(node, webhook=webhook), diff=True, verbosity=4)
    assert run.rc == 0, run
    assert_no_secret(run.output, secrets)
    written = [name for name in os.listdir(node["policy_dir"]) if name.startswith("webhook-")]
    assert len(written) == 1
    with open(os.path.join(node["policy_dir"], written[0])) as handle:
        stored = yaml.safe_load(handle.read())
    assert stored["users"][0]["user"]["token"] == TOKEN
    assert stored["users"][0]["user"]["client-key-data"] == KEY_DATA
    assert stored["users"][1]["user"]["password"] == PASSWORD
    # Nothing else was masked: the manifest names the webhook file in full.
    with open(node["manifest"]) as handle:
        assert "--audit-webhook-config-file=%s" % os.path.join(node["policy_dir"], written[0]) in handle.read()


def test_control_plane_audit_kubeadm_mode_hides_the_webhook_secrets(tmp_path, node):
    variables = {"control_plane_audit_mode": "kubeadm", "control_plane_audit_preset": "minimal",
                 "control_plane_audit_manifest": node["manifest"], "control_plane_audit_policy_dir": node["policy_dir"],
                 "control_plane_audit_log_path": node["log_dir"], "control_plane_audit_backup_dir": node["backup_dir"],
                 "control_plane_audit_webhook_config": KUBECONFIG, "control_plane_audit_kubeadm_config": False,
                 "control_plane_audit_rollout_timeout": 0}
    run = run_play(tmp_path, "- hosts: localhost\n  gather_facts: false\n  roles:\n"
                   "    - auditops.deckhouse.control_plane_audit\n", variables, diff=True, verbosity=4)
    assert run.rc == 0, run
    assert "webhook-" in run.output
    assert_no_secret(run.output, [TOKEN, KEY_PEM, KEY_DATA, PASSWORD])
