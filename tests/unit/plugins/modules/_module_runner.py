# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in-process for unit tests: arguments in, exit_json/fail_json result out."""

import json
from unittest import mock

import pytest

from ansible.module_utils import basic


class Exit(Exception):
    pass


class Fail(Exception):
    pass


def _exit(self, **kwargs):
    raise Exit(kwargs)


def _fail(self, **kwargs):
    raise Fail(kwargs)


def run_module(module, args, check_mode=False, diff=False):
    """Run ``module.main()``; returns (result, warnings) or raises Fail with the result."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    warnings = []
    try:
        from ansible.module_utils.testing import patch_module_args
        patched = patch_module_args(args)
    except ImportError:  # ansible-core < 2.19
        patched = mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    with patched, mock.patch.multiple(basic.AnsibleModule, exit_json=_exit, fail_json=_fail), \
            mock.patch.object(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg)):
        try:
            module.main()
        except Exit as done:
            return done.args[0], warnings
    raise AssertionError("module returned without exit_json")


def run_module_fail(module, args, **kwargs):
    """Run ``module.main()`` expecting fail_json; returns its result."""
    with pytest.raises(Fail) as info:
        run_module(module, args, **kwargs)
    return info.value.args[0]
