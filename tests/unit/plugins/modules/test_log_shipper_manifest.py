# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""log_shipper_manifest in-process: build results, render mode on real files, check/diff, prune."""

import base64
import copy
import json
import os
import stat

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as ls
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import ProbeError
from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper_schema import SNAPSHOTS
from ansible_collections.auditops.deckhouse.plugins.modules import log_shipper_manifest
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail

KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n-----END PRIVATE KEY-----\n"
CRT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"


def run(args, check_mode=False, diff=False):
    return run_module(log_shipper_manifest, args, check_mode=check_mode, diff=diff)


def run_fail(args, **kwargs):
    return run_module_fail(log_shipper_manifest, args, **kwargs)


def listing(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def snapshot(directory):
    return dict((name, open(os.path.join(directory, name)).read()) for name in listing(directory))


SHORT = {"destinations": [{"address": "kuma.example.com:5140"}]}


def test_build_only_returns_objects_and_profile():
    result, warnings = run(SHORT)
    assert result["changed"] is False
    assert [(o["kind"], o["metadata"]["name"]) for o in result["objects"]] == [
        ("ClusterLogDestination", "kuma-tcp-json"), ("ClusterLoggingConfig", "kuma-kube-audit")]
    assert result["profile"]["name"] == "dkp-1.67" and result["profile"]["source"] == "named"
    assert result["kinds"] == [{"kind": "ClusterLogDestination", "api_version": "deckhouse.io/v1alpha1"},
                               {"kind": "ClusterLoggingConfig", "api_version": "deckhouse.io/v1alpha1"}]
    assert result["label_selector"] == "app.kubernetes.io/managed-by=auditops.deckhouse,auditops.deckhouse/role=kuma_log_shipper"
    assert result["endpoints"][0]["port"] == 5140
    assert warnings == [] and "files" not in result


def test_live_crds_are_used():
    result, _warnings = run(dict(SHORT, crds=SNAPSHOTS["dkp-1.67"]["crds"], profile="dkp-1.67"))
    assert result["profile"]["source"] == "live"
    assert "the live CRDs take precedence" in result["profile"]["notes"][1]


def test_missing_crds_fail():
    result = run_fail(dict(SHORT, crds=[]))
    assert "log-shipper module enabled" in result["msg"]


def test_error_paths_use_the_prefix():
    result = run_fail({"destinations": [{"address": "kuma:5140"}, {"name": "b", "address": "kuma", "codec": "xml"},
                                        {"type": "kafka", "bootstrap_servers": ["k:9092"]}],
                       "error_path_prefix": "kuma_log_shipper_"})
    assert result["errors"] == [
        {"path": "kuma_log_shipper_destinations[1].address", "message": "missing port in \"kuma\": expected 'host:port'"},
        {"path": "kuma_log_shipper_destinations[1].codec",
         "message": 'unknown codec "xml"; this CRD accepts: text, json, syslog, cef, gelf'},
        {"path": "kuma_log_shipper_destinations[2].topic", "message": "required"},
    ]
    assert result["msg"] == ("log-shipper input refused, nothing changed: kuma_log_shipper_destinations[1].address: "
                             "missing port in \"kuma\": expected 'host:port' (and 2 more, see errors)")


def test_ansible_argspec_still_applies():
    result = run_fail({"destinations": [{"address": "kuma:5140", "mode": "sctp"}]})
    assert "mode" in result["msg"] and "tcp, udp" in result["msg"]


def test_warnings_are_emitted():
    _result, warnings = run({"destinations": [{"address": "kuma:5140", "tls": {"ca": CRT_PEM, "verify_hostname": False}}]})
    assert any("they have no effect on this version" in w for w in warnings)


def test_render_creates_then_is_idempotent(tmp_path):
    dest = str(tmp_path / "out")
    args = dict(SHORT, dest_dir=dest)
    result, _warnings = run(args, diff=True)
    assert result["changed"] is True
    assert result["files"] == [
        {"path": os.path.join(dest, "clusterlogdestination-kuma-tcp-json.yml"), "action": "create"},
        {"path": os.path.join(dest, "clusterloggingconfig-kuma-kube-audit.yml"), "action": "create"},
    ]
    assert [d["before"] for d in result["diff"]] == ["", ""]
    files = snapshot(dest)
    assert files["clusterlogdestination-kuma-tcp-json.yml"] == ls.to_yaml(result["objects"][0])
    assert stat.S_IMODE(os.stat(os.path.join(dest, "clusterlogdestination-kuma-tcp-json.yml")).st_mode) == 0o644
    again, _warnings = run(args, diff=True)
    assert again["changed"] is False and again["diff"] == []
    assert {f["action"] for f in again["files"]} == {"unchanged"}
    assert snapshot(dest) == files


def test_render_check_mode_writes_nothing(tmp_path):
    dest = str(tmp_path / "out")
    result, _warnings = run(dict(SHORT, dest_dir=dest), check_mode=True, diff=True)
    assert result["changed"] is True and len(result["diff"]) == 2
    assert not os.path.exists(dest)


def test_render_update_and_prune(tmp_path):
    dest = str(tmp_path)
    run({"destinations": [{"address": "kuma:5140"}, {"name": "old", "address": "kuma:5141"}], "dest_dir": dest})
    (tmp_path / "README.md").write_text("mine")
    assert listing(dest) == ["README.md", "clusterlogdestination-kuma-tcp-json.yml", "clusterlogdestination-old.yml",
                             "clusterloggingconfig-kuma-kube-audit.yml"]
    before = snapshot(dest)

    check, _warnings = run({"destinations": [{"address": "kuma:5150"}], "dest_dir": dest}, check_mode=True, diff=True)
    assert check["changed"] is True and snapshot(dest) == before
    assert sorted((os.path.basename(f["path"]), f["action"]) for f in check["files"]) == [
        ("clusterlogdestination-kuma-tcp-json.yml", "update"), ("clusterlogdestination-old.yml", "delete"),
        ("clusterloggingconfig-kuma-kube-audit.yml", "update")]

    kept, _warnings = run({"destinations": [{"address": "kuma:5150"}], "dest_dir": dest, "prune": False})
    assert "clusterlogdestination-old.yml" in listing(dest)
    assert 'address: "kuma:5150"' in snapshot(dest)["clusterlogdestination-kuma-tcp-json.yml"]
    assert kept["changed"] is True

    pruned, _warnings = run({"destinations": [{"address": "kuma:5150"}], "dest_dir": dest})
    assert pruned["changed"] is True
    assert listing(dest) == ["README.md", "clusterlogdestination-kuma-tcp-json.yml", "clusterloggingconfig-kuma-kube-audit.yml"]


def test_render_secrets_are_private_and_masked_in_diff(tmp_path):
    dest = str(tmp_path)
    args = {"destinations": [{"address": "kuma:5141", "tls": {"client_cert": CRT_PEM, "client_key": KEY_PEM}}],
            "dest_dir": dest}
    result, _warnings = run(args, diff=True)
    path = os.path.join(dest, "clusterlogdestination-kuma-tcp-json.yml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key_b64 = base64.b64encode(KEY_PEM.encode()).decode()
    assert 'keyFile: "%s"' % key_b64 in open(path).read()
    # The result never holds the key, in any form (issue 18 item 2).
    shown = json.dumps(result)
    assert key_b64 not in shown and "MIGHAgEAMBMGByqGSM49AgEG" not in shown
    assert result["objects"][0]["spec"]["socket"]["tcp"]["tls"]["clientCrt"]["keyFile"] == "********"
    assert "keyFile: ********" in result["diff"][0]["after"]


def test_render_file_mode_change_is_a_change(tmp_path):
    dest = str(tmp_path)
    run(dict(SHORT, dest_dir=dest))
    result, _warnings = run(dict(SHORT, dest_dir=dest, file_mode="0640"))
    assert result["changed"] is True
    assert stat.S_IMODE(os.stat(os.path.join(dest, "clusterloggingconfig-kuma-kube-audit.yml")).st_mode) == 0o640
    assert run(dict(SHORT, dest_dir=dest, file_mode="0640"))[0]["changed"] is False
    assert "not an octal mode" in run_fail(dict(SHORT, dest_dir=dest, file_mode="rw"))["msg"]


def test_bad_input_writes_nothing(tmp_path):
    dest = str(tmp_path)
    run(dict(SHORT, dest_dir=dest))
    before = snapshot(dest)
    run_fail({"destinations": [{"address": "kuma:5140"}, {"name": "x", "address": "kuma:0"}], "dest_dir": dest})
    assert snapshot(dest) == before


def _live(obj, owned=True):
    live = copy.deepcopy(obj)
    live["metadata"]["uid"] = "1234"
    if not owned:
        live["metadata"]["labels"] = {}
    return live


def test_existing_gives_prune_list():
    old = run({"destinations": [{"address": "kuma:5140", "name": "old"}], "sources": [{"name": "old-src"}]})[0]["objects"]
    result, _warnings = run(dict(SHORT, existing=[_live(o) for o in old]))
    assert [(r["kind"], r["name"]) for r in result["prune"]] == [("ClusterLoggingConfig", "old-src"),
                                                                 ("ClusterLogDestination", "old")]
    assert run(dict(SHORT, existing=[_live(o) for o in old], prune=False))[0]["prune"] == []


def test_foreign_objects_are_not_taken_over():
    mine = run(SHORT)[0]["objects"]
    result = run_fail(dict(SHORT, existing=[_live(mine[0], owned=False)]))
    assert result["msg"].startswith("ClusterLogDestination/kuma-tcp-json already exist(s) without the labels")
    assert result["foreign"] == [{"kind": "ClusterLogDestination", "api_version": "deckhouse.io/v1alpha1", "name": "kuma-tcp-json"}]
    adopted, _warnings = run(dict(SHORT, existing=[_live(mine[0], owned=False)], adopt=True))
    assert adopted["foreign"] and adopted["prune"] == []


def test_audit_log_option_moves_the_default_source():
    result, _warnings = run(dict(SHORT, audit_log={"output": "File", "path": "/data/kube-audit"}))
    assert result["objects"][1]["spec"]["file"] == {"include": ["/data/kube-audit/audit.log"]}
    result, _warnings = run(dict(SHORT, audit_log={"output": "Stdout"}))
    assert result["objects"][1]["spec"]["type"] == "KubernetesPods"


def _secret_options(spec, path=""):
    """(option path, no_log) of every destination option whose value the engine writes to a secret CRD field."""
    secret_names = ("password", "token", "client_key", "key_pass", "aws_access_key", "aws_secret_key")
    for name, option in spec.items():
        where = "%s.%s" % (path, name) if path else name
        if name in secret_names:
            yield where, option.get("no_log") is True
        if option.get("options"):
            yield from _secret_options(option["options"], where)


def test_every_secret_option_is_no_log():
    found = dict(_secret_options(log_shipper_manifest.DESTINATION_SPEC))
    assert sorted(found) == ["auth.aws_access_key", "auth.aws_secret_key", "auth.password", "auth.token",
                             "sasl.password", "tls.client_key", "tls.key_pass", "token"]
    assert all(found.values()), found


def test_new_destination_types_build_in_the_module_with_secrets_masked(tmp_path):
    result, warnings = run({"destinations": [
        {"type": "elasticsearch", "endpoint": "https://es:9200",
         "auth": {"strategy": "aws", "aws_access_key": "AKIA-unit", "aws_secret_key": "aws-secret-unit"}},
        {"type": "splunk", "endpoint": "https://splunk:8088", "token": "hec-token-unit"},
        {"type": "logstash", "endpoint": "logstash:12345"},
        {"type": "vector", "endpoint": "vector:6000"},
    ], "dest_dir": str(tmp_path)})
    # In process nothing masks no_log values but the module itself.
    text = json.dumps([result, warnings])
    assert any("spec.splunk.token" in w for w in warnings), warnings
    for secret in ("AKIA-unit", "aws-secret-unit", "hec-token-unit", base64.b64encode(b"aws-secret-unit").decode()):
        assert secret not in text, secret
    assert [o["spec"]["type"] for o in result["objects"][:4]] == ["Elasticsearch", "Splunk", "Logstash", "Vector"]
    # Render mode writes the real values, in files only their owner reads.
    splunk = tmp_path / "clusterlogdestination-kuma-splunk.yml"
    assert "token: hec-token-unit" in splunk.read_text()
    assert stat.S_IMODE(os.stat(str(splunk)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(tmp_path / "clusterlogdestination-kuma-logstash.yml")).st_mode) == 0o644


# --- the connection: own client or kubernetes.core's ------------------------------------------------

def _params(**given):
    params = dict((key, None) for key in log_shipper_manifest.AUTH_SPEC)
    params.update(given)
    return params


def _kubeconfig(tmp_path, user, name="config"):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
              "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443"}}],
              "users": [{"name": "u", "user": user}],
              "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}]}
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


def test_connection_follows_kubernetes_core_choice(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    choose = log_shipper_manifest._own_connection
    # Host with a token (or certificate and key) reads no kubeconfig, not even a given one.
    conn, reason = choose(_params(host="https://h:6443/", api_key="t", kubeconfig="/never/read"))
    assert reason is None and conn.server == "https://h:6443" and conn.token == "t"
    conn, reason = choose(_params(host="https://h", client_cert="/c.crt", client_key="/c.key", kubeconfig="/never"))
    assert reason is None and conn.cert_file == "/c.crt"
    # Host alone: the kubeconfig's credentials with that host.
    _kubeconfig(tmp_path, {"token": "from-file"}, name="kc")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kc"))
    conn, reason = choose(_params(host="https://other"))
    assert conn.server == "https://other" and conn.token == "from-file"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kc") + os.pathsep + str(tmp_path / "kc2"))
    conn, reason = choose(_params())
    assert conn is None and reason.startswith("kubeconfig: several files to merge")


def test_what_only_kubernetes_core_does_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    choose = log_shipper_manifest._own_connection
    exec_path = _kubeconfig(tmp_path, {"exec": {"command": "aws"}})
    assert choose(_params(kubeconfig=exec_path)) == (None, "kubeconfig: user 'u': exec")
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("t")
    (account / "ca.crt").write_text("c")
    monkeypatch.setattr(log_shipper_manifest, "SERVICE_ACCOUNT_DIR", str(account))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    conn, reason = choose(_params())
    assert conn is None and reason.startswith("the in-cluster service account")
    # A kubeconfig or a context named wins over the service account, as in kubernetes.core.
    assert choose(_params(kubeconfig=_kubeconfig(tmp_path, {"token": "t"}, "plain")))[1] is None
    (account / "token").unlink()
    with pytest.raises(ProbeError) as info:
        choose(_params())
    assert str(info.value).startswith("kubeconfig: cannot read %s" % (tmp_path / ".kube" / "config"))


def test_present_fails_naming_the_kubeconfig_and_imports_no_kubernetes_client(tmp_path):
    import subprocess
    import sys
    env = dict(os.environ, K8S_AUTH_KUBECONFIG=str(tmp_path / "missing"), PYTHONPATH=os.pathsep.join(sys.path))
    code = ("import sys, json\n"
            "from ansible_collections.auditops.deckhouse.plugins.modules import log_shipper_manifest as m\n"
            "from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module_fail\n"
            "failure = run_module_fail(m, {'state': 'present', 'destinations': [{'address': 'k:1'}]})\n"
            "print(json.dumps([failure['msg'], sorted(n for n in sys.modules if n.split('.')[0] == 'kubernetes'"
            " or 'kubernetes.core' in n)]))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, check=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(__file__))).stdout
    msg, imported = json.loads(out.splitlines()[-1])
    assert msg == "cannot connect to the Kubernetes API, nothing changed: kubeconfig: cannot read %s: [Errno 2] " \
                  "No such file or directory: '%s'" % (tmp_path / "missing", tmp_path / "missing")
    assert imported == []
