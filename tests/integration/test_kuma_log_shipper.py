# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kuma_log_shipper role end to end against the real kube-apiserver with the Deckhouse CRDs.

Each test uses its own owner label value and object names, so tests sharing the session cluster
cannot prune or collide with each other.
"""

import copy
import json
import os
import socket
import subprocess
import sys

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.tests.integration._role_run import RoleRun

pytestmark = pytest.mark.cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "kuma_log_shipper.yml")
PLURALS = {"ClusterLogDestination": "clusterlogdestinations", "ClusterLoggingConfig": "clusterloggingconfigs"}
KUBELET_ONLY = [{"field": "userAgent", "operator": "Regex", "values": ["kubelet.*"]}]


class Run(RoleRun):
    """A kuma_log_shipper run: the first failure is the one that stopped the role."""

    def failure(self):
        for _name, result in self.tasks():
            if result.get("failed"):
                items = [r for r in result.get("results", []) if r.get("failed")]
                return (items[0] if items else result).get("msg", "")
        return ""

    def warnings(self):
        found = []
        for _name, result in self.tasks():
            found.extend(result.get("warnings", []))
        return found


@pytest.fixture
def run_role(ansible_env, k8s_cluster, tmp_path):
    env = dict(ansible_env)
    # The kubeconfig reaches kubernetes.core through the role variable, not the environment.
    env.pop("K8S_AUTH_KUBECONFIG", None)
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(ROOT, ".collections")
    counter = [0]

    def run(variables, check=False, diff=False, kubeconfig=True):
        variables = dict(variables)
        if kubeconfig:
            variables.setdefault("kuma_log_shipper_kubeconfig", k8s_cluster.kubeconfig)
        counter[0] += 1
        vars_file = tmp_path / ("vars-%d.json" % counter[0])
        vars_file.write_text(json.dumps(variables))
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK, "-i", "localhost,",
               "-e", "@%s" % vars_file]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        return Run(subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  check=False))
    return run


@pytest.fixture(scope="module")
def kuma_listener():
    """A TCP port that accepts connections, standing in for KUMA and Kafka in the preflight."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def get(cluster, kind, name):
    status, body = cluster.api.request("GET", "/apis/deckhouse.io/v1alpha1/%s/%s" % (PLURALS[kind], name))
    return body if status == 200 else None


def create(cluster, obj):
    status, body = cluster.api.request("POST", "/apis/deckhouse.io/v1alpha1/%s" % PLURALS[obj["kind"]], obj)
    assert status == 201, body
    return body


def is_subset(small, big):
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and is_subset(v, big[k]) for k, v in small.items())
    return small == big


def live_profile(cluster):
    crds = [cluster.api.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)[1]
            for name in ls.CRD_NAMES.values()]
    return ls.resolve_profile(crds=crds)


def all_transports(k8s_cluster, port, owner):
    address = "127.0.0.1:%d" % port
    return {
        "kuma_log_shipper_owner": owner,
        "kuma_log_shipper_destinations": [
            {"name": "it-udp-json", "address": "127.0.0.1:5140", "mode": "udp", "codec": "json"},
            {"name": "it-tcp-json", "address": address},
            {"name": "it-tcp-cef", "address": address, "codec": "cef", "cef": {"name": "d8", "severity": 1},
             "tls": {"ca": k8s_cluster.ca_file, "client_cert": k8s_cluster.client_cert,
                     "client_key": k8s_cluster.client_key, "key_pass": "unused"}},
            {"name": "it-tcp-syslog", "address": address, "codec": "syslog",
             "extra_labels": {"syslog.severity": "alert", "syslog.message_id": "{{ '{{ auditID }}' }}"},
             "rate_limit": {"lines_per_minute": 6000, "excludes": [{"field": "verb", "operator": "In", "values": ["get"]}]},
             "buffer": {"type": "memory", "max_events": 5000}},
            {"name": "it-kafka", "type": "kafka", "bootstrap_servers": [address], "topic": "k8s-audit", "codec": "cef",
             "key_field": "host", "sasl": {"mechanism": "scram-sha-512", "username": "shipper", "password": "s3cret"},
             "tls": {"ca": k8s_cluster.ca_file, "verify_hostname": False},
             "buffer": {"type": "disk", "max_size": "1Gi", "when_full": "drop_newest"}},
        ],
        "kuma_log_shipper_sources": [
            {"name": "it-audit"},
            {"name": "it-kubelet-audit", "log_filter": KUBELET_ONLY, "destinations": ["it-tcp-cef"]},
            {"name": "it-pods", "type": "kubernetes_pods", "namespace_selector": {"match_names": ["kube-system"]},
             "label_filter": [{"field": "container", "operator": "Exists"}], "multiline_parser": {"type": "general"},
             "destinations": ["it-kafka"]},
        ],
    }


def built_objects(cluster, variables):
    destinations = copy.deepcopy(variables["kuma_log_shipper_destinations"])
    for destination in destinations:
        destination.pop("extra_labels", None)  # Jinja-quoted values only make sense after Ansible templating
    return ls.build(destinations, variables["kuma_log_shipper_sources"], live_profile(cluster),
                    owner=variables["kuma_log_shipper_owner"])["objects"]


def test_apply_all_transports_then_idempotent_then_check_mode(k8s_cluster, run_role, kuma_listener):
    variables = all_transports(k8s_cluster, kuma_listener, "it_all")
    first = run_role(variables, diff=True)
    assert first.rc == 0, first
    assert first.stats["changed"] >= 1 and first.stats["failures"] == 0
    assert any("PKCS#8" in w for w in first.warnings())  # the harness key is PKCS#1
    applied = first.result("Apply the objects (server-side apply)")
    assert len(applied["results"]) == 8 and all(r["changed"] for r in applied["results"])
    udp = first.result("Report UDP endpoints as unverifiable")
    assert [r["msg"] for r in udp["results"]][0].startswith("it-udp-json sends to 127.0.0.1:5140 over UDP")

    expected = first.result("Check ownership and plan pruning")["objects"]
    assert [o["metadata"]["name"] for o in expected] == [o["metadata"]["name"] for o in built_objects(k8s_cluster, variables)]
    # Ansible templated the Jinja literal into the Vector template log-shipper expects.
    assert expected[3]["spec"]["extraLabels"]["syslog.message_id"] == "{{ auditID }}"
    stored = {}
    for obj in expected:
        live = get(k8s_cluster, obj["kind"], obj["metadata"]["name"])
        assert live is not None, obj["metadata"]["name"]
        # The server adds defaults (e.g. tcp.verify*: true); everything we sent must be there unchanged.
        assert is_subset(obj["spec"], live["spec"]), (obj, live)
        assert live["metadata"]["labels"] == obj["metadata"]["labels"]
        assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["auditops-deckhouse"]
        stored[(obj["kind"], obj["metadata"]["name"])] = live["metadata"]["resourceVersion"]

    second = run_role(variables)
    assert second.rc == 0, second
    assert second.stats["changed"] == 0, second

    # Check mode: a changed address, a new destination and a dropped source change nothing.
    changed = copy.deepcopy(variables)
    changed["kuma_log_shipper_destinations"][1]["address"] = "127.0.0.1:%d" % kuma_listener
    changed["kuma_log_shipper_destinations"][1]["codec"] = "gelf"
    changed["kuma_log_shipper_destinations"].append({"name": "it-new", "address": "127.0.0.1:5199", "mode": "udp"})
    changed["kuma_log_shipper_sources"] = changed["kuma_log_shipper_sources"][:2]
    check = run_role(changed, check=True, diff=True)
    assert check.rc == 0, check
    assert check.stats["changed"] == 2, check  # tasks: apply and prune
    dry = check.result("Apply the objects (server-side apply)")["results"]
    # it-audit sends to every destination, so it gains it-new.
    assert sorted(r["item"]["metadata"]["name"] for r in dry if r["changed"]) == ["it-audit", "it-new", "it-tcp-json"]
    gelf = [r for r in dry if r["item"]["metadata"]["name"] == "it-tcp-json"][0]
    assert gelf["diff"]["after"]["spec"]["socket"]["encoding"]["codec"] == "GELF"
    planned = check.result("Delete objects this role created that are no longer in the input")
    assert [r["item"]["name"] for r in planned["results"]] == ["it-pods"]
    assert get(k8s_cluster, "ClusterLogDestination", "it-new") is None
    for (kind, name), version in stored.items():
        assert get(k8s_cluster, kind, name)["metadata"]["resourceVersion"] == version, name


def test_prune_removes_only_owned_objects(k8s_cluster, run_role, kuma_listener):
    address = "127.0.0.1:%d" % kuma_listener
    base = {"kuma_log_shipper_owner": "it_prune", "kuma_log_shipper_sources": [{"name": "it-p-audit"}]}
    both = dict(base, kuma_log_shipper_destinations=[{"name": "it-p-a", "address": address},
                                                     {"name": "it-p-b", "address": address}])
    assert run_role(both).rc == 0
    # An object nobody labelled and one owned by another role instance.
    create(k8s_cluster, {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination",
                         "metadata": {"name": "it-p-hand"},
                         "spec": {"type": "Socket", "socket": {"address": address, "mode": "TCP"}}})
    other = ls.build([{"name": "it-p-other", "address": address}], [], live_profile(k8s_cluster), owner="someone_else")
    create(k8s_cluster, other["objects"][0])

    only_a = dict(base, kuma_log_shipper_destinations=[{"name": "it-p-a", "address": address}])
    kept = run_role(dict(only_a, kuma_log_shipper_prune=False))
    assert kept.rc == 0, kept
    assert get(k8s_cluster, "ClusterLogDestination", "it-p-b") is not None
    assert get(k8s_cluster, "ClusterLoggingConfig", "it-p-audit")["spec"]["destinationRefs"] == ["it-p-a"]

    pruned = run_role(only_a)
    assert pruned.rc == 0, pruned
    assert get(k8s_cluster, "ClusterLogDestination", "it-p-b") is None
    for name in ("it-p-a", "it-p-hand", "it-p-other"):
        assert get(k8s_cluster, "ClusterLogDestination", name) is not None, name
    again = run_role(only_a)
    assert again.rc == 0 and again.stats["changed"] == 0, again


def test_foreign_object_with_the_same_name_is_not_taken_over(k8s_cluster, run_role, kuma_listener):
    address = "127.0.0.1:%d" % kuma_listener
    hand = create(k8s_cluster, {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ClusterLogDestination",
                                "metadata": {"name": "it-f-taken"},
                                "spec": {"type": "Socket", "socket": {"address": address, "mode": "UDP"}}})
    variables = {"kuma_log_shipper_owner": "it_foreign", "kuma_log_shipper_sources": [{"name": "it-f-audit"}],
                 "kuma_log_shipper_destinations": [{"name": "it-f-taken", "address": address}]}
    run = run_role(variables)
    assert run.rc != 0
    assert "ClusterLogDestination/it-f-taken already exist(s) without the labels" in run.failure(), run
    live = get(k8s_cluster, "ClusterLogDestination", "it-f-taken")
    assert live["metadata"]["resourceVersion"] == hand["metadata"]["resourceVersion"]
    assert get(k8s_cluster, "ClusterLoggingConfig", "it-f-audit") is None

    adopted = run_role(dict(variables, kuma_log_shipper_adopt=True))
    assert adopted.rc == 0, adopted
    assert get(k8s_cluster, "ClusterLogDestination", "it-f-taken")["metadata"]["labels"][ls.ROLE_LABEL] == "it_foreign"


def test_bad_input_fails_before_anything_is_touched(k8s_cluster, run_role, kuma_listener):
    variables = {"kuma_log_shipper_owner": "it_bad", "kuma_log_shipper_sources": [{"name": "it-b-audit"}],
                 "kuma_log_shipper_destinations": [{"name": "it-b-ok", "address": "127.0.0.1:%d" % kuma_listener},
                                                   {"name": "it-b-bad", "address": "kuma.example.com"},
                                                   {"name": "it-b-kafka", "type": "kafka", "bootstrap_servers": ["k:9092"]}]}
    run = run_role(variables)
    assert run.rc != 0
    message = run.failure()
    assert "kuma_log_shipper_destinations[1].address: missing port" in message, message
    assert "kuma_log_shipper_destinations[2].topic: required" in message, message
    assert get(k8s_cluster, "ClusterLogDestination", "it-b-ok") is None


def test_preflight_stops_on_a_closed_tcp_endpoint(k8s_cluster, run_role):
    port = closed_port()
    variables = {"kuma_log_shipper_owner": "it_pre", "kuma_log_shipper_sources": [{"name": "it-pre-audit"}],
                 "kuma_log_shipper_preflight_timeout": 1,
                 "kuma_log_shipper_destinations": [{"name": "it-pre-tcp", "address": "127.0.0.1:%d" % port}]}
    run = run_role(variables)
    assert run.rc != 0
    assert "it-pre-tcp: 127.0.0.1:%d does not accept TCP connections" % port in run.failure(), run
    assert get(k8s_cluster, "ClusterLogDestination", "it-pre-tcp") is None
    skipped = run_role(dict(variables, kuma_log_shipper_preflight=False))
    assert skipped.rc == 0, skipped
    assert get(k8s_cluster, "ClusterLogDestination", "it-pre-tcp") is not None


def test_render_mode_needs_no_cluster(k8s_cluster, run_role, tmp_path):
    out = tmp_path / "gitops"
    variables = {"kuma_log_shipper_render_dir": str(out), "kuma_log_shipper_owner": "it_render",
                 "kuma_log_shipper_kubeconfig": str(tmp_path / "no-such-kubeconfig"),
                 "kuma_log_shipper_destinations": [{"name": "it-r-tcp", "address": "127.0.0.1:%d" % closed_port()}]}
    first = run_role(variables)
    assert first.rc == 0, first
    assert sorted(os.listdir(str(out))) == ["clusterlogdestination-it-r-tcp.yml", "clusterloggingconfig-kuma-kube-audit.yml"]
    content = (out / "clusterlogdestination-it-r-tcp.yml").read_text()
    assert run_role(variables).stats["changed"] == 0
    assert (out / "clusterlogdestination-it-r-tcp.yml").read_text() == content
    assert get(k8s_cluster, "ClusterLogDestination", "it-r-tcp") is None
    rendered = first.result("Render the log-shipper manifests (render mode, nothing is applied)")
    assert rendered["profile"]["name"] == "dkp-1.67" and rendered["profile"]["source"] == "named"


def _invalid_cases(profile):
    socket = ls.build([{"name": "it-v-sock", "address": "kuma:5140", "codec": "cef"}], [], profile)["objects"][0]
    kafka = ls.build([{"name": "it-v-kafka", "type": "kafka", "bootstrap_servers": ["k:9092"], "topic": "t"}], [],
                     profile)["objects"][0]
    config = ls.build([{"name": "it-v-sock", "address": "kuma:5140"}],
                      [{"name": "it-v-src", "log_filter": KUBELET_ONLY}], profile)["objects"][1]

    def to_pods(spec):
        del spec["file"]
        spec.update(type="KubernetesPods", kubernetesPods={"keepDeletedFilesOpenedFor": "2 days"})

    def change(obj, mutate):
        obj = copy.deepcopy(obj)
        mutate(obj["spec"])
        return obj

    return [
        ("valid socket", socket, False),
        ("valid kafka", kafka, False),
        ("valid config", config, False),
        ("mode lowercase", change(socket, lambda s: s["socket"].update(mode="tcp")), True),
        ("unknown codec", change(socket, lambda s: s["socket"]["encoding"].update(codec="XML")), True),
        ("port below 10", change(socket, lambda s: s["socket"].update(address="kuma:5")), True),
        ("address missing", change(socket, lambda s: s["socket"].pop("address")), True),
        ("extraLabels under socket (seed)", change(socket, lambda s: s["socket"].update(extraLabels={"cef.name": "d8"})), True),
        ("label value with a space", change(socket, lambda s: s.update(extraLabels={"cef.name": "Deckhouse Event"})), True),
        ("reserved label key", change(socket, lambda s: s.update(extraLabels={"node": "n1"})), True),
        ("socket block missing", change(socket, lambda s: s.pop("socket")), True),
        ("unknown type", change(socket, lambda s: s.update(type="Syslog")), True),
        ("kafka without topic", change(kafka, lambda s: s["kafka"].pop("topic")), True),
        ("kafka bad broker", change(kafka, lambda s: s["kafka"].update(bootstrapServers=["kafka"])), True),
        ("sasl incomplete", change(kafka, lambda s: s["kafka"].update(sasl={"mechanism": "PLAIN", "username": "u"})), True),
        ("sasl bad mechanism", change(kafka, lambda s: s["kafka"].update(
            sasl={"mechanism": "GSSAPI", "username": "u", "password": "p"})), True),
        ("disk buffer bad size", change(socket, lambda s: s.update(buffer={"type": "Disk", "disk": {"maxSize": "1 GB"}})), True),
        ("buffer with both blocks", change(socket, lambda s: s.update(
            buffer={"type": "Disk", "disk": {"maxSize": "1Gi"}, "memory": {"maxEvents": 5}, "whenFull": "Block"})), True),
        ("buffer without whenFull (defaulted)", change(socket, lambda s: s.update(
            buffer={"type": "Memory", "memory": {"maxEvents": 5}})), False),
        ("rate limit without lines", change(socket, lambda s: s.update(rateLimit={"keyField": "host"})), True),
        ("file source without file", change(config, lambda s: s.pop("file")), True),
        ("file and pods together", change(config, lambda s: s.update(kubernetesPods={})), True),
        ("Exists with values", change(config, lambda s: s.update(
            logFilter=[{"field": "a", "operator": "Exists", "values": ["x"]}])), True),
        ("Regex with no values", change(config, lambda s: s["logFilter"][0].update(values=[])), True),
        ("bad operator", change(config, lambda s: s["logFilter"][0].update(operator="Like")), True),
        ("no destination refs", change(config, lambda s: s.update(destinationRefs=[])), True),
        ("empty labelFilter field", change(config, lambda s: s.update(labelFilter=[{"field": "", "operator": "Exists"}])), True),
        ("custom parser without rules", change(config, lambda s: s.update(multilineParser={"type": "Custom"})), True),
        ("bad keepDeletedFilesOpenedFor", change(config, to_pods), True),
    ]


def test_server_and_client_validation_agree(k8s_cluster):
    profile = live_profile(k8s_cluster)
    disagreements = []
    for label, obj, invalid in _invalid_cases(profile):
        client = ls.validate_object(obj, profile)
        # Strict field validation, like our unknown-field check; dryRun so nothing is stored.
        status, body = k8s_cluster.api.request(
            "POST", "/apis/deckhouse.io/v1alpha1/%s?dryRun=All&fieldValidation=Strict" % PLURALS[obj["kind"]], obj)
        server_rejects = status >= 400
        if bool(client) != server_rejects or server_rejects != invalid:
            disagreements.append((label, client, status, body.get("message") if isinstance(body, dict) else body))
            continue
        if invalid:
            # The first client field path (before any map key or index) is named by the server too.
            field = client[0].split(":")[0].split("[")[0]
            assert field in body["message"] or field == "spec", (label, client, body["message"])
    assert disagreements == []


def test_unknown_fields_are_pruned_silently_without_strict_validation(k8s_cluster):
    # Why the client rejects unknown fields: by default the server drops them and says nothing.
    profile = live_profile(k8s_cluster)
    obj = ls.build([{"name": "it-prune-demo", "address": "kuma:5140", "codec": "cef"}], [], profile)["objects"][0]
    obj["spec"]["socket"]["extraLabels"] = {"cef.name": "d8"}
    status, body = k8s_cluster.api.request("POST", "/apis/deckhouse.io/v1alpha1/clusterlogdestinations?dryRun=All", obj)
    assert status == 201 and "extraLabels" not in body["spec"]["socket"]
    assert ls.validate_object(obj, profile) == [
        "spec.socket.extraLabels: Unknown field: not in the CRD schema (the API server would drop it silently)"]
