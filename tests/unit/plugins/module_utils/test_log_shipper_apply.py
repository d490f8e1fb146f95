# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_log_shipper_apply without a cluster: when an apply may be skipped, secret scrubbing, endpoints.
The apply itself runs against the real kube-apiserver in tests/integration/test_kuma_log_shipper.py."""

import base64
import copy

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper_apply as apply

PROFILE = ls.resolve_profile()
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
CRT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"


def kafka(password="audit"):
    return ls.build([{"name": "kuma-kafka", "type": "kafka", "bootstrap_servers": ["k:9092"], "topic": "k8s-audit",
                      "sasl": {"mechanism": "plain", "username": "u", "password": password},
                      "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM, "key_pass": "kuma"}}],
                    [], PROFILE)["objects"][0]


def live_copy(obj, manager="auditops-deckhouse", fields=None):
    """The object as the API server returns it after an apply by ``manager``: the managedFields entry has
    the shape kube-apiserver v1.33 recorded for the same apply (field set without apiVersion/kind/name)."""
    live = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": dict(obj["metadata"], resourceVersion="7", uid="x", managedFields=[
                {"manager": manager, "operation": "Apply", "apiVersion": obj["apiVersion"], "fieldsType": "FieldsV1",
                 "fieldsV1": fields if fields is not None else apply.applied_fields(obj)}]),
            "spec": copy.deepcopy(obj["spec"])}
    return live


def test_applied_fields_has_the_server_shape():
    obj = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination",
           "metadata": {"name": "probe", "labels": {"a": "b"}},
           "spec": {"type": "Socket", "socket": {"address": "1.2.3.4:5140", "mode": "TCP", "encoding": {"codec": "JSON"}},
                    "extraLabels": {"cef.name": "x"},
                    "rateLimit": {"linesPerMinute": 6000, "excludes": [{"field": "verb", "operator": "In", "values": ["get"]}]}}}
    # Recorded by kube-apiserver v1.33.13 for this very apply (lists of these CRDs are atomic).
    recorded = {"f:metadata": {"f:labels": {"f:a": {}}},
                "f:spec": {"f:extraLabels": {"f:cef.name": {}}, "f:rateLimit": {"f:excludes": {}, "f:linesPerMinute": {}},
                           "f:socket": {"f:address": {}, "f:encoding": {"f:codec": {}}, "f:mode": {}}, "f:type": {}}}
    assert apply.applied_fields(obj) == recorded


def test_up_to_date_only_when_values_and_owned_fields_match():
    obj = kafka()
    assert apply.up_to_date(obj, live_copy(obj), "auditops-deckhouse")
    assert not apply.up_to_date(obj, None, "auditops-deckhouse")
    # Another manager's apply, or none of ours: apply to take ownership.
    assert not apply.up_to_date(obj, live_copy(obj, manager="kubectl"), "auditops-deckhouse")
    # A changed value.
    changed = live_copy(obj)
    changed["spec"]["kafka"]["topic"] = "other"
    assert not apply.up_to_date(obj, changed, "auditops-deckhouse")
    # Same values, but we own a field the input dropped: only an apply removes it.
    owned_more = apply.applied_fields(obj)
    owned_more["f:spec"]["f:buffer"] = {}
    assert not apply.up_to_date(obj, live_copy(obj, fields=owned_more), "auditops-deckhouse")
    # Server defaults beside our fields do not matter.
    defaulted = live_copy(obj)
    defaulted["spec"]["kafka"]["tls"]["verifyHostname"] = True
    assert apply.up_to_date(obj, defaulted, "auditops-deckhouse")


def test_values_match_compares_types_and_whole_lists():
    assert apply.values_match({"a": [1, 2]}, {"a": [1, 2], "b": 3})
    assert not apply.values_match({"a": [1]}, {"a": [1, 2]})
    assert not apply.values_match({"a": 1}, {"a": "1"})
    assert not apply.values_match({"a": True}, {"a": 1})
    assert apply.first_difference({"spec": {"a": {"b": 1}}}, {"spec": {"a": {"b": 2}}}) == "spec.a.b"


def test_scrubber_masks_every_form_of_every_secret():
    obj = kafka(password="s3cret-pw")
    scrub = apply.Scrubber([obj])
    key_b64 = base64.b64encode(KEY_PEM.encode()).decode()
    text = "x %s y %s z %s w %s v %s" % ("s3cret-pw", key_b64, KEY_PEM, "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
                                         base64.b64encode(b"kuma").decode())
    cleaned = scrub.text(text)
    for form in ("s3cret-pw", key_b64, "MIGHAgEAMBMGByqGSM49AgEG", base64.b64encode(b"kuma").decode()):
        assert form not in cleaned
    assert cleaned.startswith("x ******** y ******** z ********")
    assert scrub.deep({"msg": ["s3cret-pw"]}) == {"msg": ["********"]}
    # Certificates are public.
    assert "MIIBszCCAVmgAwIBAgIUQ2E=" in scrub.text(CRT_PEM)


def test_endpoints_come_from_the_input_without_building():
    found = ls.endpoints([{"address": "kuma:5140", "mode": "udp"},
                          {"type": "kafka", "name": "k", "bootstrap_servers": ["b1:9092", "[::1]:9093", "bad"]},
                          {"address": "no-port"}, "junk"])
    assert found == [
        {"destination": "kuma-udp-json", "address": "kuma:5140", "host": "kuma", "port": 5140, "protocol": "udp"},
        {"destination": "k", "address": "b1:9092", "host": "b1", "port": 9092, "protocol": "tcp"},
        {"destination": "k", "address": "[::1]:9093", "host": "::1", "port": 9093, "protocol": "tcp"}]


def test_inline_secrets_are_warned_about():
    built = ls.build([{"name": "kuma-kafka", "type": "kafka", "bootstrap_servers": ["k:9092"], "topic": "t",
                       "sasl": {"mechanism": "plain", "username": "u", "password": "p"},
                       "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM}},
                      {"address": "kuma:5140", "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM, "key_pass": "x"}},
                      {"address": "kuma:5141", "codec": "cef"}], [], PROFILE)
    warnings = built["warnings"]
    assert [w.split(":")[0] for w in warnings] == ["destinations[0].tls", "destinations[0].sasl", "destinations[1].tls"]
    assert "no tls.secretRef" in warnings[0] and "spec.kafka.tls.clientCrt.keyFile (the client key)" in warnings[0]
    assert "spec.socket.tcp.tls.clientCrt.keyFile, spec.socket.tcp.tls.clientCrt.keyPass" in warnings[2]
    assert "spec.kafka.sasl.password" in warnings[1] and "no Secret reference for SASL" in warnings[1]


def test_cef_severity_outside_0_to_10_is_refused():
    """Issue 18 item 9: 11 and high were accepted."""
    def severity(value, where="cef"):
        spec = {"address": "kuma:5140", "codec": "cef"}
        if where == "cef":
            spec["cef"] = {"name": "d8", "severity": value}
        else:
            spec["extra_labels"] = {"cef.severity": value}
        return ls.build([spec], [], PROFILE)["objects"][0]["spec"]["extraLabels"]["cef.severity"]

    assert [severity(v) for v in (0, 1, "10", "{{ level }}", "Notice")] == ["0", "1", "10", "{{ level }}", "Notice"]
    for value, where in ((11, "cef"), ("high", "cef"), (-1, "cef"), ("05", "cef"), ("notice", "cef"),
                         ("high", "extra_labels")):
        try:
            severity(value, where)
        except ls.LogShipperError as exc:
            field = "destinations[0].cef.severity" if where == "cef" else "destinations[0].extra_labels[cef.severity]"
            assert exc.errors[0].startswith(field + ": CEF severity"), exc.errors
        else:
            raise AssertionError("severity %r accepted" % (value,))


def test_audit_log_source_follows_the_module_config():
    """Issue 16 item 4."""
    assert ls.audit_log_settings(None) == ("File", "/var/log/kube-audit")
    config = {"spec": {"settings": {"apiserver": {"auditLog": {"output": "Stdout"}}}}}
    assert ls.audit_log_settings(config) == ("Stdout", "/var/log/kube-audit")
    config = {"spec": {"settings": {"apiserver": {"auditLog": {"output": "File", "path": "/data/audit"}}}}}
    assert ls.audit_log_settings(config) == ("File", "/data/audit")

    sources = [{"name": "a", "destinations": None}, {"name": "b", "include": ["/x.log"]},
               {"name": "c", "type": "kubernetes_pods", "namespace_selector": {"match_names": ["x"]}}]
    followed = ls.follow_audit_log(sources, "File", "/data/audit")
    assert followed == [{"name": "a", "include": ["/data/audit/audit.log"]}, sources[1], sources[2]]
    expected = [{"name": "kuma-kube-audit", "include": ["/data/audit/audit.log"]}]
    assert ls.follow_audit_log(None, "File", "/data/audit") == expected
    stdout = ls.follow_audit_log([{"name": "a", "log_filter": [{"field": "verb", "operator": "In", "values": ["get"]}]}],
                                 "Stdout")
    objects = ls.build([{"address": "kuma:5140"}], stdout, PROFILE)["objects"]
    assert objects[1]["spec"] == {
        "type": "KubernetesPods",
        "kubernetesPods": {"namespaceSelector": {"matchNames": ["kube-system"]},
                           "labelSelector": {"matchLabels": {"component": "kube-apiserver"}}},
        "logFilter": [{"field": "verb", "operator": "In", "values": ["get"]}, {"field": "auditID", "operator": "Exists"}],
        "destinationRefs": ["kuma-tcp-json"]}
    for bad in ("relative", "/trailing/", "/a b"):
        try:
            ls.follow_audit_log(None, "File", bad)
        except ls.LogShipperError as exc:
            assert exc.errors[0].startswith("audit_log.path: "), exc.errors
        else:
            raise AssertionError(bad)


def test_loki_destination():
    """Issue 16 item 1 (Loki only so far): endpoint, tenant, Basic (password base64) or Bearer auth, TLS."""
    built = ls.build([{"type": "loki", "endpoint": "http://loki.d8-monitoring:3100", "tenant_id": "t1",
                       "auth": {"user": "u", "password": "pw"}},
                      {"type": "loki", "name": "l2", "endpoint": "https://loki.example.com",
                       "auth": {"strategy": "bearer", "token": "tok"}, "tls": {"verify_hostname": False}}], None, PROFILE)
    assert built["objects"][0]["spec"] == {"type": "Loki", "loki": {
        "endpoint": "http://loki.d8-monitoring:3100", "tenantID": "t1",
        "auth": {"strategy": "Basic", "user": "u", "password": base64.b64encode(b"pw").decode()}}}
    assert built["objects"][1]["spec"]["loki"]["auth"] == {"strategy": "Bearer", "token": "tok"}
    assert built["objects"][1]["spec"]["loki"]["tls"] == {"verifyHostname": False}
    assert [e["port"] for e in built["endpoints"]] == [3100, 443]
    assert ls.mask_secrets(built["objects"][1])["spec"]["loki"]["auth"]["token"] == "********"
    assert any(w.startswith("destinations[1].auth:") and "token" in w for w in built["warnings"])
    for bad, error in (({"type": "loki"}, "destinations[0].endpoint: required"),
                       ({"type": "loki", "endpoint": "loki:3100"}, "destinations[0].endpoint: \"loki:3100\" is not"),
                       ({"type": "loki", "endpoint": "http://l", "codec": "json"}, "destinations[0].codec: not for type loki"),
                       ({"type": "loki", "endpoint": "http://l", "auth": {"strategy": "bearer", "user": "x"}},
                        "destinations[0].auth.user: only for strategy basic"),
                       ({"address": "k:5140", "endpoint": "http://l"},
                        "destinations[0].endpoint: not for type socket (only for types loki, elasticsearch, logstash, "
                        "vector, splunk)")):
        try:
            ls.build([bad], [], PROFILE)
        except ls.LogShipperError as exc:
            assert exc.errors[0].startswith(error), exc.errors
        else:
            raise AssertionError(bad)
