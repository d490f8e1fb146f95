# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout follower on a fake clock: masters roll one by one as control-plane-manager does
(images/control-plane-manager/controller/converge.go writes the checksum annotation, waitPodIsReady waits for the
mirror pod kube-apiserver-<node> with it to be Ready; hooks/update_approval.go approves one master at a time)."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _cpm_rollout as ro
from ansible_collections.auditops.deckhouse.plugins.module_utils import _cpm_settings as cpm

OLD = "a" * 64
NEW = "b" * 64


def pod(node, checksum, ready):
    annotations = {ro.CHECKSUM_ANNOTATION: checksum} if checksum else {}
    return {"metadata": {"name": "kube-apiserver-" + node, "namespace": "kube-system", "annotations": annotations,
                         "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
            "spec": {"nodeName": node},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def script(clock, steps):
    """list_pods() that returns the pods of the last step whose time (seconds since start) has come."""
    start = clock.now

    def list_pods():
        current = None
        for at, pods in steps:
            if clock.now - start >= at:
                current = pods
        if isinstance(current, Exception):
            raise current
        return current
    return list_pods


BEFORE = {"m0": OLD, "m1": OLD, "m2": OLD}


def all_old():
    return [pod("m0", OLD, True), pod("m1", OLD, True), pod("m2", OLD, True)]


def test_checksums_reads_the_annotation_per_node():
    assert ro.checksums([pod("m0", OLD, True), pod("m1", None, False)]) == {"m0": OLD, "m1": None}


def test_masters_rolled_one_by_one_finish_in_order_with_progress():
    clock = Clock()
    steps = [(0, all_old()),
             (4, [pod("m0", NEW, False), pod("m1", OLD, True), pod("m2", OLD, True)]),
             (8, [pod("m0", NEW, True), pod("m1", OLD, True), pod("m2", OLD, True)]),
             (12, [pod("m0", NEW, True), pod("m1", NEW, True), pod("m2", OLD, True)]),
             (16, [pod("m0", NEW, True), pod("m1", NEW, True), pod("m2", NEW, True)])]
    lines = []
    ok, result = ro.wait(script(clock, steps), BEFORE, 100, 30, 1, clock, clock.sleep, lines.append)
    assert ok and "failure" not in result
    assert result["order"] == ["m0", "m1", "m2"]
    assert [m["state"] for m in result["masters"]] == ["done"] * 3
    assert lines == result["events"]
    assert lines[0] == "  4.0s m0: new checksum bbbbbbbbbbbb, waiting for kube-apiserver to become Ready"
    assert lines[1] == "  8.0s m0: kube-apiserver Ready with the new checksum bbbbbbbbbbbb (1 of 3 masters)"
    assert lines[-1].endswith("m2: kube-apiserver Ready with the new checksum bbbbbbbbbbbb (3 of 3 masters)")
    assert result["elapsed"] == 16.0


def test_a_master_that_never_becomes_ready_is_named_after_its_budget():
    clock = Clock()
    steps = [(0, all_old()),
             (2, [pod("m0", NEW, True), pod("m1", OLD, True), pod("m2", OLD, True)]),
             (5, [pod("m0", NEW, True), pod("m1", NEW, False), pod("m2", OLD, True)])]
    ok, result = ro.wait(script(clock, steps), BEFORE, 100, 10, 1, clock, clock.sleep)
    assert not ok
    failure = result["failure"]
    assert failure["reason"] == "master_timeout" and failure["master"] == "m1" and failure["waiting"] == ["m1", "m2"]
    assert failure["message"].startswith("master m1: its kube-apiserver pod kube-apiserver-m1 has the new checksum "
                                         "bbbbbbbbbbbb but has not been Ready for 7 s (10 s since master m0 finished;")
    assert "masters done: m0; not done: m1, m2" in failure["message"]
    # The budget counts from the previous master: m0 finished at 2 s, so the verdict comes at 12 s.
    assert result["elapsed"] == 12.0


def test_no_master_picking_up_the_change_names_the_first_waiting_one():
    clock = Clock()
    ok, result = ro.wait(script(clock, [(0, all_old())]), BEFORE, 100, 5, 1, clock, clock.sleep)
    assert not ok and result["failure"]["master"] == "m0"
    assert "still carries the checksum from before the change (aaaaaaaaaaaa)" in result["failure"]["message"]
    assert "5 s since the change" in result["failure"]["message"]
    assert result["elapsed"] == 5.0


def test_the_overall_timeout_bounds_a_slow_but_moving_rollout():
    clock = Clock()
    steps = [(0, all_old()), (4, [pod("m0", NEW, True), pod("m1", OLD, True), pod("m2", OLD, True)]),
             (8, [pod("m0", NEW, True), pod("m1", NEW, True), pod("m2", OLD, True)])]
    ok, result = ro.wait(script(clock, steps), BEFORE, 10, 6, 1, clock, clock.sleep)
    assert not ok and result["failure"]["reason"] == "timeout" and result["failure"]["master"] == "m2"
    assert "10 s for the whole rollout" in result["failure"]["message"]


def test_an_unanswering_api_is_reported_with_the_verdict():
    clock = Clock()
    steps = [(0, all_old()), (1, IOError("connection refused"))]
    ok, result = ro.wait(script(clock, steps), BEFORE, 100, 4, 1, clock, clock.sleep)
    assert not ok
    assert result["failure"]["message"].endswith("the API did not answer the last listing of the pods: "
                                                 "4.0s connection refused")
    assert len(result["api_errors"]) <= 5


def test_a_pod_without_the_annotation_before_counts_once_it_has_one():
    clock = Clock()
    steps = [(0, [pod("m0", None, True)]), (1, [pod("m0", NEW, True)])]
    ok, result = ro.wait(script(clock, steps), {"m0": None}, 10, 5, 1, clock, clock.sleep)
    assert ok and result["order"] == ["m0"]


def test_a_master_whose_pod_goes_away_after_the_new_checksum_is_blamed():
    clock = Clock()
    steps = [(0, [pod("m0", OLD, True), pod("m1", OLD, True)]), (1, [pod("m0", NEW, False), pod("m1", OLD, True)]),
             (2, [pod("m1", OLD, True)])]
    ok, result = ro.wait(script(clock, steps), {"m0": OLD, "m1": OLD}, 100, 5, 1, clock, clock.sleep)
    assert not ok and result["failure"]["master"] == "m0"
    assert "its kube-apiserver pod is gone after the new checksum" in result["failure"]["message"]


@pytest.mark.parametrize("before, timeout, master_timeout, error", [
    ({}, 10, 10, "before:"), (BEFORE, 0, 10, "timeout:"), (BEFORE, 10, True, "master_timeout:")])
def test_bad_input_names_the_field(before, timeout, master_timeout, error):
    with pytest.raises(ro.RolloutError, match=error):
        ro.Rollout(before, timeout, master_timeout, 0)


# --- when a rollout is to be expected (what Deckhouse renders) -----------------------------------

POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def plans(before_settings, after_settings, before_policy, after_policy):
    return ({"before": {"settings": before_settings}, "after": {"settings": after_settings}},
            {"before_policy": before_policy, "after_policy": after_policy})


def on(**keys):
    return {"apiserver": dict(keys)}


@pytest.mark.parametrize("before, after, before_policy, after_policy, expected", [
    # A Secret Deckhouse does not read (auditPolicyEnabled false, its default) renders nothing new.
    ({}, {}, None, POLICY, False),
    (on(auditPolicyEnabled=False), on(auditPolicyEnabled=False), POLICY, POLICY.replace("Metadata", "None"), False),
    # Turning the custom policy on with a Secret in place does.
    ({}, on(auditPolicyEnabled=True), None, POLICY, True),
    (on(auditPolicyEnabled=True), on(auditPolicyEnabled=True), POLICY, POLICY.replace("Metadata", "None"), True),
    # A comment is not part of what the hook keeps.
    (on(auditPolicyEnabled=True), on(auditPolicyEnabled=True), POLICY, "# note\n" + POLICY, False),
    # Defaults written out explicitly render the same.
    ({}, on(basicAuditPolicyEnabled=True, auditLog={"output": "File"}), None, None, False),
    ({}, on(auditLog={"output": "Stdout"}), None, None, True),
    (on(auditLog={"output": "File"}), on(auditLog={"output": "File", "path": "/var/log/a"}), None, None, True),
    # With Stdout the path is not rendered.
    (on(auditLog={"output": "Stdout"}), on(auditLog={"output": "Stdout", "path": "/var/log/a"}), None, None, False),
    # No rules at all: no policy and no audit flags, whatever the output.
    (on(basicAuditPolicyEnabled=False), on(basicAuditPolicyEnabled=False, auditLog={"output": "Stdout"}), None, None,
     False),
])
def test_rollout_expected_follows_what_the_masters_render(before, after, before_policy, after_policy, expected):
    assert cpm.rollout_expected(*plans(before, after, before_policy, after_policy))[0] is expected
