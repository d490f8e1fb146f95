# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DKP release picks the basic-rule layout Deckhouse wraps the Secret's rules in."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap

RULES = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
         "rules": [{"level": "RequestResponse", "resources": [{"resources": ["secrets"]}]}]}


@pytest.mark.parametrize("release, layout", [
    ("", "current"), (None, "current"), ("v1.68.3", "2025-01"), ("1.67", "2025-01"), ("1.60.1", "2025-01"),
    ("1.74", "current"), ("v1.76.12", "current"), ("v1.77.0-rc.1", "current"), ("2025-01", "2025-01"),
    ("current", "current")])
def test_release_to_layout(release, layout):
    assert ap.deckhouse_layout(release) == layout


@pytest.mark.parametrize("release, message", [
    ("1.70", "no basic-rule layout is modelled for DKP 1.70"), ("v1.73.15", "DKP 1.73"),
    ("stable", "expected a DKP release such as 1.68"), ("2.x", "expected a DKP release")])
def test_unmodelled_or_bad_releases_are_refused(release, message):
    with pytest.raises(ap.PolicyError) as info:
        ap.deckhouse_layout(release)
    assert info.value.path == "deckhouse_release" and message in str(info.value)


def test_the_layout_decides_what_follows_the_secret_rules():
    old = ap.check(RULES, "1.30", "deckhouse", True, ap.deckhouse_layout("1.68")).composition
    new = ap.check(RULES, "1.30", "deckhouse", True, ap.deckhouse_layout("1.75")).composition
    # 1.68: nothing after the Secret's rules; 1.74+: None for system:authenticated, then a Metadata catch-all.
    assert old.policy["rules"][-1] == RULES["rules"][0]
    assert new.policy["rules"][-2:] == [{"level": "None", "userGroups": ["system:authenticated"]}, {"level": "Metadata"}]
    assert new.user_offset > old.user_offset  # the newer layout has more basic rules before the Secret's
