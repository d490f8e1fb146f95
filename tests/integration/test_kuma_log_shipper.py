# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kuma_log_shipper role end to end against the real kube-apiserver with the Deckhouse CRDs.

Each test uses its own owner label value and object names, so tests sharing the session cluster
cannot prune or collide with each other.
"""

import base64
import copy
import os
import re
import socket

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper_apply as apply
from ansible_collections.auditops.deckhouse.tests.integration._role_run import RoleRun, ansible_playbook, role_env, vars_file
from ansible_collections.auditops.deckhouse.tests import _paths

pytestmark = pytest.mark.cluster

ROOT = _paths.ROOT
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


class RawRun(object):
    """A run with a human-readable callback: only its output and return code."""

    def __init__(self, proc):
        self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr

    def __repr__(self):
        return "rc=%s\n%s\n%s" % (self.rc, self.stdout[-3000:], self.stderr[-3000:])


@pytest.fixture
def run_role(ansible_env, k8s_cluster, tmp_path):
    env = role_env(ansible_env)

    def run(variables, check=False, diff=False, kubeconfig=True, verbosity=0, callback=None):
        variables = dict(variables)
        if kubeconfig:
            variables.setdefault("kuma_log_shipper_kubeconfig", k8s_cluster.kubeconfig)
        # The session cluster's control-plane-manager ModuleConfig belongs to the control_plane_audit tests;
        # only test_source_follows_the_audit_settings lets the role follow it.
        variables.setdefault("kuma_log_shipper_follow_audit_settings", False)
        run_env = dict(env, ANSIBLE_STDOUT_CALLBACK=callback) if callback else env
        proc = ansible_playbook(PLAYBOOK, "localhost,", [vars_file(tmp_path, variables)], run_env, check=check, diff=diff,
                                verbosity=verbosity)
        return RawRun(proc) if callback and callback != "ansible.posix.json" else Run(proc)
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


APPLY_TASK = "Apply the log-shipper objects for the served CRD versions"


def actions(run, wanted=None):
    """(kind, name, action) of each object the apply task reports, optionally only some actions."""
    return [(c["kind"], c["name"], c["action"]) for c in run.result(APPLY_TASK)["changes"]
            if wanted is None or c["action"] in wanted]


def test_apply_all_transports_then_idempotent_then_check_mode(k8s_cluster, run_role, kuma_listener):
    variables = all_transports(k8s_cluster, kuma_listener, "it_all")
    first = run_role(variables, diff=True)
    assert first.rc == 0, first
    assert first.stats["changed"] == 1 and first.stats["failures"] == 0
    assert any("PKCS#8" in w for w in first.warnings())  # the harness key is PKCS#1
    assert any("no tls.secretRef" in w for w in first.warnings())
    assert any("no Secret reference for SASL" in w for w in first.warnings())
    assert [a for _k, _n, a in actions(first)] == ["create"] * 8
    udp = first.result("Report UDP endpoints as unverifiable")
    assert [r["msg"] for r in udp["results"]][0].startswith("it-udp-json sends to 127.0.0.1:5140 over UDP")

    expected = first.result(APPLY_TASK)["objects"]
    built = built_objects(k8s_cluster, variables)
    assert [o["metadata"]["name"] for o in expected] == [o["metadata"]["name"] for o in built]
    # Ansible templated the Jinja literal into the Vector template log-shipper expects.
    assert expected[3]["spec"]["extraLabels"]["syslog.message_id"] == "{{ auditID }}"
    stored = {}
    for obj in expected:
        live = get(k8s_cluster, obj["kind"], obj["metadata"]["name"])
        assert live is not None, obj["metadata"]["name"]
        # The server adds defaults (e.g. tcp.verify*: true); everything we sent must be there unchanged
        # (the result masks the secrets, so compare against the masked live object).
        assert is_subset(obj["spec"], ls.mask_secrets(live["spec"])), (obj, live)
        assert live["metadata"]["labels"] == obj["metadata"]["labels"]
        assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["auditops-deckhouse"]
        stored[(obj["kind"], obj["metadata"]["name"])] = live["metadata"]["resourceVersion"]

    second = run_role(variables)
    assert second.rc == 0, second
    assert second.stats["changed"] == 0, second
    assert [a for _k, _n, a in actions(second)] == ["unchanged"] * 8
    for (kind, name), version in stored.items():
        assert get(k8s_cluster, kind, name)["metadata"]["resourceVersion"] == version, name

    # Check mode: a changed address, a new destination and a dropped source change nothing.
    changed = copy.deepcopy(variables)
    changed["kuma_log_shipper_destinations"][1]["address"] = "127.0.0.1:%d" % kuma_listener
    changed["kuma_log_shipper_destinations"][1]["codec"] = "gelf"
    changed["kuma_log_shipper_destinations"].append({"name": "it-new", "address": "127.0.0.1:5199", "mode": "udp"})
    changed["kuma_log_shipper_sources"] = changed["kuma_log_shipper_sources"][:2]
    check = run_role(changed, check=True, diff=True)
    assert check.rc == 0, check
    assert check.stats["changed"] == 1, check
    # it-audit sends to every destination, so it gains it-new.
    assert sorted(n for _k, n, _a in actions(check, ("create", "update"))) == ["it-audit", "it-new", "it-tcp-json"]
    assert actions(check, ("delete",)) == [("ClusterLoggingConfig", "it-pods", "delete")]
    gelf = [d for d in check.result(APPLY_TASK)["diff"] if d["after_header"] == "ClusterLogDestination/it-tcp-json"][0]
    assert gelf["after"]["spec"]["socket"]["encoding"]["codec"] == "GELF"
    assert gelf["before"]["spec"]["socket"]["encoding"]["codec"] == "JSON"
    assert get(k8s_cluster, "ClusterLogDestination", "it-new") is None
    for (kind, name), version in stored.items():
        assert get(k8s_cluster, kind, name)["metadata"]["resourceVersion"] == version, name


def _pem(path):
    with open(path) as handle:
        return handle.read()


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def test_secrets_reach_the_cluster_byte_for_byte(k8s_cluster, run_role, kuma_listener):
    """Issue 18 item 1: a SASL password and a key passphrase that are substrings of other fields
    ("audit" is in the topic, the include path and the labels; "kuma" in the object names)."""
    address = "127.0.0.1:%d" % kuma_listener
    tls = {"ca": k8s_cluster.ca_file, "client_cert": k8s_cluster.client_cert, "client_key": k8s_cluster.client_key,
           "key_pass": "kuma"}
    variables = {
        "kuma_log_shipper_owner": "it_secret",
        "kuma_log_shipper_destinations": [
            {"name": "kuma-it-s-tcp-cef", "address": address, "codec": "cef", "tls": tls},
            {"name": "kuma-it-s-kafka", "type": "kafka", "bootstrap_servers": [address], "topic": "k8s-audit",
             "sasl": {"mechanism": "plain", "username": "shipper", "password": "audit"}, "tls": tls},
            {"name": "kuma-it-s-loki", "type": "loki", "endpoint": "http://%s" % address,
             "auth": {"user": "kuma", "password": "audit"}},
        ],
        "kuma_log_shipper_sources": [{"name": "kuma-it-s-audit", "include": ["/var/log/kube-audit/audit.log"]}],
    }
    run = run_role(variables)
    assert run.rc == 0, run
    key = _pem(k8s_cluster.client_key).strip() + "\n"
    socket_tls = get(k8s_cluster, "ClusterLogDestination", "kuma-it-s-tcp-cef")["spec"]["socket"]["tcp"]["tls"]
    assert socket_tls["clientCrt"]["keyFile"] == _b64(key)
    assert socket_tls["clientCrt"]["keyPass"] == _b64("kuma")
    kafka = get(k8s_cluster, "ClusterLogDestination", "kuma-it-s-kafka")["spec"]["kafka"]
    assert kafka["sasl"] == {"mechanism": "PLAIN", "username": "shipper", "password": "audit"}
    assert kafka["topic"] == "k8s-audit"
    assert kafka["tls"]["clientCrt"]["keyFile"] == _b64(key) and kafka["tls"]["clientCrt"]["keyPass"] == _b64("kuma")
    loki = get(k8s_cluster, "ClusterLogDestination", "kuma-it-s-loki")["spec"]["loki"]
    assert loki == {"endpoint": "http://" + address, "auth": {"strategy": "Basic", "user": "kuma", "password": _b64("audit")}}
    source = get(k8s_cluster, "ClusterLoggingConfig", "kuma-it-s-audit")
    assert source["spec"]["file"]["include"] == ["/var/log/kube-audit/audit.log"]
    assert source["spec"]["destinationRefs"] == ["kuma-it-s-tcp-cef", "kuma-it-s-kafka", "kuma-it-s-loki"]
    assert source["metadata"]["labels"] == {ls.MANAGED_BY_LABEL: ls.MANAGED_BY_VALUE, ls.ROLE_LABEL: "it_secret"}
    # Every stored object equals, field for field, what the engine builds from the same input.
    for obj in built_objects(k8s_cluster, variables):
        live = get(k8s_cluster, obj["kind"], obj["metadata"]["name"])
        assert is_subset(obj["spec"], live["spec"]), obj["metadata"]["name"]
        # What lets a second run skip the object: the server records exactly the fields we applied.
        assert apply.manager_fields(live, "auditops-deckhouse", obj["apiVersion"]) == apply.applied_fields(obj)
    assert run_role(variables).stats["changed"] == 0


def test_no_secret_in_any_output_at_vvvv_diff(k8s_cluster, run_role, kuma_listener, tmp_path):
    """Issue 18 item 2: every kuma_log_shipper path that takes a secret, at -vvvv --diff, with the default
    and the JSON callback; nothing printed may hold a secret in plain, base64 or PEM form."""
    address = "127.0.0.1:%d" % kuma_listener
    password, key_pass, token = "Sasl-Pw-7f3c9a1e", "Key-Pass-90qx2z", "Loki-Token-3kd93ja"
    tls = {"ca": k8s_cluster.ca_file, "client_cert": k8s_cluster.client_cert, "client_key": _pem(k8s_cluster.client_key),
           "key_pass": key_pass}
    destinations = [
        {"name": "it-leak-tcp", "address": address, "codec": "json", "tls": tls},
        {"name": "it-leak-kafka", "type": "kafka", "bootstrap_servers": [address], "topic": "k8s-audit",
         "sasl": {"mechanism": "scram-sha-512", "username": "shipper", "password": password}, "tls": tls},
        {"name": "it-leak-loki", "type": "loki", "endpoint": "http://" + address,
         "auth": {"strategy": "bearer", "token": token}},
        {"name": "it-leak-loki-basic", "type": "loki", "endpoint": "http://" + address,
         "auth": {"user": "shipper", "password": password}},
    ]
    base = {"kuma_log_shipper_owner": "it_leak", "kuma_log_shipper_destinations": destinations,
            "kuma_log_shipper_sources": [{"name": "it-leak-audit"}]}
    changed = copy.deepcopy(base)
    changed["kuma_log_shipper_destinations"][0]["codec"] = "cef"
    bad = copy.deepcopy(base)
    bad["kuma_log_shipper_destinations"].append({"name": "it-leak-bad", "address": "nowhere"})
    runs = [
        ("check before create", base, True),
        ("create", base, False),
        ("unchanged", base, False),
        ("check of a change", changed, True),
        ("change", changed, False),
        ("refused input", bad, False),
        ("render", dict(base, kuma_log_shipper_render_dir=str(tmp_path / "render")), False),
        ("render again with a change", dict(changed, kuma_log_shipper_render_dir=str(tmp_path / "render")), False),
    ]
    key = _pem(k8s_cluster.client_key)
    forms = {"password": password, "password base64": _b64(password), "key_pass": key_pass,
             "key_pass base64": _b64(key_pass), "key PEM base64": _b64(key.strip() + "\n"), "token": token,
             "token base64": _b64(token)}
    for number, line in enumerate(line for line in key.splitlines() if line and not line.startswith("-----")):
        forms["key PEM line %d" % number] = line
    # Every path with the default callback; the JSON callback (every result in full) on a write, a dry run
    # with a diff and a refusal. The default callback's change is in the cluster by then, so the JSON callback's
    # dry run and write go back to base: each of them has something to show and to write.
    plan = [("default", run) for run in runs] + [("ansible.posix.json", run) for run in (
        ("check of the change back", base, True), ("change back", base, False), ("refused input", bad, False))]
    for callback, (label, variables, check) in plan:
        run = run_role(variables, check=check, diff=True, verbosity=4, callback=callback)
        assert (run.rc == 0) == (label != "refused input"), (label, run)
        if label in ("check of a change", "change", "check of the change back", "change back"):
            changed = run.stats["changed"] if callback == "ansible.posix.json" else int(
                re.search(r"\bchanged=(\d+)", run.stdout).group(1))
            assert changed == 1, (callback, label, run)
        output = run.stdout + run.stderr
        leaked = sorted(name for name, form in forms.items() if form in output)
        assert leaked == [], (callback, label, leaked)
    assert (tmp_path / "render" / "clusterlogdestination-it-leak-kafka.yml").read_text().count(password) == 1
    assert get(k8s_cluster, "ClusterLogDestination", "it-leak-kafka")["spec"]["kafka"]["sasl"]["password"] == password


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
    # msg names the first problem; every problem is in errors (docs/troubleshooting.md, failure keys).
    errors = run.failure_errors()
    assert any(e.startswith("kuma_log_shipper_destinations[1].address: missing port") for e in errors), errors
    assert any(e.startswith("kuma_log_shipper_destinations[2].topic: required") for e in errors), errors
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
    # Without -v the output names every file and what happened to it, not only "changed".
    udp = {"name": "it-r-udp", "address": "127.0.0.1:5141", "mode": "udp"}
    shown = run_role(dict(variables, kuma_log_shipper_destinations=variables["kuma_log_shipper_destinations"] + [udp]),
                     callback="ansible.builtin.default")
    assert shown.rc == 0, shown
    assert '"%s": "create"' % (out / "clusterlogdestination-it-r-udp.yml") in shown.stdout, shown
    assert '"%s": "unchanged"' % (out / "clusterlogdestination-it-r-tcp.yml") in shown.stdout, shown
    assert '"%s": "update"' % (out / "clusterloggingconfig-kuma-kube-audit.yml") in shown.stdout, shown


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


MODULE_CONFIG = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"


@pytest.fixture
def module_config(k8s_cluster):
    """set(audit_log) writes the control-plane-manager ModuleConfig's auditLog; the original comes back after."""
    api = k8s_cluster.api
    status, original = api.request("GET", MODULE_CONFIG)

    def put(audit_log):
        status, live = api.request("GET", MODULE_CONFIG)
        spec = copy.deepcopy(live["spec"]) if status == 200 else {"version": 1, "enabled": True}
        spec.setdefault("settings", {}).setdefault("apiserver", {})["auditLog"] = audit_log
        body = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig",
                "metadata": {"name": "control-plane-manager"}, "spec": spec}
        if status == 200:
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            answer = api.request("PUT", MODULE_CONFIG, body)
        else:
            answer = api.request("POST", MODULE_CONFIG.rsplit("/", 1)[0], body)
        assert answer[0] in (200, 201), answer
    yield put
    status_now, live = api.request("GET", MODULE_CONFIG)
    if status != 200:
        if status_now == 200:
            api.request("DELETE", MODULE_CONFIG)
    else:
        restored = {"apiVersion": original["apiVersion"], "kind": original["kind"],
                    "metadata": {"name": "control-plane-manager", "resourceVersion": live["metadata"]["resourceVersion"]},
                    "spec": original["spec"]}
        assert api.request("PUT", MODULE_CONFIG, restored)[0] == 200


def test_source_follows_the_audit_settings(k8s_cluster, run_role, kuma_listener, module_config):
    """Issue 16 item 4: the audit-log source reads the file under auditLog.path, or kube-apiserver's stdout."""
    variables = {"kuma_log_shipper_owner": "it_follow", "kuma_log_shipper_follow_audit_settings": True,
                 "kuma_log_shipper_preflight": False,
                 "kuma_log_shipper_destinations": [{"name": "it-fo-tcp", "address": "127.0.0.1:%d" % kuma_listener}],
                 "kuma_log_shipper_sources": [{"name": "it-fo-audit"},
                                              {"name": "it-fo-other", "include": ["/var/log/other.log"]}]}
    module_config({"output": "File", "path": "/data/kube-audit"})
    run = run_role(variables)
    assert run.rc == 0, run
    assert run.result(APPLY_TASK)["audit_log"] == {"output": "File", "path": "/data/kube-audit"}
    assert get(k8s_cluster, "ClusterLoggingConfig", "it-fo-audit")["spec"]["file"] == {
        "include": ["/data/kube-audit/audit.log"]}
    # A source with its own include is left as given.
    assert get(k8s_cluster, "ClusterLoggingConfig", "it-fo-other")["spec"]["file"] == {"include": ["/var/log/other.log"]}

    module_config({"output": "Stdout"})
    run = run_role(variables)
    assert run.rc == 0, run
    spec = get(k8s_cluster, "ClusterLoggingConfig", "it-fo-audit")["spec"]
    assert spec["type"] == "KubernetesPods" and "file" not in spec
    assert spec["kubernetesPods"]["namespaceSelector"] == {"matchNames": ["kube-system"]}
    assert spec["kubernetesPods"]["labelSelector"] == {"matchLabels": {"component": "kube-apiserver"}}
    assert spec["logFilter"] == [{"field": "auditID", "operator": "Exists"}]
    assert run_role(variables).stats["changed"] == 0
