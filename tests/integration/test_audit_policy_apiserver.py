# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit policy engine against the real kube-apiserver of the test cluster.

1. Every policy of tests/fixtures/policies is given to a fresh kube-apiserver with
   --audit-policy-file; whether it starts must equal the engine's apiserver_accepts (and
   expected.yml). The exit messages and the lenient-decoding warning are compared too.
2. With a policy and --audit-log-path in place, real requests (pod create/get, exec and log attempts,
   list secrets, watch, /healthz, anonymous) are made and the levels and stages in the audit log must
   equal what audit_level predicts."""

import os
import uuid

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.filter.audit import audit_level
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests.integration._apiserver_traffic import (
    events_by_audit_id, send, wait_log_quiet)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = _paths.ROOT
CORPUS = os.path.join(ROOT, "tests", "fixtures", "policies")
with open(os.path.join(CORPUS, "expected.yml")) as _handle:
    EXPECTED = yaml.safe_load(_handle)["files"]
FILES = sorted(name for name in os.listdir(CORPUS) if name != "expected.yml")
LENIENT_WARNING = "Audit policy contains errors, falling back to lenient decoding"


def _start(runner, args):
    """try_start, once more with a longer wait when the server neither came up nor exited with an error
    (a slow start on a busy machine must not look like a refusal)."""
    result = runner.try_start(args, timeout=90)
    if not result.started and "command failed" not in result.log:
        result = runner.try_start(args, timeout=180)
    return result


def _in_log(log, text):
    # klog quotes the error value of structured lines: " and \ come escaped.
    return text in log or ap.go_quote(text)[1:-1] in log


@pytest.fixture(scope="module")
def corpus_runs(apiserver_runner, k8s_cluster):
    assert k8s_cluster.kubernetes_version.startswith("1.33.")
    runs = {}
    for name in FILES:
        path = os.path.join(CORPUS, name)
        with open(path, "rb") as handle:
            engine = ap.load_policy(handle.read(), k8s_cluster.kubernetes_version)
        result = _start(apiserver_runner, ["--audit-policy-file=" + path])
        runs[name] = {"path": path, "started": result.started, "log": result.log, "engine": engine}
    return runs


def test_corpus_apiserver_verdicts_agree_with_engine(corpus_runs):
    agree = [name for name, run in corpus_runs.items() if run["started"] == run["engine"].accepted]
    disagree = sorted(set(corpus_runs) - set(agree))
    started = sum(1 for run in corpus_runs.values() if run["started"])
    print("\naudit policy corpus: engine apiserver_accepts agrees with kube-apiserver on %d/%d files "
          "(%d started, %d refused)" % (len(agree), len(corpus_runs), started, len(corpus_runs) - started))
    details = ["%s: kube-apiserver started=%s, engine accepts=%s (%s)\n%s" % (
        name, corpus_runs[name]["started"], corpus_runs[name]["engine"].accepted, corpus_runs[name]["engine"].error,
        corpus_runs[name]["log"][-1500:]) for name in disagree]
    assert not disagree, "\n\n".join(details)
    # The prediction written down before the real binary ran.
    assert all(run["started"] == EXPECTED[name]["starts"] for name, run in corpus_runs.items())


def test_corpus_exit_messages_and_lenient_warnings(corpus_runs):
    problems = []
    for name, run in sorted(corpus_runs.items()):
        engine, log = run["engine"], run["log"]
        if not run["started"]:
            if "error" in EXPECTED[name]:
                wanted = "loading audit policy file: " + engine.error
                if engine.stage in ("validation", "rules"):
                    wanted += ": from file " + run["path"]
                if not _in_log(log, wanted):
                    problems.append("%s: exit message %r not in log:\n%s" % (name, wanted, log[-1500:]))
            elif not _in_log(log, "loading audit policy file: failed decoding: "):
                problems.append("%s: no 'failed decoding' exit:\n%s" % (name, log[-1500:]))
            continue
        warned = LENIENT_WARNING in log
        if warned != engine.lenient:
            problems.append("%s: lenient warning in log=%s, engine lenient=%s" % (name, warned, engine.lenient))
        elif warned and engine.strict_error_text() not in log:
            problems.append("%s: strict error %r not in log:\n%s" % (name, engine.strict_error_text(),
                                                                     [line for line in log.splitlines()
                                                                      if LENIENT_WARNING in line]))
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("name", ap.PRESETS)
def test_presets_start_a_real_apiserver(apiserver_runner, tmp_path, name):
    path = tmp_path / ("%s.yaml" % name)
    path.write_text(ap.to_yaml(ap.preset(name)))
    result = _start(apiserver_runner, ["--audit-policy-file=%s" % path])
    assert result.started, result.log[-2000:]
    assert LENIENT_WARNING not in result.log


# --- levels and stages in a real audit log -------------------------------------------------------

EVAL_POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: [/readyz*, /livez*]
- level: Metadata
  userGroups: [system:unauthenticated]
- level: RequestResponse
  verbs: [get, create]
  resources:
  - group: ""
    resources: [pods]
- level: Request
  resources:
  - group: ""
    resources: [pods/exec, pods/log]
  omitStages: [ResponseComplete]
- level: Metadata
  resources:
  - group: ""
    resources: [secrets]
- level: Request
  nonResourceURLs: [/healthz*]
- level: Metadata
  verbs: [watch]
- level: None
"""

NS = "audit-eval"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": NS},
       "spec": {"containers": [{"name": "c", "image": "registry.example/app:1.0"}]}}
ADMIN = {"user": "auditops-admin", "groups": ["system:masters", "system:authenticated"]}
ANONYMOUS = {"user": "system:anonymous", "groups": ["system:unauthenticated"]}

# (label, method, URL path, body, anonymous, request for audit_level)
REQUESTS = [
    ("create namespace", "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": NS}}, False,
     dict(ADMIN, verb="create", resource="namespaces")),
    ("create pod", "POST", "/api/v1/namespaces/%s/pods" % NS, POD, False,
     dict(ADMIN, verb="create", namespace=NS, resource="pods")),
    ("get pod", "GET", "/api/v1/namespaces/%s/pods/probe" % NS, None, False,
     dict(ADMIN, verb="get", namespace=NS, resource="pods", name="probe")),
    ("exec attempt", "POST", "/api/v1/namespaces/%s/pods/probe/exec?command=id&stdout=true" % NS, None, False,
     dict(ADMIN, verb="create", namespace=NS, resource="pods", subresource="exec", name="probe")),
    ("log attempt", "GET", "/api/v1/namespaces/%s/pods/probe/log" % NS, None, False,
     dict(ADMIN, verb="get", namespace=NS, resource="pods", subresource="log", name="probe")),
    ("list secrets", "GET", "/api/v1/namespaces/kube-system/secrets", None, False,
     dict(ADMIN, verb="list", namespace="kube-system", resource="secrets")),
    ("get secret", "GET", "/api/v1/namespaces/kube-system/secrets/nothing-here", None, False,
     dict(ADMIN, verb="get", namespace="kube-system", resource="secrets", name="nothing-here")),
    ("watch pods", "GET", "/api/v1/namespaces/%s/pods?watch=true&timeoutSeconds=1" % NS, None, False,
     dict(ADMIN, verb="watch", namespace=NS, resource="pods")),
    ("list configmaps", "GET", "/api/v1/namespaces/%s/configmaps" % NS, None, False,
     dict(ADMIN, verb="list", namespace=NS, resource="configmaps")),
    ("healthz", "GET", "/healthz", None, False, dict(ADMIN, verb="get", path="/healthz")),
    ("version", "GET", "/version", None, False, dict(ADMIN, verb="get", path="/version")),
    ("anonymous list pods", "GET", "/api/v1/namespaces/%s/pods" % NS, None, True,
     dict(ANONYMOUS, verb="list", namespace=NS, resource="pods")),
    ("anonymous healthz", "GET", "/healthz", None, True, dict(ANONYMOUS, verb="get", path="/healthz")),
    ("anonymous exec attempt", "POST", "/api/v1/namespaces/%s/pods/probe/exec?command=id&stdout=true" % NS, None,
     True, dict(ANONYMOUS, verb="create", namespace=NS, resource="pods", subresource="exec", name="probe")),
]


def _run_requests(apiserver_runner, tmp_path, policy_text):
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(policy_text)
    log_path = str(tmp_path / "audit.log")
    sent = []
    with apiserver_runner.serve(["--audit-policy-file=%s" % policy_path, "--audit-log-path=" + log_path]) as api:
        for label, method, path, body, anonymous, request in REQUESTS:
            audit_id = str(uuid.uuid4())
            status = send(api, method, path, body, anonymous, audit_id)
            sent.append((label, audit_id, status, request))
        wait_log_quiet(log_path)
        events = events_by_audit_id(log_path)
    return sent, events


def _compare(policy_text, sent, events):
    rows, problems = [], []
    for label, audit_id, status, request in sent:
        predicted = audit_level(policy_text, request, "1.33")
        stages = ap.Decision(predicted["level"], predicted["omit_stages"], False, None).stages(
            ap.is_long_running(request))
        got = events.get(audit_id, [])
        levels = sorted(set(event["level"] for event in got))
        got_stages = [event["stage"] for event in got]
        rows.append("%-24s HTTP %s  predicted %-15s %-40s  log %-15s %s" % (
            label, status, predicted["level"], stages, ",".join(levels) or "-", got_stages))
        if predicted["level"] == "None" or not stages:
            if got:
                problems.append("%s: predicted no events, log has %s" % (label, got_stages))
            continue
        if levels != [predicted["level"]] or sorted(got_stages) != sorted(stages):
            problems.append("%s: predicted %s %s, log has %s %s" % (label, predicted["level"], stages, levels,
                                                                    got_stages))
        for event in got:
            # The request description given to audit_level is what the apiserver saw.
            if event["user"]["username"] != request["user"] or \
                    sorted(event["user"].get("groups", [])) != sorted(request["groups"]):
                problems.append("%s: event user %s" % (label, event["user"]))
            if event["verb"] != request["verb"]:
                problems.append("%s: event verb %s, described as %s" % (label, event["verb"], request["verb"]))
            ref = event.get("objectRef") or {}
            if ref.get("resource", "") != request.get("resource", "") or \
                    ref.get("subresource", "") != request.get("subresource", ""):
                problems.append("%s: event objectRef %s" % (label, ref))
    return rows, problems


@pytest.mark.parametrize("policy_name", ["custom", "security-preset"])
def test_audit_log_levels_and_stages_match_audit_level(apiserver_runner, tmp_path, policy_name):
    policy_text = EVAL_POLICY if policy_name == "custom" else ap.to_yaml(ap.preset("security"))
    sent, events = _run_requests(apiserver_runner, tmp_path, policy_text)
    rows, problems = _compare(policy_text, sent, events)
    print("\n%s policy, %d requests:\n%s" % (policy_name, len(sent), "\n".join(rows)))
    assert not problems, "\n".join(problems + rows)
    # The comparison must have seen real events, levels and a long-running stage.
    logged = [event for _label, audit_id, _status, _request in sent for event in events.get(audit_id, [])]
    assert len(set(event["level"] for event in logged)) >= 2
    assert any(event["stage"] == "ResponseStarted" for event in logged)
