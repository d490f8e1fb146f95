# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Talk to a kube-apiserver with the credentials of a kubeconfig: ask whether it is ready (``GET /readyz``) and
wait, bounded, until it is; or send any request (``Client.request``). Standard library plus PyYAML (for the
kubeconfig); no Ansible imports.

Credentials follow kubernetes.core's order: explicit values (host, api_key, ca_cert, client_cert, client_key,
validate_certs) win over the kubeconfig's context. Embedded ``*-data`` certificates are written to a private
temporary directory for the TLS library and removed afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
import time

from http.client import HTTPConnection, HTTPException, HTTPSConnection, RemoteDisconnected
from urllib.parse import urlencode, urlsplit

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import TextError

try:
    import yaml
    HAS_YAML = True
except ImportError:
    yaml = None
    HAS_YAML = False


class ProbeError(TextError):
    """A kubeconfig or connection setting that cannot be used; the message names the field."""


class RequestError(TextError):
    """A request that got no HTTP answer (refused, reset, TLS failure, timeout); the message says which."""


class Connection(object):
    def __init__(self):
        self.server = None
        self.ca_file = None
        self.ca_data = None
        self.insecure = False
        self.cert_file = None
        self.cert_data = None
        self.key_file = None
        self.key_data = None
        self.token = None
        self.notes = []
        # Kubeconfig fields this client does not apply (a caller that must honour them uses another client).
        self.unsupported = []
        # The kubeconfig user authenticates through an exec or auth-provider plugin, which is not run.
        self.plugin = False


def _named(items, name, what):
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get(what) or {}
    raise ProbeError("kubeconfig: no %s named %r" % (what, name))


def _decode(value, field):
    try:
        return base64.b64decode(value)
    except (ValueError, TypeError) as exc:
        raise ProbeError("kubeconfig: %s is not Base64: %s" % (field, exc))


def load_kubeconfig(path):
    if not HAS_YAML:
        raise ProbeError("kubeconfig: PyYAML is required to read %s" % path)
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except (IOError, OSError) as exc:
        raise ProbeError("kubeconfig: cannot read %s: %s" % (path, exc))
    except yaml.YAMLError as exc:
        raise ProbeError("kubeconfig: %s is not valid YAML: %s" % (path, exc))
    if not isinstance(config, dict):
        raise ProbeError("kubeconfig: %s is not a kubeconfig mapping" % path)
    return config


def from_kubeconfig(config, context=None, base_dir=""):
    """A Connection from a parsed kubeconfig; relative file paths are taken relative to ``base_dir``."""
    conn = Connection()
    name = context or config.get("current-context")
    if not name:
        raise ProbeError("context: the kubeconfig has no current-context; name one")
    ctx = _named(config.get("contexts"), name, "context")
    cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(config.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}

    def path(value):
        return value if not value or os.path.isabs(value) else os.path.join(base_dir, value)

    conn.server = cluster.get("server")
    conn.insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if cluster.get("certificate-authority-data"):
        conn.ca_data = _decode(cluster["certificate-authority-data"], "certificate-authority-data")
    conn.ca_file = path(cluster.get("certificate-authority"))
    if user.get("client-certificate-data"):
        conn.cert_data = _decode(user["client-certificate-data"], "client-certificate-data")
    conn.cert_file = path(user.get("client-certificate"))
    if user.get("client-key-data"):
        conn.key_data = _decode(user["client-key-data"], "client-key-data")
    conn.key_file = path(user.get("client-key"))
    conn.token = user.get("token")
    if not conn.token and user.get("tokenFile"):
        try:
            with open(path(user["tokenFile"])) as handle:
                conn.token = handle.read().strip()
        except (IOError, OSError) as exc:
            raise ProbeError("kubeconfig: cannot read tokenFile: %s" % exc)
    for key in ("proxy-url", "tls-server-name"):
        if cluster.get(key):
            conn.unsupported.append("cluster %r: %s" % (ctx.get("cluster"), key))
    for key in ("exec", "auth-provider", "username", "password"):
        if user.get(key):
            conn.unsupported.append("user %r: %s" % (ctx.get("user"), key))
    if user.get("exec") or user.get("auth-provider"):
        conn.plugin = True
        conn.notes.append("the kubeconfig user authenticates through an exec or auth-provider plugin, which this probe "
                          "does not run; it asks anonymously")
    return conn


def default_kubeconfig(environ=None):
    environ = os.environ if environ is None else environ
    if environ.get("KUBECONFIG"):
        return environ["KUBECONFIG"].split(os.pathsep)[0]
    candidate = os.path.expanduser("~/.kube/config")
    return candidate if os.path.exists(candidate) else None


def resolve(kubeconfig=None, context=None, host=None, api_key=None, ca_cert=None, client_cert=None, client_key=None,
            validate_certs=None, anonymous=False):
    """The Connection to use. ``kubeconfig`` is a path or a parsed kubeconfig (a dict; its relative paths are
    taken relative to the working directory); without it and without ``host`` the default kubeconfig
    (KUBECONFIG, ~/.kube/config) is read."""
    if kubeconfig is None and host is None:
        kubeconfig = default_kubeconfig()
    if isinstance(kubeconfig, dict):
        conn = from_kubeconfig(kubeconfig, context, "")
    elif kubeconfig:
        kubeconfig = os.path.expanduser(kubeconfig)  # a raw (path or dict) option is not expanded by Ansible
        conn = from_kubeconfig(load_kubeconfig(kubeconfig), context, os.path.dirname(os.path.abspath(kubeconfig)))
    elif host:
        conn = Connection()
    else:
        raise ProbeError("host: no kubeconfig found and no host given")
    if host:
        conn.server = host
    if not conn.server:
        raise ProbeError("host: the kubeconfig names no server")
    if api_key:
        conn.token = api_key
    if ca_cert:
        conn.ca_file, conn.ca_data = ca_cert, None
    if client_cert:
        conn.cert_file, conn.cert_data = client_cert, None
    if client_key:
        conn.key_file, conn.key_data = client_key, None
    if validate_certs is not None:
        conn.insecure = not validate_certs
    if anonymous:
        conn.cert_file = conn.cert_data = conn.key_file = conn.key_data = conn.token = None
    return conn


class _Client(object):
    """Requests to the server of one Connection, over one kept-alive HTTP(S) connection; embedded certificates
    live in a private temp dir until close()."""

    def __init__(self, conn):
        self.conn = conn
        self.tmp = None
        self.http = None
        try:
            self.context = self._context()
        except BaseException:
            self.close()
            raise

    def _file(self, name, data):
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="auditops-probe-")
        path = os.path.join(self.tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    def _context(self):
        conn = self.conn
        if not str(conn.server).startswith("https://"):
            return None
        if conn.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            cafile = conn.ca_file or (self._file("ca.crt", conn.ca_data) if conn.ca_data else None)
            try:
                context = ssl.create_default_context(cafile=cafile)
            except (IOError, OSError, ssl.SSLError) as exc:
                raise ProbeError("ca_cert: cannot load the CA certificate%s: %s"
                                 % (" " + conn.ca_file if conn.ca_file else " (certificate-authority-data)", exc))
        cert = conn.cert_file or (self._file("client.crt", conn.cert_data) if conn.cert_data else None)
        key = conn.key_file or (self._file("client.key", conn.key_data) if conn.key_data else None)
        if cert:
            try:
                context.load_cert_chain(cert, key)
            except (IOError, OSError, ssl.SSLError) as exc:
                raise ProbeError("client_cert: cannot load the client certificate and key: %s" % exc)
        return context

    def _connection(self, timeout):
        url = urlsplit(self.conn.server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise RequestError("host: %r is not an http(s) URL" % self.conn.server)
        if url.scheme == "https":
            return HTTPSConnection(url.hostname, url.port or 443, timeout=timeout, context=self.context)
        return HTTPConnection(url.hostname, url.port or 80, timeout=timeout)

    def _send(self, method, path, query, body, content_type, timeout, limit):
        """``(status, raw body)`` over one kept-alive connection; RequestError when no HTTP answer came. A
        connection the server closed while idle is opened again once (only before anything was answered)."""
        target = urlsplit(self.conn.server).path.rstrip("/") + path
        if query:
            target += ("&" if "?" in target else "?") + urlencode(query)
        headers = {"Accept": "application/json, */*", "User-Agent": "auditops-deckhouse"}
        if self.conn.token:
            headers["Authorization"] = "Bearer %s" % self.conn.token
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
        for attempt in (1, 2):
            reused = self.http is not None
            if not reused:
                self.http = self._connection(timeout)
            self.http.timeout = timeout
            if self.http.sock is not None:
                self.http.sock.settimeout(timeout)
            try:
                self.http.request(method, target, body=body, headers=headers)
                response = self.http.getresponse()
                data = response.read(limit) if limit is not None else response.read()
            except (HTTPException, OSError, ssl.SSLError) as exc:
                self._drop()
                if reused and attempt == 1 and isinstance(exc, (ConnectionError, RemoteDisconnected)):
                    continue
                raise RequestError(str(exc) or type(exc).__name__)
            if response.will_close or not response.isclosed():
                # The server ends the connection, or part of the body was left unread.
                self._drop()
            return response.status, data

    def request(self, method, path, query=None, body=None, content_type=None, timeout=60):
        """``(status, body)``: ``body`` is the decoded JSON answer, or its text when it is not JSON. HTTP errors
        are answers, not exceptions; no answer at all raises RequestError. ``query`` is a list of ``(name,
        value)`` pairs (or a dict); ``body`` bytes, text, or an object sent as JSON; ``content_type`` defaults
        to application/json when there is a body."""
        status, data = self._send(method, path, query, body, content_type, timeout, None)
        text = data.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path, timeout, limit=4096):
        """``(status, body, error)``; status None when no HTTP answer came. ``limit`` caps the body read
        (None reads all of it)."""
        try:
            status, data = self._send("GET", path, None, None, None, timeout, limit)
        except RequestError as exc:
            return None, "", str(exc)
        return status, data.decode("utf-8", "replace"), None

    def _drop(self):
        if self.http is not None:
            self.http.close()
            self.http = None

    def close(self):
        self._drop()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


Client = _Client


def processes_with_args(args, proc_dir="/proc"):
    """PIDs of processes whose command line holds every item of ``args`` (exact argv items)."""
    found = []
    try:
        names = os.listdir(proc_dir)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc_dir, name, "cmdline"), "rb") as handle:
                argv = handle.read().decode("utf-8", "replace").split("\0")
        except (IOError, OSError):
            continue
        if all(arg in argv for arg in args):
            found.append(int(name))
    return sorted(found)


def anonymous(conn):
    return not (conn.token or conn.cert_file or conn.cert_data)


def wait_ready(conn, timeout=0, interval=2, delay=0, path="/readyz", request_timeout=5, process_args=None,
               proc_dir="/proc", clock=time.monotonic, sleep=time.sleep):
    """Probe ``path`` until it answers 200 (and, with ``process_args``, a process with those arguments runs) or
    ``timeout`` seconds have passed; ``timeout`` 0 probes once. Returns a dict: ready, readiness_known, status,
    body, error, attempts, elapsed, url, pids.

    Asked without credentials, 401 or 403 also counts: the server runs (an audit configuration it cannot load
    stops it at start) but does not tell anonymous clients more (``--anonymous-auth=false``); readiness_known
    is then false."""
    client = _Client(conn)
    start = clock()
    # Without credentials a refusal still proves the process serves.
    alive = (200, 401, 403) if anonymous(conn) else (200,)
    result = {"ready": False, "readiness_known": True, "status": None, "body": "", "error": None, "attempts": 0,
              "pids": [], "url": conn.server.rstrip("/") + path}
    try:
        if delay > 0:
            sleep(delay)
        deadline = clock() + timeout
        while True:
            result["attempts"] += 1
            status, body, error = client.get(path, request_timeout)
            result.update(status=status, body=body.strip(), error=error)
            pids = processes_with_args(process_args, proc_dir) if process_args else []
            result["pids"] = pids
            if status in alive and (not process_args or pids):
                result["ready"] = True
                result["readiness_known"] = status == 200
                break
            if process_args and not pids and status in alive:
                result["error"] = "no process runs with %s yet (the kubelet has not restarted it)" % " ".join(process_args)
            now = clock()
            if now >= deadline:
                break
            sleep(min(interval, deadline - now))
    finally:
        client.close()
    result["elapsed"] = round(clock() - start, 1)
    return result
