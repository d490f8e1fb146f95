# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Loki, Elasticsearch, Logstash, Vector and Splunk destinations through the kuma_log_shipper role, against the
real kube-apiserver with the Deckhouse log-shipper CRDs (issue 16 items 1 and 2): each type is applied, the
stored object is read back field for field (secrets byte for byte), a second run changes nothing, and no secret
shows in any output at -vvvv --diff.

The role's preflight needs the endpoints to accept TCP connections: every endpoint is the local listener.
"""

import copy

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper_apply as apply
# Helpers, and the fixtures run_role and kuma_listener (pytest finds fixtures by name in this module); no test
# functions, so nothing is collected twice.
from ansible_collections.auditops.deckhouse.tests.integration.test_kuma_log_shipper import (  # noqa: F401 (fixtures)
    _b64, _pem, actions, get, is_subset, live_profile)
from ansible_collections.auditops.deckhouse.tests.integration.test_kuma_log_shipper import (  # noqa: F401 pylint: disable=unused-import
    kuma_listener, run_role)

pytestmark = pytest.mark.cluster

ES_PASSWORD, AWS_ACCESS, AWS_SECRET = "Es-Pw-4c1d8e", "AKIA-it-7Q2W", "Aws-Secret-9x8c7v"
SPLUNK_TOKEN, LOKI_PASSWORD, KEY_PASS = "Hec-Token-5b6n7m", "Loki-Pw-2s3d4f", "Key-Pass-1q2w3e"


def destinations(cluster, port):
    url, hostport = "http://127.0.0.1:%d" % port, "127.0.0.1:%d" % port
    tls = {"ca": cluster.ca_file, "client_cert": cluster.client_cert, "client_key": cluster.client_key,
           "key_pass": KEY_PASS, "verify_hostname": False}
    return [
        {"name": "it-d-loki", "type": "loki", "endpoint": url, "tenant_id": "audit",
         "auth": {"user": "shipper", "password": LOKI_PASSWORD}},
        {"name": "it-d-es", "type": "elasticsearch", "endpoint": url, "index": "k8s-audit-%F", "pipeline": "audit",
         "doc_type": "_doc", "data_stream_enabled": False, "auth": {"user": "elastic", "password": ES_PASSWORD},
         "tls": tls},
        {"name": "it-d-es-aws", "type": "elasticsearch", "endpoint": url,
         "auth": {"strategy": "aws", "aws_access_key": AWS_ACCESS, "aws_secret_key": AWS_SECRET,
                  "aws_region": "eu-central-1", "aws_assume_role": "arn:aws:iam::123456789012:role/log-shipper"}},
        {"name": "it-d-logstash", "type": "logstash", "endpoint": hostport, "tls": {"ca": cluster.ca_file}},
        {"name": "it-d-vector", "type": "vector", "endpoint": hostport, "tls": tls},
        {"name": "it-d-splunk", "type": "splunk", "endpoint": url, "token": SPLUNK_TOKEN, "index": "k8s_audit",
         "buffer": {"type": "memory", "max_events": 1000}},
    ]


def variables_for(cluster, port, owner):
    return {"kuma_log_shipper_owner": owner, "kuma_log_shipper_destinations": destinations(cluster, port),
            "kuma_log_shipper_sources": [{"name": "it-d-audit"}]}


def test_every_type_is_applied_and_read_back(k8s_cluster, run_role, kuma_listener):
    variables = variables_for(k8s_cluster, kuma_listener, "it_dest")
    run = run_role(variables)
    assert run.rc == 0, run
    assert [a for _k, _n, a in actions(run)] == ["create"] * 7
    key = _b64(_pem(k8s_cluster.client_key).strip() + "\n")

    stored = dict((name, get(k8s_cluster, "ClusterLogDestination", name)["spec"]) for name in (
        "it-d-loki", "it-d-es", "it-d-es-aws", "it-d-logstash", "it-d-vector", "it-d-splunk"))
    assert stored["it-d-loki"]["loki"]["auth"] == {"strategy": "Basic", "user": "shipper", "password": _b64(LOKI_PASSWORD)}
    es = stored["it-d-es"]["elasticsearch"]
    assert es["auth"] == {"strategy": "Basic", "user": "elastic", "password": _b64(ES_PASSWORD)}
    assert (es["index"], es["pipeline"], es["docType"], es["dataStreamEnabled"]) == ("k8s-audit-%F", "audit", "_doc", False)
    assert es["tls"]["clientCrt"]["keyFile"] == key and es["tls"]["clientCrt"]["keyPass"] == _b64(KEY_PASS)
    assert es["tls"]["verifyHostname"] is False
    assert stored["it-d-es-aws"]["elasticsearch"]["auth"] == {
        "strategy": "AWS", "awsAccessKey": _b64(AWS_ACCESS), "awsSecretKey": _b64(AWS_SECRET),
        "awsRegion": "eu-central-1", "awsAssumeRole": "arn:aws:iam::123456789012:role/log-shipper"}
    assert stored["it-d-logstash"]["type"] == "Logstash"
    assert stored["it-d-logstash"]["logstash"]["endpoint"] == "127.0.0.1:%d" % kuma_listener
    assert stored["it-d-vector"]["vector"]["tls"]["clientCrt"]["keyFile"] == key
    assert stored["it-d-splunk"]["splunk"] == {"endpoint": "http://127.0.0.1:%d" % kuma_listener, "token": SPLUNK_TOKEN,
                                               "index": "k8s_audit"}
    # Every stored object holds, field for field, what the engine builds from the same input for the served CRDs,
    # and the server records exactly the fields applied (what lets the next run skip it).
    built = ls.build(variables["kuma_log_shipper_destinations"], variables["kuma_log_shipper_sources"],
                     live_profile(k8s_cluster), owner="it_dest")["objects"]
    for obj in built:
        live = get(k8s_cluster, obj["kind"], obj["metadata"]["name"])
        assert is_subset(obj["spec"], live["spec"]), (obj, live)
        assert apply.manager_fields(live, "auditops-deckhouse", obj["apiVersion"]) == apply.applied_fields(obj)
    warnings = [w for _name, result in run.tasks() for w in result.get("warnings", [])]
    for field in ("spec.elasticsearch.auth.password", "spec.elasticsearch.auth.awsSecretKey", "spec.splunk.token",
                  "spec.vector.tls.clientCrt.keyFile", "spec.loki.auth.password"):
        assert any(field in w and "stored inline" in w for w in warnings), (field, warnings)

    second = run_role(variables)
    assert second.rc == 0, second
    assert second.stats["changed"] == 0 and [a for _k, _n, a in actions(second)] == ["unchanged"] * 7

    # Dropping a type prunes its object; the others stay untouched.
    fewer = copy.deepcopy(variables)
    fewer["kuma_log_shipper_destinations"] = [d for d in fewer["kuma_log_shipper_destinations"] if d["name"] != "it-d-splunk"]
    third = run_role(fewer)
    assert third.rc == 0, third
    assert ("ClusterLogDestination", "it-d-splunk", "delete") in actions(third, ("delete",))
    assert get(k8s_cluster, "ClusterLogDestination", "it-d-splunk") is None


def test_v1alpha2_fields_are_refused_before_anything_is_touched(k8s_cluster, run_role, kuma_listener):
    variables = {"kuma_log_shipper_owner": "it_dest_v2", "kuma_log_shipper_sources": [{"name": "it-d2-audit"}],
                 "kuma_log_shipper_destinations": [
                     {"name": "it-d2-cef", "address": "127.0.0.1:%d" % kuma_listener, "codec": "cef",
                      "cef": {"device_vendor": "Deckhouse"}}]}
    run = run_role(variables)
    assert run.rc != 0
    errors = run.failure_errors()
    assert any(e.startswith("kuma_log_shipper_destinations[0].cef.device_vendor: the served ClusterLogDestination CRD "
                            "(deckhouse.io/v1alpha1, profile live) has no spec.socket.encoding.cef.deviceVendor")
               for e in errors), errors
    assert get(k8s_cluster, "ClusterLogDestination", "it-d2-cef") is None


def test_no_destination_secret_in_any_output_at_vvvv_diff(k8s_cluster, run_role, kuma_listener):
    """Issue 18 item 2 for the new types: create, check of a change, change and a refused input, each at
    -vvvv --diff (default callback, and the JSON callback on the change); nothing printed holds a secret."""
    base = variables_for(k8s_cluster, kuma_listener, "it_dest_leak")
    for destination in base["kuma_log_shipper_destinations"]:
        destination["name"] = destination["name"].replace("it-d-", "it-dl-")
    base["kuma_log_shipper_sources"] = [{"name": "it-dl-audit"}]
    changed = copy.deepcopy(base)
    changed["kuma_log_shipper_destinations"][1]["index"] = "k8s-audit-changed-%F"
    changed["kuma_log_shipper_destinations"][5]["index"] = "changed"
    bad = copy.deepcopy(changed)
    bad["kuma_log_shipper_destinations"][5].pop("token")
    key = _pem(k8s_cluster.client_key)
    forms = {}
    for label, secret in (("es password", ES_PASSWORD), ("aws access", AWS_ACCESS), ("aws secret", AWS_SECRET),
                          ("splunk token", SPLUNK_TOKEN), ("loki password", LOKI_PASSWORD), ("key_pass", KEY_PASS)):
        forms[label], forms[label + " base64"] = secret, _b64(secret)
    forms["key PEM base64"] = _b64(key.strip() + "\n")
    for number, line in enumerate(line for line in key.splitlines() if line and not line.startswith("-----")):
        forms["key PEM line %d" % number] = line
    plan = [("default", "create", base, False), ("default", "check of a change", changed, True),
            ("ansible.posix.json", "change", changed, False), ("default", "refused input", bad, False)]
    for callback, label, variables, check in plan:
        run = run_role(variables, check=check, diff=True, verbosity=4, callback=callback)
        assert (run.rc == 0) == (label != "refused input"), (label, run)
        output = run.stdout + run.stderr
        leaked = sorted(name for name, form in forms.items() if form in output)
        assert leaked == [], (callback, label, leaked)
    assert get(k8s_cluster, "ClusterLogDestination", "it-dl-splunk")["spec"]["splunk"]["index"] == "changed"
    assert get(k8s_cluster, "ClusterLogDestination", "it-dl-splunk")["spec"]["splunk"]["token"] == SPLUNK_TOKEN
