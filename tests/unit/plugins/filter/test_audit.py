# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters audit_level and audit_policy_validate, called directly and through a real ansible-playbook run."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.auditops.deckhouse.plugins.filter.audit import (
    FilterModule, audit_level, audit_policy_validate, simulation_summary, simulation_table)
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_simulate
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FILTER_DIR = os.path.join(ROOT, "plugins", "filter")

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "Request", "resources": [{"group": "", "resources": ["pods/exec"]}], "omitStages": ["Panic"]},
        {"level": "RequestResponse", "verbs": ["create"], "resources": [{"group": "apps"}]},
        {"level": "Metadata"},
    ],
}
ALICE = {"user": "alice", "groups": ["system:authenticated"]}


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == ["audit_level", "audit_policy_validate", "simulation_summary", "simulation_table"]


@pytest.mark.parametrize("request_,level,stages", [
    (dict(ALICE, verb="get", path="/healthz/etcd"), "None", ["RequestReceived"]),
    (dict(ALICE, verb="list", namespace="a", resource="secrets"), "Metadata", ["RequestReceived"]),
    (dict(ALICE, verb="create", namespace="a", resource="pods", subresource="exec", name="p"), "Request",
     ["RequestReceived", "Panic"]),
    (dict(ALICE, verb="create", namespace="a", api_group="apps", resource="deployments"), "RequestResponse",
     ["RequestReceived"]),
    (dict(ALICE, verb="update", namespace="a", api_group="apps", resource="deployments", name="d"), "Metadata",
     ["RequestReceived"]),
    ({"user": None, "verb": "get", "resource": "pods", "namespace": "a"}, "Metadata", ["RequestReceived"]),
])
def test_audit_level(request_, level, stages):
    assert audit_level(POLICY, request_) == {"level": level, "omit_stages": stages}


def test_audit_level_accepts_text_and_uses_what_the_apiserver_keeps():
    text = "apiVersion: audit.k8s.io/v1\nrules:\n- level: RequestResponse\n  verb: [create]\n"
    # The misspelled "verb" is dropped, so the rule matches every verb.
    assert audit_level(text, dict(ALICE, verb="get", resource="pods"))["level"] == "RequestResponse"


def test_audit_level_errors():
    with pytest.raises(AnsibleFilterError, match=r"would refuse this policy: rules\[0\].level: Required value"):
        audit_level({"apiVersion": "audit.k8s.io/v1", "rules": [{}]}, {"verb": "get"})
    with pytest.raises(AnsibleFilterError, match=r"request.resourc: unknown key"):
        audit_level(POLICY, {"verb": "get", "resourc": "pods"})
    with pytest.raises(AnsibleFilterError, match="kubernetes_version"):
        audit_level(POLICY, {"verb": "get"}, kubernetes_version="one")


def test_audit_level_group_wildcard_by_version():
    policy = {"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Request", "resources": [{"group": "*"}]}]}
    assert audit_level(policy, dict(ALICE, verb="get", api_group="apps", resource="x"), "1.36")["level"] == "Request"
    with pytest.raises(AnsibleFilterError):
        audit_level(policy, dict(ALICE, verb="get", api_group="apps", resource="x"), "1.35")


def test_audit_policy_validate():
    good = audit_policy_validate(POLICY)
    assert good["valid"] and good["apiserver_accepts"] and good["errors"] == [] and good["apiserver_error"] is None
    # Decoded like the apiserver: group "" is the zero value and is left out.
    assert good["policy"]["rules"][1] == {"level": "Metadata", "resources": [{"resources": ["secrets"]}]}
    lenient = audit_policy_validate("apiVersion: audit.k8s.io/v1\nrules:\n- level: Metadata\n  level: None\n")
    assert lenient["apiserver_accepts"] and not lenient["valid"] and lenient["lenient"]
    assert lenient["errors"][0].startswith("rules[0].level: key \"level\" appears more than once")
    refused = audit_policy_validate({"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "metadata"}]})
    assert not refused["valid"] and not refused["apiserver_accepts"] and refused["policy"] is None
    assert refused["errors"] == ['rules[0].level: Unsupported value: "metadata": supported values: "None", '
                                 '"Metadata", "Request", "RequestResponse"']
    composed = audit_policy_validate(POLICY, target="deckhouse")
    assert len(composed["effective_policy"]["rules"]) == 26 + 5 + 2 and "shadowed_rules" in composed
    assert "effective_policy" not in good


@pytest.mark.parametrize("name", ["audit_level", "audit_policy_validate", "simulation_summary", "simulation_table"])
def test_filter_documentation_files(name):
    with open(os.path.join(FILTER_DIR, name + ".yml")) as handle:
        doc = yaml.safe_load(handle)
    assert doc["DOCUMENTATION"]["name"] == name
    assert "_input" in doc["DOCUMENTATION"]["options"] and "_value" in doc["RETURN"]
    assert doc["EXAMPLES"].strip()


SECURITY = {"pod_exec_attach": {"requests": 2, "recorded": 0, "lost": 2, "with_body": 0},
            "secrets_access": {"requests": 5, "recorded": 5, "lost": 0, "with_body": 0}}


def test_simulation_summary():
    result = {"name": "security", "events": 4100, "bytes": 52000000, "estimated_body_bytes": 13000000,
              "events_per_second": 47.5, "mb_per_day": 4962.31, "retention_hours": 4.836, "retention_limited_by": "size",
              "security": SECURITY}
    assert simulation_summary(result) == (
        "security: 47.5 events/s, 4962.3 MiB/day, keeps 4.8 h of events (limited by size); loses 2 pod_exec_attach; "
        "25% of the bytes are estimated bodies")
    result.update(mb_per_day=None, events_per_second=None, retention_hours=None, estimated_body_bytes=0,
                  security={"secrets_access": SECURITY["secrets_access"]})
    assert simulation_summary(result) == "security: 4100 events, 49.6 MiB (no time span to project); " \
        "loses no security-relevant request"
    with pytest.raises(AnsibleFilterError, match="not an audit_policy_simulate result .no bytes"):
        simulation_summary({"name": "x", "events": 1, "estimated_body_bytes": 0, "mb_per_day": None, "security": {}})
    with pytest.raises(AnsibleFilterError, match="expects one item"):
        simulation_summary([result])


def test_simulation_table_prints_what_the_command_line_prints(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "id-%d" % index,
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/prod/secrets/db", "verb": "get",
        "user": {"username": "alice"}, "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
        "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-23T10:00:0%d.000000Z" % index}) + "\n"
        for index in range(3)))
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
    report = _audit_simulate.simulate(str(log), [_audit_simulate.Candidate("security", policy)])
    lines = simulation_table(report.as_dict())
    assert lines == _audit_simulate.format_report(report).splitlines()
    assert lines[0].startswith("%s: 3 lines, 3 audit events, 3 requests" % log)
    assert [line.split()[:1] for line in lines].count(["security"]) == 2  # one row in each table
    with pytest.raises(AnsibleFilterError, match="expects the registered result"):
        simulation_table(report.as_dict()["results"])
    with pytest.raises(AnsibleFilterError, match="not an audit_policy_simulate result"):
        simulation_table({"input": {}, "results": [{"name": "x"}]})


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    policy:
      apiVersion: audit.k8s.io/v1
      omitStages: [RequestReceived]
      rules:
        - level: Request
          resources: [{group: "", resources: [pods/exec]}]
        - level: None
    exec_request: {user: alice, groups: [system:authenticated], verb: create, namespace: prod,
                   resource: pods, subresource: exec, name: web}
  tasks:
    - name: Decide
      ansible.builtin.set_fact:
        decision: "{{ policy | auditops.deckhouse.audit_level(exec_request) }}"
        verdict: "{{ policy | auditops.deckhouse.audit_policy_validate(kubernetes_version='1.33.13') }}"
    - name: Show
      ansible.builtin.debug:
        msg: "RESULT {{ {'decision': decision, 'valid': verdict.valid, 'codes': verdict.findings | map(attribute='code') | list} | to_json }}"
"""


def test_filters_in_a_real_playbook(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=str(tmp_path),
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout
    line = [item for item in proc.stdout.splitlines() if "RESULT " in item][0]
    result = json.loads(line.split("RESULT ", 1)[1].rstrip('"').replace('\\"', '"'))
    assert result["decision"] == {"level": "Request", "omit_stages": ["RequestReceived"]}
    # pods/attach falls through to the final None rule.
    assert result["valid"] is True and result["codes"] == ["exec-not-audited"]
