"""A test master node: a real kube-apiserver running as a static pod under a real kubelet.

The stack, all on this machine and all under one temporary directory (the machine's own
/etc/kubernetes, /var/lib/kubelet, /run/containerd and containerd are never touched):

* etcd from Debian, started by tests/cluster/harness.py (``harness.Etcd``), certificates from
  ``harness.make_pki``;
* containerd from Debian with its own config, root, state and socket, runc as its runtime;
* kubelet v1.33 built from the Go module proxy (tests/build-go.sh), standalone: no API server, static
  pods from ``<dir>/etc/kubernetes/manifests`` (``staticPodPath``);
* crictl: the subset in ./crictl over k8s.io/cri-client (cri-tools itself is not on the proxy);
* images built locally (images.py): the kube-apiserver binary with its libraries, and pause.

The kube-apiserver pod is written the way Deckhouse writes it: flags in ``command``, a checksum
annotation, the audit policy in ``/etc/kubernetes/deckhouse/extra-files`` (a hostPath volume that
holds another file too), the audit log in a ``kube-audit-log`` volume, a ``healthcheck`` sidecar
and ``hostNetwork``. Container paths are Deckhouse's; host paths live in the temporary directory.

Use::

    with Master() as master:            # builds (cached), starts, waits for /readyz
        master.write_manifest(audit=True)
        master.wait_ready()

Command line: ``python tests/master/master.py smoke`` starts the stack, waits for the apiserver,
prints the timings and tears everything down; ``sweep`` removes what a killed test run left behind
(``Master.start()`` does that too: containers outlive a killed containerd by design).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster"))
import harness  # noqa: E402  (tests/cluster is not a package)

NODE_NAME = "auditops-master"
POD_NAME = "kube-apiserver"
# Paths inside the kube-apiserver container: the ones Deckhouse's manifest uses.
EXTRA_FILES = "/etc/kubernetes/deckhouse/extra-files"
AUDIT_POLICY = EXTRA_FILES + "/audit-policy.yaml"
ADMISSION_CONFIG = EXTRA_FILES + "/admission-control-config.yaml"
AUDIT_LOG_DIR = "/var/log/kube-audit"
PKI = "/etc/kubernetes/pki"
# Deckhouse's audit flags (control-plane-manager, kube-apiserver.yaml.tpl) besides the policy file.
AUDIT_LOG_FLAGS = ("--audit-log-format=json", "--audit-log-maxage=30", "--audit-log-maxbackup=10",
                   "--audit-log-maxsize=100", "--audit-log-path=" + AUDIT_LOG_DIR + "/audit.log",
                   "--audit-log-truncate-enabled=true")
ADMISSION_CONFIGURATION = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: EventRateLimit
  configuration:
    apiVersion: eventratelimit.admission.k8s.io/v1alpha1
    kind: Configuration
    limits:
    - type: Server
      qps: 5000
      burst: 20000
"""


class MasterError(RuntimeError):
    pass


def build(python=None):
    """Build (cached) everything; returns the name=value lines of build.sh as a dict."""
    env = dict(os.environ, PYTHON=python or sys.executable)
    out = subprocess.run([os.path.join(HERE, "build.sh")], stdout=subprocess.PIPE, check=True, text=True, env=env).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _wait(check, timeout, what, interval=0.5, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    tails = "".join("\n--- %s\n%s" % (path, harness._tail(path, 30)) for path in logs)
    raise MasterError("%s: not reached after %ss%s" % (what, timeout, tails))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pids_using(marker):
    """Processes whose command line contains ``marker`` (a path unique to this master)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry))
    return pids


def _mounts_under(path):
    """Mount points at or below ``path``, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _die_with_parent():
    """preexec_fn: SIGTERM when the test process dies (as harness.py does for etcd and kube-apiserver).
    Containers outlive containerd by design; sweep_stale() removes what a killed run left."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _unmount_all(path):
    for point in _mounts_under(path):
        if subprocess.run(["umount", point], check=False, stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["umount", "-l", point], check=False)


def _remove_log_links(pod_logs_dir):
    # The kubelet links every container log into /var/log/containers (a fixed path); drop ours.
    links = "/var/log/containers"
    if not os.path.isdir(links):
        return
    for name in os.listdir(links):
        path = os.path.join(links, name)
        if os.path.islink(path) and os.readlink(path).startswith(pod_logs_dir + "/"):
            os.unlink(path)


def force_cleanup(workdir):
    """Remove every trace of a master whose test process is gone (killed run): containers through
    runc's state in the work dir, then containerd, the kubelet, shims and etcd, then mounts and files."""
    runc_root = os.path.join(workdir, "containerd", "runc", "k8s.io")
    if os.path.isdir(runc_root):
        runc = shutil.which("runc") or "/usr/sbin/runc"
        ids = subprocess.run([runc, "--root", runc_root, "list", "-q"], stdout=subprocess.PIPE, text=True,
                             check=False).stdout.split()
        for cid in ids:
            subprocess.run([runc, "--root", runc_root, "kill", cid, "KILL"], check=False, stderr=subprocess.DEVNULL)
        for cid in ids:
            subprocess.run([runc, "--root", runc_root, "delete", "--force", cid], check=False, stderr=subprocess.DEVNULL)
            # A killed shim leaves its socket: containerd 1.6 names it sha256(<address>/<namespace>/<id>).
            address = os.path.join(workdir, "containerd", "containerd.sock", "k8s.io", cid)
            sock = os.path.join("/run/containerd/s", hashlib.sha256(address.encode()).hexdigest())
            if os.path.exists(sock):
                os.unlink(sock)
    for pid in _pids_using(workdir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait(lambda: not _pids_using(workdir), 30, "processes of %s gone" % workdir)
    _unmount_all(workdir)
    _remove_log_links(os.path.join(workdir, "var/log/pods"))
    shutil.rmtree(workdir, ignore_errors=True)
    for path in ("/run/containerd/s", "/run/containerd"):  # shim socket dirs; kept when anything is in them
        try:
            os.rmdir(path)
        except OSError:
            pass


def sweep_stale(parent=None):
    """force_cleanup() every master directory whose owning test process no longer runs; returns them."""
    swept = []
    parent = parent or tempfile.gettempdir()
    for name in sorted(os.listdir(parent)):
        workdir = os.path.join(parent, name)
        owner = os.path.join(workdir, "owner.pid")
        if not name.startswith("auditops-master-") or not os.path.exists(owner):
            continue
        with open(owner) as handle:
            pid = int(handle.read().strip() or 0)
        if pid and _alive(pid):
            continue
        force_cleanup(workdir)
        swept.append(workdir)
    return swept


class Master:
    """Everything of one test master. Context manager: ``start()`` on enter, ``stop()`` on exit."""

    def __init__(self, workdir=None, artefacts=None, api_port=None):
        self.artefacts = artefacts
        self.workdir = os.path.realpath(workdir or tempfile.mkdtemp(prefix="auditops-master-"))
        self._own_workdir = workdir is None
        w = self.workdir
        self.manifests_dir = os.path.join(w, "etc/kubernetes/manifests")
        self.manifest_path = os.path.join(self.manifests_dir, "kube-apiserver.yaml")
        self.pki_dir = os.path.join(w, "etc/kubernetes/pki")
        self.extra_files_dir = os.path.join(w, "etc/kubernetes/deckhouse/extra-files")
        self.audit_log_dir = os.path.join(w, "var/log/kube-audit")
        self.pod_logs_dir = os.path.join(w, "var/log/pods")
        self.kubelet_dir = os.path.join(w, "var/lib/kubelet")
        self.backup_dir = os.path.join(w, "var/lib/auditops-deckhouse/backups")
        self.containerd_dir = os.path.join(w, "containerd")
        self.socket = os.path.join(self.containerd_dir, "containerd.sock")
        self.runtime_endpoint = "unix://" + self.socket
        self.kubeconfig = os.path.join(w, "etc/kubernetes/admin.conf")
        self.containerd_log = os.path.join(w, "containerd.log")
        self.kubelet_log = os.path.join(w, "kubelet.log")
        self.api_port = api_port or harness.free_port()
        self.api_url = "https://127.0.0.1:%d" % self.api_port
        self.etcd = self.containerd = self.kubelet = None
        self.pki = None
        self._replaced_pids = set()
        # containerd 1.6 puts shim sockets in /run/containerd/s whatever its state dir is.
        self._run_dirs = [d for d in ("/run/containerd/s", "/run/containerd") if not os.path.exists(d)]
        self.timings = {}

    # --- life cycle -------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        begin = time.monotonic()
        self.swept = sweep_stale(os.path.dirname(self.workdir))
        with open(os.path.join(self.workdir, "owner.pid"), "w") as handle:
            handle.write(str(os.getpid()))
        if self.artefacts is None:
            self.artefacts = build()
            # An upstream crictl (cri-tools), when one is at hand, replaces the subset.
            self.artefacts["crictl"] = os.environ.get("AUDITOPS_CRICTL") or self.artefacts["crictl"]
        self.timings["build"] = time.monotonic() - begin
        try:
            for path in (self.manifests_dir, self.extra_files_dir, self.audit_log_dir, self.pod_logs_dir,
                         self.kubelet_dir, self.backup_dir, self.containerd_dir):
                os.makedirs(path, exist_ok=True)
            self.pki = harness.make_pki(self.pki_dir)
            harness.write_kubeconfig(self.kubeconfig, self.api_url, self.pki)
            with open(os.path.join(self.extra_files_dir, "admission-control-config.yaml"), "w") as handle:
                handle.write(ADMISSION_CONFIGURATION)
            self.etcd = harness.Etcd(self.workdir)
            step = time.monotonic()
            self._start_containerd()
            self._import_images()
            self.timings["containerd"] = time.monotonic() - step
            step = time.monotonic()
            self._start_kubelet()
            self.timings["kubelet"] = time.monotonic() - step
        except BaseException:
            self.stop()
            raise

    def _start_containerd(self):
        d = self.containerd_dir
        runc_opts = {"SystemdCgroup": False, "BinaryName": self.artefacts["runc"], "Root": os.path.join(d, "runc")}
        # TOML written by hand: the subset needed here is flat enough, and it keeps the stdlib only.
        lines = [
            "version = 2",
            'root = "%s"' % os.path.join(d, "root"),
            'state = "%s"' % os.path.join(d, "state"),
            # Snapshotters and tracing this master does not use; btrfs/zfs/devmapper probe host devices.
            'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", '
            '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", '
            '"io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
            "[grpc]", 'address = "%s"' % self.socket,
            "[ttrpc]", 'address = "%s.ttrpc"' % self.socket,
            '[plugins."io.containerd.internal.v1.opt"]', 'path = "%s"' % os.path.join(d, "opt"),
            '[plugins."io.containerd.grpc.v1.cri"]',
            'sandbox_image = "%s"' % self.artefacts["pause_image"],
            'stream_server_address = "127.0.0.1"', 'stream_server_port = "0"',
            # The kubelet asks for oom_score_adj -998/-997 for critical pods; lowering it needs
            # CAP_SYS_RESOURCE, which this sandbox lacks (runc then fails with "can't get final
            # child's PID from pipe: EOF"). Clamp to containerd's own value, as rootless setups do.
            "restrict_oom_score_adj = true",
            '[plugins."io.containerd.grpc.v1.cri".containerd]',
            'snapshotter = "overlayfs"', 'default_runtime_name = "runc"',
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]', 'runtime_type = "io.containerd.runc.v2"',
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        ] + ["%s = %s" % (k, json.dumps(v)) for k, v in runc_opts.items()] + [
            # hostNetwork pods only: no CNI plugin is needed, the directories just keep it off /etc/cni.
            '[plugins."io.containerd.grpc.v1.cri".cni]',
            'bin_dir = "%s"' % os.path.join(d, "cni/bin"), 'conf_dir = "%s"' % os.path.join(d, "cni/net.d"),
        ]
        config = os.path.join(d, "config.toml")
        with open(config, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        with open(self.containerd_log, "ab") as log:
            self.containerd = subprocess.Popen([self.artefacts["containerd"], "--config", config], stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True,
                                               preexec_fn=_die_with_parent)  # pylint: disable=subprocess-popen-preexec-fn
        _wait(lambda: self.containerd.poll() is not None or self.crictl("version", check=False).returncode == 0,
              60, "containerd", logs=[self.containerd_log])
        if self.containerd.poll() is not None:
            raise MasterError("containerd exited with %s:\n%s" % (self.containerd.returncode, harness._tail(self.containerd_log)))

    def _import_images(self):
        for key in ("pause_archive", "apiserver_archive"):
            subprocess.run([self.artefacts["ctr"], "--address", self.socket, "-n", "k8s.io", "images", "import",
                            self.artefacts[key]], check=True, stdout=subprocess.DEVNULL)

    def _start_kubelet(self):
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "staticPodPath": self.manifests_dir,
            "containerRuntimeEndpoint": self.runtime_endpoint, "imageServiceEndpoint": self.runtime_endpoint,
            "podLogsDir": self.pod_logs_dir,
            "address": "127.0.0.1", "port": harness.free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": harness.free_port(),
            # Standalone: no API server to ask, nobody to authenticate against.
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            # No kubepods/QoS cgroup tree on the host and no node-allocatable enforcement.
            "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
            "failSwapOn": False,
            # Leave the host's iptables alone.
            "makeIPTablesUtilChains": False,
            # The two local images are never pulled again: keep them (100 disables image GC).
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "localStorageCapacityIsolation": False,
            "containerLogMaxSize": "10Mi",
        }
        path = os.path.join(self.workdir, "kubelet-config.yaml")
        with open(path, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        self.kubelet_healthz = "http://127.0.0.1:%d/healthz" % config["healthzPort"]
        cmd = [self.artefacts["kubelet"], "--config", path, "--root-dir", self.kubelet_dir,
               "--hostname-override", NODE_NAME, "--v", "2"]
        with open(self.kubelet_log, "ab") as log:
            self.kubelet = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent)  # pylint: disable=subprocess-popen-preexec-fn
        _wait(lambda: self.kubelet.poll() is not None or self._get(self.kubelet_healthz) == 200, 90, "kubelet /healthz",
              logs=[self.kubelet_log])
        if self.kubelet.poll() is not None:
            raise MasterError("kubelet exited with %s:\n%s" % (self.kubelet.returncode, harness._tail(self.kubelet_log, 60)))

    def stop(self):
        """Stop pods, kubelet, containerd and etcd; remove leftovers; nothing stays mounted or running."""
        problems = []
        # 1. The kubelet stops the static pod itself once its manifest is gone.
        if os.path.exists(self.manifest_path):
            os.unlink(self.manifest_path)
        if self.kubelet is not None and self.kubelet.poll() is None and self.containerd is not None:
            try:
                _wait(lambda: not self.crictl("ps", "--quiet", check=False).stdout.strip(), 60, "pods stopped by the kubelet")
            except MasterError as err:
                problems.append(str(err))
        self._terminate(self.kubelet, "kubelet", problems)
        # 2. Whatever is left (the kubelet may have been killed): stop and remove every sandbox.
        if self.containerd is not None and self.containerd.poll() is None:
            for pod in self.crictl("pods", "--quiet", check=False).stdout.split():
                self.crictl("stopp", pod, check=False)
                self.crictl("rmp", pod, check=False)
            left = self.crictl("pods", "--quiet", check=False).stdout.split()
            if left:
                problems.append("sandboxes left in containerd: %s" % left)
        self._terminate(self.containerd, "containerd", problems)
        # 3. Shims and containers outlive containerd by design; ours name our socket.
        for pid in _pids_using(self.socket):
            problems.append("process %d still used %s; killed" % (pid, self.socket))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # 4. The kubelet bind-mounts its root dir onto itself (rshared, for mount propagation) and
        # leaves it; anything else still mounted (rootfs overlays, sandbox /dev/shm) is a leak.
        problems += ["%s was still mounted; unmounted" % point for point in _mounts_under(self.workdir)
                     if point != self.kubelet_dir]
        _unmount_all(self.workdir)
        if self.etcd is not None:
            self.etcd.stop()
        _remove_log_links(self.pod_logs_dir)
        for path in self._run_dirs:  # only the ones this master created, and only when empty
            try:
                os.rmdir(path)
            except OSError:
                pass
        self.stop_problems = problems
        if self._own_workdir and not os.environ.get("AUDITOPS_KEEP_MASTER"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return problems

    @staticmethod
    def _terminate(proc, what, problems, timeout=30):
        if harness.stop_process(proc, timeout):
            problems.append("%s ignored SIGTERM for %ss; killed" % (what, timeout))

    # --- the kube-apiserver static pod ---------------------------------------------------------

    def manifest(self, audit_policy=True, audit_log=True, checksum="initial", extra_args=()):
        """The kube-apiserver pod as Deckhouse renders it (container paths are Deckhouse's)."""
        flags = [
            "kube-apiserver",
            "--admission-control-config-file=" + ADMISSION_CONFIG,
            "--advertise-address=127.0.0.1",
            "--anonymous-auth=true",
            "--authorization-mode=RBAC",
            "--bind-address=127.0.0.1",
            "--client-ca-file=%s/ca.crt" % PKI,
            "--enable-admission-plugins=EventRateLimit",
            "--enable-priority-and-fairness=false",
            "--etcd-prefix=/registry",
            "--etcd-servers=" + self.etcd.url,
            "--secure-port=%d" % self.api_port,
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file=%s/sa.pub" % PKI,
            "--service-account-signing-key-file=%s/sa.key" % PKI,
            "--service-cluster-ip-range=10.222.0.0/16",
            "--tls-cert-file=%s/apiserver.crt" % PKI,
            "--tls-private-key-file=%s/apiserver.key" % PKI,
        ]
        if audit_log:
            flags += list(AUDIT_LOG_FLAGS)
        if audit_policy:
            flags.append("--audit-policy-file=" + AUDIT_POLICY)
        flags += list(extra_args)
        # Deckhouse keeps flags sorted; the order also keeps this rendering stable.
        flags = flags[:1] + sorted(flags[1:])
        mounts = [{"mountPath": EXTRA_FILES, "name": "deckhouse-extra-files", "readOnly": True},
                  {"mountPath": PKI, "name": "k8s-certs", "readOnly": True}]
        volumes = [{"hostPath": {"path": self.extra_files_dir, "type": "DirectoryOrCreate"}, "name": "deckhouse-extra-files"},
                   {"hostPath": {"path": self.pki_dir, "type": "DirectoryOrCreate"}, "name": "k8s-certs"}]
        if audit_log:
            mounts.append({"mountPath": AUDIT_LOG_DIR, "name": "kube-audit-log"})
            volumes.append({"hostPath": {"path": self.audit_log_dir, "type": "DirectoryOrCreate"}, "name": "kube-audit-log"})
        probe = {"httpGet": {"host": "127.0.0.1", "path": "/livez", "port": self.api_port, "scheme": "HTTPS"},
                 "periodSeconds": 10, "timeoutSeconds": 15}
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "annotations": {
                    "control-plane-manager.deckhouse.io/checksum": hashlib.sha256(checksum.encode()).hexdigest(),
                    "control-plane-manager.deckhouse.io/kubernetes-version": "1.33",
                },
                "labels": {"component": "kube-apiserver", "tier": "control-plane"},
                "name": POD_NAME, "namespace": "kube-system",
            },
            "spec": {
                "containers": [
                    {"command": flags, "image": self.artefacts["apiserver_image"], "imagePullPolicy": "Never",
                     "name": "kube-apiserver",
                     "livenessProbe": dict(probe, failureThreshold=8, initialDelaySeconds=10),
                     "startupProbe": dict(probe, failureThreshold=24, initialDelaySeconds=10),
                     "resources": {"requests": {"cpu": "100m"}},
                     "volumeMounts": mounts},
                    # Deckhouse's healthcheck sidecar; here the pause program stands in for its binary.
                    {"name": "healthcheck", "image": self.artefacts["pause_image"], "imagePullPolicy": "Never",
                     "command": ["/pause"]},
                ],
                "hostNetwork": True,
                "priorityClassName": "system-node-critical",
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "volumes": volumes,
            },
        }

    def write_manifest(self, **kwargs):
        """Render and write kube-apiserver.yaml atomically (the kubelet ignores dot files)."""
        text = yaml.safe_dump(self.manifest(**kwargs), sort_keys=False)
        current = None
        if os.path.exists(self.manifest_path):
            with open(self.manifest_path) as handle:
                current = handle.read()
        # A changed manifest is a new pod for the kubelet: the processes running now will go.
        self._replaced_pids = {pid for pid, _args in self._apiserver_processes()} if text != current else set()
        tmp = os.path.join(self.manifests_dir, ".kube-apiserver.yaml.tmp")
        with open(tmp, "w") as handle:
            handle.write(text)
        os.replace(tmp, self.manifest_path)
        return text

    def replace_manifest(self, timeout=60, **kwargs):
        """write_manifest() after the kubelet has stopped the running pod: the manifest is removed first.

        A static pod written while the previous one of the same name still terminates waits for the kubelet's
        pod-worker back-off (10 s plus up to 50 % jitter, pod_workers.go allowPodStart, backOffPeriod in
        kubelet.go: not configurable); once that pod is gone, the new one starts at once. The kubelet is done
        with the old pod when its containers are removed and its directory under the root dir is cleaned up.
        For setting up a state; a break the way Deckhouse does it rewrites the manifest in place."""
        if os.path.exists(self.manifest_path):
            os.unlink(self.manifest_path)
        pods_dir = os.path.join(self.kubelet_dir, "pods")

        def gone():
            return (not self.crictl("ps", "--all", "--quiet", check=False).stdout.strip()
                    and not self.crictl("pods", "--quiet", "--state", "ready", check=False).stdout.strip()
                    and not (os.path.isdir(pods_dir) and os.listdir(pods_dir)))
        _wait(gone, timeout, "the kubelet done with the removed kube-apiserver pod", interval=0.2, logs=[self.kubelet_log])
        return self.write_manifest(**kwargs)

    def write_policy(self, text):
        """Put an audit policy where the manifest's --audit-policy-file points (None removes it)."""
        path = os.path.join(self.extra_files_dir, "audit-policy.yaml")
        if text is None:
            if os.path.exists(path):
                os.unlink(path)
            return path
        with open(path, "w") as handle:
            handle.write(text)
        return path

    # --- talking to it ---------------------------------------------------------------------

    def crictl(self, *args, check=True):
        return subprocess.run([self.artefacts["crictl"], "--runtime-endpoint", self.runtime_endpoint] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=check)

    def request(self, method, path, body=None, timeout=10):
        """(status, parsed JSON or text) from the static pod's apiserver, as the admin."""
        return harness.https_request(harness.client_context(self.pki), method, self.api_url + path, body, timeout=timeout)

    def ready(self):
        try:
            return self.request("GET", "/readyz", timeout=3)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout=180):
        _wait(self.ready, timeout, "kube-apiserver /readyz", logs=[self.kubelet_log])

    def wait_down(self, timeout=60, settle=3.0):
        """Wait until /readyz has failed for ``settle`` seconds in a row."""
        since = [None]

        def down():
            if self.ready():
                since[0] = None
                return False
            since[0] = since[0] or time.monotonic()
            return time.monotonic() - since[0] >= settle
        _wait(down, timeout, "kube-apiserver down", logs=[self.kubelet_log])

    @staticmethod
    def _get(url):
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    def _apiserver_processes(self):
        """(pid, argv) of each kube-apiserver process serving this master's port (seen from the host)."""
        found = []
        for pid in _pids_using("--secure-port=%d" % self.api_port):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as handle:
                    args = handle.read().decode(errors="replace").split("\0")[:-1]
            except OSError:
                continue
            if args and os.path.basename(args[0]) == "kube-apiserver":
                found.append((pid, args))
        return found

    def apiserver_args(self):
        """argv of the kube-apiserver process serving this master's port now (None when none runs)."""
        procs = self._apiserver_processes()
        return procs[0][1] if procs else None

    def wait_applied(self, timeout=180):
        """Wait until the kubelet runs the manifest on disk and it answers /readyz.

        After a manifest change the old pod keeps answering until the kubelet replaces it, and two
        manifests may differ only in an annotation, so neither /readyz nor the command line tells
        the pods apart: the process must also be a new one (write_manifest noted the old ones)."""
        with open(self.manifest_path) as handle:
            want = yaml.safe_load(handle)["spec"]["containers"][0]["command"]

        def applied():
            fresh = [args for pid, args in self._apiserver_processes() if pid not in self._replaced_pids]
            return fresh == [want] and self.ready()
        _wait(applied, timeout, "kube-apiserver running the new manifest", logs=[self.kubelet_log])

    def apiserver_container_ids(self):
        """IDs of every kube-apiserver container, running or exited, newest first."""
        return self.crictl("ps", "--all", "--quiet", "--name", "^kube-apiserver$").stdout.split()

    def wait_crashed(self, timeout=120, ignore=()):
        """Wait until a kube-apiserver container not in ``ignore`` has exited on a start error; returns its log.

        ``ignore`` holds the containers that ran before the break: under load the kubelet may not have created
        the new container yet, and an earlier crashed one (another case's) must not be read as this one's."""
        found = {}

        def crashed():
            if self.ready():
                return False
            ids = [i for i in self.apiserver_container_ids() if i not in ignore]
            if not ids:
                return False
            res = self.crictl("logs", "--tail", "30", ids[0], check=False)
            log = res.stdout + res.stderr
            if '"command failed"' in log or "Error: " in log:
                found["log"] = log
                return True
            return False
        _wait(crashed, timeout, "kube-apiserver failing at start", logs=[self.kubelet_log])
        return found["log"]

    def apiserver_containers(self):
        """Rows of ``crictl ps --all`` for the kube-apiserver container, newest first."""
        out = self.crictl("ps", "--all", "--name", "^kube-apiserver$").stdout.splitlines()
        return out[1:]


def smoke():
    begin = time.monotonic()
    with Master() as master:
        step = time.monotonic()
        master.write_manifest(audit_policy=False, audit_log=False)
        master.wait_applied()
        ready = time.monotonic() - step
        print("stack: %s" % {k: round(v, 1) for k, v in master.timings.items()})
        print("kube-apiserver static pod ready in %.1fs at %s" % (ready, master.api_url))
        print(master.crictl("pods").stdout)
        print(master.crictl("ps", "--all").stdout)
    print("torn down; problems: %s; total %.1fs" % (master.stop_problems or "none", time.monotonic() - begin))
    return 1 if master.stop_problems else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["build", "smoke", "sweep"])
    args = parser.parse_args(argv)
    if args.action == "sweep":
        for workdir in sweep_stale():
            print("removed the leftovers of %s" % workdir)
        return 0
    if args.action == "build":
        for key, value in build().items():
            print("%s=%s" % (key, value))
        return 0
    return smoke()


if __name__ == "__main__":
    sys.exit(main())
