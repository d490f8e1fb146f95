# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The /readyz probe against a local HTTP server, kubeconfig resolution, and the process check."""

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _apiserver_probe as probe
from ansible_collections.auditops.deckhouse.plugins.modules import apiserver_readyz
from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import run_module, run_module_fail


class Server(object):
    """Answers /readyz with the next status of ``statuses`` (the last one repeats) and records requests."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Authorization")))
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                body = b"ok" if status == 200 else b"[-]poststarthook/x failed: reason withheld"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def make(*statuses):
        servers.append(Server(statuses))
        return servers[-1]
    yield make
    for item in servers:
        item.close()


def conn(url, **extra):
    return probe.resolve(host=url, **extra)


def test_waits_until_ready(server):
    srv = server(500, 500, 200)
    result = probe.wait_ready(conn(srv.url), timeout=30, interval=1, sleep=lambda s: None)
    assert result["ready"] and result["status"] == 200 and result["body"] == "ok" and result["attempts"] == 3
    assert result["url"] == srv.url + "/readyz"


def test_gives_up_after_the_timeout(server):
    srv = server(500)
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
    result = probe.wait_ready(conn(srv.url), timeout=10, interval=2, delay=3, clock=lambda: now[0], sleep=sleep)
    assert not result["ready"] and result["status"] == 500 and "failed" in result["body"]
    # The timeout counts after the delay: asked at 3, 5, 7, 9, 11 and 13 s.
    assert result["attempts"] == 6 and result["elapsed"] == 13.0


def test_a_refusal_counts_only_without_credentials(server):
    srv = server(401)
    anonymous = probe.wait_ready(conn(srv.url), timeout=0)
    assert anonymous["ready"] and not anonymous["readiness_known"] and anonymous["status"] == 401
    with_token = probe.wait_ready(conn(srv.url, api_key="t"), timeout=0)
    assert not with_token["ready"]
    srv.statuses = [500]
    assert not probe.wait_ready(conn(srv.url), timeout=0)["ready"]


def test_module_warns_when_readiness_is_unknown(server):
    srv = server(403)
    result, warnings = run_module(apiserver_readyz, {"host": srv.url, "timeout": 0})
    assert result["ready"] and not result["readiness_known"]
    assert "without credentials" in warnings[0]


def test_timeout_zero_asks_once(server):
    srv = server(503)
    result = probe.wait_ready(conn(srv.url), timeout=0, sleep=lambda s: None)
    assert result["attempts"] == 1 and not result["ready"]


def test_no_answer_is_an_error_not_an_exception():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = probe.wait_ready(conn("http://127.0.0.1:%d" % port), timeout=0)
    assert result["status"] is None and result["error"] and not result["ready"]


def test_token_is_sent_and_anonymous_drops_it(server):
    srv = server(200)
    probe.wait_ready(conn(srv.url, api_key="s3cret"), timeout=0)
    probe.wait_ready(conn(srv.url, api_key="s3cret", anonymous=True), timeout=0)
    assert [auth for _path, auth in srv.requests] == ["Bearer s3cret", None]


def test_process_args_must_match_a_running_process(server, tmp_path):
    srv = server(200)
    proc = tmp_path / "proc"
    (proc / "41").mkdir(parents=True)
    (proc / "41" / "cmdline").write_bytes(b"kube-apiserver\0--audit-policy-file=/a/policy-1.yaml\0")
    (proc / "self").mkdir()
    now = [0.0]
    args = dict(timeout=4, interval=2, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
                proc_dir=str(proc))
    missing = probe.wait_ready(conn(srv.url), process_args=["--audit-policy-file=/a/policy-2.yaml"], **args)
    assert not missing["ready"] and "no process runs with" in missing["error"] and missing["status"] == 200
    found = probe.wait_ready(conn(srv.url), process_args=["--audit-policy-file=/a/policy-1.yaml"], **args)
    assert found["ready"] and found["pids"] == [41]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        return handle.read()


def test_process_args_finds_a_real_process():
    marker = "--auditops-marker=%d" % os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        # Right after fork the child still shows the parent's command line; wait for its exec.
        deadline = time.monotonic() + 10
        while marker.encode() not in _cmdline(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert probe.processes_with_args([marker]) == [child.pid]
        assert probe.processes_with_args([marker, "--not-there"]) == []
    finally:
        child.kill()
        child.wait()
    assert probe.processes_with_args([marker]) == []


def kubeconfig(tmp_path, user, cluster=None, name="config"):
    cluster = cluster or {"server": "https://10.0.0.1:6443", "certificate-authority": "ca.crt"}
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
              "clusters": [{"name": "c", "cluster": cluster}, {"name": "other", "cluster": {"server": "https://other"}}],
              "users": [{"name": "u", "user": user}],
              "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}},
                           {"name": "b", "context": {"cluster": "other", "user": "u"}}]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_kubeconfig_paths_are_relative_to_the_file_and_context_picks_the_cluster(tmp_path):
    path = kubeconfig(tmp_path, {"client-certificate": "admin.crt", "client-key": "/abs/admin.key"})
    found = probe.resolve(kubeconfig=path)
    assert found.server == "https://10.0.0.1:6443"
    assert found.ca_file == str(tmp_path / "ca.crt") and found.cert_file == str(tmp_path / "admin.crt")
    assert found.key_file == "/abs/admin.key"
    assert probe.resolve(kubeconfig=path, context="b").server == "https://other"
    assert probe.resolve(kubeconfig=path, host="https://10.0.0.2:6443", validate_certs=False).server == "https://10.0.0.2:6443"
    assert probe.resolve(kubeconfig=path, validate_certs=False).insecure


def test_embedded_data_token_file_and_exec_users(tmp_path):
    (tmp_path / "token").write_text("tok\n")
    data = base64.b64encode(b"PEM").decode()
    path = kubeconfig(tmp_path, {"client-certificate-data": data, "client-key-data": data, "tokenFile": "token"},
                      {"server": "https://x", "certificate-authority-data": data, "insecure-skip-tls-verify": True})
    found = probe.resolve(kubeconfig=path)
    assert found.cert_data == b"PEM" and found.key_data == b"PEM" and found.ca_data == b"PEM"
    assert found.token == "tok" and found.insecure
    execing = probe.resolve(kubeconfig=kubeconfig(tmp_path, {"exec": {"command": "aws"}}, name="exec"))
    assert "exec" in execing.notes[0]


@pytest.mark.parametrize("content, message", [
    ("[", "is not valid YAML"),
    ("apiVersion: v1\nkind: Config\n", "context: the kubeconfig has no current-context"),
    ("current-context: x\ncontexts: []\n", "kubeconfig: no context named 'x'"),
])
def test_bad_kubeconfigs(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_text(content)
    with pytest.raises(probe.ProbeError) as info:
        probe.resolve(kubeconfig=str(path))
    assert message in str(info.value)


def test_embedded_certificates_are_removed_after_the_probe(server, tmp_path, monkeypatch):
    srv = server(200)
    made = []
    real = probe.tempfile.mkdtemp

    def mkdtemp(**kwargs):
        made.append(real(dir=str(tmp_path), **kwargs))
        return made[-1]
    monkeypatch.setattr(probe.tempfile, "mkdtemp", mkdtemp)
    connection = conn(srv.url.replace("http://", "https://"))
    connection.ca_data = b"not a certificate"
    with pytest.raises(probe.ProbeError) as info:
        probe.wait_ready(connection, timeout=0)
    assert str(info.value).startswith("ca_cert: cannot load the CA certificate (certificate-authority-data)")
    assert made and not os.path.exists(made[0])


# --- the module -----------------------------------------------------------------------------------

def test_module_reports_and_never_fails_on_not_ready(server):
    srv = server(500)
    result, _warnings = run_module(apiserver_readyz, {"host": srv.url, "timeout": 0})
    assert result["changed"] is False and result["ready"] is False and result["status"] == 500


def test_module_reads_version(server):
    srv = server(200)
    result, _warnings = run_module(apiserver_readyz, {"host": srv.url, "path": "/version", "timeout": 0})
    assert result["ready"] and srv.requests[0][0] == "/version"


@pytest.mark.parametrize("args, message", [
    ({"host": "http://x", "interval": 0}, "interval: must be 1 or more"),
    ({"host": "http://x", "timeout": -1}, "timeout: must be 0 or more"),
    ({"host": "http://x", "path": "readyz"}, "path: must start with /"),
    ({"kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig: cannot read /nonexistent/kubeconfig"),
])
def test_module_refusals(args, message):
    failure = run_module_fail(apiserver_readyz, args)
    assert failure["msg"].startswith(message)


# --- Client.request -------------------------------------------------------------------------------

class ApiServer(object):
    """An HTTP/1.1 server (keep-alive) that records each request (method, path, headers, body, client port) and
    answers with ``answer(method, path, body) -> (status, content_type, bytes)``; with ``tls`` (ssl.SSLContext)
    it serves HTTPS."""

    def __init__(self, answer, tls=None, drop_after_first=False):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                peer = self.connection.getpeercert() if tls is not None else None
                outer.requests.append(dict(method=self.command, path=self.path, headers=dict(self.headers),
                                           body=body, port=self.client_address[1], peer=peer))
                status, content_type, data = answer(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if drop_after_first and len(outer.requests) == 1:
                    # Close without announcing it, as a server ending an idle keep-alive connection does.
                    self.close_connection = True

            do_GET = do_PATCH = do_DELETE = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def json_answer(method, path, body):
    if path.endswith("/apis/x/missing"):
        return 404, "application/json", b'{"kind": "Status", "reason": "NotFound"}'
    if path.endswith("/text"):
        return 200, "text/plain", b"plain words"
    return 200, "application/json", json.dumps({"method": method, "path": path}).encode()


@pytest.fixture
def api_server():
    servers = []

    def make(answer=json_answer, **kwargs):
        servers.append(ApiServer(answer, **kwargs))
        return servers[-1]
    yield make
    for item in servers:
        item.close()


def test_request_sends_method_query_body_and_decodes_the_answer(api_server):
    srv = api_server()
    client = probe.Client(conn(srv.url + "/prefix/", api_key="tok"))
    try:
        status, body = client.request("PATCH", "/apis/x/v1/things/a", query=[("fieldManager", "me"), ("dryRun", "All")],
                                      body='{"spec": 1}', content_type="application/apply-patch+yaml")
        assert status == 200 and body == {"method": "PATCH", "path": "/prefix/apis/x/v1/things/a?fieldManager=me&dryRun=All"}
        assert client.request("POST", "/apis/x/v1/things", body={"a": ["b"]}) == (200, {
            "method": "POST", "path": "/prefix/apis/x/v1/things"})
        assert client.request("GET", "/apis/x/missing") == (404, {"kind": "Status", "reason": "NotFound"})
        assert client.request("DELETE", "/text") == (200, "plain words")
    finally:
        client.close()
    patch, post, missing, _text = srv.requests
    assert patch["body"] == b'{"spec": 1}' and patch["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert patch["headers"]["Authorization"] == "Bearer tok"
    assert json.loads(post["body"]) == {"a": ["b"]} and post["headers"]["Content-Type"] == "application/json"
    assert "Content-Type" not in missing["headers"] and missing["body"] == b""
    # One kept-alive connection for all four.
    assert len(set(item["port"] for item in srv.requests)) == 1


def test_request_reopens_a_connection_the_server_closed_while_idle(api_server):
    srv = api_server(drop_after_first=True)
    client = probe.Client(conn(srv.url))
    try:
        assert client.request("GET", "/a")[0] == 200
        time.sleep(0.1)
        assert client.request("GET", "/b") == (200, {"method": "GET", "path": "/b"})
    finally:
        client.close()
    assert [item["path"] for item in srv.requests] == ["/a", "/b"]
    assert srv.requests[0]["port"] != srv.requests[1]["port"]


def test_request_without_an_answer_raises_and_get_returns_the_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = probe.Client(conn("http://127.0.0.1:%d" % port))
    with pytest.raises(probe.RequestError) as info:
        client.request("GET", "/api")
    assert "refused" in str(info.value).lower()
    status, body, error = client.get("/readyz", 5)
    assert status is None and body == "" and "refused" in error.lower()
    with pytest.raises(probe.RequestError) as info:
        probe.Client(conn("ftp://x")).request("GET", "/api")
    assert str(info.value).startswith("host: 'ftp://x' is not an http(s) URL")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "cluster"))
    import harness  # noqa: E402  (tests/cluster is not a package)
    return harness.make_pki(str(tmp_path_factory.mktemp("pki")))


def test_request_over_https_checks_the_server_and_presents_the_client_certificate(api_server, pki):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki["apiserver.crt"], pki["apiserver.key"])
    tls.load_verify_locations(pki["ca.crt"])
    tls.verify_mode = ssl.CERT_OPTIONAL
    srv = api_server(tls=tls)
    client = probe.Client(conn(srv.url, ca_cert=pki["ca.crt"], client_cert=pki["admin.crt"], client_key=pki["admin.key"]))
    try:
        assert client.request("GET", "/api")[0] == 200
    finally:
        client.close()
    subject = dict(item[0] for item in srv.requests[0]["peer"]["subject"])
    assert subject["commonName"] == "auditops-admin"
    untrusted = probe.Client(conn(srv.url))
    with pytest.raises(probe.RequestError) as info:
        untrusted.request("GET", "/api")
    assert "certificate verify failed" in str(info.value)
    insecure = probe.Client(conn(srv.url, validate_certs=False))
    try:
        assert insecure.request("GET", "/api")[0] == 200
    finally:
        insecure.close()
    assert srv.requests[-1]["peer"] is None or srv.requests[-1]["peer"] == {}


def test_a_kubeconfig_dict_and_the_fields_the_client_does_not_apply(tmp_path):
    config = yaml.safe_load(open(kubeconfig(tmp_path, {"token": "t"}, {"server": "https://x", "certificate-authority": "ca"})))
    found = probe.resolve(kubeconfig=config)
    # A dict has no file to be relative to: relative paths stay relative to the working directory.
    assert found.server == "https://x" and found.token == "t" and found.ca_file == "ca" and found.unsupported == []
    config["users"][0]["user"] = {"exec": {"command": "aws"}, "username": "u", "password": "p"}
    config["clusters"][0]["cluster"].update({"proxy-url": "http://proxy:3128", "tls-server-name": "api"})
    assert probe.resolve(kubeconfig=config).unsupported == [
        "cluster 'c': proxy-url", "cluster 'c': tls-server-name", "user 'u': exec", "user 'u': username",
        "user 'u': password"]
