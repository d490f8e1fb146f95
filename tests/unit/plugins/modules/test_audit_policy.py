# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit_policy module, run in-process through AnsibleModule with real files for src and dest."""

import base64
import os
import stat

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.modules import audit_policy
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
CORPUS = os.path.join(ROOT, "tests", "fixtures", "policies")

V1 = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
GOOD = V1 + "omitStages: [RequestReceived]\nrules:\n- level: Metadata\n  resources:\n  - group: \"\"\n    resources: [secrets]\n" \
    "- level: Metadata\n"
TYPO = V1 + "rules:\n- level: Metadata\n  verb: [get]\n- level: None\n"
REFUSED = V1 + "rules:\n- level: Metadata\n- verbs: [get]\n"


def run(args, check_mode=False, diff=False):
    return run_module(audit_policy, args, check_mode=check_mode, diff=diff)


def run_fail(args, **kwargs):
    return run_module_fail(audit_policy, args, **kwargs)


def test_policy_text_for_deckhouse_returns_secret_content_and_effective_policy():
    result, warnings = run({"policy": GOOD})
    assert result["changed"] is False and result["apiserver_accepts"] is True and result["apiserver_error"] is None
    assert result["policy"]["rules"][0] == {"level": "Metadata", "resources": [{"resources": ["secrets"]}]}
    assert yaml.safe_load(result["policy_yaml"]) == result["policy"]
    assert base64.b64decode(result["policy_base64"]).decode() == result["policy_yaml"]
    effective = result["effective_policy"]["rules"]
    assert len(effective) == 26 + 2 + 2 and effective[26] == result["policy"]["rules"][0]
    assert isinstance(result["shadowed_rules"], list)
    assert all(item["severity"] != "error" for item in result["findings"])
    assert warnings == [item["message"] if not item["path"] else "%s: %s" % (item["path"], item["message"])
                        for item in result["findings"] if item["severity"] == "warning"]


def test_mapping_input_and_kubeadm_target():
    policy = {"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Metadata", "omitStages": ["RequestReceived"]}]}
    result, _warnings = run({"policy": policy, "target": "kubeadm"})
    assert result["policy"]["kind"] == "Policy"
    assert result["effective_policy"] == result["policy"]
    assert "shadowed_rules" not in result


def test_refused_policy_fails_with_the_field_path_and_writes_nothing(tmp_path):
    dest = tmp_path / "audit-policy.yaml"
    dest.write_text("old\n")
    failed = run_fail({"policy": REFUSED, "dest": str(dest)})
    assert failed["msg"] == "policy: kube-apiserver 1.33 would not start with this policy: rules[1].level: Required value"
    assert failed["apiserver_accepts"] is False and failed["apiserver_error"] == "rules[1].level: Required value"
    assert dest.read_text() == "old\n"
    assert "policy_yaml" not in failed


def test_decode_errors_name_the_field():
    failed = run_fail({"policy": V1 + "rules:\n- level: Metadata\n  users: alice\n"})
    assert failed["msg"].startswith("policy: kube-apiserver 1.33 would not start with this policy: rules[0].users: "
                                    "failed decoding: json: cannot unmarshal string")


def test_several_errors_are_counted():
    failed = run_fail({"policy": V1 + "rules:\n- level: Bad\n- {}\n- level: None\n  omitStages: [Never]\n"})
    assert failed["msg"].endswith("(and 2 more, see errors)")
    assert [item["path"] for item in failed["findings"]] == ["rules[0].level", "rules[1].level", "rules[2].omitStages[0]"]
    assert [item["path"] for item in failed["errors"]] == ["rules[0].level", "rules[1].level", "rules[2].omitStages[0]"]


def test_strict_refuses_silently_changed_policy_and_non_strict_accepts_it():
    failed = run_fail({"policy": TYPO})
    assert failed["msg"].startswith("policy: kube-apiserver 1.33 would start but silently change the policy (strict=true): "
                                    "rules[0].verb: unknown field")
    assert failed["errors"][0]["path"] == "rules[0].verb"
    assert failed["apiserver_accepts"] is True and failed["lenient"] is True
    result, warnings = run({"policy": TYPO, "strict": False})
    assert result["lenient"] is True
    assert result["policy"]["rules"][0] == {"level": "Metadata"}  # what the apiserver keeps, and what is deployed
    assert any(warning.startswith("rules[0].verb: unknown field") for warning in warnings)


def test_version_dependent_group_wildcard():
    policy = V1 + "rules:\n- level: Request\n  resources:\n  - group: \"*\"\n    resources: [\"*/status\"]\n- level: None\n"
    failed = run_fail({"policy": policy, "target": "kubeadm"})
    assert "rules[0].resources.group: Invalid value: \"*\"" in failed["msg"]
    result, _warnings = run({"policy": policy, "target": "kubeadm", "kubernetes_version": "1.36.0"})
    assert result["apiserver_accepts"] is True


def test_bad_kubernetes_version_names_the_option():
    failed = run_fail({"preset": "minimal", "kubernetes_version": "1.20"})
    assert failed["msg"].startswith("kubernetes_version: 1.20 is not supported")
    assert failed["errors"] == [{"path": "kubernetes_version", "message": failed["msg"][len("kubernetes_version: "):]}]


def test_src_file_and_missing_src(tmp_path):
    result, _warnings = run({"src": os.path.join(CORPUS, "v-docs-example.yaml")})
    assert result["apiserver_accepts"] is True and len(result["policy"]["rules"]) == 9
    failed = run_fail({"src": str(tmp_path / "missing.yaml")})
    assert failed["msg"].startswith("src: cannot read ")
    (tmp_path / "latin1.yaml").write_bytes(b"apiVersion: audit.k8s.io/v1\nrules:\n- level: Metadata\n  users: [\xe9]\n")
    assert run_fail({"src": str(tmp_path / "latin1.yaml")})["msg"].startswith("src: ")


@pytest.mark.parametrize("name", ["i-flow-yaml-as-json.yaml", "i-users-y.yaml", "i-group-star.yaml", "i-empty.yaml"])
def test_corpus_files_refused_by_the_apiserver_fail(name):
    failed = run_fail({"src": os.path.join(CORPUS, name), "strict": False})
    assert failed["apiserver_accepts"] is False and "would not start with this policy" in failed["msg"]


def test_policy_of_wrong_type():
    assert run_fail({"policy": ["a"]})["msg"] == "policy: must be a mapping or YAML/JSON text, not list"


def test_exactly_one_source():
    assert "mutually exclusive" in run_fail({"policy": GOOD, "preset": "minimal"})["msg"]
    assert "one of the following is required" in run_fail({})["msg"]


def test_dest_check_mode_diff_write_and_idempotence(tmp_path):
    dest = tmp_path / "audit-policy.yaml"
    args = {"preset": "security", "target": "kubeadm", "dest": str(dest)}
    preview, _warnings = run(args, check_mode=True, diff=True)
    assert preview["changed"] is True and not dest.exists()
    assert preview["diff"]["before"] == "" and preview["diff"]["after"] == preview["policy_yaml"]
    first, _warnings = run(args, diff=True)
    assert first["changed"] is True and dest.read_text() == first["policy_yaml"]
    assert stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o600
    assert [name for name in os.listdir(str(tmp_path)) if name.startswith(".")] == []  # no temp file left
    second, _warnings = run(args, diff=True)
    assert second["changed"] is False and "diff" not in second
    assert run(args, check_mode=True)[0]["changed"] is False


def test_dest_keeps_mode_and_replaces_content(tmp_path):
    dest = tmp_path / "audit-policy.yaml"
    dest.write_text("# hand written\n")
    os.chmod(str(dest), 0o640)
    result, _warnings = run({"preset": "minimal", "dest": str(dest)}, diff=True)
    assert result["changed"] is True and result["diff"]["before"] == "# hand written\n"
    assert stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o640
    assert dest.read_text() == result["policy_yaml"]


def test_dest_problems(tmp_path):
    assert run_fail({"preset": "minimal", "dest": str(tmp_path / "no" / "dir.yaml")})["msg"].startswith(
        "dest: directory ")
    assert run_fail({"preset": "minimal", "dest": str(tmp_path)})["msg"].startswith("dest: ")


def test_deployed_yaml_is_what_the_apiserver_reads_back(tmp_path):
    dest = tmp_path / "policy.yaml"
    run({"src": os.path.join(CORPUS, "v-anchors.yaml"), "dest": str(dest), "target": "kubeadm"})
    again, _warnings = run({"src": str(dest), "target": "kubeadm"})
    original, _warnings = run({"src": os.path.join(CORPUS, "v-anchors.yaml"), "target": "kubeadm"})
    assert again["policy"] == original["policy"] and again["lenient"] is False


def test_deckhouse_release_picks_the_basic_rule_layout():
    old, _warnings = run({"policy": GOOD, "deckhouse_release": "v1.68.3"})
    new, _warnings = run({"policy": GOOD, "deckhouse_release": "1.75"})
    default, _warnings = run({"policy": GOOD})
    assert old["deckhouse_layout"] == "2025-01" and new["deckhouse_layout"] == default["deckhouse_layout"] == "current"
    assert old["effective_policy"]["rules"][-1] == {"level": "Metadata"}  # the policy's own last rule
    assert new["effective_policy"]["rules"][-2] == {"level": "None", "userGroups": ["system:authenticated"]}
    kubeadm, _warnings = run({"policy": GOOD, "target": "kubeadm"})
    assert "deckhouse_layout" not in kubeadm


def test_an_unmodelled_deckhouse_release_is_refused_naming_the_option():
    failed = run_fail({"policy": GOOD, "deckhouse_release": "1.71"})
    assert failed["msg"].startswith("deckhouse_release: no basic-rule layout is modelled for DKP 1.71")
