# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The static pod engine over the manifest corpus in tests/fixtures/manifests."""

import copy
import glob
import json
import os
import re

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _apiserver_manifest as sp
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "manifests")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def apiserver(pod):
    return sp.find_container(pod)[1]


def flag_names(items):
    return [item.partition("=")[0] for item in items if isinstance(item, str) and item.startswith("--")]


# name -> (removed flag names, removed volumes)
CORPUS = {
    "deckhouse-file.yaml": (
        ["--audit-log-format", "--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize",
         "--audit-log-path", "--audit-log-truncate-enabled", "--audit-policy-file"],
        ["kube-audit-log"],
    ),
    "deckhouse-stdout-webhook.yaml": (
        ["--audit-log-format", "--audit-log-path", "--audit-policy-file", "--audit-webhook-config-file"],
        [],
    ),
    "deckhouse-bootstrap.yaml": (
        ["--audit-log-format", "--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize",
         "--audit-log-path", "--audit-log-truncate-enabled", "--audit-policy-file"],
        ["deckhouse-extra-files", "kube-audit-log"],
    ),
    "kubeadm-docs.yaml": (
        ["--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize", "--audit-log-path",
         "--audit-policy-file"],
        ["audit", "audit-log"],
    ),
    "args-separate.yaml": (
        ["--audit-policy-file", "--audit-log-path", "--audit-log-compress", "--audit-log-mode", "--audit-polcy-file",
         "--audit-webhook-truncate-enabled"],
        ["policies"],
    ),
    "shared-volumes.yaml": (
        ["--audit-policy-file", "--audit-log-path", "--audit-webhook-config-file", "--audit-log-truncate-config"],
        ["audit-webhook"],
    ),
    "kubeadm-audit.json": (
        ["--audit-log-path", "--audit-policy-file"],
        ["audit-policy", "audit-log"],
    ),
    "kubeadm-no-audit.yaml": ([], []),
}

# Inputs to refuse. They use the .manifest extension so that YAML linters leave the deliberately
# broken ones alone (the kubelet does not care about the extension either).
BAD = {
    "invalid-yaml.manifest": ("", "not valid YAML"),
    "deployment.manifest": ("kind", "expected Pod"),
    "no-apiserver.manifest": ("spec.containers", "no container named 'kube-apiserver' (found: etcd)"),
    "multi-doc.manifest": ("", "2 YAML documents"),
    "empty.manifest": ("", "empty manifest"),
    "list-root.manifest": ("", "expected a Pod object"),
    "args-not-list.manifest": ("spec.containers[0].args", "expected a list"),
    "wrong-api-version.manifest": ("apiVersion", "expected v1"),
}


def test_corpus_is_complete():
    on_disk = {os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "*.*"))}
    assert on_disk == set(CORPUS)
    assert {os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "bad", "*"))} == set(BAD)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_strip_corpus(name):
    text = fixture(name)
    original, _fmt = sp.load_manifest(text)
    new_text, result = sp.strip_manifest(text)
    flags, volumes = CORPUS[name]
    assert [item.split("=")[0].split(" ")[0] for item in result.removed_flags] == flags
    assert result.removed_volumes == volumes
    assert result.changed == bool(flags)
    new, _fmt = sp.load_manifest(new_text)
    container = apiserver(new)
    left = flag_names(container.get("command", [])) + flag_names(container.get("args", []))
    assert not [f for f in left if f.startswith("--audit-")]
    # Everything outside the apiserver container's flags, mounts and the pod's volumes is as it was.
    for key in set(original) | set(new):
        if key != "spec":
            assert new.get(key) == original.get(key), key
    assert list(new) == list(original)
    index = sp.find_container(new)[0]
    for position, (before, after) in enumerate(zip(original["spec"]["containers"], new["spec"]["containers"])):
        if position != index:
            assert before == after
        else:
            assert list(after) == list(before)  # key order
            assert [k for k in before if before[k] != after[k]] == [
                k for k in ("command", "args", "volumeMounts") if k in before and before[k] != after[k]]
    assert [v["name"] for v in new["spec"].get("volumes", [])] == [
        v["name"] for v in original["spec"].get("volumes", []) if v["name"] not in volumes]
    assert [m["name"] for m in container.get("volumeMounts", [])] == [
        m["name"] for m in apiserver(original).get("volumeMounts", []) if m["name"] not in volumes]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_strip_is_idempotent(name):
    once, _r = sp.strip_manifest(fixture(name))
    twice, result = sp.strip_manifest(once)
    assert twice is once
    assert not result.changed and result.removed_flags == [] and result.removed_volumes == []


def test_unchanged_manifest_is_returned_as_is():
    text = fixture("kubeadm-no-audit.yaml")
    new_text, result = sp.strip_manifest(text)
    assert new_text is text
    assert not result.changed


def test_deckhouse_edit_is_minimal():
    text = fixture("deckhouse-file.yaml")
    new_text, _result = sp.strip_manifest(text)
    gone = [line for line in text.splitlines() if line not in new_text.splitlines()]
    assert all("audit" in line or line.strip() in ("name: kube-audit-log", "type: DirectoryOrCreate", "- hostPath:")
               for line in gone), gone
    assert len(text.splitlines()) - len(new_text.splitlines()) == 7 + 2 + 4
    # go-yaml style double quotes survive, the checksum annotation too
    assert 'kubernetes-version: "1.31"' in new_text
    assert "control-plane-manager.deckhouse.io/checksum: 5b7c4d2e" in new_text


def test_two_item_form_takes_its_value_along():
    new_text, result = sp.strip_manifest(fixture("args-separate.yaml"))
    assert result.removed_flags == [
        "--audit-policy-file /etc/kubernetes/policies/audit.yaml",
        "--audit-log-path -",
        "--audit-log-compress",
        "--audit-log-mode batch",
        "--audit-polcy-file=/etc/kubernetes/policies/audit.yaml",
        "--audit-webhook-truncate-enabled true",
    ]
    container = apiserver(sp.load_manifest(new_text)[0])
    assert container["command"] == ["kube-apiserver"]
    assert container["args"] == ["--advertise-address", "192.168.56.10", "--authorization-mode", "Node,RBAC",
                                 "--etcd-servers=https://127.0.0.1:2379", "--secure-port", "6443", "-v", "2"]


def test_bare_boolean_does_not_swallow_the_next_flag():
    pod = yaml.safe_load(fixture("kubeadm-no-audit.yaml"))
    apiserver(pod)["command"][1:1] = ["--audit-log-compress", "--advertise-address", "10.0.0.1",
                                      "--audit-log-maxage", "-1"]
    result = sp.strip_flags(pod)
    assert result.removed_flags == ["--audit-log-compress", "--audit-log-maxage -1"]
    assert apiserver(pod)["command"][1:3] == ["--advertise-address", "10.0.0.1"]


def test_only_the_apiserver_container_is_edited():
    new_text, _result = sp.strip_manifest(fixture("shared-volumes.yaml"))
    pod = sp.load_manifest(new_text)[0]
    shipper = pod["spec"]["containers"][0]
    assert shipper["name"] == "audit-shipper"
    assert shipper["args"] == ["--audit-log-path=/var/log/kubernetes/audit/audit.log"]
    assert shipper["command"][2].startswith("exec shipper \\\n")
    assert "- |\n" in new_text  # the multi-line script stays a literal block


def test_volume_kept_while_a_remaining_flag_uses_it():
    pod = sp.load_manifest(fixture("deckhouse-file.yaml"))[0]
    sp.strip_flags(pod)
    assert "deckhouse-extra-files" in [v["name"] for v in pod["spec"]["volumes"]]
    # ... and dropped once nothing but removed flags used it
    pod = sp.load_manifest(fixture("deckhouse-file.yaml"))[0]
    command = apiserver(pod)["command"]
    command[:] = [item for item in command if not item.startswith("--admission-control-config-file")]
    result = sp.strip_flags(pod, ["--audit-*"])
    assert result.removed_volumes == ["deckhouse-extra-files", "kube-audit-log"]


def test_pattern_without_dashes_and_narrow_patterns():
    pod = sp.load_manifest(fixture("kubeadm-docs.yaml"))[0]
    result = sp.strip_flags(pod, ["audit-log-*"])
    assert [f.split("=")[0] for f in result.removed_flags] == [
        "--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize", "--audit-log-path"]
    assert result.removed_volumes == ["audit-log"]  # the policy file volume stays with its flag
    assert "--audit-policy-file=/etc/kubernetes/audit-policy.yaml" in apiserver(pod)["command"]


@pytest.mark.parametrize("pattern,protected", [
    ("*", "--etcd-servers"),
    ("--etcd*", "--etcd-servers"),
    ("tls-*", "--tls-cert-file"),
    ("--*-file", "--client-ca-file"),
])
def test_dangerous_patterns_are_refused(pattern, protected):
    pod = sp.load_manifest(fixture("deckhouse-file.yaml"))[0]
    before = copy.deepcopy(pod)
    with pytest.raises(sp.ManifestError) as info:
        sp.strip_flags(pod, ["--audit-*", pattern])
    assert info.value.field == "strip[1]"
    assert protected in str(info.value)
    assert pod == before


@pytest.mark.parametrize("pattern", ["", "--", "-", None, 3])
def test_empty_patterns_are_refused(pattern):
    with pytest.raises(sp.ManifestError) as info:
        sp.normalize_patterns([pattern])
    assert info.value.field == "strip[0]"


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_manifests(name):
    field, message = BAD[name]
    with open(os.path.join(FIXTURES, "bad", name)) as handle:
        text = handle.read()
    with pytest.raises(sp.ManifestError) as info:
        sp.strip_manifest(text)
    assert info.value.field == field
    assert message in str(info.value)


def test_not_utf8():
    with pytest.raises(sp.ManifestError, match="not UTF-8"):
        sp.load_manifest(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \xff\n")


def test_json_stays_json():
    new_text, result = sp.strip_manifest(fixture("kubeadm-audit.json"))
    assert result.changed
    pod = json.loads(new_text)
    assert apiserver(pod)["command"][1] == "--bind-address=fd00::10"
    assert list(pod) == ["apiVersion", "kind", "metadata", "spec"]


def test_header_comment_and_document_start_survive():
    text = "# managed by hand\n# second line\n---\n" + fixture("kubeadm-docs.yaml").split("\n", 2)[2]
    new_text, _result = sp.strip_manifest(text)
    assert new_text.startswith("# managed by hand\n# second line\n---\napiVersion: v1\n")


@pytest.mark.parametrize("name,url", [
    ("deckhouse-file.yaml", "https://10.128.0.11:6443"),
    ("deckhouse-stdout-webhook.yaml", "https://127.0.0.1:6443"),
    ("args-separate.yaml", "https://127.0.0.1:6443"),
    ("kubeadm-audit.json", "https://[fd00::10]:8443"),
])
def test_endpoint(name, url):
    assert sp.endpoint(sp.load_manifest(fixture(name))[0]) == url


def test_every_audit_flag_deckhouse_renders_is_stripped_by_default():
    templates = glob.glob(os.path.join(_paths.require(_paths.REFERENCE), "control-plane-kubeadm-config.*.tpl"))
    assert templates, "no control-plane-kubeadm-config.*.tpl in %s" % _paths.REFERENCE
    rendered = set()
    for path in templates:
        with open(path) as handle:
            text = handle.read()
        rendered.update("--" + m for m in re.findall(r"name: (audit-[a-z-]+)", text))  # v1beta4 extraArgs list
        rendered.update("--" + m for m in re.findall(r"^\s+(audit-[a-z-]+):", text, re.M))  # v1beta3 map
    assert {"--audit-policy-file", "--audit-log-path", "--audit-webhook-config-file"} <= rendered
    pod = sp.load_manifest(fixture("deckhouse-file.yaml"))[0]
    apiserver(pod)["command"].extend("%s=x" % flag for flag in sorted(rendered))
    removed = {f.split("=")[0] for f in sp.strip_flags(pod).removed_flags}
    assert rendered <= removed


# --- adding flags and volumes ---------------------------------------------------------------------

AUDIT_FLAGS = [
    ("--audit-policy-file", "/etc/kubernetes/audit/policy.yaml"),
    ("audit-log-path", "/var/log/kubernetes/audit/audit.log"),
    ("--audit-log-format", "json"),
    ("--audit-log-maxage", 30),
]


def test_set_flags_inserts_sorted_and_is_idempotent():
    pod = sp.load_manifest(fixture("kubeadm-no-audit.yaml"))[0]
    changed = sp.set_flags(pod, AUDIT_FLAGS)
    assert changed == ["--audit-policy-file", "--audit-log-path", "--audit-log-format", "--audit-log-maxage"]
    command = apiserver(pod)["command"]
    assert command[0] == "kube-apiserver"
    assert flag_names(command) == sorted(flag_names(command))
    assert command[3:7] == ["--audit-log-format=json", "--audit-log-maxage=30",
                            "--audit-log-path=/var/log/kubernetes/audit/audit.log",
                            "--audit-policy-file=/etc/kubernetes/audit/policy.yaml"]
    before = copy.deepcopy(pod)
    assert sp.set_flags(pod, AUDIT_FLAGS) == []
    assert pod == before


def test_set_flags_replaces_in_place_and_collapses_duplicates():
    pod = sp.load_manifest(fixture("args-separate.yaml"))[0]
    args = apiserver(pod)["args"]
    args.append("--audit-log-mode=blocking")
    changed = sp.set_flags(pod, {"--audit-log-mode": "batch", "--audit-log-path": "/var/log/a.log",
                                 "--audit-log-compress": True, "--profiling": None})
    assert changed == ["--audit-log-mode", "--audit-log-path", "--audit-log-compress", "--profiling"]
    args = apiserver(pod)["args"]
    assert args.count("--audit-log-mode=batch") == 1 and "--audit-log-mode=blocking" not in args
    assert args[4] == "--audit-log-path=/var/log/a.log"  # where "--audit-log-path -" was
    assert "--audit-log-compress=true" in args
    assert args[-1] == "--profiling"  # args are not sorted: appended
    assert apiserver(pod)["command"] == ["kube-apiserver"]


@pytest.mark.parametrize("bad", ["--audit-*", "a=b", "", "--"])
def test_set_flags_refuses_non_names(bad):
    pod = sp.load_manifest(fixture("kubeadm-no-audit.yaml"))[0]
    with pytest.raises(sp.ManifestError):
        sp.set_flags(pod, [(bad, "x")])


def test_ensure_host_path_volume():
    pod = sp.load_manifest(fixture("kubeadm-no-audit.yaml"))[0]
    assert sp.ensure_host_path_volume(pod, "audit", "/etc/kubernetes/audit-policy.yaml",
                                      "/etc/kubernetes/audit-policy.yaml", "File")
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["audit", "ca-certs", "k8s-certs"]
    assert pod["spec"]["volumes"][0] == {"hostPath": {"path": "/etc/kubernetes/audit-policy.yaml", "type": "File"},
                                         "name": "audit"}
    assert apiserver(pod)["volumeMounts"][0] == {"mountPath": "/etc/kubernetes/audit-policy.yaml", "name": "audit",
                                                 "readOnly": True}
    assert not sp.ensure_host_path_volume(pod, "audit", "/etc/kubernetes/audit-policy.yaml",
                                          "/etc/kubernetes/audit-policy.yaml", "File")
    # a different definition under the same name is replaced, not duplicated
    assert sp.ensure_host_path_volume(pod, "audit", "/etc/kubernetes/audit", "/etc/kubernetes/audit", "Directory")
    assert [v for v in pod["spec"]["volumes"] if v["name"] == "audit"] == [
        {"hostPath": {"path": "/etc/kubernetes/audit", "type": "Directory"}, "name": "audit"}]
    # readOnly: false means the same as no readOnly
    apiserver(pod)["volumeMounts"].append({"mountPath": "/var/log/kubernetes/audit", "name": "audit-log",
                                           "readOnly": False})
    pod["spec"]["volumes"].append({"hostPath": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"},
                                   "name": "audit-log"})
    assert not sp.ensure_host_path_volume(pod, "audit-log", "/var/log/kubernetes/audit", "/var/log/kubernetes/audit",
                                          "DirectoryOrCreate", read_only=False)


def test_add_then_strip_gives_the_original_back():
    original = sp.load_manifest(fixture("kubeadm-no-audit.yaml"))[0]
    pod = copy.deepcopy(original)
    sp.set_flags(pod, AUDIT_FLAGS)
    sp.ensure_host_path_volume(pod, "audit", "/etc/kubernetes/audit", "/etc/kubernetes/audit", "DirectoryOrCreate")
    sp.ensure_host_path_volume(pod, "audit-log", "/var/log/kubernetes/audit", "/var/log/kubernetes/audit",
                               "DirectoryOrCreate", read_only=False)
    result = sp.strip_flags(pod)
    assert sorted(result.removed_volumes) == ["audit", "audit-log"]
    assert pod == original
