# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 9: the policy reader's alias limit is go-yaml v2's (sigs.k8s.io/yaml/goyaml.v2 decode.go,
allowedAliasRatio: past 100 aliased and 1000 decoded nodes, at most 99% of the decodes may come from alias
expansion up to 400,000 decodes, scaling down to 10% at 4,000,000), not a node count: a large policy without
aliases loads, a small billion-laughs one is refused, and both answer quickly."""

import time

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap


def _many_rules(count):
    lines = ["apiVersion: audit.k8s.io/v1", "kind: Policy", "rules:"]
    for index in range(count):
        lines.append('- level: Metadata\n  users: ["user-%d"]\n  verbs: [get]' % index)
    return "\n".join(lines) + "\n"


def test_a_large_policy_without_aliases_loads():
    # 40,000 rules (2.2 MB, 240,000 values): past the node count the reader used to call "excessive aliasing".
    text = _many_rules(40000)
    result = ap.load_policy(text, "1.31")
    assert result.accepted, result.error
    assert len(result.policy["rules"]) == 40000


def test_a_billion_laughs_is_refused_quickly():
    lines = ["apiVersion: audit.k8s.io/v1", "kind: Policy", 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 9):
        lines.append("a%d: &a%d [%s]" % (level, level, ",".join(["*a%d" % (level - 1)] * 10)))
    lines.append("rules: [{level: Metadata}]")
    started = time.time()
    result = ap.load_policy("\n".join(lines) + "\n", "1.31")
    assert not result.accepted
    assert "excessive aliasing" in result.error
    assert time.time() - started < 10


@pytest.mark.parametrize("copies,accepted", [(50, True), (3000, True)])
def test_aliases_below_the_ratio_load(copies, accepted):
    # One anchored rule reused: each alias expands to a few nodes, well under 99% of all decodes.
    lines = ["apiVersion: audit.k8s.io/v1", "kind: Policy", "rules:", "- &r {level: Metadata, verbs: [get]}"]
    lines += ["- *r"] * copies
    result = ap.load_policy("\n".join(lines) + "\n", "1.31")
    assert result.accepted is accepted, result.error
