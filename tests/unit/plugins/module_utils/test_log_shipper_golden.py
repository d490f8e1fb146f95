# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The five KUMA examples of the Deckhouse docs, each from a compact input, corrected; then one example of each
other destination type the served CRD has (Loki, Elasticsearch with Basic and AWS auth, Logstash, Vector, Splunk),
shaped like the examples of the log-shipper docs (deckhouse/deckhouse modules/460-log-shipper/docs/EXAMPLES.md).
The credentials in them are placeholders.

Regenerate the golden files after an intended change with UPDATE_GOLDEN=1.
"""

import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "log_shipper", "golden")
# The other destination types (not KUMA examples; bench/bench_kuma_apply.py reads only GOLDEN).
GOLDEN_DESTINATIONS = os.path.join(ROOT, "tests", "fixtures", "log_shipper", "destinations")

KUBELET_ONLY = [{"field": "userAgent", "operator": "Regex", "values": ["kubelet.*"]}]

# Compact inputs in the role's shape (kuma_log_shipper_destinations / kuma_log_shipper_sources).
EXAMPLES = {
    "01-udp-json": {
        "destinations": [{"address": "192.0.2.10:5140", "mode": "udp", "codec": "json"}],
        "sources": [{"name": "kuma-udp-json-audit"}],
    },
    "02-tcp-json": {
        "destinations": [{"address": "192.0.2.10:5141", "mode": "tcp", "codec": "json"}],
        "sources": [{"name": "kuma-tcp-json-audit"}],
    },
    "03-tcp-cef": {
        "destinations": [{"address": "192.0.2.10:5142", "codec": "cef", "cef": {"name": "d8", "severity": 1}}],
        # The kubelet-only filter is in the seed; here it is an explicit choice of the input.
        "sources": [{"name": "kuma-tcp-cef-kubelet-audit", "log_filter": KUBELET_ONLY}],
    },
    "04-tcp-syslog": {
        "destinations": [{"address": "192.0.2.10:5143", "codec": "syslog"}],
        "sources": [{"name": "kuma-tcp-syslog-kubelet-audit", "log_filter": KUBELET_ONLY}],
    },
    "05-kafka": {
        "destinations": [{"type": "kafka", "bootstrap_servers": ["kafka.example.com:9092"], "topic": "k8s-logs"}],
        "sources": [{"name": "kuma-kafka-kubelet-audit", "log_filter": KUBELET_ONLY}],
    },
}
DESTINATION_EXAMPLES = {
    "06-loki": {
        "destinations": [{"type": "loki", "endpoint": "http://loki.example.com:3100", "tenant_id": "audit",
                          "auth": {"strategy": "bearer", "token": "placeholder-token"}}],
        "sources": [{"name": "loki-audit"}],
    },
    "07-elasticsearch": {
        "destinations": [{"type": "elasticsearch", "endpoint": "https://es.example.com:9200", "index": "k8s-audit-%F",
                          "auth": {"user": "elastic", "password": "placeholder-password"},
                          "tls": {"verify_hostname": False}},
                         {"type": "elasticsearch", "name": "es-aws", "endpoint": "https://search.example.com",
                          "data_stream_enabled": True, "pipeline": "audit",
                          "auth": {"strategy": "aws", "aws_access_key": "placeholder-access-key",
                                   "aws_secret_key": "placeholder-secret-key", "aws_region": "eu-central-1"}}],
        "sources": [{"name": "elasticsearch-audit"}],
    },
    "08-logstash": {
        "destinations": [{"type": "logstash", "endpoint": "logstash.example.com:12345"}],
        "sources": [{"name": "logstash-audit"}],
    },
    "09-vector": {
        "destinations": [{"type": "vector", "endpoint": "vector.example.com:6000"}],
        "sources": [{"name": "vector-audit"}],
    },
    "10-splunk": {
        "destinations": [{"type": "splunk", "endpoint": "https://splunk.example.com:8088", "token": "placeholder-hec-token",
                          "index": "k8s_audit"}],
        "sources": [{"name": "splunk-audit", "log_filter": KUBELET_ONLY}],
    },
}
ALL_EXAMPLES = dict(EXAMPLES, **DESTINATION_EXAMPLES)


@pytest.fixture(scope="module")
def profile():
    return ls.resolve_profile("dkp-1.67")


def _render(name, profile):
    example = ALL_EXAMPLES[name]
    built = ls.build(example["destinations"], example["sources"], profile)
    header = ("# KUMA example %s, corrected (see docs/kuma.md)\n" % name if name in EXAMPLES else
              "# Destination example %s (see docs/destinations.md); credentials are placeholders\n" % name)
    # One document (a v1 List, which kubectl applies as is): ansible-test's yamllint allows no multi-document files.
    return header + ls.to_yaml({"apiVersion": "v1", "kind": "List", "items": built["objects"]}), built


@pytest.mark.parametrize("name", sorted(ALL_EXAMPLES))
def test_golden(name, profile):
    text, _built = _render(name, profile)
    where = GOLDEN if name in EXAMPLES else GOLDEN_DESTINATIONS
    path = os.path.join(where, name + ".yml")
    if os.environ.get("UPDATE_GOLDEN"):
        os.makedirs(where, exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    with open(path) as handle:
        assert handle.read() == text, "golden %s differs; rerun with UPDATE_GOLDEN=1 if the change is intended" % path


@pytest.mark.parametrize("name", sorted(ALL_EXAMPLES))
def test_golden_is_the_yaml_of_the_objects(name, profile):
    # The emitter is our own (no PyYAML on remote hosts): PyYAML must read back the same objects.
    text, built = _render(name, profile)
    assert yaml.safe_load(text)["items"] == built["objects"]


def _objects(name, profile):
    return _render(name, profile)[1]["objects"]


def test_cef_labels_are_spec_extra_labels_not_socket(profile):
    destination = _objects("03-tcp-cef", profile)[0]
    assert "extraLabels" not in destination["spec"]["socket"]
    assert destination["spec"]["extraLabels"] == {"cef.name": "d8", "cef.severity": "1"}


def test_the_seed_placement_of_extra_labels_is_refused(profile):
    # What the docs example does: the API server would silently prune socket.extraLabels.
    seed_like = {
        "apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination", "metadata": {"name": "kuma-tcp-cef"},
        "spec": {"type": "Socket", "socket": {"extraLabels": {"cef.name": "d8"}, "address": "192.0.2.10:5142",
                                               "mode": "TCP", "encoding": {"codec": "CEF"}}},
    }
    errors = ls.validate_object(seed_like, profile)
    assert len(errors) == 1 and errors[0].startswith("spec.socket.extraLabels: Unknown field")


def test_config_api_version_is_served(profile):
    seed_like = {"apiVersion": "deckhouse.io/v1alpha2", "kind": "ClusterLoggingConfig", "metadata": {"name": "a"},
                 "spec": {"type": "File", "file": {"include": [ls.DEFAULT_AUDIT_LOG]}, "destinationRefs": ["x"]}}
    assert ls.validate_object(seed_like, profile) == [
        'apiVersion: Unsupported value: "deckhouse.io/v1alpha2": the ClusterLoggingConfig CRD serves deckhouse.io/v1alpha1']
    for name in EXAMPLES:
        for obj in _objects(name, profile):
            assert obj["apiVersion"] == "deckhouse.io/v1alpha1"


def test_examples_can_be_applied_together(profile):
    # The seed reuses one ClusterLoggingConfig name, so applying two examples overwrites the first.
    names = [(obj["kind"], obj["metadata"]["name"]) for name in ALL_EXAMPLES for obj in _objects(name, profile)]
    assert len(names) == len(set(names)) == 21


def test_plaintext_tcp_has_no_tcp_block(profile):
    for name in ("02-tcp-json", "03-tcp-cef", "04-tcp-syslog"):
        socket = _objects(name, profile)[0]["spec"]["socket"]
        assert socket["mode"] == "TCP" and "tcp" not in socket


def test_kubelet_filter_only_when_asked(profile):
    for name in ALL_EXAMPLES:
        config = _objects(name, profile)[-1]
        wanted = ALL_EXAMPLES[name]["sources"][0].get("log_filter")
        assert config["spec"].get("logFilter") == wanted
    default = ls.build([{"address": "192.0.2.10:5141"}], None, profile)["objects"][1]
    assert "logFilter" not in default["spec"] and default["spec"]["file"] == {"include": ["/var/log/kube-audit/audit.log"]}


def test_golden_files_cover_exactly_the_examples():
    assert sorted(f[:-4] for f in os.listdir(GOLDEN) if f.endswith(".yml")) == sorted(EXAMPLES)
    assert sorted(f[:-4] for f in os.listdir(GOLDEN_DESTINATIONS) if f.endswith(".yml")) == sorted(DESTINATION_EXAMPLES)
