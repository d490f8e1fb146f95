# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 18 item 5 (and the recovery role's part of item 9): every input of apiserver_recovery is checked before the
probe, so a malformed one never leads to an edited manifest."""

import pytest

from ansible_collections.auditops.deckhouse.tests.adversarial._harness import refuse_role, run_role, snapshot, static_pod


@pytest.fixture
def master(tmp_path):
    path = static_pod(tmp_path)
    return {"dir": str(path.parent), "tmp": tmp_path,
            "vars": {"apiserver_recovery_manifest": str(path), "apiserver_recovery_backup_dir": str(tmp_path / "backups"),
                     "apiserver_recovery_runtime": "none", "apiserver_recovery_secret_action": "keep",
                     # Loopback only: the fixture manifest names a private address.
                     "apiserver_recovery_api_url": "https://127.0.0.1:9",
                     "apiserver_recovery_wait_timeout": 1, "apiserver_recovery_wait_delay": 1,
                     "apiserver_recovery_restart_grace": 0, "apiserver_recovery_probe_timeout": 1}}


# One role run per case costs seconds: the cases are the and one of each other kind.
@pytest.mark.parametrize("name,value", [
    ("apiserver_recovery_api_url", "https//127.0.0.1:6443"),
    ("apiserver_recovery_api_url", "https://127.0.0.1:6443/ x"),
    ("apiserver_recovery_probe_timeout", -1),
    ("apiserver_recovery_wait_timeout", -5),
    ("apiserver_recovery_healthy_status", ["ok"]),
    ("apiserver_recovery_strip", ["--au*"]),
])
def test_a_bad_input_stops_the_role_before_the_manifest_is_touched(master, name, value):
    refuse_role(master["tmp"], "apiserver_recovery", dict(master["vars"], **{name: value}), name,
                watched=[str(master["tmp"])], verbosity=0)


def test_every_option_as_a_string_like_e_and_surveys_send(master):
    """Issue 18 item 8: what ``-e name=value`` and AWX surveys send (strings) is converted once at entry."""
    strings = {"apiserver_recovery_strip": "--audit-*", "apiserver_recovery_healthy_status": "200,401,403",
               "apiserver_recovery_validate_certs": "false", "apiserver_recovery_force": "false",
               "apiserver_recovery_probe_timeout": "1", "apiserver_recovery_wait_timeout": "1",
               "apiserver_recovery_wait_delay": "1", "apiserver_recovery_restart_grace": "0",
               "apiserver_recovery_log_lines": "5"}
    before = snapshot(master["dir"])
    run = run_role(master["tmp"], "apiserver_recovery", master["vars"], check=True, extra_vars_as_strings=strings)
    assert run.rc == 0, run
    assert snapshot(master["dir"]) == before
