# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 3: every manifest and ClusterConfiguration the modules rewrite is read back by Go's own YAML
reader (sigs.k8s.io/yaml, what the kubelet and kubeadm use; tests/goyaml) and every value the module was not asked
to change is what Go read in the input."""

import json
import os
import subprocess

import pytest

from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_manifest, kubeadm_audit, kubeadm_config_audit
from ansible_collections.auditops.deckhouse.tests.adversarial._harness import ROOT
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module

POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
# Values PyYAML (YAML 1.1) and Go's reader (go-yaml v2) type differently, or that need quoting to stay strings.
HOSTILE_ANNOTATIONS = """\
    stamp: 2025-03-01T10:15:00Z
    clock: 10:30
    octal-text: "0o17"
    equals: =
    yes-text: "yes"
    on-plain: on
    float-text: "1e3"
    null-text: "null"
    tilde-text: "~"
    zero-octal: '012'
    big: 99999999999999999999
    colon-space: "a: b"
    hash: "x #y"
    multi: |
      line one
      line two
    unicode: "h\\u00e9llo \\U0001F600"
    empty: ""
"""
HOSTILE_ENV = """\
    env:
    - name: TZ_OFFSET
      value: 10:30
    - name: MODE
      value: "0o17"
    - name: FLAG
      value: "true"
    - name: EQ
      value: =
    - name: WHEN
      value: 2025-03-01
"""


def _hostile(text, audit=False):
    text = text.replace("  labels:\n", "  annotations:\n" + HOSTILE_ANNOTATIONS.replace("    ", "    ", 1) + "  labels:\n", 1)
    text = text.replace("    image: ", HOSTILE_ENV + "    image: ", 1)
    if audit:
        text = text.replace("    - --authorization-mode=Node,RBAC\n", "    - --audit-log-path=/var/log/audit.log\n"
                            "    - --audit-policy-file=/etc/kubernetes/audit.yaml\n    - --authorization-mode=Node,RBAC\n", 1)
    return text


@pytest.fixture(scope="module")
def goyaml():
    proc = subprocess.run([os.path.join(ROOT, "tests", "build-go.sh"), os.path.join(ROOT, "tests", "goyaml")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    binary = proc.stdout.strip()

    def read(*paths):
        out = subprocess.run([binary] + [str(p) for p in paths], stdout=subprocess.PIPE, check=True, text=True).stdout
        answers = [json.loads(line) for line in out.splitlines()]
        for answer in answers:
            assert "error" not in answer, answer
        return [answer["json"] for answer in answers]
    return read


def _apiserver(pod):
    return [c for c in pod["spec"]["containers"] if c["name"] == "kube-apiserver"][0]


def _untouched(pod):
    """The pod without what the audit modules may edit: audit flags, volumes and mounts."""
    pod = json.loads(json.dumps(pod))
    container = _apiserver(pod)
    for field in ("command", "args"):
        if field in container:
            container[field] = [item for item in container[field] if not str(item).startswith("--audit-")]
    container.pop("volumeMounts", None)
    pod["spec"].pop("volumes", None)
    return pod


def _node(tmp_path, audit):
    with open(os.path.join(ROOT, "tests", "fixtures", "manifests", "kubeadm-no-audit.yaml")) as handle:
        text = _hostile(handle.read(), audit)
    (tmp_path / "manifests").mkdir()
    path = tmp_path / "manifests" / "kube-apiserver.yaml"
    path.write_text(text)
    (tmp_path / "input.yaml").write_text(text)
    return path


def test_apiserver_manifest_keeps_every_value_as_go_reads_it(tmp_path, goyaml):
    path = _node(tmp_path, audit=True)
    result, _w = run_module(apiserver_manifest, {"path": str(path), "backup_dir": str(tmp_path / "backups")})
    assert result["changed"]
    before, after = goyaml(tmp_path / "input.yaml", path)
    assert _untouched(after) == _untouched(before)
    assert not [f for f in _apiserver(after)["command"] if f.startswith("--audit-")]
    assert _apiserver(after)["env"][0]["value"] == "10:30"


@pytest.mark.parametrize("state", ["present", "absent"])
def test_kubeadm_audit_keeps_every_value_as_go_reads_it(tmp_path, goyaml, state):
    path = _node(tmp_path, audit=state == "absent")
    result, _w = run_module(kubeadm_audit, {"path": str(path), "policy": POLICY, "state": state,
                                            "policy_dir": str(tmp_path / "audit"), "log_dir": str(tmp_path / "log"),
                                            "backup_dir": str(tmp_path / "backups")})
    assert result["manifest_changed"]
    before, after = goyaml(tmp_path / "input.yaml", path)
    assert _untouched(after) == _untouched(before)


CLUSTER_CONFIGURATION = """\
apiVersion: kubeadm.k8s.io/{version}
kind: ClusterConfiguration
clusterName: "0o17"
kubernetesVersion: v1.31.4
controlPlaneEndpoint: 10:30
imageRepository: =
networking:
  podSubnet: "10.244.0.0/16"
  dnsDomain: "yes"
apiServer:
  certSANs:
  - "2025-03-01T10:15:00Z"
  - on
"""


@pytest.mark.parametrize("version", ["v1beta3", "v1beta4"])
def test_kubeadm_config_keeps_every_value_as_go_reads_it(tmp_path, goyaml, version):
    text = CLUSTER_CONFIGURATION.format(version=version)
    existing = {"kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                "data": {"ClusterConfiguration": text}}
    result, _w = run_module(kubeadm_config_audit, {"existing": existing, "extra_args": {"audit-log-maxage": "7"}})
    assert result["changed"]
    (tmp_path / "before.yaml").write_text(text)
    (tmp_path / "after.yaml").write_text(result["cluster_configuration"])
    before, after = goyaml(tmp_path / "before.yaml", tmp_path / "after.yaml")
    extra = after["apiServer"].pop("extraArgs")
    assert extra in ({"audit-log-maxage": "7"}, [{"name": "audit-log-maxage", "value": "7"}])
    assert after == before
