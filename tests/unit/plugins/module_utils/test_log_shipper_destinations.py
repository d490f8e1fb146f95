# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Elasticsearch, Logstash, Vector and Splunk destinations (issue 16 item 1), the fields only later CRDs
have (CEF device fields, transformations) and where secrets go (item 2).

Field names and encodings are those of the served CRD (the dkp-1.67 snapshot of
deckhouse/deckhouse modules/460-log-shipper/crds/cluster-log-destination.yaml): the Elasticsearch password and
AWS keys are "Base64-encoded", the Splunk token is given as is."""

import base64
import copy

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper_apply as apply
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_schema import SNAPSHOTS

KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n-----END PRIVATE KEY-----\n"
CRT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def profile():
    return ls.resolve_profile("dkp-1.67")


def errors_of(destinations, profile):
    with pytest.raises(ls.LogShipperError) as info:
        ls.build(destinations, [], profile)
    return info.value.errors


def spec_of(destination, profile):
    return ls.build([destination], [], profile)["objects"][0]["spec"]


def test_every_type_of_the_served_crd_is_built(profile):
    served = profile.enum("ClusterLogDestination", "spec.type")
    assert sorted(t.lower() for t in served) == sorted(ls.DESTINATION_TYPES)


def test_elasticsearch_basic(profile):
    spec = spec_of({"type": "elasticsearch", "endpoint": "https://es:9200", "index": "k8s-%F", "pipeline": "p",
                    "doc_type": "_doc", "data_stream_enabled": False, "auth": {"user": "elastic", "password": "pw"},
                    "tls": {"ca": CRT_PEM, "verify_certificate": False}}, profile)
    assert spec == {"type": "Elasticsearch", "elasticsearch": {
        "endpoint": "https://es:9200", "index": "k8s-%F", "pipeline": "p", "docType": "_doc", "dataStreamEnabled": False,
        "auth": {"strategy": "Basic", "user": "elastic", "password": b64("pw")},
        "tls": {"caFile": b64(CRT_PEM), "verifyCertificate": False}}}


def test_elasticsearch_aws(profile):
    spec = spec_of({"type": "elasticsearch", "endpoint": "https://es", "auth": {
        "strategy": "AWS", "aws_access_key": "AK", "aws_secret_key": "SK", "aws_region": "eu-west-1",
        "aws_assume_role": "arn:aws:iam::1:role/r"}}, profile)
    assert spec["elasticsearch"]["auth"] == {"strategy": "AWS", "awsAccessKey": b64("AK"), "awsSecretKey": b64("SK"),
                                             "awsAssumeRole": "arn:aws:iam::1:role/r", "awsRegion": "eu-west-1"}


def test_elasticsearch_errors(profile):
    assert errors_of([{"type": "elasticsearch"}], profile) == ["destinations[0].endpoint: required"]
    assert errors_of([{"type": "elasticsearch", "endpoint": "https://e", "auth": {"strategy": "aws", "user": "u"}}],
                     profile) == ["destinations[0].auth.user: only for strategy basic",
                                  "destinations[0].auth.aws_access_key: required",
                                  "destinations[0].auth.aws_secret_key: required"]
    basic_with_region = {"type": "elasticsearch", "endpoint": "https://e",
                         "auth": {"user": "u", "password": "p", "aws_region": "r"}}
    assert errors_of([basic_with_region], profile) == ["destinations[0].auth.aws_region: only for strategy aws"]
    assert errors_of([{"type": "elasticsearch", "endpoint": "https://e", "auth": {"strategy": "kerberos"}}], profile) == [
        'destinations[0].auth.strategy: unknown auth strategy "kerberos"; this CRD accepts: basic, aws']
    assert errors_of([{"type": "elasticsearch", "endpoint": "https://e", "auth": {"token": "t"}}], profile)[0].startswith(
        "destinations[0].auth.token: unknown option; expected one of: strategy, user, password, aws_access_key")
    assert errors_of([{"type": "elasticsearch", "endpoint": "es:9200"}], profile) == [
        'destinations[0].endpoint: "es:9200" is not an http:// or https:// URL with a host']


def test_logstash_and_vector_take_host_port(profile):
    assert spec_of({"type": "logstash", "endpoint": "logstash:12345"}, profile) == {
        "type": "Logstash", "logstash": {"endpoint": "logstash:12345"}}
    assert spec_of({"type": "vector", "endpoint": "[::1]:6000", "tls": {"verify_hostname": False}}, profile) == {
        "type": "Vector", "vector": {"endpoint": "[::1]:6000", "tls": {"verifyHostname": False}}}
    for dtype in ("logstash", "vector"):
        assert errors_of([{"type": dtype, "endpoint": "http://v:6000"}], profile) == [
            "destinations[0].endpoint: \"http://v:6000\": expected 'host:port' without a scheme"]
        assert errors_of([{"type": dtype, "endpoint": "v"}], profile) == [
            "destinations[0].endpoint: missing port in \"v\": expected 'host:port'"]


def test_splunk(profile):
    spec = spec_of({"type": "splunk", "endpoint": "https://splunk:8088", "token": "hec", "index": "logs"}, profile)
    assert spec == {"type": "Splunk", "splunk": {"endpoint": "https://splunk:8088", "token": "hec", "index": "logs"}}
    assert errors_of([{"type": "splunk", "endpoint": "https://s"}], profile) == ["destinations[0].token: required"]


def test_options_of_other_types_are_refused_by_name(profile):
    assert errors_of([{"type": "logstash", "endpoint": "l:5000", "index": "x", "topic": "t"}], profile) == [
        "destinations[0].topic: only for type kafka",
        "destinations[0].index: not for type logstash (only for types elasticsearch, splunk)"]
    assert errors_of([{"type": "splunk", "endpoint": "https://s", "token": "t", "codec": "json"}], profile) == [
        "destinations[0].codec: not for type splunk (only for types socket, kafka)"]


def test_default_names_and_endpoints(profile):
    destinations = [{"type": "elasticsearch", "endpoint": "https://es"}, {"type": "logstash", "endpoint": "l:5044"},
                    {"type": "vector", "endpoint": "v:6000"}, {"type": "splunk", "endpoint": "http://s:8088", "token": "t"}]
    built = ls.build(destinations, None, profile)
    assert [o["metadata"]["name"] for o in built["objects"][:4]] == [
        "kuma-elasticsearch", "kuma-logstash", "kuma-vector", "kuma-splunk"]
    # The reachability check reads the input before building: the same endpoints either way.
    assert ls.endpoints(destinations) == built["endpoints"] == [
        {"destination": "kuma-elasticsearch", "address": "https://es", "host": "es", "port": 443, "protocol": "tcp"},
        {"destination": "kuma-logstash", "address": "l:5044", "host": "l", "port": 5044, "protocol": "tcp"},
        {"destination": "kuma-vector", "address": "v:6000", "host": "v", "port": 6000, "protocol": "tcp"},
        {"destination": "kuma-splunk", "address": "http://s:8088", "host": "s", "port": 8088, "protocol": "tcp"}]


def test_secrets_are_masked_and_warned_about_by_field(profile):
    built = ls.build([
        {"type": "elasticsearch", "endpoint": "https://es",
         "auth": {"strategy": "aws", "aws_access_key": "AKIA1", "aws_secret_key": "s3cr3t-aws"},
         "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM, "key_pass": "kp"}},
        {"type": "splunk", "endpoint": "https://s", "token": "hec-token-1"},
        {"type": "vector", "endpoint": "v:6000", "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM}},
    ], [], profile)
    masked = [ls.mask_secrets(o) for o in built["objects"]]
    assert masked[0]["spec"]["elasticsearch"]["auth"] == {"strategy": "AWS", "awsAccessKey": ls.MASK,
                                                          "awsSecretKey": ls.MASK}
    assert masked[0]["spec"]["elasticsearch"]["tls"]["clientCrt"]["keyFile"] == ls.MASK
    assert masked[1]["spec"]["splunk"]["token"] == ls.MASK
    text = "".join(ls.to_yaml(o) for o in built["objects"])
    shown = apply.Scrubber(built["objects"]).text(text + " AKIA1 s3cr3t-aws kp hec-token-1")
    for secret in ("AKIA1", "s3cr3t-aws", b64("s3cr3t-aws"), "hec-token-1", b64("kp"), b64(KEY_PEM)):
        assert secret not in shown and secret not in ls.mask_yaml_text(text), secret
    warnings = built["warnings"]
    assert [w.split(":")[0] for w in warnings] == ["destinations[0].tls", "destinations[0].auth", "destinations[1].token",
                                                   "destinations[2].tls"]
    assert "spec.elasticsearch.tls.clientCrt.keyFile, spec.elasticsearch.tls.clientCrt.keyPass" in warnings[0]
    assert "no tls.secretRef" in warnings[0]
    assert "spec.elasticsearch.auth.awsAccessKey, spec.elasticsearch.auth.awsSecretKey" in warnings[1]
    assert "spec.splunk.token (the HEC token) is stored inline" in warnings[2]
    assert all("readable by anyone allowed to get or list clusterlogdestinations.deckhouse.io" in w for w in warnings)


# ---------------------------------------------------------------------------- fields of later CRDs

def _profile_with(mutate):
    crds = copy.deepcopy(SNAPSHOTS["dkp-1.67"]["crds"])
    for crd in crds:
        if crd["spec"]["names"]["kind"] == "ClusterLogDestination":
            mutate(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])
    return ls.resolve_profile(crds=crds)


def test_v1alpha2_fields_are_refused_on_the_served_crd(profile):
    errors = errors_of([{"address": "k:5140", "codec": "cef", "cef": {"device_vendor": "Deckhouse", "device_product": "d8"},
                         "transformations": [{"action": "DropLabels", "dropLabels": {"labels": ["x"]}}]}], profile)
    assert errors == [
        "destinations[0].cef.device_vendor: the served ClusterLogDestination CRD (deckhouse.io/v1alpha1, profile "
        "dkp-1.67) has no spec.socket.encoding.cef.deviceVendor (CEF device fields came with a later log-shipper CRD); "
        "remove it, or apply to a cluster whose CRD serves it",
        "destinations[0].cef.device_product: the served ClusterLogDestination CRD (deckhouse.io/v1alpha1, profile "
        "dkp-1.67) has no spec.socket.encoding.cef.deviceProduct (CEF device fields came with a later log-shipper CRD); "
        "remove it, or apply to a cluster whose CRD serves it",
        "destinations[0].transformations: the served ClusterLogDestination CRD (deckhouse.io/v1alpha1, profile "
        "dkp-1.67) has no spec.transformations (log transformations came with a later log-shipper CRD); remove it, or "
        "apply to a cluster whose CRD serves it"]


def test_later_fields_follow_the_served_schema():
    """Where the served schema has the nodes, the values go there and that schema validates them. The nodes are
    added to a copy of the snapshot here: no published CRD file with them was available (docs/destinations.md)."""
    def mutate(props):
        props["socket"]["properties"]["encoding"]["properties"]["cef"] = {
            "type": "object", "properties": {"deviceVendor": {"type": "string"}}}
        props["transformations"] = {"type": "array", "items": {"type": "object", "required": ["action"],
                                                               "properties": {"action": {"type": "string"}}}}
    live = _profile_with(mutate)
    spec = ls.build([{"address": "k:5140", "codec": "cef", "cef": {"device_vendor": "Deckhouse"},
                      "transformations": [{"action": "DropLabels"}]}], [], live)["objects"][0]["spec"]
    assert spec["socket"]["encoding"] == {"codec": "CEF", "cef": {"deviceVendor": "Deckhouse"}}
    assert spec["transformations"] == [{"action": "DropLabels"}]
    with pytest.raises(ls.LogShipperError) as info:
        ls.build([{"address": "k:5140", "transformations": [{"actoin": "DropLabels"}]}], [], live)
    assert any("spec.transformations[0]" in e for e in info.value.errors), info.value.errors


def test_a_type_the_served_crd_does_not_list_is_refused():
    def mutate(props):
        props["type"]["enum"] = [t for t in props["type"]["enum"] if t != "Splunk"]
    errors = errors_of([{"type": "splunk", "endpoint": "https://s", "token": "t"}], _profile_with(mutate))
    assert errors[0].startswith("destinations[0].type: the served ClusterLogDestination CRD (deckhouse.io/v1alpha1, "
                                "profile live) does not accept type Splunk; it accepts: Loki, Elasticsearch")


def test_secret_ref_in_a_served_crd_is_named_not_used():
    def mutate(props):
        props["vector"]["properties"]["tls"]["properties"]["secretRef"] = {
            "type": "object", "properties": {"name": {"type": "string"}}}
    built = ls.build([{"type": "vector", "endpoint": "v:6000", "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM}}],
                     [], _profile_with(mutate))
    assert "declares spec.vector.tls.secretRef, but this release does not write Secret references" in built["warnings"][0]
    assert built["objects"][0]["spec"]["vector"]["tls"]["clientCrt"]["keyFile"] == b64(KEY_PEM)
