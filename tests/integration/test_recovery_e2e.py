"""Real apiserver, real failure, real recovery.

A test master (tests/master/master.py) runs kube-apiserver v1.33 as a static pod: a real kubelet
(standalone, built from the Go module proxy) on a real containerd (Debian) with runc. For each way
an audit configuration stops kube-apiserver, the test:

1. starts from a healthy, audited apiserver (Deckhouse-style manifest, policy in extra-files, the
   ``kube-system/audit-policy`` Secret holding the same policy);
2. installs the broken configuration the way Deckhouse would (the Secret changes, the policy file is
   rendered, the manifest gets a new checksum) and checks that the apiserver really stops: the newest
   container exited on its own start error and /readyz does not answer;
3. runs playbooks/recover_apiserver.yml against the master (ansible-playbook, local connection), with
   the role's variables pointing at the test master's manifest, crictl, CRI socket, backup dir,
   apiserver URL and kubeconfig;
4. checks that /readyz answers again, that the running process and the manifest have no --audit-*
   flag, that the backup is outside the manifests directory and that the Secret is fixed (or deleted);
5. for a fixed Secret, renders the manifest again with the Secret's policy, as Deckhouse's
   control-plane-manager does next, and checks that the real apiserver loads it and audits.

Steps 1 and 5 set up a state: the test removes the manifest and waits for the kubelet to stop the pod before it
writes the new one (``Master.replace_manifest``), which saves the kubelet's 10-15 s back-off for a static pod
written while its predecessor still terminates. The break (step 2) and the recovery (step 3) edit the manifest in
place, as Deckhouse and the role do.

The time from the playbook's start to the first /readyz 200 is printed for each case.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
sys.path.insert(0, os.path.join(ROOT, "tests", "master"))
import master as test_master  # noqa: E402  (tests/master is not a package)

pytestmark = [
    pytest.mark.cluster, pytest.mark.slow,
    # containerd, runc and the kubelet's mounts need root (CI and the project's machines run as root).
    pytest.mark.skipif(os.geteuid() != 0, reason="the test master (containerd, kubelet) needs root"),
]

GOOD_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
- RequestReceived
rules:
- level: None
  nonResourceURLs: ["/livez*", "/readyz*", "/healthz*"]
- level: Metadata
"""

# What replaces the Secret's policy on "fix": a different, valid policy, so the test can tell it apart.
FIX_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
- RequestReceived
rules:
- level: RequestResponse
  resources:
  - group: ""
    resources: ["secrets"]
- level: Metadata
"""

# (case id, policy text on disk and in the Secret (None: the file is missing), what the apiserver
#  says when it exits, Secret action of the recovery)
CASES = [
    ("invalid-yaml",
     "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [unclosed\n",
     "loading audit policy file", "fix"),
    ("v1beta1",
     "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n",
     'no kind \\"Policy\\" is registered for version \\"audit.k8s.io/v1beta1\\"', "fix"),
    ("unknown-level",
     "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Verbose\n",
     "loading audit policy file", "fix"),
    ("missing-file", None, "no such file or directory", "delete"),
]

SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"


@pytest.fixture(scope="module")
def master():
    with test_master.Master() as node:
        yield node
    assert not node.stop_problems, node.stop_problems


def put_secret(master, policy_text):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audit-policy", "namespace": "kube-system"},
            "data": {"audit-policy.yaml": base64.b64encode(policy_text.encode()).decode()}}
    status, answer = master.request("PUT", SECRET_PATH, body)
    if status == 404:
        status, answer = master.request("POST", "/api/v1/namespaces/kube-system/secrets", body)
    assert status in (200, 201), answer


def audit_lines(master):
    path = os.path.join(master.audit_log_dir, "audit.log")
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return len(handle.readlines())


def wait_for_audit_events(master, before, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        master.request("GET", "/api/v1/namespaces/kube-system/configmaps")
        if audit_lines(master) > before:
            return
        time.sleep(1)
    raise AssertionError("no new audit events in %s" % master.audit_log_dir)


def make_healthy(master, checksum):
    """The starting point: audited apiserver, policy file and Secret in step (as control-plane-manager keeps them)."""
    master.write_policy(GOOD_POLICY)
    master.replace_manifest(checksum=checksum)
    master.wait_applied()
    put_secret(master, GOOD_POLICY)
    wait_for_audit_events(master, audit_lines(master))


def run_recovery(master, tmp_path, secret_action, check=False):
    """ansible-playbook playbooks/recover_apiserver.yml; returns (output, seconds to /readyz 200, seconds total).

    With ``check`` (``--check --diff``) the seconds to /readyz are None: nothing may bring it back."""
    inventory = tmp_path / "inventory.ini"
    # Local connection as root: no privilege escalation to do (and no sudo on the test machines).
    inventory.write_text("[masters]\n%s ansible_connection=local ansible_become=false ansible_python_interpreter=%s\n"
                         % (test_master.NODE_NAME, sys.executable))
    extra = {
        "apiserver_recovery_manifest": master.manifest_path,
        "apiserver_recovery_backup_dir": master.backup_dir,
        "apiserver_recovery_crictl": master.artefacts["crictl"],
        "apiserver_recovery_runtime": "crictl",
        "apiserver_recovery_runtime_endpoint": master.runtime_endpoint,
        "apiserver_recovery_api_url": master.api_url,
        "apiserver_recovery_kubeconfig": master.kubeconfig,
        "apiserver_recovery_wait_delay": 1,
        "apiserver_recovery_restart_grace": 1,
        "apiserver_recovery_wait_timeout": 180,
        "apiserver_recovery_secret_action": secret_action,
        "apiserver_recovery_kubernetes_version": "1.33",
    }
    if secret_action == "fix":
        extra["apiserver_recovery_policy"] = FIX_POLICY
    extra_file = tmp_path / "vars.json"
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
           "-e", "@%s" % extra_file, os.path.join(ROOT, "playbooks", "recover_apiserver.yml")]
    if check:
        cmd += ["--check", "--diff"]

    # Measured from outside: a poller sees the first /readyz 200 after the playbook started.
    healthy_at = []
    done = threading.Event()

    def poll():
        while not done.is_set():
            if master.ready():
                healthy_at.append(time.monotonic())
                return
            time.sleep(0.25)
    start = time.monotonic()
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False, timeout=600)
    total = time.monotonic() - start
    (tmp_path / ("playbook-check.log" if check else "playbook.log")).write_text(proc.stdout)
    done.set()
    poller.join(5)
    assert proc.returncode == 0, proc.stdout[-6000:]
    if check:
        return proc.stdout, (healthy_at[0] - start if healthy_at else None), total
    assert healthy_at, "the playbook succeeded but /readyz never answered 200 during it:\n" + proc.stdout[-3000:]
    return proc.stdout, healthy_at[0] - start, total


def report_from(output):
    """The role's final report (the debug task's msg) from the playbook output."""
    marker = output.rfind("Report what happened on this master]")  # the TASK header, not a profile line
    assert marker >= 0, output[-3000:]
    start = output.find("{", marker)
    decoder = json.JSONDecoder()
    return decoder.raw_decode(output[start:])[0]["msg"]


def apiserver_pods(master):
    """IDs of the kube-apiserver pod sandboxes on the master, as the role lists them."""
    return master.crictl("pods", "--quiet", "--namespace", "kube-system", "--name", "^kube-apiserver").stdout.split()


def stopped_pods(output):
    """The pod IDs the role's crictl stopp task stopped (its changed items), from the playbook output. A pod of the
    crash-looping kube-apiserver can be gone by the time its stopp runs; that item fails quietly (rc != 0, ok) and
    the role does not count it."""
    start = output.index("Stop the kube-apiserver pods (crictl)]")
    return re.findall(r"^changed: \[[^]]+\] => \(item=([0-9a-f]+)\)", output[start:output.index("TASK [", start)], re.M)


@pytest.mark.parametrize("case,policy,error,secret_action", CASES, ids=[c[0] for c in CASES])
def test_broken_audit_policy_is_recovered(master, tmp_path, capsys, case, policy, error, secret_action):
    make_healthy(master, "healthy-" + case)
    assert any(a.startswith("--audit-policy-file=") for a in master.apiserver_args() or [])

    # Break it the way Deckhouse would: the Secret changes, the file is rendered, the manifest re-rendered.
    put_secret(master, policy if policy is not None else GOOD_POLICY)
    before = set(master.apiserver_container_ids())
    master.write_policy(policy)
    broken_manifest = master.write_manifest(checksum="broken-" + case)
    log = master.wait_crashed(ignore=before)
    assert error in log, log
    time.sleep(2)
    assert not master.ready(), "kube-apiserver answers /readyz with a broken audit policy"

    if case == "v1beta1":
        # A check run on the broken master: it says what it would remove and changes nothing.
        backups = sorted(os.listdir(master.backup_dir))
        output, healthy, _seconds = run_recovery(master, tmp_path, secret_action, check=True)
        assert healthy is None and not master.ready()
        assert report_from(output)["action"] == "check mode - nothing was changed"
        # --diff shows the flag leaving the manifest
        assert re.search(r"^-\s+- --audit-policy-file=%s$" % re.escape(test_master.AUDIT_POLICY), output, re.M), output
        with open(master.manifest_path) as handle:
            assert handle.read() == broken_manifest
        assert sorted(os.listdir(master.backup_dir)) == backups

    pods_before = apiserver_pods(master)
    output, to_healthy, total = run_recovery(master, tmp_path, secret_action)
    report = report_from(output)
    # The role stopped pods recorded before its edit, none the kubelet started from the edited manifest. The kubelet
    # may win the race: it sees the edit at once and deletes a deleted static pod's sandboxes (CI on 70a6756 saw all
    # four gone before their stopp). Every recorded pod the role did not stop must then be gone, not left running.
    stopped = stopped_pods(output)
    assert set(stopped) <= set(pods_before), (stopped, pods_before)
    left = (set(pods_before) - set(stopped)) & set(apiserver_pods(master))
    assert not left, ("recorded pods neither stopped by the role nor removed by the kubelet", left, stopped)
    # Before the bounded waits the output says what they wait for and how long, at the default verbosity.
    assert re.search(r"stopped %d kube-apiserver pod\(s\) or container\(s\) through crictl; .*Waiting up to 180 s for "
                     r"/livez, then /readyz, at %s, one try every 1 s" % (len(stopped), re.escape(master.api_url)),
                     output), output[-4000:]
    with capsys.disabled():
        print("\n[recovery e2e] %-14s playbook start -> /readyz 200: %5.1f s (playbook total %5.1f s; role: %s; secret %s)"
              % (case, to_healthy, total, report["action"], secret_action))

    # Back, and without auditing: the process the kubelet runs now has no --audit-* flag.
    assert master.ready()
    args = master.apiserver_args()
    assert args, "no kube-apiserver process runs"
    assert not [a for a in args if a.startswith("--audit-")], args
    with open(master.manifest_path) as handle:
        manifest = yaml.safe_load(handle)
    container = manifest["spec"]["containers"][0]
    assert not [a for a in container["command"] if a.startswith("--audit-")]
    volumes = {v["name"] for v in manifest["spec"]["volumes"]}
    # kube-audit-log served only --audit-log-path; extra-files still holds the admission config.
    assert volumes == {"deckhouse-extra-files", "k8s-certs"}, volumes
    assert {m["name"] for m in container["volumeMounts"]} == volumes
    assert "--admission-control-config-file=" + test_master.ADMISSION_CONFIG in container["command"]
    assert manifest["metadata"]["annotations"] == yaml.safe_load(broken_manifest)["metadata"]["annotations"]
    assert [c["name"] for c in manifest["spec"]["containers"]] == ["kube-apiserver", "healthcheck"]
    # Nothing but the manifest in the manifests directory (the kubelet would run a backup there).
    assert os.listdir(master.manifests_dir) == ["kube-apiserver.yaml"]
    backups = glob.glob(os.path.join(master.backup_dir, "kube-apiserver*"))
    assert report["manifest_backup"] in backups, (report, backups)
    with open(report["manifest_backup"]) as handle:
        assert handle.read() == broken_manifest
    assert "--audit-policy-file=" + test_master.AUDIT_POLICY in report["removed_flags"]
    assert report["removed_volumes"] == ["kube-audit-log"]
    assert "loading audit policy file" in report["what_was_wrong"], report["what_was_wrong"]

    # The Secret: replaced by the validated policy, or gone.
    status, secret = master.request("GET", SECRET_PATH)
    if secret_action == "delete":
        assert status == 404, secret
    else:
        assert status == 200, secret
        stored = yaml.safe_load(base64.b64decode(secret["data"]["audit-policy.yaml"]))
        assert stored["apiVersion"] == "audit.k8s.io/v1"
        assert [r["level"] for r in stored["rules"]] == ["RequestResponse", "Metadata"]
        # Deckhouse's next step: render the fixed Secret into the file and the audit flags back into the
        # manifest. The real apiserver must load it and audit again.
        master.write_policy(base64.b64decode(secret["data"]["audit-policy.yaml"]).decode())
        before = audit_lines(master)
        master.replace_manifest(checksum="fixed-" + case)
        master.wait_applied()
        wait_for_audit_events(master, before)


def test_healthy_master_is_left_alone(master, tmp_path):
    """A master whose apiserver is healthy: the playbook changes nothing and restarts nothing."""
    make_healthy(master, "healthy-idempotence")
    with open(master.manifest_path) as handle:
        before = handle.read()
    container = master.crictl("ps", "--quiet", "--name", "^kube-apiserver$").stdout.split()
    backups = sorted(os.listdir(master.backup_dir))
    output, to_healthy, _seconds = run_recovery(master, tmp_path, "delete")
    assert to_healthy < 5, "the apiserver was not healthy all along"
    report = report_from(output)
    assert report["action"].startswith("none"), report
    assert "changed=0" in output
    with open(master.manifest_path) as handle:
        assert handle.read() == before
    assert master.crictl("ps", "--quiet", "--name", "^kube-apiserver$").stdout.split() == container
    assert sorted(os.listdir(master.backup_dir)) == backups
    assert master.request("GET", SECRET_PATH)[0] == 200  # "delete" applies only to a recovered master
