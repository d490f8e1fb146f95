# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control-plane-manager audit settings engine: merge, ownership, validation, Secret plan, diff."""

import base64
import copy

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _cpm_settings as cpm

US = "auditops-deckhouse"
POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def entry(manager, fields, operation="Apply"):
    return {"manager": manager, "operation": operation, "apiVersion": "deckhouse.io/v1alpha1",
            "fieldsType": "FieldsV1", "fieldsV1": fields}


def module_config(settings, managed=(), version=1, **spec):
    body = {"settings": settings}
    if version is not None:
        body["version"] = version
    body.update(spec)
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig",
            "metadata": {"name": "control-plane-manager", "resourceVersion": "7", "managedFields": list(managed)},
            "spec": body}


def settings_fields(*paths, version=False):
    """FieldsV1 for spec.settings.<path> leaves (and spec.version)."""
    root = {}
    for path in paths:
        node = root.setdefault("f:spec", {}).setdefault("f:settings", {})
        for key in path[:-1]:
            node = node.setdefault("f:" + key, {".": {}})
        node["f:" + path[-1]] = {}
    if version:
        root.setdefault("f:spec", {})["f:version"] = {}
    return root


OURS_ALL = settings_fields(("apiserver", "auditPolicyEnabled"), ("apiserver", "basicAuditPolicyEnabled"),
                           ("apiserver", "auditLog", "output"), version=True)
FOREIGN = {"apiserver": {"bindToWildcard": True, "certSANs": ["api.example.com"]},
           "etcd": {"backup": {"enabled": False}}}


# --- ModuleConfig --------------------------------------------------------------------------------

def test_create_sends_the_schema_version_and_only_the_owned_keys():
    plan = cpm.plan_module_config([], "present", True, False, "Stdout")
    assert plan["action"] == "apply" and plan["create"] and plan["changed"]
    assert plan["object"] == {
        "apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "control-plane-manager"},
        "spec": {"version": 3, "settings": {"apiserver": {
            "auditPolicyEnabled": True, "basicAuditPolicyEnabled": False, "auditLog": {"output": "Stdout"}}}}}
    assert plan["after"]["version"] == 3
    assert [c["path"] for c in plan["changes"]] == [
        "spec.version", "spec.settings.apiserver.auditPolicyEnabled", "spec.settings.apiserver.basicAuditPolicyEnabled",
        "spec.settings.apiserver.auditLog.output"]
    assert plan["errors"] == [] and plan["conflicts"] == []


def test_merge_keeps_foreign_settings_out_of_the_applied_object_and_in_the_result():
    existing = module_config(copy.deepcopy(FOREIGN), [entry("kubectl-edit", settings_fields(
        ("apiserver", "bindToWildcard"), ("apiserver", "certSANs"), ("etcd", "backup", "enabled"), version=True),
        "Update")])
    plan = cpm.plan_module_config([existing], log_path="/var/log/audit-k8s")
    sent = plan["object"]["spec"]
    assert "version" not in sent  # another manager owns it; leaving it out leaves it alone
    assert sent["settings"] == {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": True,
                                              "auditLog": {"output": "File", "path": "/var/log/audit-k8s"}}}
    after = plan["after"]["settings"]
    assert after["apiserver"]["bindToWildcard"] is True
    assert after["apiserver"]["certSANs"] == ["api.example.com"]
    assert after["etcd"] == {"backup": {"enabled": False}}
    assert plan["before"]["settings"] == FOREIGN  # the input is not modified
    assert not plan["create"] and plan["changed"]


def test_second_run_with_the_same_input_plans_nothing():
    settings = {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": True, "auditLog": {"output": "File"}}}
    plan = cpm.plan_module_config([module_config(settings, [entry(US, OURS_ALL)])])
    assert plan["action"] == "none" and plan["object"] is None and not plan["changed"] and plan["changes"] == []


def test_same_values_set_by_someone_else_are_claimed_without_a_change():
    settings = {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": True, "auditLog": {"output": "File"}}}
    plan = cpm.plan_module_config([module_config(settings, [entry("kubectl-edit", OURS_ALL, "Update")])])
    assert plan["action"] == "apply" and not plan["changed"] and plan["conflicts"] == [] and plan["errors"] == []


def test_we_keep_sending_spec_version_once_we_own_it():
    settings = {"apiserver": {"auditPolicyEnabled": False}}
    plan = cpm.plan_module_config([module_config(settings, [entry(US, OURS_ALL)], version=2)])
    assert plan["object"]["spec"]["version"] == 2


def test_a_different_value_of_another_manager_is_a_conflict_unless_forced():
    settings = {"apiserver": {"auditPolicyEnabled": False}}
    existing = module_config(settings, [entry("argocd-controller", settings_fields(("apiserver", "auditPolicyEnabled")))])
    plan = cpm.plan_module_config([existing])
    assert plan["conflicts"] == [{"path": "spec.settings.apiserver.auditPolicyEnabled", "before": False, "after": True,
                                  "managers": [{"manager": "argocd-controller", "operation": "Apply"}]}]
    assert len(plan["errors"]) == 1
    assert plan["errors"][0].startswith("spec.settings.apiserver.auditPolicyEnabled: false is set by argocd-controller (Apply)")
    forced = cpm.plan_module_config([existing], force_conflicts=True)
    assert forced["errors"] == [] and forced["conflicts"] and forced["action"] == "apply"


def test_absent_turns_the_custom_policy_off_and_releases_keys_only_we_set():
    settings = {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": False,
                              "auditLog": {"output": "Stdout", "path": "/var/log/a"}, "bindToWildcard": True}}
    ours = settings_fields(("apiserver", "auditPolicyEnabled"), ("apiserver", "basicAuditPolicyEnabled"),
                           ("apiserver", "auditLog", "output"), ("apiserver", "auditLog", "path"), version=True)
    other = settings_fields(("apiserver", "bindToWildcard"), ("apiserver", "auditLog", "path"))
    existing = module_config(settings, [entry(US, ours), entry("kubectl-edit", other, "Update")])
    plan = cpm.plan_module_config([existing], state="absent")
    assert plan["object"]["spec"] == {"version": 1, "settings": {"apiserver": {"auditPolicyEnabled": False}}}
    assert plan["after"]["settings"] == {"apiserver": {"auditPolicyEnabled": False, "bindToWildcard": True,
                                                       "auditLog": {"path": "/var/log/a"}}}
    assert sorted(plan["released"]) == ["spec.settings.apiserver.auditLog.output",
                                        "spec.settings.apiserver.basicAuditPolicyEnabled"]
    # auditLog.path stays (kubectl-edit owns it too) and now lacks the required output: the webhook would refuse.
    assert plan["errors"] == ["spec.settings.apiserver.auditLog.output: Required value"]


def test_absent_removes_an_emptied_parent_map():
    settings = {"apiserver": {"auditPolicyEnabled": True, "auditLog": {"output": "File"}}}
    ours = settings_fields(("apiserver", "auditPolicyEnabled"), ("apiserver", "auditLog", "output"))
    plan = cpm.plan_module_config([module_config(settings, [entry(US, ours)])], state="absent")
    assert plan["after"]["settings"] == {"apiserver": {"auditPolicyEnabled": False}}
    assert plan["errors"] == []


def test_absent_without_a_module_config_creates_nothing():
    plan = cpm.plan_module_config([], state="absent")
    assert plan["action"] == "none" and plan["object"] is None and not plan["changed"]


def test_dropping_log_path_releases_it():
    settings = {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": True,
                              "auditLog": {"output": "File", "path": "/var/log/a"}}}
    ours = settings_fields(("apiserver", "auditPolicyEnabled"), ("apiserver", "basicAuditPolicyEnabled"),
                           ("apiserver", "auditLog", "output"), ("apiserver", "auditLog", "path"))
    plan = cpm.plan_module_config([module_config(settings, [entry(US, ours)])])
    assert plan["released"] == ["spec.settings.apiserver.auditLog.path"]
    assert plan["changes"] == [{"path": "spec.settings.apiserver.auditLog.path", "before": "/var/log/a", "after": None,
                                "action": "remove"}]
    assert plan["action"] == "apply"


def test_schema_errors_name_the_field_and_whether_the_role_owns_it():
    existing = module_config({"apiserver": {"auditLog": {"output": "File"}, "bindToWildcard": "yes", "unknownKey": 1}})
    plan = cpm.plan_module_config([existing], log_path="/var/log/kube-audit/", force_conflicts=True)
    assert plan["errors"] == [
        "spec.settings.apiserver.auditLog.path: Invalid value: \"/var/log/kube-audit/\": must match "
        "'^[a-zA-Z0-9_/.-]+[a-zA-Z0-9_.-]$'",
        "spec.settings.apiserver.bindToWildcard: Invalid value: string: must be of type boolean "
        "(a setting this role does not manage: fix it in the ModuleConfig)",
        "spec.settings.apiserver.unknownKey: Forbidden: not a setting of control-plane-manager in this schema version "
        "(a setting this role does not manage: fix it in the ModuleConfig)",
    ]


def test_older_settings_versions_are_converted_before_validation():
    # Version 1 layout: apiserver.loadBalancer and etcd.externalMembersNames; both gone from version 3.
    settings = {"apiserver": {"loadBalancer": {"port": 443}}, "etcd": {"externalMembersNames": ["m-0"]}}
    assert cpm.plan_module_config([module_config(settings, version=1)])["errors"] == []
    errors = cpm.plan_module_config([module_config(settings, version=3)])["errors"]
    assert [e.split(":")[0] for e in errors] == ["spec.settings.apiserver.loadBalancer", "spec.settings.etcd.externalMembersNames"]
    # The 2025-01 schema is version 1 and still has them.
    assert cpm.plan_module_config([module_config(settings, version=1)], settings_schema="2025-01")["errors"] == []


def test_profiles_differ_and_none_skips_validation():
    settings = {"encryptionAlgorithm": "RSA-4096"}
    assert cpm.validate_settings(settings, 3, "latest") == ([], [])
    errors, _warnings = cpm.validate_settings(settings, 1, "2025-01")
    assert errors == ["spec.settings.encryptionAlgorithm: Forbidden: not a setting of control-plane-manager in this "
                      "schema version"]
    assert cpm.validate_settings({"anything": object()}, 1, "none") == ([], [])
    with pytest.raises(cpm.SettingsError):
        cpm.validate_settings({}, 1, "2019")


def test_a_newer_settings_version_than_the_schema_warns():
    errors, warnings = cpm.validate_settings({"apiserver": {"auditPolicyEnabled": True}}, 4, "latest")
    assert errors == [] and "settings version 4" in warnings[0]


@pytest.mark.parametrize("settings, message", [
    ({"apiserver": {"auditLog": {"output": "stdout"}}},
     "spec.settings.apiserver.auditLog.output: Unsupported value: \"stdout\": supported values: \"File\", \"Stdout\""),
    ({"apiserver": {"auditLog": {"path": "/var/log"}}}, "spec.settings.apiserver.auditLog.output: Required value"),
    ({"apiserver": {"auditPolicyEnabled": 1}},
     "spec.settings.apiserver.auditPolicyEnabled: Invalid value: integer: must be of type boolean"),
    ({"apiserver": {"publishAPI": {"loadBalancer": {"port": 70000}}}},
     "spec.settings.apiserver.publishAPI.loadBalancer.port: Invalid value: 70000: must be less than or equal to 65534"),
    # One OpenAPI validator (module_utils/_openapi.py) words junctor failures as go-openapi does.
    ({"resourcesRequests": {"cpu": "1 core"}},
     "spec.settings.resourcesRequests.cpu: Invalid value: must validate one and only one schema (oneOf)"),
    ({"apiserver": {"certSANs": ["ok.example", "bad name"]}}, "spec.settings.apiserver.certSANs[1]: Invalid value"),
    ({"apiserver": None}, "spec.settings.apiserver: Invalid value: null: must not be null"),
])
def test_validator_messages(settings, message):
    errors, _warnings = cpm.validate_settings(settings, 3)
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_valid_settings_pass_including_one_of():
    settings = {"apiserver": {"auditPolicyEnabled": True, "auditLog": {"output": "Stdout"}}, "resourcesRequests": {"cpu": 2},
                "etcd": {"maxDbSize": 1073741824}}
    assert cpm.validate_settings(settings, 3) == ([], [])


@pytest.mark.parametrize("existing, message", [
    ({"kind": "Secret", "metadata": {"name": "x"}}, "existing.kind: expected ModuleConfig"),
    ({"kind": "ModuleConfig", "metadata": {"name": "deckhouse"}}, "existing.metadata.name: expected control-plane-manager"),
    ([{}, {}], "existing: expected at most one object, got 2"),
    ("control-plane-manager", "existing: expected the object as read by kubernetes.core.k8s_info, got str"),
    ({"kind": "ModuleConfig", "spec": {"version": "1"}}, "existing.spec.version: expected a whole number"),
])
def test_bad_existing_is_refused_with_its_path(existing, message):
    with pytest.raises(cpm.SettingsError) as info:
        cpm.plan_module_config(existing)
    assert info.value.errors[0].startswith(message)


def test_bad_options_are_refused_together():
    with pytest.raises(cpm.SettingsError) as info:
        cpm.plan_module_config([], "gone", "yes", True, "Syslog", 5)
    assert [e.split(":")[0] for e in info.value.errors] == ["state", "enabled", "log_output", "log_path"]


def test_owners_ignore_subresources_and_other_paths():
    obj = {"metadata": {"managedFields": [
        entry("a", settings_fields(("apiserver", "auditPolicyEnabled"))),
        dict(entry("b", settings_fields(("apiserver", "auditPolicyEnabled"))), subresource="status"),
        entry("c", settings_fields(("apiserver", "basicAuditPolicyEnabled"))),
    ]}}
    assert cpm.owners(obj, ("spec", "settings", "apiserver", "auditPolicyEnabled")) == [{"manager": "a", "operation": "Apply"}]
    assert cpm.owners({}, ("spec",)) == []


# --- Secret --------------------------------------------------------------------------------------

def secret(text=None, managed=(), extra=None):
    data = dict(extra or {})
    if text is not None:
        data["audit-policy.yaml"] = base64.b64encode(text.encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "data": data,
            "metadata": {"name": "audit-policy", "namespace": "kube-system", "managedFields": list(managed)}}


def data_fields(manager, operation="Apply"):
    return {"manager": manager, "operation": operation, "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:audit-policy.yaml": {}}}}


def test_new_secret_is_applied_and_rolled_back_by_deleting_it():
    plan = cpm.plan_secret([], "present", POLICY)
    assert plan["action"] == "apply" and plan["changed"] and not plan["exists"]
    assert plan["object"]["data"] == {"audit-policy.yaml": base64.b64encode(POLICY.encode()).decode()}
    assert plan["object"]["metadata"] == {"name": "audit-policy", "namespace": "kube-system",
                                          "labels": {"app.kubernetes.io/managed-by": "auditops.deckhouse"}}
    assert plan["before_policy"] is None and plan["after_policy"] == POLICY
    assert plan["rollback"]["action"] == "delete"


def test_unchanged_policy_does_not_rewrite_the_secret():
    plan = cpm.plan_secret([secret(POLICY, [data_fields(US)])], "present", POLICY)
    assert plan["action"] == "none" and not plan["changed"] and plan["object"] is None


def test_changed_policy_rolls_back_to_the_old_text():
    old = POLICY.replace("Metadata", "Request")
    existing = secret(old, [data_fields(US)], extra={"notes": "a2VlcA=="})
    plan = cpm.plan_secret([existing], "present", POLICY)
    assert plan["action"] == "apply" and plan["before_policy"] == old
    assert plan["rollback"] == {"action": "apply", "object": {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
        "data": {"audit-policy.yaml": existing["data"]["audit-policy.yaml"]}}}
    assert "notes" not in plan["object"]["data"]  # other keys are not ours to send


def test_rollback_keeps_the_managed_by_label_the_secret_had():
    """A rolled-back Secret keeps the label an earlier run set (without it in the rollback object, the apply by the
    same field manager removed it)."""
    existing = secret(POLICY.replace("Metadata", "Request"), [data_fields(US)])
    existing["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "auditops.deckhouse", "team": "platform"}
    rollback = cpm.plan_secret([existing], "present", POLICY)["rollback"]
    assert rollback["action"] == "apply"
    assert rollback["object"]["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "auditops.deckhouse"}
    assert rollback["object"]["data"] == {"audit-policy.yaml": existing["data"]["audit-policy.yaml"]}


def test_secret_set_by_someone_else_is_a_conflict_unless_forced():
    existing = secret("x: 1\n", [data_fields("kubectl-create", "Update")])
    plan = cpm.plan_secret([existing], "present", POLICY)
    assert plan["errors"] and "kubectl-create (Update)" in plan["errors"][0]
    assert cpm.plan_secret([existing], "present", POLICY, force_conflicts=True)["errors"] == []


def test_secret_without_our_key_rolls_back_by_leaving_it_out():
    existing = secret(None, extra={"other": "eA=="})
    plan = cpm.plan_secret([existing], "present", POLICY)
    assert plan["rollback"]["action"] == "apply" and "data" not in plan["rollback"]["object"]


def test_undecodable_secret_is_replaced_with_a_warning():
    existing = secret()
    existing["data"]["audit-policy.yaml"] = "not base64!"
    plan = cpm.plan_secret([existing], "present", POLICY)
    assert plan["action"] == "apply" and "not Base64" in plan["warnings"][0]


def test_absent_deletes_an_existing_secret_only():
    assert cpm.plan_secret([secret(POLICY)], "absent")["action"] == "delete"
    assert cpm.plan_secret([], "absent")["action"] == "none"


def test_no_policy_leaves_the_secret_alone():
    plan = cpm.plan_secret([secret(POLICY)], "present", None)
    assert plan["action"] == "none" and plan["after_policy"] == POLICY


def test_secret_in_another_namespace_is_refused():
    other = secret(POLICY)
    other["metadata"]["namespace"] = "default"
    with pytest.raises(cpm.SettingsError):
        cpm.plan_secret([other], "present", POLICY)


def test_diff_shows_settings_and_the_decoded_policy():
    mc = cpm.plan_module_config([])
    sec = cpm.plan_secret([secret("old: 1\n")], "present", POLICY)
    entries = cpm.diff(mc, sec)
    assert entries[0]["before"] == "" and "auditPolicyEnabled: true" in entries[0]["after"]
    assert entries[1]["before"] == "old: 1\n" and entries[1]["after"] == POLICY
    assert "(decoded)" in entries[1]["before_header"]
    unchanged = cpm.plan_secret([secret(POLICY)], "present", POLICY)
    assert cpm.diff(None, unchanged) == []


@pytest.mark.parametrize("profile, version", [("latest", 3), ("2025-01", 1), ("none", 3)])
def test_a_new_module_config_gets_the_version_of_the_schema_it_was_checked_against(profile, version):
    # x-config-version of modules/040-control-plane-manager/openapi/config-values.yaml: 3 in the newest
    # schema, absent (version 1) in the 2025-01 one; "none" checks nothing and writes the newest known.
    assert cpm.schema_version(profile) == version
    plan = cpm.plan_module_config([], settings_schema=profile)
    assert plan["object"]["spec"]["version"] == version and plan["after"]["version"] == version
    assert plan["changes"][0] == {"path": "spec.version", "before": None, "after": version, "action": "add"}
    assert plan["errors"] == [] and plan["warnings"] == []
