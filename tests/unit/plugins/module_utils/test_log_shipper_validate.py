# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client-side CRD schema validator: messages and paths, CRD specifics, and agreement with
jsonschema on the parts both understand."""

import copy

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _openapi as oa


@pytest.fixture(scope="module")
def profile():
    return ls.resolve_profile("dkp-1.67")


def _destination(profile, **spec):
    base = {"address": "kuma:5140"}
    base.update(spec)
    return ls.build([base], [], profile)["objects"][0]


def _config(profile, **spec):
    base = {"name": "audit"}
    base.update(spec)
    return ls.build([{"address": "kuma:5140"}], [base], profile)["objects"][1]


# ---------------------------------------------------------------------------- generic keywords

SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {"type": "string", "enum": ["TCP", "UDP"]},
                "port": {"type": "integer", "minimum": 10, "maximum": 20},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 4},
                "list": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                "size": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "maybe": {"type": "string", "nullable": True},
            },
        },
    },
}


@pytest.mark.parametrize("spec, expected", [
    ({"mode": "TCP"}, []),
    ({"mode": "tcp"}, ['spec.mode: Unsupported value: "tcp": supported values: "TCP", "UDP"']),
    ({}, ["spec.mode: Required value"]),
    ({"mode": "TCP", "port": 9}, ["spec.port: Invalid value: 9: must be greater than or equal to 10"]),
    ({"mode": "TCP", "port": 21}, ["spec.port: Invalid value: 21: must be less than or equal to 20"]),
    ({"mode": "TCP", "port": "10"}, ["spec.port: Invalid value: string: must be of type integer"]),
    ({"mode": "TCP", "port": True}, ["spec.port: Invalid value: boolean: must be of type integer"]),
    ({"mode": "TCP", "ratio": 0}, ["spec.ratio: Invalid value: 0: must be greater than 0"]),
    ({"mode": "TCP", "ratio": 0.5}, []),
    ({"mode": "TCP", "name": "Ab"}, ["spec.name: Invalid value: \"Ab\": must match '^[a-z]+$'"]),
    ({"mode": "TCP", "name": "a"}, ['spec.name: Invalid value: "a": must be at least 2 characters long']),
    ({"mode": "TCP", "name": "abcde"}, ["spec.name: Too long: must have at most 4 characters"]),
    ({"mode": "TCP", "list": []}, ["spec.list: Invalid value: 0 items: must have at least 1 items"]),
    ({"mode": "TCP", "list": ["a", "b", "c"]}, ["spec.list: Too many: 3: must have at most 2 items"]),
    ({"mode": "TCP", "list": ["a", 1]}, ["spec.list[1]: Invalid value: integer: must be of type string"]),
    ({"mode": "TCP", "size": 5}, []),
    ({"mode": "TCP", "size": "5Gi"}, []),
    ({"mode": "TCP", "size": 1.5}, ["spec.size: Invalid value: number: must be an integer or a string"]),
    ({"mode": "TCP", "free": {"anything": {"goes": 1}}}, []),
    ({"mode": "TCP", "labels": {"a.b/c": "x", "n": 1}}, ["spec.labels[n]: Invalid value: integer: must be of type string"]),
    ({"mode": "TCP", "maybe": None}, []),
    ({"mode": "TCP", "port": None}, ["spec.port: Invalid value: null: must not be null"]),
    ({"mode": "TCP", "typo": 1}, ["spec.typo: Unknown field: not in the CRD schema (the API server would drop it silently)"]),
    ({"mode": "TCP", "a.b": 1}, ["spec[a.b]: Unknown field: not in the CRD schema (the API server would drop it silently)"]),
])
def test_keywords(spec, expected):
    assert ls.validate({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"}, "spec": spec}, SCHEMA) == expected


def test_root_requires_spec_and_ignores_object_meta():
    assert ls.validate({"apiVersion": "x/v1", "kind": "K", "metadata": {}, "status": {}}, SCHEMA) == ["spec: Required value"]
    assert ls.validate({"spec": {"mode": "TCP"}, "extra": 1}, SCHEMA) == [
        "extra: Unknown field: not in the CRD schema (the API server would drop it silently)"]


def test_junctor_branches_do_not_prune():
    # Branch schemas list only some properties; fields outside them are not "unknown".
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
              "oneOf": [{"properties": {"a": {"enum": ["x"]}}, "required": ["a"]},
                        {"properties": {"b": {}}, "required": ["b"]}]}
    assert ls.validate({"a": "x"}, schema, path="spec") == []
    assert ls.validate({"a": "x", "b": "y"}, schema, path="spec") == [
        "spec: Invalid value: must validate one and only one schema (oneOf); 2 match"]
    assert ls.validate({}, schema, path="spec") == [
        "spec: Invalid value: must validate one and only one schema (oneOf); closest: spec.a: Required value"]


def test_not_required_message():
    schema = {"type": "object", "properties": {"a": {}, "b": {}}, "not": {"required": ["a", "b"]}}
    assert ls.validate({"a": 1, "b": 2}, schema, path="spec") == ["spec: Forbidden: a and b must not be set together"]
    assert ls.validate({"a": 1}, schema, path="spec") == []


def test_additional_properties_false():
    schema = {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
    assert ls.validate({"b": 1}, schema, path="x") == ["x.b: Forbidden: additional properties are not allowed"]


def test_cel_forbidden_keys():
    assert oa.cel_forbidden_keys("!(['pod', \"node\"].exists(k, k in self))") == ["pod", "node"]
    assert oa.cel_forbidden_keys("self.size() < 3") is None
    schema = {"type": "object", "additionalProperties": {"type": "string"},
              "x-kubernetes-validations": [{"rule": "!(['pod'].exists(k, k in self))", "message": "reserved"},
                                           {"rule": "self.size() < 3", "message": "too many"}]}
    assert ls.validate({"pod": "a", "x": "b"}, schema, path="spec.extraLabels") == ["spec.extraLabels: Invalid value: reserved (pod)"]
    # Rules the client cannot evaluate are listed, not silently treated as checked.
    assert ls.unchecked_rules({"type": "object", "properties": {"spec": schema}}) == ["spec: self.size() < 3"]


def test_trim_schema_keeps_only_validation_keys():
    crd = {"spec": {"group": "deckhouse.io", "names": {"kind": "K", "plural": "ks"}, "scope": "Cluster", "versions": [
        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "description": "d", "x-doc-examples": [1], "properties": {
                "description": {"type": "string", "descriptions": "typo", "default": "x",
                                "x-kubernetes-validations": [{"rule": "r", "message": "m", "extra": 1}]}}}}}]}}
    trimmed = ls.trim_crd(crd)
    assert trimmed["spec"]["versions"][0]["schema"]["openAPIV3Schema"] == {
        "type": "object", "properties": {"description": {"type": "string", "default": "x",
                                                         "x-kubernetes-validations": [{"rule": "r", "message": "m"}]}}}


# ---------------------------------------------------------------------------- the real CRDs

def _mutate(obj, path, value):
    obj = copy.deepcopy(obj)
    node = obj
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is _DELETE:
        del node[keys[-1]]
    elif isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return obj


_DELETE = object()


def _cases(profile):
    socket = _destination(profile)
    kafka = _destination(profile, type="kafka", bootstrap_servers=["k:9092"], topic="t", address=None)
    buffered = _destination(profile, buffer={"type": "disk", "max_size": "1Gi"})
    config = _config(profile, log_filter=[{"field": "userAgent", "operator": "Regex", "values": ["kubelet.*"]}])
    pods = _config(profile, type="kubernetes_pods", include=None,
                   namespace_selector={"match_names": ["a"]}, multiline_parser={"type": "general"})
    return [
        ("valid socket", socket, None),
        ("valid kafka", kafka, None),
        ("valid buffer", buffered, None),
        ("valid file config", config, None),
        ("valid pods config", pods, None),
        ("mode lowercase", _mutate(socket, "spec.socket.mode", "tcp"), "spec.socket.mode: Unsupported value"),
        ("codec unknown", _mutate(socket, "spec.socket.encoding.codec", "XML"), "spec.socket.encoding.codec: Unsupported value"),
        ("address missing", _mutate(socket, "spec.socket.address", _DELETE), "spec.socket.address: Required value"),
        ("port 5", _mutate(socket, "spec.socket.address", "kuma:5"), "spec.socket.address: Invalid value"),
        ("type without block", _mutate(socket, "spec.type", "Kafka"), "spec: Invalid value: must validate one and only one"),
        ("socket block missing", _mutate(socket, "spec.socket", _DELETE), "closest: spec.socket: Required value"),
        ("label value with space", _mutate(socket, "spec.extraLabels", {"cef.name": "Deckhouse Event"}),
         "spec.extraLabels[cef.name]: Invalid value: must validate at least one schema (anyOf)"),
        ("template label", _mutate(socket, "spec.extraLabels", {"app": "{{ app }}"}), None),
        ("kafka topic missing", _mutate(kafka, "spec.kafka.topic", _DELETE), "spec.kafka.topic: Required value"),
        ("kafka bad server", _mutate(kafka, "spec.kafka.bootstrapServers", ["kafka"]), "spec.kafka.bootstrapServers[0]: Invalid value"),
        ("sasl incomplete", _mutate(kafka, "spec.kafka.sasl", {"mechanism": "PLAIN", "username": "u"}),
         "spec.kafka.sasl.password: Required value"),
        ("client cert without key", _mutate(kafka, "spec.kafka.tls", {"clientCrt": {"crtFile": "eA=="}}),
         "spec.kafka.tls.clientCrt.keyFile: Required value"),
        ("buffer with both blocks", _mutate(buffered, "spec.buffer.memory", {"maxEvents": 5}), "spec.buffer: Invalid value"),
        ("buffer bad quantity", _mutate(buffered, "spec.buffer.disk.maxSize", "1 GB"), "spec.buffer.disk.maxSize: Invalid value"),
        ("rate limit without lines", _mutate(socket, "spec.rateLimit", {"keyField": "host"}),
         "spec.rateLimit.linesPerMinute: Required value"),
        ("file type without file", _mutate(config, "spec.file", _DELETE), "closest: spec.file: Required value"),
        ("file and pods together", _mutate(config, "spec.kubernetesPods", {}), "spec: Forbidden: file and kubernetesPods"),
        ("exists with values", _mutate(config, "spec.logFilter.0", {"field": "a", "operator": "Exists", "values": ["x"]}),
         "spec.logFilter[0]: Invalid value: must validate one and only one schema (oneOf)"),
        ("regex with empty values", _mutate(config, "spec.logFilter.0.values", []), "spec.logFilter[0]: Invalid value"),
        ("bad operator", _mutate(config, "spec.logFilter.0.operator", "Like"), "spec.logFilter[0].operator: Unsupported value"),
        ("no destination refs", _mutate(config, "spec.destinationRefs", []), "spec.destinationRefs: Invalid value"),
        ("refs missing", _mutate(config, "spec.destinationRefs", _DELETE), "spec.destinationRefs: Required value"),
        ("empty label filter field", _mutate(config, "spec.labelFilter", [{"field": "", "operator": "Exists"}]),
         "spec.labelFilter[0].field: Invalid value"),
        ("custom parser without rules", _mutate(pods, "spec.multilineParser", {"type": "Custom"}), "spec.multilineParser: Invalid value"),
        ("two namespace selectors", _mutate(pods, "spec.kubernetesPods.namespaceSelector.excludeNames", ["b"]),
         "spec.kubernetesPods.namespaceSelector: Invalid value"),
        ("float in values", _mutate(config, "spec.logFilter.0.values", [1.5]), "spec.logFilter[0].values[0]: Invalid value"),
    ]


def test_real_crd_cases(profile):
    for label, obj, expected in _cases(profile):
        errors = ls.validate_object(obj, profile)
        if expected is None:
            assert errors == [], label
        else:
            assert any(e.startswith(expected) or expected in e for e in errors), (label, errors)


def test_defaults_apply_before_validation(profile):
    # Like the API server: whenFull has a default, so the buffer oneOf (which lists it as required) passes.
    buffered = _destination(profile, buffer={"type": "disk", "max_size": "1Gi"})
    assert ls.validate_object(_mutate(buffered, "spec.buffer.whenFull", _DELETE), profile) == []
    schema = {"type": "object", "properties": {"a": {"type": "string", "default": "x"}}, "required": ["a"],
              "oneOf": [{"properties": {"a": {"enum": ["x"]}}}]}
    assert ls.validate({}, schema, path="spec") == []
    assert ls.validate({"a": "y"}, schema, path="spec") == [
        'spec: Invalid value: must validate one and only one schema (oneOf); closest: spec.a: Unsupported value: "y": '
        'supported values: "x"']


def test_reserved_extra_label_keys(profile):
    obj = _mutate(_destination(profile), "spec.extraLabels", {"namespace": "x", "pod_ip": "y", "ok": "z"})
    assert ls.validate_object(obj, profile) == ["spec.extraLabels: Invalid value: using reserved keys in extraLabels (pod_ip, namespace)"]


def test_agrees_with_jsonschema(profile):
    # jsonschema knows neither pruning nor CEL, so compare verdicts on the other cases only.
    jsonschema = pytest.importorskip("jsonschema")
    for label, obj, expected in _cases(profile):
        schema = profile.schemas[obj["kind"]]
        body = dict((k, v) for k, v in obj.items() if k == "spec")
        theirs = jsonschema.Draft4Validator(schema).is_valid(body)
        ours = not ls.validate(body, schema)
        assert theirs == ours == (expected is None), label
