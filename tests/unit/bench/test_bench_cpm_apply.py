# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/bench_cpm_apply.py: what the kubectl contender applies is what the role applies (the runs themselves are
`make bench-smoke`)."""

import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as ap
from ansible_collections.auditops.deckhouse.plugins.module_utils import _cpm_settings as cpm
from ansible_collections.auditops.deckhouse.tests.unit.bench import _bench_loader

bench = _bench_loader.load("bench_cpm_apply")


def test_the_kubectl_file_holds_the_settings_and_the_preset_the_role_applies(tmp_path):
    path, policy = bench.kubectl_file(str(tmp_path))
    with open(path) as handle:
        mc, secret = list(yaml.safe_load_all(handle))
    plan = cpm.plan_module_config([], "present", True, True, "File")
    assert mc["spec"]["settings"] == plan["after"]["settings"] == bench.SETTINGS
    assert mc["spec"]["version"] == plan["after"]["version"]
    assert secret["metadata"] == {"name": cpm.SECRET_NAME, "namespace": cpm.SECRET_NAMESPACE}
    assert secret["stringData"][cpm.SECRET_KEY] == policy
    assert ap.load_policy(policy).policy == ap.load_policy(ap.preset("security")).policy
