"""A real, local Kubernetes control plane for the collection's tests and demo.

etcd (Debian's etcd-server) and kube-apiserver (built from the Go module proxy by
build-kube-apiserver.sh) run on 127.0.0.1 on free ports with data in a temporary directory.
Certificates are generated at start; the admin identity is a client certificate in
``system:masters``. The Deckhouse CRDs are loaded from ../shared/reference/deckhouse/.

Command line (used by ``make cluster-up`` / ``make cluster-down``)::

    python tests/cluster/harness.py up [--dir .cluster]
    python tests/cluster/harness.py down [--dir .cluster]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REFERENCE = os.environ.get("AUDITOPS_REFERENCE", os.path.join(os.path.dirname(ROOT), "shared", "reference", "deckhouse"))
CRD_FILES = (
    "deckhouse-crd-module-config.yaml",
    "log-shipper-crd-cluster-log-destination.yaml",
    "log-shipper-crd-cluster-logging-config.yaml",
    "runtime-audit-engine-crd-falco-audit-rules.yaml",
    "prometheus-crd-custom-prometheus-rules.yaml",
    "prometheus-crd-cluster-alerts.yaml",
)
# Keys in the upstream CRD files that are not JSONSchemaProps fields. Deckhouse's installer drops
# them by decoding into the typed CRD struct; a strict create would reject them.
NON_SCHEMA_KEYS = ("x-doc-examples", "x-doc-example", "descriptions")


class HarnessError(RuntimeError):
    pass


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies, so a killed test run
    leaves no etcd or kube-apiserver behind (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _popen(cmd, log, detach):
    # make cluster-up detaches on purpose; everything else is tied to its parent's life.
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=detach,
                            preexec_fn=None if detach else _die_with_parent)  # pylint: disable=subprocess-popen-preexec-fn


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_apiserver():
    """Path of the kube-apiserver binary, built (once per machine) from the wrapper module."""
    result = subprocess.run([os.path.join(HERE, "build-kube-apiserver.sh")], stdout=subprocess.PIPE, check=True, text=True)
    return result.stdout.strip().splitlines()[-1]


def apiserver_version(binary):
    out = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, check=True, text=True).stdout
    return out.split()[-1].lstrip("v")


# --- certificates -------------------------------------------------------------------------

def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key, path):
    with open(path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _write_cert(cert, path):
    with open(path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(directory):
    """CA, serving cert for 127.0.0.1/localhost, admin client cert, service-account key."""
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auditops-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def issue(name, organization, server):
        key = _key()
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    paths = {name: os.path.join(directory, name) for name in
             ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub")}
    _write_cert(ca, paths["ca.crt"])
    _write_key(ca_key, paths["ca.key"])
    key, cert = issue("kube-apiserver", None, True)
    _write_cert(cert, paths["apiserver.crt"])
    _write_key(key, paths["apiserver.key"])
    key, cert = issue("auditops-admin", "system:masters", False)
    _write_cert(cert, paths["admin.crt"])
    _write_key(key, paths["admin.key"])
    sa_key = _key()
    _write_key(sa_key, paths["sa.key"])
    with open(paths["sa.pub"], "wb") as handle:
        handle.write(sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return paths


def write_kubeconfig(path, server, pki):
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "auditops-test",
        "clusters": [{"name": "auditops-test", "cluster": {"server": server, "certificate-authority": pki["ca.crt"]}}],
        "users": [{"name": "admin", "user": {"client-certificate": pki["admin.crt"], "client-key": pki["admin.key"]}}],
        "contexts": [{"name": "auditops-test", "context": {"cluster": "auditops-test", "user": "admin"}}],
    }
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.chmod(path, 0o600)


# --- processes ----------------------------------------------------------------------------

def _wait(check, timeout, what, proc=None, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise HarnessError("%s exited with %s:\n%s" % (what, proc.returncode, _tail(log_path)))
        if check():
            return
        time.sleep(0.2)
    raise HarnessError("%s not ready after %ss:\n%s" % (what, timeout, _tail(log_path)))


def _tail(path, lines=40):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def _stop(proc, timeout=15):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Etcd:
    def __init__(self, workdir, detach=False):
        self.data_dir = os.path.join(workdir, "etcd")
        self.log_path = os.path.join(workdir, "etcd.log")
        self.port, peer = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        peer_url = "http://127.0.0.1:%d" % peer
        cmd = [shutil.which("etcd") or "/usr/bin/etcd", "--name", "auditops", "--data-dir", self.data_dir,
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
               "--initial-cluster", "auditops=" + peer_url, "--listen-metrics-urls", "http://127.0.0.1:%d" % free_port()]
        with open(self.log_path, "ab") as log:
            self.proc = _popen(cmd, log, detach)
        _wait(self._healthy, 30, "etcd", self.proc, self.log_path)

    def _healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                return json.load(resp).get("health") == "true"
        except (OSError, ValueError):
            return False

    def stop(self):
        _stop(self.proc)


class ApiServer:
    """One kube-apiserver process. ``extra_args`` are appended last, so they win."""

    def __init__(self, binary, workdir, etcd_url, pki, extra_args=(), prefix="/registry", detach=False, name="apiserver"):
        self.binary, self.workdir, self.pki = binary, workdir, pki
        self.port = free_port()
        self.server = "https://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, name + ".log")
        self.kubeconfig = os.path.join(workdir, name + ".kubeconfig")
        self.ca_file, self.client_cert, self.client_key = pki["ca.crt"], pki["admin.crt"], pki["admin.key"]
        write_kubeconfig(self.kubeconfig, self.server, pki)
        self.args = [
            "--etcd-servers=" + etcd_url, "--etcd-prefix=" + prefix,
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=%d" % self.port,
            "--cert-dir=" + os.path.join(workdir, name + "-certs"),
            "--tls-cert-file=" + pki["apiserver.crt"], "--tls-private-key-file=" + pki["apiserver.key"],
            "--client-ca-file=" + pki["ca.crt"],
            "--service-account-key-file=" + pki["sa.pub"], "--service-account-signing-key-file=" + pki["sa.key"],
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=RBAC", "--anonymous-auth=true",
            # No controller-manager runs here, so nothing creates default ServiceAccounts for pods.
            "--disable-admission-plugins=ServiceAccount",
            # Fewer post-start hooks: the harness starts many short-lived servers.
            "--enable-priority-and-fairness=false",
        ] + list(extra_args)
        with open(self.log_path, "ab") as log:
            self.proc = _popen([binary] + self.args, log, detach)

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx

    def request(self, method, path, body=None, anonymous=False, content_type="application/json"):
        """Send one request; returns (status, parsed JSON or text)."""
        ctx = ssl.create_default_context(cafile=self.ca_file) if anonymous else self.ssl_context()
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def ready(self):
        try:
            return self.request("GET", "/readyz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout=90):
        _wait(self.ready, timeout, "kube-apiserver", self.proc, self.log_path)

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def stop(self):
        _stop(self.proc)


def strip_non_schema_keys(node, in_properties=False):
    """Drop NON_SCHEMA_KEYS from schema objects (not from ``properties`` maps, whose keys are field names)."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if not in_properties and key in NON_SCHEMA_KEYS:
                continue
            child_is_map = (not in_properties) and key in ("properties", "patternProperties", "definitions")
            result[key] = strip_non_schema_keys(value, in_properties=child_is_map)
        return result
    if isinstance(node, list):
        return [strip_non_schema_keys(item) for item in node]
    return node


def load_crds(api, reference=REFERENCE, files=CRD_FILES):
    names = []
    for filename in files:
        with open(os.path.join(reference, filename)) as handle:
            crd = strip_non_schema_keys(yaml.safe_load(handle))
        status, body = api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldValidation=Strict", crd)
        if status not in (201, 409):
            raise HarnessError("creating CRD from %s failed (%s): %s" % (filename, status, body))
        names.append(crd["metadata"]["name"])
    for name in names:
        def established(name=name):
            status, body = api.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
            conditions = body.get("status", {}).get("conditions", []) if status == 200 else []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
        _wait(established, 60, "CRD " + name)
    # Discovery for the new groups is served a moment after Established.
    _wait(lambda: api.request("GET", "/apis/deckhouse.io")[0] == 200, 30, "discovery of deckhouse.io")
    return names


def ensure_namespace(api, name):
    status, body = api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    if status not in (201, 409):
        raise HarnessError("creating namespace %s failed (%s): %s" % (name, status, body))


class Cluster:
    """etcd + kube-apiserver + Deckhouse CRDs, all local. Use as a context manager or call stop()."""

    def __init__(self, workdir, detach=False, binary=None):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.binary = binary or build_apiserver()
        self.kubernetes_version = apiserver_version(self.binary)
        self.pki = make_pki(os.path.join(workdir, "pki"))
        self.etcd = Etcd(workdir, detach=detach)
        self.api = ApiServer(self.binary, workdir, self.etcd.url, self.pki, detach=detach)
        try:
            self.api.wait_ready()
            ensure_namespace(self.api, "kube-system")
            self.crds = load_crds(self.api)
        except BaseException:
            self.stop()
            raise
        self.server, self.kubeconfig = self.api.server, self.api.kubeconfig
        self.ca_file, self.client_cert, self.client_key = self.api.ca_file, self.api.client_cert, self.api.client_key

    def stop(self):
        self.api.stop()
        self.etcd.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ApiServerRunner:
    """Starts extra kube-apiservers against a cluster's etcd, to see whether given flags let one start."""

    class Result:
        def __init__(self, started, log, seconds):
            self.started, self.log, self.seconds = started, log, seconds

    def __init__(self, cluster):
        self.cluster = cluster
        self.count = 0

    def _new(self, extra_args):
        self.count += 1
        workdir = tempfile.mkdtemp(prefix="run-", dir=self.cluster.workdir)
        return ApiServer(self.cluster.binary, workdir, self.cluster.etcd.url, self.cluster.pki, extra_args,
                         prefix="/run-%d" % self.count)

    def try_start(self, extra_args, timeout=90):
        """Start, wait for /readyz or exit, stop. ``started`` is True when /readyz answered 200."""
        begin = time.monotonic()
        api = self._new(extra_args)
        try:
            api.wait_ready(timeout)
            started = True
        except HarnessError:
            started = False
        finally:
            api.stop()
        return self.Result(started, api.log(), time.monotonic() - begin)

    @contextlib.contextmanager
    def serve(self, extra_args, timeout=90):
        api = self._new(extra_args)
        try:
            api.wait_ready(timeout)
            yield api
        finally:
            api.stop()


# --- make cluster-up / cluster-down -------------------------------------------------------

def _state_path(directory):
    return os.path.join(directory, "state.json")


def cluster_up(directory):
    directory = os.path.abspath(directory)
    if os.path.exists(_state_path(directory)):
        cluster_down(directory)
    shutil.rmtree(directory, ignore_errors=True)
    cluster = Cluster(os.path.join(directory, "run"), detach=True)
    shutil.copy(cluster.kubeconfig, os.path.join(directory, "kubeconfig"))
    with open(_state_path(directory), "w") as handle:
        json.dump({"pids": [cluster.api.proc.pid, cluster.etcd.proc.pid], "server": cluster.server,
                   "kubernetes_version": cluster.kubernetes_version}, handle)
    print("cluster up: %s (kube-apiserver v%s), kubeconfig %s"
          % (cluster.server, cluster.kubernetes_version, os.path.join(directory, "kubeconfig")))


def cluster_down(directory):
    path = _state_path(os.path.abspath(directory))
    if not os.path.exists(path):
        print("no cluster state in %s" % directory)
        return
    with open(path) as handle:
        pids = json.load(handle)["pids"]
    for pid in pids:  # apiserver first, then etcd
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _attempt in range(150):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    os.unlink(path)
    print("cluster down")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "build"])
    parser.add_argument("--dir", default=os.path.join(ROOT, ".cluster"))
    args = parser.parse_args(argv)
    if args.action == "build":
        print(build_apiserver())
    elif args.action == "up":
        cluster_up(args.dir)
    else:
        cluster_down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
