# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubeadm mode engine: files, flags and volumes of the static pod, and the kubeadm-config ClusterConfiguration."""

import json
import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _kubeadm_audit as ka
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import ManifestError, get_flags, load_manifest
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "manifests")
POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
OTHER_POLICY = POLICY.replace("Metadata", "Request")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def flags(text):
    return dict(get_flags(load_manifest(text)[0]))


def volumes(text):
    pod = load_manifest(text)[0]
    mounts = dict((m["name"], m) for m in pod["spec"]["containers"][0].get("volumeMounts", []))
    return dict((v["name"], (v["hostPath"], mounts.get(v["name"]))) for v in pod["spec"]["volumes"])


def test_file_output_flags_volumes_and_content_addressed_policy():
    config = ka.build_config(POLICY)
    name = config["policy_path"]
    assert name.startswith("/etc/kubernetes/audit/policy-") and name.endswith(".yaml") and len(os.path.basename(name)) == 28
    assert ka.build_config(POLICY)["policy_path"] == name
    assert ka.build_config(OTHER_POLICY)["policy_path"] != name
    assert dict(config["flags"]) == {
        "--audit-policy-file": name, "--audit-log-format": "json",
        "--audit-log-path": "/var/log/kubernetes/audit/audit.log", "--audit-log-maxage": "30",
        "--audit-log-maxsize": "100", "--audit-log-maxbackup": "10"}
    assert [v["name"] for v in config["volumes"]] == ["auditops-audit-policy", "auditops-audit-log"]
    assert config["files"] == [{"path": name, "content": POLICY, "kind": "policy"}]


def test_stdout_webhook_and_extra_flags():
    config = ka.build_config(POLICY, log_output="Stdout", webhook_config="apiVersion: v1\nkind: Config\n",
                             extra_flags={"audit-webhook-mode": "batch", "--audit-log-compress": True})
    got = dict(config["flags"])
    assert got["--audit-log-path"] == "-"
    assert "--audit-log-maxage" not in got
    assert got["--audit-webhook-config-file"].startswith("/etc/kubernetes/audit/webhook-")
    assert got["--audit-webhook-mode"] == "batch" and got["--audit-log-compress"] == "true"
    assert [v["name"] for v in config["volumes"]] == ["auditops-audit-policy"]
    assert [f["kind"] for f in config["files"]] == ["policy", "webhook"]


@pytest.mark.parametrize("kwargs, message", [
    ({"policy_dir": "/etc/kubernetes/manifests/audit"}, "policy_dir: /etc/kubernetes/manifests/audit is inside"),
    ({"log_dir": "relative/dir"}, "log_dir: expected an absolute path"),
    ({"log_output": "Syslog"}, "log_output: expected one of File, Stdout"),
    ({"log_maxage": -1}, "log_maxage: expected a whole number"),
    ({"extra_flags": {"audit-policy-file": "/x"}}, "extra_flags.audit-policy-file: set by this module"),
    ({"extra_flags": {"etcd-servers": "x"}}, "extra_flags.etcd-servers: expected an --audit-* flag name"),
    ({"extra_flags": {"audit-log-mode": None}}, "extra_flags.audit-log-mode: expected a single value"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ka.KubeadmAuditError) as info:
        ka.build_config(POLICY, **kwargs)
    assert info.value.errors[0].startswith(message)


def test_policy_dir_next_to_a_custom_manifest_is_refused():
    with pytest.raises(ka.KubeadmAuditError):
        ka.build_config(POLICY, manifest_path="/srv/static/kube-apiserver.yaml", policy_dir="/srv/static/audit")


def test_adds_flags_sorted_and_volumes_to_a_kubeadm_manifest_once():
    text = fixture("kubeadm-no-audit.yaml")
    config = ka.build_config(POLICY)
    new, info = ka.edit_manifest(text, config)
    assert info["changed"] and info["kubernetes_version"] == "1.31.4"
    command = load_manifest(new)[0]["spec"]["containers"][0]["command"]
    assert command[0] == "kube-apiserver" and command[1:] == sorted(command[1:])
    got = flags(new)
    assert got["--audit-policy-file"] == config["policy_path"] and got["--audit-log-format"] == "json"
    assert got["--etcd-servers"] == "https://127.0.0.1:2379"  # the rest is untouched
    vols = volumes(new)
    assert vols["auditops-audit-policy"] == ({"path": "/etc/kubernetes/audit", "type": "DirectoryOrCreate"},
                                             {"mountPath": "/etc/kubernetes/audit", "name": "auditops-audit-policy",
                                              "readOnly": True})
    assert vols["auditops-audit-log"][1] == {"mountPath": "/var/log/kubernetes/audit", "name": "auditops-audit-log"}
    assert {"ca-certs", "k8s-certs"} <= set(vols)
    again, info = ka.edit_manifest(new, config)
    assert again is new and not info["changed"]


def test_a_new_policy_changes_only_the_policy_flag():
    first, _info = ka.edit_manifest(fixture("kubeadm-no-audit.yaml"), ka.build_config(POLICY))
    second, info = ka.edit_manifest(first, ka.build_config(OTHER_POLICY))
    assert info["changed"]
    assert info["removed_flags"] == ["--audit-policy-file=%s" % ka.build_config(POLICY)["policy_path"]]
    assert info["added_flags"] == ["--audit-policy-file=%s" % ka.build_config(OTHER_POLICY)["policy_path"]]
    assert info["referenced_before"] == [ka.build_config(POLICY)["policy_path"]]
    assert volumes(second) == volumes(first)


def test_switching_to_stdout_drops_rotation_flags_and_the_log_volume():
    first, _info = ka.edit_manifest(fixture("kubeadm-no-audit.yaml"), ka.build_config(POLICY))
    second, info = ka.edit_manifest(first, ka.build_config(POLICY, log_output="Stdout"))
    got = flags(second)
    assert got["--audit-log-path"] == "-"
    assert not [name for name in got if name.startswith("--audit-log-max")]
    assert "auditops-audit-log" not in volumes(second)
    assert "auditops-audit-log" in info["removed_volumes"]


def test_hand_made_audit_setup_is_replaced_without_duplicate_mounts():
    new, info = ka.edit_manifest(fixture("kubeadm-docs.yaml"), ka.build_config(POLICY))
    vols = volumes(new)
    # The docs' single-file policy mount (type File) and the log mount at the same directory are gone.
    assert "audit" not in vols and "audit-log" not in vols
    assert sorted(info["removed_volumes"]) == ["audit", "audit-log"]
    mounts = [m["mountPath"].rstrip("/") for m in load_manifest(new)[0]["spec"]["containers"][0]["volumeMounts"]]
    assert len(mounts) == len(set(mounts))
    assert info["referenced_before"] == ["/etc/kubernetes/audit-policy.yaml"]


def test_unknown_audit_flags_are_removed_in_present_state():
    typo = "    - --secure-port=6443\n    - --audit-log-mode=blockingg\n"
    text = fixture("kubeadm-no-audit.yaml").replace("    - --secure-port=6443\n", typo)
    new, info = ka.edit_manifest(text, ka.build_config(POLICY))
    assert "--audit-log-mode" not in flags(new)
    assert "--audit-log-mode=blockingg" in info["removed_flags"]
    kept, _info = ka.edit_manifest(text, ka.build_config(POLICY, extra_flags={"audit-log-mode": "batch"}))
    assert flags(kept)["--audit-log-mode"] == "batch"


def test_json_manifest_stays_json():
    new, info = ka.edit_manifest(fixture("kubeadm-audit.json"), ka.build_config(POLICY))
    assert info["changed"]
    pod = json.loads(new)
    assert dict(get_flags(pod))["--audit-log-format"] == "json"
    assert dict(get_flags(pod))["--secure-port"] == "8443"


def test_remove_strips_every_audit_flag_and_our_volumes():
    first, _info = ka.edit_manifest(fixture("kubeadm-no-audit.yaml"), ka.build_config(POLICY, extra_flags={"audit-log-compress": True}))
    removed, info = ka.remove_from_manifest(first)
    assert not [name for name in flags(removed) if name.startswith("--audit-")]
    assert set(volumes(removed)) == {"ca-certs", "k8s-certs"}
    assert yaml.safe_load(removed) == yaml.safe_load(fixture("kubeadm-no-audit.yaml"))
    again, info = ka.remove_from_manifest(removed)
    assert again is removed and not info["changed"]


def test_manifest_errors_are_manifest_errors():
    with pytest.raises(ManifestError):
        ka.edit_manifest("kind: Deployment\napiVersion: apps/v1\n", ka.build_config(POLICY))


def test_image_version():
    pod = load_manifest(fixture("kubeadm-no-audit.yaml"))[0]
    assert ka.image_version(pod) == "1.31.4"
    pod["spec"]["containers"][0]["image"] = "registry.local:5000/kube-apiserver:v1.33.2-custom"
    assert ka.image_version(pod) == "1.33.2"
    pod["spec"]["containers"][0]["image"] = "kube-apiserver@sha256:abc"
    assert ka.image_version(pod) is None


def test_stale_files_keep_the_current_and_the_previous_policy():
    d = "/etc/kubernetes/audit"
    listing = [("policy-a.yaml", 1), ("policy-b.yaml", 2), ("policy-c.yaml", 3), ("notes.txt", 0), ("webhook-x.kubeconfig", 1)]

    def p(name):
        return "%s/%s" % (d, name)
    # A change from b to d (not written yet): b is the rollback target, a and c go. No webhook is referenced, so
    # the newest webhook file stays as the previous version.
    assert ka.stale_files(listing, d, {p("policy-d.yaml"), p("policy-b.yaml")}, {p("policy-d.yaml")}) == [
        p("policy-a.yaml"), p("policy-c.yaml")]
    # A run that changes nothing (c current and referenced before): the newest other file stays, nothing goes.
    assert ka.stale_files([("policy-b.yaml", 2), ("policy-c.yaml", 3)], d, {p("policy-c.yaml")}, {p("policy-c.yaml")}) == []
    assert ka.stale_files([("policy-a.yaml", 1), ("policy-b.yaml", 2), ("policy-c.yaml", 3)], d, {p("policy-c.yaml")},
                          {p("policy-c.yaml")}) == [p("policy-a.yaml")]


# --- kubeadm-config ClusterConfiguration ----------------------------------------------------------------

V1BETA3 = """apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
    audit-log-maxage: "7"
  extraVolumes:
  - hostPath: /etc/pki
    mountPath: /etc/pki
    name: etc-pki
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.29.4
"""

V1BETA4 = """apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  extraArgs:
  - name: authorization-mode
    value: Node,RBAC
  - name: audit-log-maxage
    value: "7"
  - name: audit-log-maxage
    value: "8"
kubernetesVersion: v1.31.4
"""


def test_cluster_configuration_v1beta3_map():
    config = ka.build_config(POLICY)
    new, info = ka.update_cluster_configuration(V1BETA3, ka.kubeadm_extra_args(config), ka.kubeadm_extra_volumes(config))
    assert info == {"changed": True, "api_version": "v1beta3"}
    doc = yaml.safe_load(new)
    args = doc["apiServer"]["extraArgs"]
    assert args["authorization-mode"] == "Node,RBAC"
    assert args["audit-log-maxage"] == "30" and args["audit-policy-file"] == config["policy_path"]
    assert [v["name"] for v in doc["apiServer"]["extraVolumes"]] == ["etc-pki", "auditops-audit-policy", "auditops-audit-log"]
    assert doc["apiServer"]["extraVolumes"][1] == {"name": "auditops-audit-policy", "hostPath": "/etc/kubernetes/audit",
                                                   "mountPath": "/etc/kubernetes/audit", "readOnly": True,
                                                   "pathType": "DirectoryOrCreate"}
    assert doc["kubernetesVersion"] == "v1.29.4"
    again, info = ka.update_cluster_configuration(new, ka.kubeadm_extra_args(config), ka.kubeadm_extra_volumes(config))
    assert again is new and not info["changed"]
    back, info = ka.update_cluster_configuration(new, state="absent")
    doc = yaml.safe_load(back)
    assert doc["apiServer"]["extraArgs"] == {"authorization-mode": "Node,RBAC"}
    assert [v["name"] for v in doc["apiServer"]["extraVolumes"]] == ["etc-pki"]


def test_cluster_configuration_v1beta4_list():
    config = ka.build_config(POLICY, log_output="Stdout")
    new, info = ka.update_cluster_configuration(V1BETA4, ka.kubeadm_extra_args(config), ka.kubeadm_extra_volumes(config))
    assert info["api_version"] == "v1beta4"
    args = yaml.safe_load(new)["apiServer"]["extraArgs"]
    assert args[0] == {"name": "authorization-mode", "value": "Node,RBAC"}
    names = [a["name"] for a in args]
    assert names.count("audit-log-maxage") == 0 and names.count("audit-log-path") == 1
    assert {"name": "audit-log-path", "value": "-"} in args
    assert list(yaml.safe_load(new))[:2] == ["apiVersion", "kind"]  # key order kept
    back, info = ka.update_cluster_configuration(new, state="absent")
    assert yaml.safe_load(back)["apiServer"] == {"extraArgs": [{"name": "authorization-mode", "value": "Node,RBAC"}]}


def test_cluster_configuration_without_api_server_section():
    text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
    same, info = ka.update_cluster_configuration(text, state="absent")
    assert same is text and not info["changed"]
    new, info = ka.update_cluster_configuration(text, {"audit-log-path": "-"}, [])
    assert yaml.safe_load(new)["apiServer"] == {"extraArgs": {"audit-log-path": "-"}}


@pytest.mark.parametrize("text, message", [
    ("a: [", "data.ClusterConfiguration: not valid YAML"),
    ("- 1\n", "data.ClusterConfiguration: expected a mapping"),
    ("apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n", "data.ClusterConfiguration.kind"),
    ("apiVersion: kubeadm.k8s.io/v1beta1\nkind: ClusterConfiguration\n", "data.ClusterConfiguration.apiVersion"),
    ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs: {a: b}\n",
     "data.ClusterConfiguration.apiServer.extraArgs: expected a list"),
])
def test_cluster_configuration_errors(text, message):
    with pytest.raises(ka.KubeadmAuditError) as info:
        ka.update_cluster_configuration(text, {"audit-log-path": "-"})
    assert info.value.errors[0].startswith(message)
