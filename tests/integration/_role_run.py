# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One ansible-playbook run on localhost: the command (``ansible_playbook``, also used by tests/adversarial), and
its result read through the ansible.posix.json callback (``RoleRun``)."""

import json
import os
import subprocess
import sys

from ansible_collections.auditops.deckhouse.tests import _paths


def role_env(ansible_env):
    """The environment of a role run: ``ansible_env`` (conftest) read through the ansible.posix.json callback,
    with the collection from .collections, and without K8S_AUTH_KUBECONFIG (the kubeconfig reaches
    kubernetes.core through the role's variable, not the environment)."""
    env = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(_paths.ROOT, ".collections"))
    env.pop("K8S_AUTH_KUBECONFIG", None)
    return env


def vars_file(tmp_path, variables):
    """``@path`` of a new JSON vars file in ``tmp_path`` holding ``variables`` (JSON keeps their types)."""
    path = tmp_path / ("vars-%d.json" % (len(list(tmp_path.glob("vars-*.json"))) + 1))
    path.write_text(json.dumps(variables))
    return "@%s" % path


def ansible_playbook(playbook, inventory, extra_vars, env, check=False, diff=False, verbosity=0, args=()):
    """Run the venv's ansible-playbook from the repository root with ``-e`` for each of ``extra_vars``
    (``vars_file()`` or ``name=value`` texts) and ``args`` added; returns the finished process."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook), "-i", str(inventory)]
    cmd += list(args)
    for value in extra_vars:
        cmd += ["-e", value]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    return subprocess.run(cmd, env=env, cwd=_paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          check=False)


class RoleRun(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        try:
            self.data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            raise AssertionError("no JSON from ansible-playbook:\n%s\n%s" % (proc.stdout, proc.stderr))
        self.stats = self.data["stats"].get("localhost", {})

    def tasks(self):
        for play in self.data["plays"]:
            for task in play["tasks"]:
                yield task["task"]["name"], task["hosts"].get("localhost", {})

    def result(self, name):
        # Task names come as "<role> : <name>" from role tasks.
        found = [result for task, result in self.tasks() if task.split(" : ")[-1] == name]
        assert found, "no task %r in %s" % (name, [task for task, _result in self.tasks()])
        return found[-1]

    def task_end(self, name):
        """When the last task called ``name`` ended, as Unix time (the callback's duration.end, UTC)."""
        import calendar
        import datetime
        found = [task["task"]["duration"]["end"] for play in self.data["plays"] for task in play["tasks"]
                 if task["task"]["name"].split(" : ")[-1] == name]
        assert found, "no task %r" % name
        end = datetime.datetime.strptime(found[-1].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
        return calendar.timegm(end.timetuple()) + end.microsecond / 1e6

    def failure(self):
        # The last failure: earlier ones may have been rescued (a rollback that could not reach the API).
        found = [result.get("msg", "") for _name, result in self.tasks() if result.get("failed")]
        return found[-1] if found else ""

    def failure_errors(self):
        """The last failure's ``errors`` (the error contract: one {path, message} per problem) as "path: message"."""
        found = [result.get("errors") or [] for _name, result in self.tasks() if result.get("failed")]
        return ["%s: %s" % (e.get("path"), e.get("message")) for e in (found[-1] if found else [])]

    def __repr__(self):
        return "rc=%s stats=%s failure=%s\n%s" % (self.rc, self.stats, self.failure(), self.stderr[-3000:])
