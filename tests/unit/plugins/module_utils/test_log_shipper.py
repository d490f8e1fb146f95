# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compact input -> ClusterLogDestination / ClusterLoggingConfig: building, input errors, profiles,
render and prune plans."""

import base64
import copy
import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_schema import SNAPSHOTS

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n-----END PRIVATE KEY-----\n"


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def profile():
    return ls.resolve_profile()


def errors_of(destinations, sources=None, profile=None, prefix="kuma_log_shipper_"):
    with pytest.raises(ls.LogShipperError) as info:
        ls.build(destinations, sources, profile or ls.resolve_profile(), prefix=prefix)
    return info.value.errors


def crds_with(mutate):
    crds = copy.deepcopy(SNAPSHOTS["dkp-1.67"]["crds"])
    mutate(dict((crd["spec"]["names"]["kind"], crd) for crd in crds))
    return crds


def destination_schema(crds):
    return crds["ClusterLogDestination"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# ---------------------------------------------------------------------------- profiles

def test_default_profile_is_named_and_says_so():
    profile = ls.resolve_profile()
    info = profile.as_dict()
    assert info["name"] == ls.DEFAULT_PROFILE and info["source"] == "named"
    assert "named profile 'dkp-1.67' (the default)" in info["notes"][0]
    assert info["api_versions"] == {"ClusterLogDestination": "deckhouse.io/v1alpha1",
                                    "ClusterLoggingConfig": "deckhouse.io/v1alpha1"}
    assert info["features"]["socket_tls_verify"] == "tcp"
    # The reserved-key CEL rule is understood, so nothing is left to the server alone.
    assert info["unchecked_rules"] == []


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ls.LogShipperError) as info:
        ls.resolve_profile("dkp-9.99")
    assert "unknown profile 'dkp-9.99'; known: dkp-1.67" in str(info.value)


def test_live_crds_win_over_a_named_profile():
    profile = ls.resolve_profile("dkp-1.67", crds=SNAPSHOTS["dkp-1.67"]["crds"])
    assert profile.source == "live"
    assert profile.notes[:2] == ["generated for the CRDs read from the cluster",
                                 "profile 'dkp-1.67' not used: the live CRDs take precedence"]


def test_missing_crds_mean_log_shipper_is_off():
    with pytest.raises(ls.LogShipperError) as info:
        ls.resolve_profile(crds=[])
    assert "clusterlogdestinations.deckhouse.io, clusterloggingconfigs.deckhouse.io not found" in str(info.value)
    assert "log-shipper module enabled" in str(info.value)


def test_live_crd_with_verify_flags_under_tls_puts_them_there():
    def move(crds):
        tcp = destination_schema(crds)["properties"]["spec"]["properties"]["socket"]["properties"]["tcp"]
        for flag in ("verifyCertificate", "verifyHostname"):
            tcp["properties"]["tls"]["properties"][flag] = tcp["properties"].pop(flag)
    profile = ls.resolve_profile(crds=crds_with(move))
    assert profile.features["socket_tls_verify"] == "tcp.tls"
    built = ls.build([{"address": "kuma:5141", "tls": {"ca": CA_PEM, "verify_hostname": False}}], [], profile)
    tcp = built["objects"][0]["spec"]["socket"]["tcp"]
    assert tcp == {"tls": {"caFile": b64(CA_PEM), "verifyHostname": False}}
    assert not any("no effect" in w for w in built["warnings"])


def test_january_2025_crd_keeps_verify_flags_beside_tls_and_warns(profile):
    built = ls.build([{"address": "kuma:5141", "tls": {"ca": CA_PEM, "verify_certificate": False}}], [], profile)
    tcp = built["objects"][0]["spec"]["socket"]["tcp"]
    assert tcp == {"tls": {"caFile": b64(CA_PEM)}, "verifyCertificate": False}
    assert any("no effect on this version" in w for w in built["warnings"])


def test_crd_without_verify_flags_refuses_them():
    def drop(crds):
        tcp = destination_schema(crds)["properties"]["spec"]["properties"]["socket"]["properties"]["tcp"]
        del tcp["properties"]["verifyCertificate"], tcp["properties"]["verifyHostname"]
    profile = ls.resolve_profile(crds=crds_with(drop))
    errors = errors_of([{"address": "kuma:5141", "tls": {"ca": CA_PEM, "verify_certificate": False}}], [], profile)
    assert errors == ["kuma_log_shipper_destinations[0].tls: this CRD version has no verify flags for socket destinations"]


def test_newer_served_version_only_is_used_and_noted():
    def v1alpha2_only(crds):
        for crd in crds.values():
            crd["spec"]["versions"][0]["name"] = "v1alpha2"
    profile = ls.resolve_profile(crds=crds_with(v1alpha2_only))
    assert profile.api_version("ClusterLoggingConfig") == "deckhouse.io/v1alpha2"
    assert any("none of v1alpha1 is served" in note for note in profile.notes)


def test_codecs_follow_the_crd_enum():
    def add_codec(crds):
        codec = destination_schema(crds)["properties"]["spec"]["properties"]["socket"]["properties"]["encoding"]
        codec["properties"]["codec"]["enum"].append("Protobuf")
    profile = ls.resolve_profile(crds=crds_with(add_codec))
    built = ls.build([{"address": "kuma:5141", "codec": "protobuf"}], [], profile)
    assert built["objects"][0]["spec"]["socket"]["encoding"] == {"codec": "Protobuf"}
    assert errors_of([{"address": "kuma:5141", "codec": "protobuf"}], []) == [
        'kuma_log_shipper_destinations[0].codec: unknown codec "protobuf"; this CRD accepts: text, json, syslog, cef, gelf']


# ---------------------------------------------------------------------------- destinations

def test_shortest_input_is_address_only(profile):
    built = ls.build([{"address": "kuma.example.com:5140"}], None, profile)
    destination, config = built["objects"]
    assert destination["metadata"]["name"] == "kuma-tcp-json"
    assert destination["spec"] == {"type": "Socket", "socket": {
        "address": "kuma.example.com:5140", "mode": "TCP", "encoding": {"codec": "JSON"}}}
    assert config["metadata"]["name"] == ls.DEFAULT_SOURCE_NAME
    assert config["spec"]["destinationRefs"] == ["kuma-tcp-json"]
    assert built["endpoints"] == [{"destination": "kuma-tcp-json", "address": "kuma.example.com:5140",
                                   "host": "kuma.example.com", "port": 5140, "protocol": "tcp"}]


def test_owner_labels(profile):
    obj = ls.build([{"address": "kuma:5140"}], [], profile, owner="team_a")["objects"][0]
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "auditops.deckhouse",
                                         "auditops.deckhouse/role": "team_a"}
    with pytest.raises(ls.LogShipperError):
        ls.build([{"address": "kuma:5140"}], [], profile, owner="not a label!")


@pytest.mark.parametrize("address, message", [
    ("kuma", 'missing port in "kuma"'),
    ("kuma:", 'missing port in "kuma:"'),
    ("kuma:99999", "port 99999 in \"kuma:99999\" is out of range 1-65535"),
    ("kuma:0", "out of range"),
    ("kuma:http", 'port "http" in "kuma:http" is not a number'),
    ("fe80::1:514", "must be written as '[address]:port'"),
    ("", "must not be empty"),
])
def test_bad_addresses_name_the_field(address, message):
    errors = errors_of([{"address": "192.0.2.1:514"}, {"name": "b", "address": address}])
    assert len(errors) == 1 and errors[0].startswith("kuma_log_shipper_destinations[1].address: ")
    assert message in errors[0]


def test_ipv6_address(profile):
    built = ls.build([{"address": "[2001:db8::1]:5140", "mode": "udp"}], [], profile)
    assert built["endpoints"][0]["host"] == "2001:db8::1" and built["endpoints"][0]["protocol"] == "udp"


def test_port_below_ten_fails_the_crd_pattern():
    errors = errors_of([{"address": "kuma:7"}])
    assert errors == ["kuma_log_shipper_destinations[0] (ClusterLogDestination/kuma-tcp-json): spec.socket.address: "
                      "Invalid value: \"kuma:7\": must match '^.*:[1-9][0-9]+$'"]


def test_codec_and_mode_spellings(profile):
    obj = ls.build([{"address": "kuma:5140", "mode": "UDP", "codec": "Syslog"}], [], profile)["objects"][0]
    assert obj["spec"]["socket"]["mode"] == "UDP" and obj["spec"]["socket"]["encoding"]["codec"] == "Syslog"
    assert errors_of([{"address": "kuma:5140", "mode": "sctp"}]) == [
        'kuma_log_shipper_destinations[0].mode: unknown mode "sctp"; this CRD accepts: tcp, udp']


def test_unknown_type_and_option():
    assert errors_of([{"type": "fluentd", "address": "x:10"}]) == [
        'kuma_log_shipper_destinations[0].type: unsupported destination type "fluentd"; supported: socket, kafka, loki, '
        'elasticsearch, logstash, vector, splunk']
    assert errors_of([{"address": "x:10", "adress": "y"}]) == [
        "kuma_log_shipper_destinations[0].adress: unknown option; expected one of: " + ", ".join(ls.DESTINATION_KEYS)]


def test_duplicate_destination_names():
    errors = errors_of([{"address": "a:5140"}, {"address": "b:5140"}])
    assert errors == ['kuma_log_shipper_destinations[1].name: destination name "kuma-tcp-json" is already used by '
                      "kuma_log_shipper_destinations[0]; names must be unique"]


def test_no_destination():
    assert errors_of([]) == ["kuma_log_shipper_destinations: define at least one destination"]


def test_cef_shorthand_and_extra_labels(profile):
    obj = ls.build([{"address": "kuma:5140", "codec": "cef", "cef": {"name": "d8", "severity": 3},
                     "extra_labels": {"team": "sec", "app_info": "{{ app }}", "debug": True}}], [], profile)["objects"][0]
    assert obj["spec"]["extraLabels"] == {"app_info": "{{ app }}", "cef.name": "d8", "cef.severity": "3",
                                          "debug": "true", "team": "sec"}
    assert list(obj["spec"]["extraLabels"]) == sorted(obj["spec"]["extraLabels"])


def test_cef_label_given_twice():
    assert errors_of([{"address": "kuma:5140", "codec": "cef", "cef": {"name": "d8"},
                       "extra_labels": {"cef.name": "x"}}]) == [
        "kuma_log_shipper_destinations[0].cef.name: also set as extra_labels[cef.name]; set it in one place"]


def test_cef_labels_with_another_codec_warn(profile):
    built = ls.build([{"address": "kuma:5140", "codec": "json", "cef": {"name": "d8"}}], [], profile)
    assert built["warnings"] == [
        "destinations[0].cef: CEF labels are only used by the CEF codec (codec is json)"]


def test_extra_label_values_and_reserved_keys_follow_the_crd():
    errors = errors_of([{"address": "kuma:5140", "cef": {"name": "Deckhouse Event"}, "codec": "cef",
                         "extra_labels": {"node": "n1"}}])
    assert len(errors) == 2
    assert errors[0].startswith("kuma_log_shipper_destinations[0] (ClusterLogDestination/kuma-tcp-cef): "
                                "spec.extraLabels[cef.name]: Invalid value: must validate at least one schema (anyOf)")
    assert errors[1].endswith("spec.extraLabels: Invalid value: using reserved keys in extraLabels (node)")


def test_tls_inline_base64_and_file(profile, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(CA_PEM)
    for given in (CA_PEM, b64(CA_PEM), str(ca_file)):
        obj = ls.build([{"address": "kuma:5141", "tls": {"ca": given}}], [], profile)["objects"][0]
        assert obj["spec"]["socket"]["tcp"] == {"tls": {"caFile": b64(CA_PEM)}}


def test_tls_client_certificate(profile):
    obj = ls.build([{"address": "kuma:5141", "tls": {"client_cert": CA_PEM, "client_key": KEY_PEM, "key_pass": "s3cret"}}],
                   [], profile)["objects"][0]
    assert obj["spec"]["socket"]["tcp"]["tls"]["clientCrt"] == {
        "crtFile": b64(CA_PEM), "keyFile": b64(KEY_PEM), "keyPass": b64("s3cret")}
    masked = ls.mask_secrets(obj)
    assert masked["spec"]["socket"]["tcp"]["tls"]["clientCrt"] == {"crtFile": b64(CA_PEM), "keyFile": ls.MASK, "keyPass": ls.MASK}
    assert ls.has_secrets(obj) and not ls.has_secrets(masked)


def test_tls_errors(tmp_path):
    errors = errors_of([{"address": "kuma:5141", "tls": {"client_cert": CA_PEM, "ca": str(tmp_path / "missing.pem")}},
                        {"name": "u", "address": "kuma:5141", "mode": "udp", "tls": {"ca": CA_PEM}},
                        {"name": "k", "address": "kuma:5141", "tls": {"client_key": CA_PEM, "client_cert": KEY_PEM}}])
    assert errors == [
        "kuma_log_shipper_destinations[0].tls.ca: expected inline PEM, base64-encoded PEM or the path of a readable PEM file",
        "kuma_log_shipper_destinations[0].tls.client_key: required when client_cert is set",
        "kuma_log_shipper_destinations[1].tls: TLS needs mode tcp",
        "kuma_log_shipper_destinations[2].tls.client_cert: expected a PEM certificate",
        "kuma_log_shipper_destinations[2].tls.client_key: expected a PEM private key",
    ]


def test_verify_flags_without_certificates_warn(profile):
    built = ls.build([{"address": "kuma:5141", "tls": {"verify_certificate": False}}], [], profile)
    assert any("enables TLS only when a CA or client certificate is given" in w for w in built["warnings"])


def test_kafka_full(profile):
    obj = ls.build([{"type": "kafka", "bootstrap_servers": ["k1:9092", "k2:9092"], "topic": "logs-{{ unit }}",
                     "codec": "cef", "key_field": "host", "cef": {"name": "d8"},
                     "sasl": {"mechanism": "scram_sha_512", "username": "u", "password": "p"},
                     "tls": {"ca": CA_PEM, "verify_hostname": False}}], [], profile)["objects"][0]
    assert obj["metadata"]["name"] == "kuma-kafka"
    assert obj["spec"] == {
        "type": "Kafka",
        "kafka": {"bootstrapServers": ["k1:9092", "k2:9092"], "topic": "logs-{{ unit }}", "encoding": {"codec": "CEF"},
                  "keyField": "host", "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"},
                  "tls": {"caFile": b64(CA_PEM), "verifyHostname": False}},
        "extraLabels": {"cef.name": "d8"},
    }


def test_kafka_errors():
    errors = errors_of([{"type": "kafka", "bootstrap_servers": ["k1"], "address": "x:10", "codec": "syslog",
                         "sasl": {"mechanism": "gssapi", "username": "u"}}])
    assert errors == [
        "kuma_log_shipper_destinations[0].address: only for type socket (Kafka uses bootstrap_servers)",
        "kuma_log_shipper_destinations[0].bootstrap_servers[0]: missing port in \"k1\": expected 'host:port'",
        "kuma_log_shipper_destinations[0].topic: required",
        'kuma_log_shipper_destinations[0].codec: unknown codec "syslog"; this CRD accepts: json, cef',
        'kuma_log_shipper_destinations[0].sasl.mechanism: unknown SASL mechanism "gssapi"; this CRD accepts: '
        "plain, scram-sha-256, scram-sha-512",
        "kuma_log_shipper_destinations[0].sasl.password: required",
    ]
    assert errors_of([{"type": "kafka", "topic": "t"}]) == [
        "kuma_log_shipper_destinations[0].bootstrap_servers: required: at least one 'host:port'"]


def test_socket_rejects_kafka_options():
    assert errors_of([{"address": "kuma:5140", "topic": "t"}]) == ["kuma_log_shipper_destinations[0].topic: only for type kafka"]


def test_rate_limit_and_buffers(profile):
    spec = {"address": "kuma:5140",
            "rate_limit": {"lines_per_minute": 600, "key_field": "host", "excludes": [{"field": "tier", "operator": "exists"}]},
            "buffer": {"type": "memory", "max_events": 1000, "when_full": "drop_newest"}}
    obj = ls.build([spec], [], profile)["objects"][0]
    assert obj["spec"]["rateLimit"] == {"linesPerMinute": 600, "keyField": "host",
                                        "excludes": [{"field": "tier", "operator": "Exists"}]}
    assert obj["spec"]["buffer"] == {"type": "Memory", "memory": {"maxEvents": 1000}, "whenFull": "DropNewest"}
    disk = ls.build([{"address": "kuma:5140", "buffer": {"type": "disk", "max_size": "1Gi"}}], [], profile)["objects"][0]
    # whenFull is always written (the server would default it), so the stored object equals ours.
    assert disk["spec"]["buffer"] == {"type": "Disk", "disk": {"maxSize": "1Gi"}, "whenFull": "Block"}


def test_rate_limit_and_buffer_errors():
    errors = errors_of([{"address": "kuma:5140", "rate_limit": {"key_field": "h"},
                         "buffer": {"type": "disk", "max_size": "100Mi", "max_events": 5}}])
    assert errors == [
        "kuma_log_shipper_destinations[0].rate_limit.lines_per_minute: required",
        "kuma_log_shipper_destinations[0].buffer.max_events: only for memory buffers",
        "kuma_log_shipper_destinations[0].buffer.max_size: log-shipper needs at least 268435488 bytes (~256Mi), got \"100Mi\"",
    ]
    errors = errors_of([{"address": "kuma:5140", "buffer": {"type": "disk", "max_size": "lots"}}])
    assert errors == ["kuma_log_shipper_destinations[0] (ClusterLogDestination/kuma-tcp-json): spec.buffer.disk.maxSize: "
                      "Invalid value: \"lots\": must match '%s'" % SNAPSHOTS["dkp-1.67"]["crds"][0]["spec"]["versions"][0][
                          "schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["buffer"]["properties"]["disk"][
                          "properties"]["maxSize"]["pattern"]]


@pytest.mark.parametrize("value, expected", [
    ("256Mi", 268435456), ("1Gi", 2 ** 30), ("268435488", 268435488), (268435488, 268435488), ("1G", 10 ** 9),
    ("1.5Gi", int(1.5 * 2 ** 30)), ("lots", None),
])
def test_quantity_bytes(value, expected):
    assert ls.quantity_bytes(value) == expected


# ---------------------------------------------------------------------------- sources

def test_file_source_options(profile):
    config = ls.build([{"address": "kuma:5140"}], [{
        "name": "audit", "include": ["/var/log/kube-audit/*.log"], "exclude": ["/var/log/kube-audit/old.log"],
        "line_delimiter": "\r\n",
        "label_filter": [{"field": "host", "operator": "not_in", "values": ["n1", 42, 1.5, False]}],
        "log_filter": [{"field": "verb", "operator": "In", "values": ["create"]},
                       {"field": "", "operator": "NotRegex", "values": ["^health"]}],
        "multiline_parser": {"type": "multiline_json"},
    }], profile)["objects"][1]
    assert config["spec"] == {
        "type": "File",
        "file": {"include": ["/var/log/kube-audit/*.log"], "exclude": ["/var/log/kube-audit/old.log"], "lineDelimiter": "\r\n"},
        "labelFilter": [{"field": "host", "operator": "NotIn", "values": ["n1", 42, "1.5", "false"]}],
        "logFilter": [{"field": "verb", "operator": "In", "values": ["create"]},
                      {"field": "", "operator": "NotRegex", "values": ["^health"]}],
        "multilineParser": {"type": "MultilineJSON"},
        "destinationRefs": ["kuma-tcp-json"],
    }


def test_pods_source(profile):
    config = ls.build([{"address": "kuma:5140"}], [{
        "name": "pods", "type": "kubernetes_pods", "keep_deleted_files_opened_for": "1h30m",
        "namespace_selector": {"label_selector": {"match_expressions": [{"key": "tier", "operator": "in", "values": ["prod"]}]}},
        "label_selector": {"match_labels": {"app": "web"}, "match_expressions": [{"key": "canary", "operator": "DoesNotExist"}]},
        "multiline_parser": {"type": "custom", "custom": {"starts_when": {"regex": "^\\["}}},
    }], profile)["objects"][1]
    assert config["spec"] == {
        "type": "KubernetesPods",
        "kubernetesPods": {
            "namespaceSelector": {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}},
            "labelSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]},
            "keepDeletedFilesOpenedFor": "1h30m",
        },
        "multilineParser": {"type": "Custom", "custom": {"startsWhen": {"regex": "^\\["}}},
        "destinationRefs": ["kuma-tcp-json"],
    }


def test_source_errors():
    errors = errors_of([{"address": "kuma:5140"}], [
        {"name": "a", "include": [], "namespace_selector": {"match_names": ["x"]}},
        {"name": "a", "type": "kubernetes_pods", "include": ["/x"],
         "namespace_selector": {"match_names": ["x"], "exclude_names": ["y"]},
         "log_filter": [{"field": "f", "operator": "Exists", "values": ["v"]}, {"field": "g", "operator": "Regex"},
                        {"operator": "In", "values": ["x"]}],
         "label_filter": [{"field": "", "operator": "In", "values": ["x"]}],
         "destinations": ["kuma-tcp-json", "kuma-udp", "kuma-tcp-json"]},
        {"name": "Bad_Name", "type": "journald"},
    ])
    assert errors == [
        "kuma_log_shipper_sources[0].namespace_selector: only for type kubernetes_pods",
        "kuma_log_shipper_sources[0].include: must list at least one path (an empty include reads nothing)",
        "kuma_log_shipper_sources[1].include: only for type file",
        "kuma_log_shipper_sources[1].namespace_selector: set exactly one of match_names, exclude_names, label_selector",
        "kuma_log_shipper_sources[1].label_filter[0].field: must not be empty",
        "kuma_log_shipper_sources[1].log_filter[0].values: must be empty for operator Exists",
        "kuma_log_shipper_sources[1].log_filter[1].values: required (at least one value) for operator Regex",
        "kuma_log_shipper_sources[1].log_filter[2].field: required",
        'kuma_log_shipper_sources[1].destinations[1]: unknown destination "kuma-udp"; defined: kuma-tcp-json',
        'kuma_log_shipper_sources[1].destinations[2]: destination "kuma-tcp-json" listed twice',
        'kuma_log_shipper_sources[1].name: source name "a" is already used by kuma_log_shipper_sources[0]; names must be unique',
        'kuma_log_shipper_sources[2].name: invalid object name "Bad_Name": lowercase letters, digits, \'-\' and \'.\', '
        "at most 253 characters",
        'kuma_log_shipper_sources[2].type: unsupported source type "journald"; supported: file, kubernetes_pods',
    ]


def test_keep_deleted_pattern_is_checked():
    errors = errors_of([{"address": "kuma:5140"}], [{"name": "p", "type": "kubernetes_pods",
                                                     "keep_deleted_files_opened_for": "2 days"}])
    assert errors == ["kuma_log_shipper_sources[0] (ClusterLoggingConfig/p): spec.kubernetesPods.keepDeletedFilesOpenedFor: "
                      "Invalid value: \"2 days\": must match '^([0-9]+h([0-9]+m)?|[0-9]+m)$'"]


def test_empty_sources_build_destinations_only(profile):
    assert [o["kind"] for o in ls.build([{"address": "kuma:5140"}], [], profile)["objects"]] == ["ClusterLogDestination"]


def test_single_object_api(profile):
    destination = ls.build_destination({"address": "kuma:5140", "mode": "udp"}, profile)
    assert destination["metadata"]["name"] == "kuma-udp-json"
    config = ls.build_logging_config({"name": "audit"}, profile, ["kuma-udp-json"])
    assert config["spec"]["destinationRefs"] == ["kuma-udp-json"]
    with pytest.raises(ls.LogShipperError) as info:
        ls.build_destination({"address": "kuma"}, profile, path="d[3]")
    assert info.value.errors == ["d[3].address: missing port in \"kuma\": expected 'host:port'"]


# ---------------------------------------------------------------------------- YAML, render, prune

@pytest.mark.parametrize("value", [
    "yes", "No", "null", "~", "1", "1.0", "0x1f", "1e3", "2024-01-01", "a: b", "- x", "#x", "x #y", "", " lead", "{a}",
    "[a]", "*ref", "&a", "!tag", "%x", "@x", "`x", "'q'", '"q"', "multi\nline", "tab\there", "ünï", "{{ app }}",
])
def test_yaml_scalars_round_trip(value):
    assert yaml.safe_load(ls.to_yaml({"k": value, value: [value]})) == {"k": value, value: [value]}


def test_yaml_nested_shapes_round_trip():
    obj = {"a": [{"b": [1, 2.5, True, None]}, [], {}, [[1, 2], {"c": "d"}]], "e": {}, "f": [], "g": {"h": {"i": "j"}}}
    assert yaml.safe_load(ls.to_yaml(obj)) == obj


def test_render_plan(tmp_path, profile):
    objects = ls.build([{"address": "kuma:5140"}], None, profile)["objects"]
    plan = ls.plan_render(str(tmp_path), objects)
    assert [(os.path.basename(p["path"]), p["action"]) for p in plan] == [
        ("clusterlogdestination-kuma-tcp-json.yml", "create"), ("clusterloggingconfig-kuma-kube-audit.yml", "create")]
    for item in plan:
        with open(item["path"], "w") as handle:
            handle.write(item["after"])
    assert {p["action"] for p in ls.plan_render(str(tmp_path), objects)} == {"unchanged"}
    # Stale own file is deleted; foreign files and files of another owner are left alone.
    stale = ls.build([{"address": "kuma:5140", "name": "old"}], [], profile)["objects"][0]
    other = ls.build([{"address": "kuma:5140", "name": "other"}], [], profile, owner="someone_else")["objects"][0]
    (tmp_path / "clusterlogdestination-old.yml").write_text(ls.to_yaml(stale))
    (tmp_path / "clusterlogdestination-other.yml").write_text(ls.to_yaml(other))
    (tmp_path / "clusterlogdestination-mine.yml").write_text("---\nkind: ClusterLogDestination\n")
    (tmp_path / "notes.txt").write_text(ls.to_yaml(stale))
    plan = ls.plan_render(str(tmp_path), objects)
    assert [(os.path.basename(p["path"]), p["action"]) for p in plan if p["action"] != "unchanged"] == [
        ("clusterlogdestination-old.yml", "delete")]
    assert all(p["action"] == "unchanged" for p in ls.plan_render(str(tmp_path), objects, prune=False))


def test_mask_yaml_text(profile):
    obj = ls.build([{"address": "kuma:5141", "tls": {"client_cert": CA_PEM, "client_key": KEY_PEM}}], [], profile)["objects"][0]
    text = ls.mask_yaml_text(ls.to_yaml(obj))
    assert b64(KEY_PEM) not in text and "keyFile: ********" in text and b64(CA_PEM) in text


def _live(obj, owned=True, owner=ls.DEFAULT_OWNER):
    live = copy.deepcopy(obj)
    live["metadata"]["resourceVersion"] = "42"
    if not owned:
        live["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "Helm"}
    else:
        live["metadata"]["labels"][ls.ROLE_LABEL] = owner
    return live


def test_plan_prune(profile):
    objects = ls.build([{"address": "kuma:5140"}], None, profile)["objects"]
    old = ls.build([{"address": "kuma:5140", "name": "old"}], [{"name": "old-src"}], profile)["objects"]
    hand = ls.build([{"address": "kuma:5140", "name": "by-hand"}], [], profile)["objects"][0]
    other = ls.build([{"address": "kuma:5140", "name": "team-b"}], [], profile)["objects"][0]
    existing = [_live(objects[0]), _live(old[0]), _live(old[1]), _live(hand, owned=False),
                _live(other, owner="team_b"), {"kind": "ConfigMap", "metadata": {"name": "old"}}]
    prune, foreign = ls.plan_prune(objects, existing)
    assert prune == [
        {"kind": "ClusterLoggingConfig", "api_version": "deckhouse.io/v1alpha1", "name": "old-src"},
        {"kind": "ClusterLogDestination", "api_version": "deckhouse.io/v1alpha1", "name": "old"},
    ]
    assert foreign == []
    prune, foreign = ls.plan_prune(objects, [_live(objects[1], owned=False)])
    assert prune == [] and foreign == [
        {"kind": "ClusterLoggingConfig", "api_version": "deckhouse.io/v1alpha1", "name": "kuma-kube-audit"}]


def test_label_selector():
    assert ls.label_selector("x") == "app.kubernetes.io/managed-by=auditops.deckhouse,auditops.deckhouse/role=x"
