# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which detections a policy keeps alive: the simulator's answer against what a real kube-apiserver logs.

A request mix that triggers every detection (exec, attach, port-forward, an ephemeral container, RBAC
changes including a cluster-admin binding and a wildcard ClusterRole, a ServiceAccount with a token
request, anonymous, unauthenticated and forbidden requests, a Secret read, privileged, hostPath and
host-network pods, an image without a digest) is sent to kube-apiserver 1.33 once per candidate policy.
The catalogue's Falco conditions are evaluated on our requests' events in each real log (tests/integration/
_falco_double.py); the set of detections that fired must be exactly the set the simulator says the policy keeps."""

import json
import uuid

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate as sim
from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as det
from ansible_collections.auditops.deckhouse.tests.integration._apiserver_traffic import (
    events_by_audit_id, send, wait_log_quiet)
from ansible_collections.auditops.deckhouse.tests.integration._falco_double import Falco

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EVERYTHING = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"
METADATA = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
MIXED = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [ResponseStarted]
rules:
- level: None
  resources: [{group: "", resources: [secrets]}]
- level: Request
  resources: [{group: "", resources: [pods]}]
- level: Metadata
"""
CANDIDATES = [("everything", EVERYTHING), ("metadata", METADATA), ("mixed", MIXED)]
DIGEST = "registry.example/web@sha256:" + "0" * 64
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _pod(ns, name, image="registry.example/web:1.0", **spec):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": dict({"containers": [{"name": "c", "image": image}]}, **spec)}
    return body


def traffic(ns):
    """(method, path, body, how, content type): how is admin, anonymous or a bogus bearer token."""
    core = "/api/v1/namespaces/%s" % ns
    privileged = _pod(ns, "root", DIGEST)
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    ephemeral = {"spec": {"ephemeralContainers": [{"name": "debug", "image": DIGEST, "targetContainerName": "c"}]}}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": ns + "-admin"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}]}
    wildcard = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": ns + "-all"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    json_ct, merge = None, "application/strategic-merge-patch+json"
    return [
        ("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, "admin", json_ct),
        ("POST", core + "/pods", _pod(ns, "web"), "admin", json_ct),                      # image without digest
        ("POST", core + "/pods", privileged, "admin", json_ct),
        ("POST", core + "/pods", _pod(ns, "disk", DIGEST, volumes=[{"name": "h", "hostPath": {"path": "/etc"}}]),
         "admin", json_ct),
        ("POST", core + "/pods", _pod(ns, "net", DIGEST, hostNetwork=True), "admin", json_ct),
        ("POST", core + "/pods/web/exec?command=id&stdout=true", None, "admin", json_ct),
        ("POST", core + "/pods/web/attach?stdout=true", None, "admin", json_ct),
        ("POST", core + "/pods/web/portforward?ports=80", None, "admin", json_ct),
        ("PATCH", core + "/pods/web/ephemeralcontainers", ephemeral, "admin", merge),
        ("POST", RBAC + "/clusterrolebindings", binding, "admin", json_ct),
        ("POST", RBAC + "/clusterroles", wildcard, "admin", json_ct),
        ("POST", core + "/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                             "metadata": {"name": "robot", "namespace": ns}}, "admin", json_ct),
        ("POST", core + "/serviceaccounts/robot/token", {"apiVersion": "authentication.k8s.io/v1",
                                                         "kind": "TokenRequest", "spec": {}}, "admin", json_ct),
        ("DELETE", core + "/serviceaccounts/robot", None, "admin", json_ct),
        ("POST", core + "/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
                                     "stringData": {"password": "not-a-real-one"}}, "admin", json_ct),
        ("GET", core + "/secrets/db", None, "admin", json_ct),
        ("GET", core + "/secrets", None, "anonymous", json_ct),                            # 403 as system:anonymous
        ("GET", core + "/secrets", None, "bogus-token", json_ct),                          # 401
        ("DELETE", RBAC + "/clusterrolebindings/" + ns + "-admin", None, "admin", json_ct),
        ("DELETE", RBAC + "/clusterroles/" + ns + "-all", None, "admin", json_ct),
    ]


def _run(apiserver_runner, tmp_path, name, policy_text, ns):
    policy_path = tmp_path / ("%s.yaml" % name)
    policy_path.write_text(policy_text)
    log_path = str(tmp_path / ("%s.log" % name))
    ids, statuses = [], []
    # Privileged containers are refused unless --allow-privileged (kube-apiserver flag, default false).
    with apiserver_runner.serve(["--audit-policy-file=%s" % policy_path, "--audit-log-path=" + log_path,
                                 "--allow-privileged=true"]) as api:
        for method, path, body, how, content_type in traffic(ns):
            audit_id = str(uuid.uuid4())
            statuses.append(send(api, method, path, body, how == "anonymous", audit_id, content_type or "application/json",
                                 token="not-a-token" if how == "bogus-token" else None))
            ids.append(audit_id)
        wait_log_quiet(log_path)
    logged = events_by_audit_id(log_path)
    return statuses, [event for audit_id in ids for event in logged.get(audit_id, [])]


@pytest.fixture(scope="module")
def runs(apiserver_runner, k8s_cluster, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("detections")
    falco = Falco(det.falco_items(det.DETECTIONS))
    ids_by_name = dict((item["name"], item["id"]) for item in det.DETECTIONS)
    out = {}
    for index, (name, text) in enumerate(CANDIDATES):
        statuses, events = _run(apiserver_runner, tmp_path, name, text, "det-%d" % index)
        fired = set()
        for event in events:
            fired.update(ids_by_name[rule] for rule in falco.fired(event))
        log = tmp_path / ("%s-ours.log" % name)
        log.write_text("".join(json.dumps(event) + "\n" for event in events))
        out[name] = (statuses, fired, str(log))
    return out


def test_the_request_mix_triggers_every_detection(runs):
    statuses, fired, _log = runs["everything"]
    assert 401 in statuses and 403 in statuses, statuses
    assert fired == set(det.DETECTION_IDS), sorted(set(det.DETECTION_IDS) - fired)


@pytest.mark.parametrize("name, text", CANDIDATES, ids=[candidate[0] for candidate in CANDIDATES])
def test_the_simulator_keeps_exactly_the_detections_that_fire(runs, name, text):
    _statuses, fired, _log = runs[name]
    _statuses, _fired, source = runs["everything"]
    result = sim.simulate(source, [sim.Candidate(name, text, "kubeadm")], kubernetes_version="1.33").results[0]
    print("\n" + sim.summary_line(result))
    assert set(result["detections"]["kept_ids"]) == fired
    assert result["detections"]["total"] == len(det.DETECTIONS)


def test_the_reasons_name_level_and_stage(runs):
    _statuses, _fired, source = runs["everything"]
    result = sim.simulate(source, [sim.Candidate("mixed", MIXED, "kubeadm")]).results[0]
    reasons = dict((lost["id"], lost["reason"]) for lost in result["detections"]["lost"])
    # pods/exec is no "pods" resource for a policy rule: the catch-all decides it.
    assert reasons["pod_exec_attach"] == "rule 2 omits stage ResponseStarted for create pods/exec"
    assert reasons["secret_read_by_person"] == "rule 0 records get secrets at None"
    assert reasons["rbac_cluster_admin_binding"] == \
        "rule 2 records create clusterrolebindings at Metadata (needs Request)"
    assert "privileged_pod" not in reasons     # pods at Request carry the request body
    assert ap.LEVELS  # the engine is the one the simulator uses
