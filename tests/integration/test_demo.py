# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""make demo as a new user sees it: the play it runs (taken from the Makefile with make -n) passes on its own
cluster without a warning, and the commands it prints at the end run as they are against that cluster."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.auditops.deckhouse.tests import _paths

sys.path.insert(0, os.path.join(_paths.ROOT, "tests", "cluster"))
import harness  # noqa: E402  (lives in tests/cluster, not a package)

pytestmark = pytest.mark.cluster

ROOT = _paths.ROOT


def _recipe():
    """The lines make demo would run (its prerequisites' recipes too), without running them."""
    return subprocess.run(["make", "-n", "-s", "--no-print-directory", "demo"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=True).stdout.splitlines()


@pytest.fixture(scope="module")
def demo_cluster():
    """A cluster of its own: the demo sets ModuleConfig control-plane-manager, which other tests own."""
    workdir = tempfile.mkdtemp(prefix="auditops-demo-")
    cluster = harness.Cluster(workdir)
    yield cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _run(command, cluster, cwd=ROOT):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_PYTHON_INTERPRETER", None)
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    command = command.replace(os.path.join(ROOT, ".cluster", "kubeconfig"), cluster.kubeconfig)
    return subprocess.run(["bash", "-c", command], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)


def test_the_demo_play_passes_without_warnings_and_its_next_steps_run(demo_cluster, tmp_path):
    lines = _recipe()
    play = [line for line in lines if "ansible-playbook" in line and "playbooks/demo.yml" in line]
    assert len(play) == 1, lines
    demo = _run(play[0], demo_cluster)
    assert demo.returncode == 0, demo.stdout
    assert "failed=0" in demo.stdout and "[WARNING]" not in demo.stdout, demo.stdout
    # What the demo prints last: each ansible-playbook and generator command in it, run as printed.
    shown = [shlex.split(line)[1] for line in lines if line.startswith("echo ")]
    assert any(line.startswith("Try next") for line in shown), shown
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in shown
                if re.match(r"\s+(ansible-playbook|python bench/)", line)]
    assert [command.split()[0] for command in commands] == ["ansible-playbook", "python", "ansible-playbook"], shown
    for command in commands:
        # A smaller log than the printed one keeps the test short; the commands are the same.
        command = command.replace("/tmp/audit.log", str(tmp_path / "audit.log")).replace("--events 20000", "--events 2000")
        if command.startswith("python "):
            command = sys.executable + command[len("python"):]
        run = _run("export K8S_AUTH_KUBECONFIG=%s; %s" % (demo_cluster.kubeconfig, command), demo_cluster)
        assert run.returncode == 0, command + "\n" + run.stdout
        assert "failed=0" in run.stdout or command.startswith(sys.executable), run.stdout
