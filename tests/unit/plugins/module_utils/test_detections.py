# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The detection catalogue, the objects built from it, and which detections a policy keeps alive."""

import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as sim
from ansible_collections.auditops.deckhouse.plugins.module_utils import _detection_coverage as cov
from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as det
from ansible_collections.auditops.deckhouse.plugins.module_utils import _falco_rules as fr
from ansible_collections.auditops.deckhouse.tests import _paths

SEED_LIST = {"pod_exec_attach", "pod_portforward", "pod_ephemeral_container", "rbac_cluster_admin_binding",
             "rbac_role_change", "rbac_binding_change", "serviceaccount_change", "serviceaccount_token",
             "anonymous_request", "unauthorized_request", "secret_read_by_person", "privileged_pod", "hostpath_pod",
             "image_without_digest"}


def _policy(rules, **top):
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": rules}
    policy.update(top)
    return policy


def test_catalogue_covers_the_issue_list_and_declared_levels_match_the_fields_read():
    assert SEED_LIST <= set(det.DETECTION_IDS)
    for item in det.DETECTIONS:
        need = det.needs(item)
        assert need["level"] == item["level"], item["id"]
        assert need["fields"], item["id"]
        assert item["requests"], item["id"]


def test_exec_and_failed_authentication_match_the_response_started_event():
    assert det.needs(det.select(["pod_exec_attach"])[0])["stages"] == ["ResponseStarted"]
    assert det.needs(det.select(["unauthorized_request"])[0])["stages"] == ["ResponseComplete", "ResponseStarted"]


def test_deckhouse_objects_validate_and_carry_owner_labels():
    falco_rules, cpr = det.build()
    assert falco_rules["kind"] == "FalcoAuditRules" and cpr["kind"] == "CustomPrometheusRules"
    rules = [item["rule"] for item in falco_rules["spec"]["rules"] if "rule" in item]
    assert len(rules) == len(det.DETECTIONS)
    assert {rule["source"] for rule in rules} == {"K8sAudit"}       # the CRD's default is Syscall
    assert {rule["priority"] for rule in rules} <= set(det.PRIORITIES)
    fr.check_items(falco_rules["spec"]["rules"])
    alerts = cpr["spec"]["groups"][0]["rules"]
    assert [a["alert"] for a in alerts] == list(det.ALERT_NAMES)
    assert all(a["for"] and a["labels"]["severity"] in det.SEVERITY_LEVELS for a in alerts)
    exprs = " ".join(a["expr"] for a in alerts)
    for metric in ("apiserver_audit_error_total", "apiserver_audit_requests_rejected_total", "apiserver_audit_event_total",
                   det.EVENTS_METRIC):
        assert metric in exprs
    for obj in (falco_rules, cpr):
        assert det.is_owned(obj, det.DEFAULT_OWNER) and not det.is_owned(obj, "someone_else")


def test_selection_and_kubeadm_form():
    prom, = det.build("kubeadm", detections=["privileged_pod"], namespace="monitoring")
    assert prom["apiVersion"] == "monitoring.coreos.com/v1" and prom["metadata"]["namespace"] == "monitoring"
    assert len(prom["spec"]["groups"][0]["rules"]) == 1 + len(det.APISERVER_ALERTS)
    items = det.falco_rules_file(["privileged_pod"])
    assert items[0] == {"required_plugin_versions": [{"name": "k8saudit", "version": "0.7.0"}]}
    rule, = [i for i in items if "rule" in i]
    assert rule["rule"] == "auditops: privileged pod"          # a rules file writes items flat
    assert rule["priority"] == "CRITICAL" and rule["source"] == "k8s_audit"
    assert {"macro": "auditops_kevt", "condition": "ka.stage = ResponseComplete"} in items
    assert {"list": "auditops_health_uris", "items": ["/healthz", "/livez", "/readyz", "/version"]} in items


@pytest.mark.parametrize("kwargs,path", [
    ({"detections": ["nope"]}, "detections[0]"), ({"detections": []}, "detections"), ({"target": "gke"}, "target"),
    ({"name": "Bad_Name"}, "name"), ({"owner": ""}, "owner")])
def test_bad_input_names_the_option(kwargs, path):
    with pytest.raises(det.DetectionError) as err:
        det.build(**kwargs)
    assert err.value.path == path


def test_a_broken_catalogue_condition_is_refused_before_anything_is_built(monkeypatch):
    broken = dict(det.DETECTIONS[0], condition="auditops_kevt and ka.target.resourse = pods")
    monkeypatch.setattr(det, "DETECTIONS", [broken] + det.DETECTIONS[1:])
    monkeypatch.setattr(det, "_BY_ID", dict((i["id"], i) for i in det.DETECTIONS))
    with pytest.raises(det.DetectionError) as err:
        det.build()
    assert "rule 'auditops: exec or attach into a pod': condition: unknown field 'ka.target.resourse'" in str(err.value)


def test_prune_only_owned_objects():
    wanted = det.build()
    existing = [dict(o) for o in wanted]
    old = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules",
           "metadata": {"name": "old", "labels": wanted[0]["metadata"]["labels"]}}
    theirs = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules", "metadata": {"name": "theirs"}}
    other_owner = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "FalcoAuditRules",
                   "metadata": {"name": "x", "labels": {det.MANAGED_BY_LABEL: det.MANAGED_BY_VALUE, det.ROLE_LABEL: "b"}}}
    prune, foreign = det.plan_prune(wanted, existing + [old, theirs, other_owner])
    assert [p["name"] for p in prune] == ["old"] and foreign == []
    unlabelled = dict(wanted[1], metadata={"name": wanted[1]["metadata"]["name"]})
    prune, foreign = det.plan_prune(wanted, [unlabelled])
    assert prune == [] and [f["kind"] for f in foreign] == ["CustomPrometheusRules"]


def test_objects_match_the_upstream_crd_schemas():
    # Where tests/cluster/harness.py reads the upstream CRDs from.
    path = _paths.require(os.path.join(_paths.REFERENCE, "runtime-audit-engine-crd-falco-audit-rules.yaml"))
    with open(path) as handle:
        crd = yaml.safe_load(handle)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rule_props = schema["properties"]["rules"]["items"]["properties"]["rule"]
    for item in det.build()[0]["spec"]["rules"]:
        if "rule" in item:
            assert set(item["rule"]) <= set(rule_props["properties"])
            assert set(rule_props["required"]) <= set(item["rule"])
            assert item["rule"]["priority"] in rule_props["properties"]["priority"]["enum"]
            assert item["rule"]["source"] in rule_props["properties"]["source"]["enum"]


# --- coverage ------------------------------------------------------------------------------------------

def test_presets_keep_what_their_rules_allow():
    assert cov.policy_coverage(ap.preset("security"))["kept"] == len(det.DETECTIONS)
    meta = cov.policy_coverage(_policy([{"level": "Metadata"}]))
    lost = dict((item["id"], item["reason"]) for item in meta["lost"])
    assert set(lost) == {i["id"] for i in det.DETECTIONS if i["level"] == "Request"}
    assert lost["privileged_pod"] == "rule 0 records create pods at Metadata (needs Request)"


def test_omitted_response_started_blinds_exec_and_failed_authentication():
    result = cov.policy_coverage(_policy([{"level": "RequestResponse"}], omitStages=["ResponseStarted"]))
    assert {item["id"] for item in result["lost"]} == {"pod_exec_attach", "pod_portforward", "unauthorized_request"}
    assert "omits stage ResponseStarted for create pods/exec" in result["lost"][0]["reason"]


def test_a_none_rule_is_named_and_summary_reads_like_the_issue():
    policy = _policy([{"level": "None", "resources": [{"group": "", "resources": ["secrets"]}]},
                      {"level": "Request"}])
    result = cov.policy_coverage(policy)
    # Secrets at None: the anonymous probe of Secrets, the 403 on them and the read by a person are lost.
    assert [lost["id"] for lost in result["lost"]] == ["anonymous_request", "unauthorized_request",
                                                       "secret_read_by_person"]
    line = cov.summary("X", result)
    assert line.startswith("policy X keeps %d/%d detections; lost: " % (result["total"] - 3, result["total"]))
    assert "secret_read_by_person, because rule 0 records get secrets at None" in line


def test_simulator_results_carry_detection_coverage(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text('{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete",'
                   '"requestURI":"/api/v1/namespaces/prod/pods","verb":"list","user":{"username":"alice"},'
                   '"objectRef":{"resource":"pods","namespace":"prod"},"stageTimestamp":"2026-01-01T00:00:00Z"}\n')
    report = sim.simulate(str(log), [sim.Candidate("meta", _policy([{"level": "Metadata"}]), target="kubeadm"),
                                     sim.Candidate("basic-only", _policy([{"level": "None"}]), target="deckhouse")])
    meta, basic = report.results
    assert meta["detections"]["kept"] == 10
    assert "policy meta keeps 10/16 detections; lost: rbac_cluster_admin_binding" in sim.summary_line(meta)
    # Deckhouse's basic rules with a user policy that records nothing else: the basic rules keep some
    # system-namespace requests only, so detections on a user namespace are lost, named by their rule.
    assert basic["detections"]["kept"] < meta["detections"]["kept"]
    assert "policy basic-only keeps" in sim.format_report(report)
