# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cpm_audit_settings in-process: policy check, plan, refusals, diff."""

import base64
import json

from ansible_collections.auditops.deckhouse.plugins.modules import cpm_audit_settings
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

POLICY_TEXT = """# the minimal policy
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
    omitStages: [RequestReceived]
"""
NORMALIZED = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  omitStages:\n  - RequestReceived\n"


def run(args, **kwargs):
    return run_module(cpm_audit_settings, args, **kwargs)


def run_fail(args, **kwargs):
    return run_module_fail(cpm_audit_settings, args, **kwargs)


def mc(settings, managed=()):
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig",
            "metadata": {"name": "control-plane-manager", "managedFields": list(managed)},
            "spec": {"version": 1, "settings": settings}}


def test_first_run_plans_both_objects_with_a_readable_diff():
    result, warnings = run({"existing": [], "existing_secret": [], "policy_yaml": POLICY_TEXT, "basic_policy": False},
                           diff=True)
    assert result["changed"] and warnings == []
    assert result["module_config"]["action"] == "apply" and result["module_config"]["object"]["spec"]["version"] == 3
    secret = result["secret"]
    assert secret["action"] == "apply" and secret["after_policy"] == NORMALIZED  # comments and flow style normalized
    assert base64.b64decode(secret["object"]["data"]["audit-policy.yaml"]).decode() == NORMALIZED
    assert result["rollback"]["action"] == "delete"
    headers = [d["before_header"] for d in result["diff"]]
    assert headers == ["ModuleConfig/control-plane-manager spec", "Secret kube-system/audit-policy data.audit-policy.yaml (decoded)"]
    assert result["diff"][1]["after"] == NORMALIZED
    assert "errors" not in result


def test_no_diff_unless_asked_and_no_change_when_applied():
    secret = {"kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
              "data": {"audit-policy.yaml": base64.b64encode(NORMALIZED.encode()).decode()}}
    ours = {"manager": "auditops-deckhouse", "operation": "Apply", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:settings": {"f:apiserver": {"f:auditPolicyEnabled": {}, "f:basicAuditPolicyEnabled": {},
                                                                   "f:auditLog": {"f:output": {}}}}}}}
    settings = {"apiserver": {"auditPolicyEnabled": True, "basicAuditPolicyEnabled": True, "auditLog": {"output": "File"}}}
    result, _warnings = run({"existing": mc(settings, [ours]), "existing_secret": secret, "policy_yaml": POLICY_TEXT},
                            diff=True)
    assert not result["changed"] and "diff" not in result
    assert result["module_config"]["action"] == "none" and result["secret"]["action"] == "none"


def test_a_policy_kube_apiserver_refuses_stops_everything():
    bad = POLICY_TEXT.replace("level: Metadata", "level: metadata")
    failure = run_fail({"policy_yaml": bad})
    assert failure["msg"].startswith("policy_yaml refused, nothing changed: policy_yaml.rules[0].level: Unsupported value")
    assert "module_config" not in failure and "secret" not in failure
    assert any(f["severity"] == "error" for f in failure["policy_findings"])


def test_a_policy_kube_apiserver_would_silently_change_is_refused():
    typo = POLICY_TEXT.replace("omitStages:", "omitStage:")
    failure = run_fail({"policy_yaml": typo})
    assert "rules[0].omitStage" in failure["msg"]


def test_schema_errors_fail_with_every_field():
    failure = run_fail({"existing": mc({"apiserver": {"bindToWildcard": "no"}}), "log_path": "/var/log/x/"})
    assert failure["msg"].startswith("refused, nothing changed: spec.settings.apiserver.auditLog.path")
    assert "(and 1 more, see errors)" in failure["msg"]
    fields = [e["path"] for e in failure["errors"]]
    assert fields == ["spec.settings.apiserver.auditLog.path", "spec.settings.apiserver.bindToWildcard"]
    assert failure["module_config"]["action"] == "apply"  # the plan is shown, but the module failed


def test_conflicts_need_force():
    other = {"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:settings": {"f:apiserver": {"f:auditPolicyEnabled": {}}}}}}
    existing = mc({"apiserver": {"auditPolicyEnabled": False}}, [other])
    failure = run_fail({"existing": existing})
    assert "kubectl-edit (Update)" in failure["msg"] and "force_conflicts" in failure["msg"]
    result, _warnings = run({"existing": existing, "force_conflicts": True})
    assert result["module_config"]["conflicts"][0]["managers"] == [{"manager": "kubectl-edit", "operation": "Update"}]


def test_absent_plans_off_and_delete():
    secret = {"kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"}, "data": {}}
    result, _warnings = run({"existing": [mc({"apiserver": {"auditPolicyEnabled": True}})], "existing_secret": [secret],
                             "state": "absent", "policy_yaml": "not: checked"})
    assert result["module_config"]["object"]["spec"]["settings"] == {"apiserver": {"auditPolicyEnabled": False}}
    assert result["secret"]["action"] == "delete"


def test_disabled_module_config_warns():
    existing = mc({})
    existing["spec"]["enabled"] = False
    _result, warnings = run({"existing": existing})
    assert any("spec.enabled: false" in w for w in warnings)


def test_bad_existing_is_reported_with_its_path():
    failure = run_fail({"existing": {"kind": "ModuleConfig", "metadata": {"name": "user-authn"}}})
    assert failure["msg"] == ("input refused, nothing changed: existing.metadata.name: expected control-plane-manager, "
                              "got 'user-authn'")


# --- read: true (the module reads both objects itself) ------------------------------------------------------

MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"


def run_reading(fake, args, **kwargs):
    from unittest import mock
    from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._fake_apiserver import FakeClient

    client = FakeClient(fake)
    with mock.patch.object(cpm_audit_settings, "k8s_client", lambda module, plugins: client):
        result = run(dict({"read": True, "host": "https://127.0.0.1:1"}, **args), **kwargs)
    assert client.closed
    return result


def test_read_plans_from_the_objects_the_cluster_holds():
    from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._fake_apiserver import FakeApi

    fake = FakeApi()
    first, _warnings = run_reading(fake, {"policy_yaml": POLICY_TEXT})
    assert first["api_found"] and first["changed"]
    assert first["module_config"]["create"] and not first["secret"]["exists"]
    # Not there yet: one GET each, and discovery to tell a missing ModuleConfig from an unserved kind.
    assert [(m, p) for m, p, _q in fake.requests] == [("GET", MC_PATH), ("GET", "/apis/deckhouse.io/v1alpha1"),
                                                      ("GET", SECRET_PATH)]
    for path, plan in ((MC_PATH, first["module_config"]), (SECRET_PATH, first["secret"])):
        fake(("PATCH"), path, [("fieldManager", "auditops-deckhouse")], json.dumps(plan["object"]),
             "application/apply-patch+yaml")
    del fake.requests[:]
    second, _warnings = run_reading(fake, {"policy_yaml": POLICY_TEXT})
    assert second["api_found"] and not second["changed"]
    assert second["module_config"]["action"] == "none" and second["secret"]["action"] == "none"
    assert [(m, p) for m, p, _q in fake.requests] == [("GET", MC_PATH), ("GET", SECRET_PATH)]


def test_read_tells_a_cluster_without_module_config():
    from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._fake_apiserver import CORE, FakeApi

    fake = FakeApi(served={"v1": CORE["v1"]})
    result, _warnings = run_reading(fake, {})
    assert result["api_found"] is False


def test_read_refuses_existing_and_fails_on_a_refused_read():
    from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._fake_apiserver import FakeApi, FakeClient
    from unittest import mock

    failed = run_fail({"read": True, "existing": [], "host": "https://127.0.0.1:1"})
    assert failed["errors"][0] == {"path": "existing", "message": "not with read=true (the module reads the objects "
                                                                  "itself)"}
    fake = FakeApi()
    fake.answers[SECRET_PATH] = (403, {"kind": "Status", "message": "secrets is forbidden"})
    with mock.patch.object(cpm_audit_settings, "k8s_client", lambda module, plugins: FakeClient(fake)):
        failed = run_fail({"read": True, "host": "https://127.0.0.1:1"})
    assert failed["msg"] == ("read: cannot read the objects, nothing changed: reading Secret kube-system/audit-policy: "
                             "HTTP 403: secrets is forbidden")
