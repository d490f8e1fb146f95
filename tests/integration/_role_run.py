# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One ansible-playbook run on localhost, read through the ansible.posix.json callback."""

import json


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
