# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the test_kesl_*.py module tests: the kesl-control test double in a temp dir, and ``run``/``run_fail``:
the in-process runner of _module_runner.py with the module's temp dir next to the double's state and the
caller's locale kept."""

import configparser
import json
import os
import subprocess
import sys
import tempfile
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import Fail, run_module
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
DOUBLE = os.path.join(ROOT, "tests", "doubles", "kesl-control")
VERSIONS = ("11.0", "11.1", "11.2", "11.3", "12.0", "12.1", "12.2", "12.3")
STOP_TASKS = ["Firewall_Management", "Web_Threat_Protection", "Network_Threat_Protection", "Web_Control"]
SCAN_TASK_IDS = [1, 2, 4, 11, 13]


class Double(object):
    """The test double with its state in a temp dir; calls made here count like any other."""

    def __init__(self, state):
        self.state = str(state)

    def env(self, **extra):
        env = dict(os.environ)
        env["KESL_DOUBLE_STATE"] = self.state
        env.update(extra)
        return env

    def __call__(self, *args, **env):
        return subprocess.run([sys.executable, DOUBLE] + [str(a) for a in args], env=self.env(**env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)

    def init(self, version):
        assert self("--double-init", "--version", version).returncode == 0

    def set(self, **values):
        assert self("--double-set", *["%s=%s" % kv for kv in values.items()]).returncode == 0

    def reset(self):
        assert self("--double-reset-counts").returncode == 0

    def counts(self):
        """The call counters, read from the state file ([Double] ReadCalls, WriteCalls, OtherCalls): the module
        tests count the module's calls, not this one. test_kesl_double.py asks the double (``cli_counts``)."""
        counters = self.config()["Double"]
        return {"read": int(counters["ReadCalls"]), "write": int(counters["WriteCalls"]),
                "other": int(counters["OtherCalls"])}

    def cli_counts(self):
        """The counters as the double's own ``--double-counts --json`` prints them."""
        return json.loads(self("--double-counts", "--json").stdout)

    def log(self):
        """(kind, exit code, arguments) of every counted call, oldest first."""
        with open(self.state + ".log") as handle:
            rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
        return [(kind, int(rc), args) for _stamp, kind, rc, args in rows]

    def config(self):
        cfg = configparser.ConfigParser(interpolation=None, delimiters=("=",), strict=False)
        cfg.optionxform = str
        cfg.read(self.state)
        return cfg

    def write_config(self, cfg):
        with open(self.state, "w") as handle:
            cfg.write(handle)

    def task(self, task_id):
        return dict(self.config()["Task:%d" % task_id])

    def exclusions(self, task_id):
        """Path -> UseScanArea of the task's exclusions, read straight from the state file."""
        cfg = self.config()
        prefix = "Task:%d:Settings:ExcludedFromScanScope.item_" % task_id
        return dict((cfg[s]["Path"], cfg[s]["UseScanArea"]) for s in cfg.sections() if s.startswith(prefix))


def interpreter_first_on_path(monkeypatch):
    """Put the directory of the interpreter running the tests first on PATH for the modules' calls.

    The modules run the double by its path, as they run kesl-control; its sh line then execs the first python3
    on PATH. On a machine with a version manager that is a shim (pyenv's: bash scripts, then an interpreter
    whose site-packages run .pth files), about 0.1 s of every module call; the tests' own interpreter starts
    in about 0.01 s and runs the same file the same way."""
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


@pytest.fixture
def double(tmp_path, monkeypatch):
    """A 12.x double with the four Deckhouse tasks started, counters at zero, Russian locale around."""
    monkeypatch.setenv("KESL_DOUBLE_STATE", str(tmp_path / "kesl.ini"))
    interpreter_first_on_path(monkeypatch)
    # The modules must force the locale themselves: give them a Russian one.
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.delenv("KESL_DOUBLE_VERSION", raising=False)
    kesl = Double(tmp_path / "kesl.ini")
    kesl.tmp = tmp_path
    prepare(kesl, "12")
    return kesl


# version -> the bytes of its prepared state file, made once per session.
_PREPARED = {}


def prepare(kesl, version):
    """A fresh double of ``version`` with those of the four Deckhouse tasks it has started, counters at zero.

    Made once per version and session with the double's own commands, in a directory of its own; each test gets
    a copy of that state and an empty call log, as the same commands would leave them (test_kesl_double.py
    compares the two)."""
    if version not in _PREPARED:
        with tempfile.TemporaryDirectory(prefix="kesl-prepared-") as scratch:
            made = Double(os.path.join(scratch, "kesl.ini"))
            make_prepared(made, version)
            with open(made.state, "rb") as handle:
                _PREPARED[version] = handle.read()
    with open(kesl.state, "wb") as handle:
        handle.write(_PREPARED[version])
    open(kesl.state + ".log", "w").close()


def make_prepared(kesl, version):
    """The commands that make the prepared state of ``version``."""
    kesl.init(version)
    listed = kesl("--get-task-list", LANG="C").stdout
    for name in STOP_TASKS:
        if "Name:  %s\n" % name in listed:
            assert kesl("--start-task", name).returncode == 0
    kesl.reset()


def run(module, args, check_mode=False, diff=False, tmpdir=None):
    """Run ``module.main()`` in-process; returns the result or raises Fail with it."""
    # The module's temp files (settings written with --file) go next to the double's state.
    args = dict(args, _ansible_remote_tmp=str(tmpdir or os.path.dirname(os.environ["KESL_DOUBLE_STATE"])))
    # Ansible replaces a locale this machine lacks with C in os.environ; keep the Russian one for the
    # child processes so only the module's own forcing can make kesl-control speak English.
    with mock.patch.object(basic.AnsibleModule, "_check_locale", lambda self: None):
        result, _warnings = run_module(module, args, check_mode=check_mode, diff=diff)
    return result


def run_fail(module, args, **kwargs):
    with pytest.raises(Fail) as info:
        run(module, args, **kwargs)
    return info.value.args[0]
