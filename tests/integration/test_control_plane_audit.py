# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control_plane_audit role end to end.

Deckhouse mode against the real kube-apiserver with the ModuleConfig CRD: the settings merge with the keys
and field managers already there, the Secret round-trips, check mode sends nothing, a second run changes
nothing, state absent, conflicts, refused policies, and the rollback when /readyz does not answer.

kubeadm mode on the real kube-apiserver binary: the role edits a kubeadm-style static pod manifest; a
kube-apiserver is started from the audit flags of the edited manifest (standing in for the kubelet), the role
waits for it, and it writes JSON audit events to the log path. A broken policy is refused before any write.
"""

import base64
import json
import os
import shutil
import socket
import threading
import time
from unittest import mock

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_manifest import get_flags, load_manifest
from ansible_collections.auditops.deckhouse.tests.integration._role_run import RoleRun, ansible_playbook, role_env, vars_file
from ansible_collections.auditops.deckhouse.tests import _paths

pytestmark = pytest.mark.cluster

ROOT = _paths.ROOT
PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "control_plane_audit.yml")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "manifests")
MC_PATH = "/apis/deckhouse.io/v1alpha1/moduleconfigs/control-plane-manager"
SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/audit-policy"
KUBEADM_CONFIG_PATH = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
US = "auditops-deckhouse"
MINIMAL = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  omitStages:\n  - RequestReceived\n"
RULES = [{"level": "None", "resources": [{"group": "", "resources": ["events"]}]},
         {"level": "Metadata", "omitStages": ["RequestReceived"]}]


@pytest.fixture
def run_role(ansible_env, k8s_cluster, tmp_path):
    env = role_env(ansible_env)

    def run(variables, check=False, diff=False, kubeconfig=None):
        variables = dict(variables)
        variables.setdefault("control_plane_audit_kubeconfig", kubeconfig or k8s_cluster.kubeconfig)
        variables.setdefault("control_plane_audit_rollout_delay", 0)
        variables.setdefault("control_plane_audit_rollout_timeout", 30)
        inventory = tmp_path / "inventory.ini"
        inventory.write_text("localhost ansible_connection=local\n")
        return RoleRun(ansible_playbook(PLAYBOOK, inventory, [vars_file(tmp_path, variables)], env, check=check,
                                        diff=diff))
    run.inventory = str(tmp_path / "inventory.ini")
    return run


def get(api, path):
    status, body = api.request("GET", path)
    return body if status == 200 else None


def apply(api, path, obj, manager):
    """Server-side apply ``obj`` as ``manager`` (PATCH to the object path creates it when missing)."""
    status, body = api.request("PATCH", path + "?fieldManager=%s&force=true" % manager, obj,
                               content_type="application/apply-patch+yaml")
    assert status in (200, 201), body
    return body


def delete(api, path):
    status, body = api.request("DELETE", path)
    assert status in (200, 404), body


@pytest.fixture(scope="module", autouse=True)
def no_audit_objects_after_this_file(k8s_cluster):
    """The other files on this cluster find no ModuleConfig control-plane-manager and no audit-policy Secret of ours."""
    yield
    for path in (MC_PATH, SECRET_PATH):
        delete(k8s_cluster.api, path)


@pytest.fixture
def clean(k8s_cluster):
    """No ModuleConfig control-plane-manager and no audit-policy Secret before each test; after it, the same unless
    the test left exactly what ``minimal`` starts from (then the next test takes it over)."""
    api = k8s_cluster.api
    for path in (MC_PATH, SECRET_PATH):
        delete(api, path)
    yield api
    if not is_minimal(api):
        for path in (MC_PATH, SECRET_PATH):
            delete(api, path)


def secret_text(api):
    body = get(api, SECRET_PATH)
    return None if body is None else base64.b64decode(body["data"]["audit-policy.yaml"]).decode()


def managers(obj):
    """{manager: fieldsV1} of an object's managedFields."""
    return dict((e["manager"], e.get("fieldsV1", {})) for e in obj["metadata"].get("managedFields", []))


# What the role leaves on a cluster without either object for control_plane_audit_preset: minimal.
MINIMAL_MODULE_CONFIG_SPEC = {"version": 3, "settings": {"apiserver": {
    "auditPolicyEnabled": True, "basicAuditPolicyEnabled": True, "auditLog": {"output": "File"}}}}


def is_minimal(api):
    """Whether the cluster holds exactly what one role run with the minimal preset leaves on a cluster without the
    ModuleConfig and the Secret: the same spec, policy and labels, and no field manager but ours."""
    mc, secret = get(api, MC_PATH), get(api, SECRET_PATH)
    return (mc is not None and secret is not None and mc["spec"] == MINIMAL_MODULE_CONFIG_SPEC
            and set(managers(mc)) == {US} and set(managers(secret)) == {US}
            and secret["metadata"].get("labels") == {"app.kubernetes.io/managed-by": "auditops.deckhouse"}
            and set(secret["data"]) == {"audit-policy.yaml"} and secret_text(api) == MINIMAL)


@pytest.fixture
def minimal(run_role, k8s_cluster):
    """The cluster as the role leaves it with the minimal preset (``is_minimal``). The tests that end there (a change
    rolled back, or the minimal preset applied last) run one after the other, so the role run that sets it up happens
    once for all of them: each later one takes over the state, which is checked field for field, instead of a role
    run of its own (about ten module processes each). A test run alone, or after a test that left anything else,
    gets the role run."""
    api = k8s_cluster.api
    if not is_minimal(api):
        for path in (MC_PATH, SECRET_PATH):
            delete(api, path)
        assert run_role({"control_plane_audit_preset": "minimal"}).rc == 0
        assert is_minimal(api)
    yield api
    if not is_minimal(api):
        for path in (MC_PATH, SECRET_PATH):
            delete(api, path)


def module_config(settings, version=2):
    return {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "control-plane-manager"},
            "spec": {"version": version, "settings": settings}}


FOREIGN = {"apiserver": {"bindToWildcard": True, "certSANs": ["api.example.com"]}, "etcd": {"backup": {"enabled": False}}}


# --- Deckhouse mode --------------------------------------------------------------------------------------

def test_settings_merge_without_clobbering_foreign_keys_and_second_run_is_a_no_op(run_role, clean):
    apply(clean, MC_PATH, module_config(FOREIGN), "platform-team")
    first = run_role({"control_plane_audit_preset": "minimal", "control_plane_audit_basic_policy": False,
                      "control_plane_audit_log_output": "Stdout"})
    assert first.rc == 0, first
    mc = get(clean, MC_PATH)
    assert mc["spec"]["version"] == 2  # kept, not ours
    assert mc["spec"]["settings"] == {
        "apiserver": {"bindToWildcard": True, "certSANs": ["api.example.com"], "auditPolicyEnabled": True,
                      "basicAuditPolicyEnabled": False, "auditLog": {"output": "Stdout"}},
        "etcd": {"backup": {"enabled": False}}}
    owners = managers(mc)
    assert set(owners) == {"platform-team", US}
    assert owners[US]["f:spec"] == {"f:settings": {"f:apiserver": {
        ".": {}, "f:auditLog": {".": {}, "f:output": {}}, "f:auditPolicyEnabled": {}, "f:basicAuditPolicyEnabled": {}}}}
    assert "f:bindToWildcard" in owners["platform-team"]["f:spec"]["f:settings"]["f:apiserver"]
    assert "f:etcd" in owners["platform-team"]["f:spec"]["f:settings"]
    assert secret_text(clean) == MINIMAL
    secret = get(clean, SECRET_PATH)
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "auditops.deckhouse"}
    versions = (mc["metadata"]["resourceVersion"], secret["metadata"]["resourceVersion"])

    second = run_role({"control_plane_audit_preset": "minimal", "control_plane_audit_basic_policy": False,
                       "control_plane_audit_log_output": "Stdout"})
    assert second.rc == 0 and second.stats["changed"] == 0, second
    assert second.result("Apply Secret kube-system/audit-policy (server-side apply)").get("skipped")
    assert (get(clean, MC_PATH)["metadata"]["resourceVersion"],
            get(clean, SECRET_PATH)["metadata"]["resourceVersion"]) == versions


# The fields the role reads of DeckhouseRelease (spec.version, status.phase and its values, status as a
# subresource), written down from deckhouse/deckhouse modules/002-deckhouse/crds/deckhouse-release.yaml; the
# collection's reference data has no copy of that CRD, so the test cluster does not load it by default.
RELEASE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "deckhousereleases.deckhouse.io"},
    "spec": {"group": "deckhouse.io", "scope": "Cluster",
             "names": {"plural": "deckhousereleases", "singular": "deckhouserelease", "kind": "DeckhouseRelease"},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "required": ["spec"], "properties": {
                               "spec": {"type": "object", "required": ["version"],
                                        "properties": {"version": {"type": "string"}}},
                               "status": {"type": "object", "properties": {"phase": {"type": "string", "enum": [
                                   "Pending", "Deployed", "Outdated", "Suspended", "Superseded", "Skipped"]}}}}}}}]}}
RELEASES_PATH = "/apis/deckhouse.io/v1alpha1/deckhousereleases"
POLICY_TASK = "Validate the policy with the audit policy engine (strict)"


@pytest.fixture
def releases(k8s_cluster):
    """DeckhouseRelease objects as Deckhouse keeps them: one Deployed, older ones Superseded, a newer one Pending."""
    api = k8s_cluster.api
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/deckhousereleases.deckhouse.io"
    status, body = api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", RELEASE_CRD)
    assert status in (201, 409), body
    deadline = time.monotonic() + 60
    while api.request("GET", RELEASES_PATH)[0] != 200:
        assert time.monotonic() < deadline, "DeckhouseRelease is not served"
        time.sleep(0.5)
    for name, phase in (("v1.67.5", "Superseded"), ("v1.68.3", "Deployed"), ("v1.75.0", "Pending")):
        status, body = api.request("POST", RELEASES_PATH, {"apiVersion": "deckhouse.io/v1alpha1", "kind": "DeckhouseRelease",
                                                           "metadata": {"name": name}, "spec": {"version": name}})
        assert status == 201, body
        status, body = api.request("PATCH", "%s/%s/status" % (RELEASES_PATH, name), {"status": {"phase": phase}},
                                   content_type="application/merge-patch+json")
        assert status == 200, body
    yield api
    delete(api, crd_path)


def test_the_deployed_deckhouse_release_picks_the_basic_rule_layout(run_role, clean, releases):
    """Issue 16: the basic rules are modelled for the release the cluster runs, read from its DeckhouseRelease."""
    run = run_role({"control_plane_audit_policy": RULES}, check=True)
    assert run.rc == 0, run
    assert run.result(POLICY_TASK)["deckhouse_layout"] == "2025-01"  # v1.68.3 is Deployed; v1.75.0 only Pending
    named = run_role({"control_plane_audit_policy": RULES, "control_plane_audit_deckhouse_release": "1.75"}, check=True)
    assert named.rc == 0 and named.result(POLICY_TASK)["deckhouse_layout"] == "current", named
    # A release whose layout is not modelled stops the role before anything is sent.
    status, body = releases.request("PATCH", "%s/v1.68.3/status" % RELEASES_PATH, {"status": {"phase": "Superseded"}},
                                    content_type="application/merge-patch+json")
    assert status == 200, body
    status, body = releases.request("POST", RELEASES_PATH, {"apiVersion": "deckhouse.io/v1alpha1", "kind": "DeckhouseRelease",
                                                            "metadata": {"name": "v1.71.2"}, "spec": {"version": "v1.71.2"}})
    assert status == 201, body
    status, body = releases.request("PATCH", "%s/v1.71.2/status" % RELEASES_PATH, {"status": {"phase": "Deployed"}},
                                    content_type="application/merge-patch+json")
    assert status == 200, body
    refused = run_role({"control_plane_audit_policy": RULES})
    assert refused.rc != 0 and "deckhouse_release: no basic-rule layout is modelled for DKP 1.71" in refused.failure(), refused
    assert get(clean, MC_PATH) is None and get(clean, SECRET_PATH) is None


def test_check_mode_sends_nothing_and_diff_shows_the_decoded_policy(run_role, clean):
    run = run_role({"control_plane_audit_preset": "minimal"}, check=True, diff=True)
    assert run.rc == 0, run
    assert get(clean, MC_PATH) is None and get(clean, SECRET_PATH) is None
    plan = run.result("Plan the audit settings")
    assert plan["changed"]
    diffs = plan["diff"]
    assert diffs[1]["before_header"] == "Secret kube-system/audit-policy data.audit-policy.yaml (decoded)"
    assert diffs[1]["after"] == MINIMAL
    assert "auditPolicyEnabled: true" in diffs[0]["after"]
    # The applies ran as server dry runs.
    assert run.result("Apply Secret kube-system/audit-policy (server-side apply)")["changed"]
    assert run.result("Wait until every master runs the new configuration, roll back when one does not").get("skipped")


def test_absent_turns_audit_off_and_leaves_other_settings(run_role, clean):
    apply(clean, MC_PATH, module_config(FOREIGN), "platform-team")
    assert run_role({"control_plane_audit_preset": "minimal", "control_plane_audit_log_path": "/var/log/k8s-audit"}).rc == 0
    run = run_role({"control_plane_audit_state": "absent"})
    assert run.rc == 0, run
    mc = get(clean, MC_PATH)
    assert mc["spec"]["settings"] == {
        "apiserver": {"bindToWildcard": True, "certSANs": ["api.example.com"], "auditPolicyEnabled": False},
        "etcd": {"backup": {"enabled": False}}}
    assert get(clean, SECRET_PATH) is None
    again = run_role({"control_plane_audit_state": "absent"})
    assert again.rc == 0 and again.stats["changed"] == 0, again


def test_invalid_or_dangerous_policy_sends_nothing(run_role, clean):
    bad = run_role({"control_plane_audit_policy": [{"level": "metadata"}]})
    assert bad.rc != 0 and "rules[0].level" in bad.failure(), bad
    leaky = run_role({"control_plane_audit_policy": [
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]}]})
    assert leaky.rc != 0 and "sensitive-body" in leaky.failure(), leaky
    assert get(clean, MC_PATH) is None and get(clean, SECRET_PATH) is None


def test_schema_error_sends_nothing(run_role, clean):
    run = run_role({"control_plane_audit_preset": "minimal", "control_plane_audit_log_path": "/var/log/audit/"})
    assert run.rc != 0 and "spec.settings.apiserver.auditLog.path: Invalid value" in run.failure(), run
    assert get(clean, MC_PATH) is None and get(clean, SECRET_PATH) is None


def test_keys_of_another_manager_need_force(run_role, clean):
    status, body = clean.request("POST", "/apis/deckhouse.io/v1alpha1/moduleconfigs?fieldManager=kubectl-edit",
                                 module_config({"apiserver": {"auditPolicyEnabled": False}}, version=1))
    assert status == 201, body
    refused = run_role({})
    assert refused.rc != 0, refused
    assert "spec.settings.apiserver.auditPolicyEnabled: false is set by kubectl-edit (Update)" in refused.failure()
    assert get(clean, MC_PATH)["spec"]["settings"] == {"apiserver": {"auditPolicyEnabled": False}}
    forced = run_role({"control_plane_audit_force_conflicts": True})
    assert forced.rc == 0, forced
    mc = get(clean, MC_PATH)
    assert mc["spec"]["settings"]["apiserver"]["auditPolicyEnabled"] is True
    assert "f:auditPolicyEnabled" in managers(mc)[US]["f:spec"]["f:settings"]["f:apiserver"]


def unused_port():
    """A port nothing listens on (yet)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_not_ready_first_secret_is_deleted_again(run_role, clean):
    run = run_role({"control_plane_audit_preset": "minimal", "control_plane_audit_rollout_timeout": 1,
                    "control_plane_audit_probe_host": "https://127.0.0.1:%d" % unused_port()})
    assert run.rc != 0 and "was restored (delete)" in run.failure(), run
    assert get(clean, SECRET_PATH) is None


def test_unreachable_api_fails_with_the_recovery_command(run_role, apiserver_runner):
    """A kube-apiserver of its own that goes away right after both objects were written: the rollback cannot
    reach it, so the message gives the recovery command."""
    import harness  # tests/cluster, on sys.path through conftest
    with apiserver_runner.serve([]) as api:
        harness.ensure_namespace(api, "kube-system")
        harness.load_crds(api, files=("deckhouse-crd-module-config.yaml",))
        stopped = threading.Event()

        def stop_after_write():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if get(api, SECRET_PATH) is not None and get(api, MC_PATH) is not None:
                    api.stop()
                    stopped.set()
                    return
                time.sleep(0.1)
        watcher = threading.Thread(target=stop_after_write, daemon=True)
        watcher.start()
        run = run_role({"control_plane_audit_preset": "minimal", "control_plane_audit_rollout_delay": 3,
                        "control_plane_audit_rollout_timeout": 2}, kubeconfig=api.kubeconfig)
        watcher.join(5)
    assert stopped.is_set()
    assert run.rc != 0, run
    message = run.failure()
    assert "Restoring the previous Secret failed" in message
    assert "bring it back on the masters with: ansible-playbook auditops.deckhouse.apiserver_recovery -i %s" % (
        run_role.inventory) in " ".join(message.split())


def test_readyz_module_with_client_certificates(run_module, k8s_cluster):
    result = run_module("auditops.deckhouse.apiserver_readyz", {"kubeconfig": k8s_cluster.kubeconfig, "timeout": 0})
    assert result["ready"] and result["status"] == 200 and result["url"] == k8s_cluster.server + "/readyz"
    # /apis needs credentials: with the kubeconfig's client certificate it answers 200, anonymous 403.
    args = {"kubeconfig": k8s_cluster.kubeconfig, "path": "/apis", "timeout": 0}
    authed = run_module("auditops.deckhouse.apiserver_readyz", args)
    anonymous = run_module("auditops.deckhouse.apiserver_readyz", dict(args, anonymous=True))
    assert (authed["status"], anonymous["status"]) == (200, 403)


# --- Ending in and starting from the minimal preset's objects, one after the other (fixture ``minimal``) -------


def test_module_config_is_created_with_the_schema_version_and_the_secret_round_trips(run_role, clean):
    run = run_role({"control_plane_audit_policy": RULES})
    assert run.rc == 0, run
    mc = get(clean, MC_PATH)
    assert mc["spec"] == {"version": 3, "settings": {"apiserver": {
        "auditPolicyEnabled": True, "basicAuditPolicyEnabled": True, "auditLog": {"output": "File"}}}}
    text = secret_text(clean)
    # What kube-apiserver decodes from the Secret is the policy that was given (group "" is Go's empty value).
    given = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": RULES}
    assert ap.load_policy(text).policy == ap.load_policy(given).policy
    assert yaml.safe_load(text)["rules"][0] == {"level": "None", "resources": [{"resources": ["events"]}]}
    plan = run.result("Plan the audit settings")
    assert plan["secret"]["after_policy"] == text
    # A new policy rewrites the Secret and leaves the ModuleConfig alone.
    mc_version = mc["metadata"]["resourceVersion"]
    changed = run_role({"control_plane_audit_preset": "minimal"})
    assert changed.rc == 0 and changed.stats["changed"] >= 1, changed
    assert secret_text(clean) == MINIMAL
    assert get(clean, MC_PATH)["metadata"]["resourceVersion"] == mc_version
    assert changed.result("Apply ModuleConfig control-plane-manager (server-side apply, owned keys only)").get("skipped")


def test_not_ready_restores_the_previous_secret(run_role, minimal):
    run = run_role({"control_plane_audit_policy": RULES, "control_plane_audit_rollout_timeout": 2,
                    "control_plane_audit_probe_host": "https://127.0.0.1:%d" % unused_port()})
    assert run.rc != 0, run
    message = run.failure()
    assert "The previous content of Secret kube-system/audit-policy was restored (apply)" in message
    assert "ansible-playbook auditops.deckhouse.apiserver_recovery -i %s" % run_role.inventory in message
    assert secret_text(minimal) == MINIMAL
    # Put back as it was, the label too.
    assert get(minimal, SECRET_PATH)["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "auditops.deckhouse"}


# --- Deckhouse rollout, master by master -------------------------------------------------------------------

PODS_PATH = "/api/v1/namespaces/kube-system/pods"
CHECKSUM = "control-plane-manager.deckhouse.io/checksum"


class ControlPlaneManager(object):
    """Plays Deckhouse's control-plane-manager for kube-apiserver on a few masters, in a background thread, as
    its source describes it (deckhouse/deckhouse modules/040-control-plane-manager):

    - images/control-plane-manager/controller/converge.go: the manifest is regenerated when its checksum (a
      SHA-256 over the kubeadm-rendered manifest and the files it names, the audit policy among them) changes;
      the checksum goes into the pod annotation control-plane-manager.deckhouse.io/checksum, and the kubelet's
      mirror pod kube-apiserver-<node> is replaced by one carrying it, Ready only once kube-apiserver runs.
      The double hashes what it can see (the Secret's policy and the ModuleConfig's apiserver settings, plus the
      node name, standing in for the master-local files) - it changes exactly when those inputs change.
    - ``never_ready`` masters never get Ready with anything but the settings the double started with (a policy
      kube-apiserver cannot load).
    - hooks/update_approval.go: one master at a time; the next one is approved only when the control-plane-manager
      pod of the current one is Ready, i.e. when that master converged - a master whose kube-apiserver never gets
      Ready stops the rollout there.
    - The DaemonSet restarts when its config Secret changes, so a later change (the rollback) is rendered again
      from the first master on; a master that failed converges again with it.
    The mirror pods are plain Pods with spec.nodeName (no kubelet runs here); Ready is set through pods/status."""

    def __init__(self, api, nodes, step=1.0, never_ready=()):
        self.api, self.nodes, self.step, self.never_ready = api, list(nodes), step, set(never_ready)
        self.rendered = []      # (node, checksum) in the order they were rendered
        self.ready_at = {}      # node -> Unix time just before its pod was last made Ready
        self.stop = threading.Event()
        self.inputs = self.good = self._inputs()
        for node in self.nodes:
            self._replace(node, self._checksum(node, self.inputs), ready=True)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _inputs(self):
        secret = get(self.api, SECRET_PATH)
        mc = get(self.api, MC_PATH)
        return json.dumps({"policy": (secret or {}).get("data"),
                           "apiserver": ((mc or {}).get("spec") or {}).get("settings", {}).get("apiserver")},
                          sort_keys=True)

    @staticmethod
    def _checksum(node, inputs):
        import hashlib
        return hashlib.sha256((inputs + node).encode()).hexdigest()

    def _replace(self, node, checksum, ready):
        name = "kube-apiserver-" + node
        delete(self.api, "%s/%s?gracePeriodSeconds=0" % (PODS_PATH, name))
        for _attempt in range(50):
            status, body = self.api.request("POST", PODS_PATH, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "kube-system", "annotations": {CHECKSUM: checksum},
                             "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
                "spec": {"nodeName": node, "containers": [{"name": "kube-apiserver", "image": "kube-apiserver"}]}})
            if status == 201:
                break
            assert status == 409, body  # the old pod is still being removed
            time.sleep(0.1)
        if ready:
            self._set_ready(name)

    def _set_ready(self, name):
        self.ready_at[name[len("kube-apiserver-"):]] = time.time()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status, body = self.api.request("PATCH", "%s/%s/status" % (PODS_PATH, name), {"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}},
            content_type="application/merge-patch+json")
        assert status == 200, body

    def _run(self):
        while not self.stop.is_set():
            inputs = self._inputs()
            if inputs != self.inputs:
                self.inputs = inputs
                self._roll(inputs)
            time.sleep(0.2)

    def _roll(self, inputs):
        for node in self.nodes:
            if self.stop.is_set() or inputs != self._inputs():
                return  # a newer change: the DaemonSet restarts and renders from the first master again
            checksum = self._checksum(node, inputs)
            self._replace(node, checksum, ready=False)
            self.rendered.append((node, checksum))
            self.stop.wait(self.step)
            if node in self.never_ready and inputs != self.good:
                while not self.stop.is_set() and inputs == self._inputs():
                    time.sleep(0.2)  # converge fails here; the next master is never approved
                if not self.stop.is_set():
                    self._roll(self._inputs())
                return
            self._set_ready("kube-apiserver-" + node)

    def checksums(self):
        status, body = self.api.request("GET", PODS_PATH + "?labelSelector=component%3Dkube-apiserver")
        assert status == 200, body
        return dict((pod["spec"]["nodeName"], pod["metadata"]["annotations"].get(CHECKSUM)) for pod in body["items"])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        for node in self.nodes:
            delete(self.api, "%s/kube-apiserver-%s?gracePeriodSeconds=0" % (PODS_PATH, node))


def test_a_master_that_never_comes_back_rolls_the_secret_back_and_is_named(run_role, minimal):
    masters = ["master-0", "master-1", "master-2"]
    with ControlPlaneManager(minimal, masters, step=1.0, never_ready=["master-1"]) as cpm_double:
        old = cpm_double.checksums()
        started = time.monotonic()
        run = run_role({"control_plane_audit_policy": RULES, "control_plane_audit_rollout_timeout": 6,
                        "control_plane_audit_rollout_total_timeout": 60})
        took = time.monotonic() - started
        assert run.rc != 0, run
        rollout = run.result("Wait until every master's kube-apiserver carries the new checksum and is Ready, one by one")
        assert not rollout["ready"] and rollout["order"] == ["master-0"], rollout
        assert rollout["failure"]["master"] == "master-1" and rollout["failure"]["reason"] == "master_timeout"
        message = " ".join(run.failure().split())
        assert "The audit change did not roll out: master master-1: its kube-apiserver pod kube-apiserver-master-1 " \
               "has the new checksum" in message, message
        assert "but has not been Ready for" in message and "masters done: master-0; not done: master-1, master-2" in message
        assert "The previous content of Secret kube-system/audit-policy was restored (apply)" in message
        assert secret_text(minimal) == MINIMAL
        # Deckhouse renders the previous policy again: every master comes back with the checksum it had.
        deadline = time.monotonic() + 30
        while cpm_double.checksums() != old and time.monotonic() < deadline:
            time.sleep(0.5)
        assert cpm_double.checksums() == old
        assert rollout["elapsed"] >= 6
        print("never-ready master: failed after %.1f s waited, %.1f s role run" % (rollout["elapsed"], took))


def test_rollout_waits_for_every_master_one_by_one(run_role, minimal):
    masters = ["master-0", "master-1", "master-2"]
    with ControlPlaneManager(minimal, masters, step=1.5) as cpm_double:
        old = cpm_double.checksums()
        started = time.monotonic()
        run = run_role({"control_plane_audit_policy": RULES, "control_plane_audit_rollout_timeout": 20,
                        "control_plane_audit_rollout_total_timeout": 60})
        took = time.monotonic() - started
        assert run.rc == 0, run
        rollout = run.result("Wait until every master's kube-apiserver carries the new checksum and is Ready, one by one")
        assert rollout["ready"] and rollout["order"] == masters, rollout
        now = cpm_double.checksums()
        assert sorted(now) == masters and all(now[node] != old[node] for node in masters)
        assert rollout["checksums"] == now
        # The wait returned only after the last master was Ready with the new checksum. (Its own elapsed time
        # proves nothing on a loaded machine: the role may reach the wait when the double is nearly done.)
        waited = "Wait until every master's kube-apiserver carries the new checksum and is Ready, one by one"
        assert run.task_end(waited) >= cpm_double.ready_at["master-2"] > cpm_double.ready_at["master-0"], \
            (run.task_end(waited), cpm_double.ready_at)
        assert took >= 4.5, took  # three steps of 1.5 s at least
        events = run.result("Show the rollout, master by master")["msg"]
        assert any("master-2: kube-apiserver Ready with the new checksum" in line and "(3 of 3 masters)" in line
                   for line in events), events
        print("rollout of 3 masters: %.1f s waited, %.1f s role run, %d listings"
              % (rollout["elapsed"], took, rollout["observations"]))


def test_rollout_module_reads_checksums_and_refuses_bad_input(run_module, k8s_cluster):
    with ControlPlaneManager(k8s_cluster.api, ["master-a"]) as cpm_double:
        read = run_module("auditops.deckhouse.cpm_rollout_wait", {"kubeconfig": k8s_cluster.kubeconfig})
        assert read["_status"] == "SUCCESS" and read["checksums"] == cpm_double.checksums(), read
        same = run_module("auditops.deckhouse.cpm_rollout_wait", {
            "kubeconfig": k8s_cluster.kubeconfig, "before": read["checksums"], "master_timeout": 2, "interval": 1})
    assert same["_status"] == "FAILED!" and not same["ready"]
    assert same["msg"].startswith("the rollout did not finish: master master-a: its kube-apiserver pod still carries "
                                  "the checksum from before the change"), same["msg"]
    empty = run_module("auditops.deckhouse.cpm_rollout_wait", {"kubeconfig": k8s_cluster.kubeconfig, "before": {}})
    assert empty["_status"] == "FAILED!" and empty["msg"].startswith("before: expected {node: checksum or null}")


# --- kubeadm mode ----------------------------------------------------------------------------------------

def test_dynamic_audit_backend_is_gone(apiserver_runner):
    """What docs/audit-settings.md says about AuditSink: kube-apiserver no longer knows its flag."""
    result = apiserver_runner.try_start(["--audit-dynamic-configuration"], timeout=60)
    assert not result.started and "unknown flag: --audit-dynamic-configuration" in result.log


CLUSTER_CONFIGURATION = """apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  extraArgs:
  - name: authorization-mode
    value: Node,RBAC
kubernetesVersion: v1.33.0
"""


class KubeadmNode(object):
    """A kubeadm-style master in a temp dir: the static pod manifest runs the real kube-apiserver binary."""

    def __init__(self, root, cluster):
        self.root = str(root)
        self.manifests = os.path.join(self.root, "etc", "kubernetes", "manifests")
        os.makedirs(self.manifests)
        self.manifest = os.path.join(self.manifests, "kube-apiserver.yaml")
        self.port = unused_port()
        with open(os.path.join(FIXTURES, "kubeadm-no-audit.yaml")) as handle:
            pod = yaml.safe_load(handle)
        container = pod["spec"]["containers"][0]
        container["image"] = "registry.k8s.io/kube-apiserver:v%s" % cluster.kubernetes_version
        container["command"] = [cluster.binary] + [
            arg for arg in container["command"][1:] if not arg.startswith("--secure-port")] + [
            "--bind-address=127.0.0.1", "--secure-port=%d" % self.port]
        with open(self.manifest, "w") as handle:
            yaml.safe_dump(pod, handle, sort_keys=False)
        self.policy_dir = os.path.join(self.root, "etc", "kubernetes", "audit")
        self.log_dir = os.path.join(self.root, "var", "log", "kubernetes", "audit")
        self.backups = os.path.join(self.root, "var", "lib", "auditops-deckhouse", "backups")

    def variables(self, **extra):
        base = {"control_plane_audit_mode": "kubeadm", "control_plane_audit_manifest": self.manifest,
                "control_plane_audit_policy_dir": self.policy_dir, "control_plane_audit_log_path": self.log_dir,
                "control_plane_audit_backup_dir": self.backups, "control_plane_audit_k8s_delegate_to": "localhost"}
        base.update(extra)
        return base

    def text(self):
        with open(self.manifest) as handle:
            return handle.read()

    def pod(self):
        return load_manifest(self.text())[0]

    def audit_args(self):
        return ["%s=%s" % (n, v) for n, v in get_flags(self.pod()) if n.startswith("--audit-")]

    def snapshot(self):
        return _paths.snapshot(self.root, keep=lambda name: not name.startswith("vars-") and name != "inventory.ini")


class Kubelet(object):
    """Stands in for the kubelet: once the manifest carries an audit policy, runs kube-apiserver with the
    manifest's audit flags on the manifest's port until stop()."""

    def __init__(self, node, runner):
        self.node, self.runner = node, runner
        self.api, self.error = None, None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            deadline = time.monotonic() + 120
            while not any(a.startswith("--audit-policy-file=") for a in self.node.audit_args()):
                if time.monotonic() > deadline or self.done.is_set():
                    return
                time.sleep(0.2)
            import harness  # tests/cluster, on sys.path through conftest
            # The harness picks the port of a new kube-apiserver with free_port(); make it the manifest's.
            with mock.patch.object(harness, "free_port", return_value=self.node.port):
                serving = self.runner.serve(self.node.audit_args(), timeout=120)
                api = serving.__enter__()
            try:
                self.api = api
                self.done.wait(300)
            finally:
                serving.__exit__(None, None, None)
        except Exception as exc:  # reported by the test
            self.error = exc

    def stop(self):
        self.done.set()
        self.thread.join(60)


@pytest.fixture
def kubeadm_node(tmp_path, k8s_cluster):
    node = KubeadmNode(tmp_path / "node", k8s_cluster)
    api = k8s_cluster.api
    delete(api, KUBEADM_CONFIG_PATH)
    status, body = api.request("POST", "/api/v1/namespaces/kube-system/configmaps?fieldManager=kubeadm", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": CLUSTER_CONFIGURATION}})
    assert status == 201, body
    yield node
    delete(api, KUBEADM_CONFIG_PATH)
    shutil.rmtree(str(tmp_path / "node"), ignore_errors=True)


def test_kubeadm_mode_end_to_end_on_the_real_apiserver(run_role, kubeadm_node, apiserver_runner, k8s_cluster):
    node = kubeadm_node
    kubelet = Kubelet(node, apiserver_runner)
    try:
        run = run_role(node.variables(control_plane_audit_policy=RULES, control_plane_audit_rollout_timeout=150))
        assert run.rc == 0, run
        assert kubelet.api is not None, kubelet.error
        audit = run.result("Write the policy and set the audit flags and volumes of the kube-apiserver static pod")
        readyz = run.result("Wait for this node's kube-apiserver with the new audit settings")
        assert readyz["ready"] and readyz["pids"] == [kubelet.api.proc.pid], readyz
        # The flags, and volumes that make the policy and the log directory visible inside the pod.
        flags = dict(get_flags(node.pod()))
        assert flags["--audit-policy-file"] == audit["policy_path"] and flags["--audit-log-format"] == "json"
        assert flags["--audit-log-path"] == os.path.join(node.log_dir, "audit.log")
        mounts = dict((m["name"], m) for m in node.pod()["spec"]["containers"][0]["volumeMounts"])
        volumes = dict((v["name"], v["hostPath"]) for v in node.pod()["spec"]["volumes"])
        assert volumes["auditops-audit-policy"] == {"path": node.policy_dir, "type": "DirectoryOrCreate"}
        assert mounts["auditops-audit-policy"] == {"mountPath": node.policy_dir, "name": "auditops-audit-policy",
                                                   "readOnly": True}
        assert volumes["auditops-audit-log"]["path"] == mounts["auditops-audit-log"]["mountPath"] == node.log_dir
        assert os.path.dirname(audit["backup_path"]) == node.backups
        # kube-apiserver writes JSON audit events for real requests.
        status, _body = kubelet.api.request("GET", "/api/v1/namespaces/kube-system/configmaps")
        assert status == 200
        log_path = os.path.join(node.log_dir, "audit.log")
        deadline = time.monotonic() + 30
        events = []
        while time.monotonic() < deadline and not any(e.get("verb") == "list" and e.get("objectRef", {}).get(
                "resource") == "configmaps" for e in events):
            time.sleep(0.5)
            if os.path.exists(log_path):
                with open(log_path) as handle:
                    events = [json.loads(line) for line in handle if line.strip()]
        listed = [e for e in events if e.get("verb") == "list" and e.get("objectRef", {}).get("resource") == "configmaps"]
        assert listed, events[-5:]
        assert all(e["apiVersion"] == "audit.k8s.io/v1" and e["kind"] == "Event" for e in events)
        assert all(e["level"] == "Metadata" and e["stage"] != "RequestReceived" for e in listed)
        # kubeadm-config keeps the same settings for kubeadm upgrade.
        cluster_config = yaml.safe_load(get(k8s_cluster.api, KUBEADM_CONFIG_PATH)["data"]["ClusterConfiguration"])
        args = dict((a["name"], a["value"]) for a in cluster_config["apiServer"]["extraArgs"])
        assert args["authorization-mode"] == "Node,RBAC"
        assert args["audit-policy-file"] == audit["policy_path"] and args["audit-log-format"] == "json"
        assert [v["name"] for v in cluster_config["apiServer"]["extraVolumes"]] == ["auditops-audit-policy", "auditops-audit-log"]
    finally:
        kubelet.stop()
    again = run_role(node.variables(control_plane_audit_policy=RULES, control_plane_audit_rollout_timeout=150))
    assert again.rc == 0 and again.stats["changed"] == 0, again


def test_kubeadm_mode_refuses_a_broken_policy_before_any_write(run_role, kubeadm_node, k8s_cluster):
    node = kubeadm_node
    before = node.snapshot()
    config_before = get(k8s_cluster.api, KUBEADM_CONFIG_PATH)["metadata"]["resourceVersion"]
    for policy in ([{"level": "Metadata", "verbs": ["get"], "nonResourceURLs": ["healthz"]}],
                   "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verb: [get]\n"):
        run = run_role(node.variables(control_plane_audit_policy=policy))
        assert run.rc != 0, run
        assert "nonResourceURLs" in run.failure() or "verb" in run.failure(), run.failure()
    assert node.snapshot() == before
    assert not os.path.exists(node.policy_dir) and not os.path.exists(node.backups)
    assert get(k8s_cluster.api, KUBEADM_CONFIG_PATH)["metadata"]["resourceVersion"] == config_before


def test_kubeadm_mode_rolls_the_manifest_back_when_the_apiserver_does_not_come_back(run_role, kubeadm_node):
    node = kubeadm_node
    before = node.text()
    # Nothing plays the kubelet here, so nothing answers on the manifest's port.
    run = run_role(node.variables(control_plane_audit_preset="minimal", control_plane_audit_rollout_timeout=2,
                                  control_plane_audit_kubeadm_config=False))
    assert run.rc != 0, run
    message = " ".join(run.failure().split())
    assert "did not come back with the new audit settings" in message
    assert "The previous manifest was restored from %s" % node.backups in message
    assert "ansible-playbook auditops.deckhouse.apiserver_recovery -i %s" % run_role.inventory in message
    assert node.text() == before


def test_kubeadm_mode_check_mode_and_absent(run_role, kubeadm_node, k8s_cluster):
    node = kubeadm_node
    before = node.snapshot()
    check = run_role(node.variables(control_plane_audit_preset="minimal"), check=True, diff=True)
    assert check.rc == 0, check
    assert node.snapshot() == before
    step = check.result("Write the policy and set the audit flags and volumes of the kube-apiserver static pod")
    assert step["changed"] and step["diff"][0]["before_header"] == node.manifest
    present = run_role(node.variables(control_plane_audit_preset="minimal", control_plane_audit_rollout_timeout=0))
    assert present.rc == 0, present
    absent = run_role(node.variables(control_plane_audit_state="absent", control_plane_audit_rollout_timeout=0))
    assert absent.rc == 0, absent
    assert node.audit_args() == [] and os.listdir(node.policy_dir) == []
    cluster_config = yaml.safe_load(get(k8s_cluster.api, KUBEADM_CONFIG_PATH)["data"]["ClusterConfiguration"])
    assert cluster_config["apiServer"] == {"extraArgs": [{"name": "authorization-mode", "value": "Node,RBAC"}]}
