#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kesl role against the play a user would write from the Deckhouse page, on the same podman nodes.

Contenders:
- role:  the collection playbook playbooks/kesl.yml (role auditops.deckhouse.kesl, defaults);
- naive: bench/playbooks/kesl_naive.yml, one kesl-control command per directory and per task, as the
         page lists them.

Each contender gets fresh containers from the node image (tests/nodes/build-node-image.sh), prepared by
molecule/kesl/prepare.yml: the kesl-control test double at the real path with the 12.x profile, the four
tasks Deckhouse wants off started, call log empty. Each contender then runs twice. For every run the table
gives the wall time of ansible-playbook, the kesl-control calls the double logged (<state>.log, summed over
the nodes, read and write; "failed" counts calls with a non-zero exit) and the tasks reported changed
(summed over the nodes).

The benchmark fails (exit 1) when a run fails, when the role changes or writes anything on its second run,
or when the two contenders leave different exclusions or task states behind.

    python bench/bench_kesl_roles.py            # 3 nodes (1 master, 2 workers), the role's five scan tasks
    python bench/bench_kesl_roles.py --smoke    # 1 master, File_Threat_Protection only (what CI runs)
"""

import configparser
import json
import os
import subprocess
import sys
import tempfile

import yaml

from _playbook_runs import ROOT, BenchError, ansible_env, bench_arguments, build_output, run_playbook_or_stop
from _table import format_table

IMAGE = "localhost/auditops-node:latest"
PREPARE = os.path.join(ROOT, "molecule", "kesl", "prepare.yml")
# (label, playbook, extra vars that pick the scan tasks from [(name, id), ...])
CONTENDERS = (
    ("role", os.path.join(ROOT, "playbooks", "kesl.yml"),
     lambda scan_tasks: {"kesl_exclusion_tasks": [name for name, _id in scan_tasks]}),
    ("naive", os.path.join(ROOT, "bench", "playbooks", "kesl_naive.yml"),
     lambda scan_tasks: {"naive_scan_tasks": [task_id for _name, task_id in scan_tasks]}),
)
STATE = "/var/opt/kaspersky/kesl/kesl-control-double.ini"
CALL_LOG = STATE + ".log"
KESL_VERSION = "12"
FULL_NODES = (("master", "masters"), ("worker-1", "workers"), ("worker-2", "workers"))
SMOKE_NODES = (("master", "masters"),)
# Scan tasks that get the exclusions, as (role task name, ID the naive play uses). Full size: the role's
# five. Smoke: File_Threat_Protection alone, in both contenders (the naive play's 74 commands per master
# take over a minute a run on a podman node; with one scan task they are 18).
FULL_SCAN_TASKS = (("File_Threat_Protection", 1), ("Scan_My_Computer", 2), ("Critical_Areas_Scan", 4),
                   ("System_Integrity_Monitoring", 11), ("Anti_Cryptor", 13))
SMOKE_SCAN_TASKS = FULL_SCAN_TASKS[:1]


# --- reading the double ----------------------------------------------------------------------------

def parse_call_log(text):
    """(kind, exit code, arguments) of each line of the double's call log (stamp TAB kind TAB rc TAB args)."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        _stamp, kind, code, args = line.split("\t", 3)
        rows.append((kind, int(code), args))
    return rows


def count_calls(rows):
    """Calls by kind ("read", "write", "other") plus "failed" (non-zero exit) and "total"."""
    counts = {"read": 0, "write": 0, "other": 0, "failed": 0, "total": len(rows)}
    for kind, code, _args in rows:
        counts[kind if kind in counts else "other"] += 1
        if code != 0:
            counts["failed"] += 1
    return counts


def end_state(ini_text):
    """What a run leaves behind, from the double's state file: the enabled exclusion paths of each task
    (by task name) and the running state and autostart flag of each task."""
    cfg = configparser.ConfigParser(interpolation=None, delimiters=("=",), strict=False)
    cfg.optionxform = str
    cfg.read_string(ini_text)
    names = {}
    tasks = {}
    for section in cfg.sections():
        parts = section.split(":")
        if parts[0] == "Task" and len(parts) == 2:
            names[parts[1]] = cfg[section]["Name"]
            tasks[cfg[section]["Name"]] = (cfg[section].get("State"), cfg[section].get("Active"))
    exclusions = {}
    for section in cfg.sections():
        parts = section.split(":")
        if len(parts) == 4 and parts[0] == "Task" and parts[3].startswith("ExcludedFromScanScope.item_"):
            if cfg[section].get("UseScanArea") == "Yes":
                exclusions.setdefault(names[parts[1]], set()).add(cfg[section]["Path"])
    return {"exclusions": exclusions, "tasks": tasks}


# --- nodes ---------------------------------------------------------------------------------------------

# The nodes' connection for both contenders: tests/nodes/connection_plugins/podman.py, pipelining on.
NODE_CONNECTION = {"ANSIBLE_CONNECTION_PLUGINS": os.path.join(ROOT, "tests", "nodes", "connection_plugins"),
                   "ANSIBLE_PIPELINING": "true"}


def podman(*args, **kwargs):
    return subprocess.run(["podman"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=kwargs.get("check", True))


class Nodes(object):
    """Fresh containers from the node image, one set per contender, the double prepared on all of them in
    one run of molecule/kesl/prepare.yml; removed on exit, also on failure."""

    def __init__(self, labels, layout, workdir):
        prefix = "auditops-bench-%d" % os.getpid()
        self.layout = layout
        self.names = dict((label, ["%s-%s-%s" % (prefix, label, name) for name, _group in layout]) for label in labels)
        self.inventories = dict((label, os.path.join(workdir, label + ".inventory.yml")) for label in labels)
        self.all_inventory = os.path.join(workdir, "all.inventory.yml")

    def __enter__(self):
        try:
            for names in self.names.values():
                for name in names:
                    podman("run", "-d", "--name", name, "--hostname", name, IMAGE, "/bin/sleep", "infinity")
            for label, names in self.names.items():
                self._write_inventory(self.inventories[label], names)
            self._write_inventory(self.all_inventory, [name for names in self.names.values() for name in names])
            run_playbook_or_stop("preparing the nodes", ["-i", self.all_inventory, PREPARE], ansible_env(**NODE_CONNECTION))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()

    def remove(self):
        podman("rm", "-f", "-t", "0", *[name for names in self.names.values() for name in names], check=False)

    def _write_inventory(self, path, names):
        groups = {}
        for index, name in enumerate(names):
            groups.setdefault(self.layout[index % len(self.layout)][1], {"hosts": {}})["hosts"][name] = {}
        inventory = {"all": {
            "vars": {
                # tests/nodes/connection_plugins/podman.py (ansible_env below): with pipelining, as on real SSH nodes.
                "ansible_connection": "podman",
                "ansible_python_interpreter": "/usr/bin/python3",
                # Root in the container already; the image has no sudo. Same for both contenders.
                "ansible_become": False,
                # molecule/kesl/prepare.yml
                "kesl_double_version": KESL_VERSION,
                "kesl_double_policy_lock": False,
                "kesl_double_stop": ["Firewall_Management", "Web_Threat_Protection", "Network_Threat_Protection",
                                     "Web_Control"],
            },
            "children": groups,
        }}
        with open(path, "w") as handle:
            yaml.safe_dump(inventory, handle)

    def read(self, label, path):
        """The file at ``path`` on each node of the contender, by the node's short name (master, worker-1)."""
        return dict((short, podman("exec", name, "cat", path).stdout)
                    for (short, _group), name in zip(self.layout, self.names[label]))


# --- the benchmark ---------------------------------------------------------------------------------

def run_contender(nodes, label, playbook, extra_vars):
    """Two runs of one contender on its nodes: a row per run, and the state the nodes end in."""
    rows = []
    seen = dict((short, 0) for short, _group in nodes.layout)
    for run in ("first", "second"):
        seconds, result = run_playbook_or_stop("%s, %s run" % (label, run),
                                               ["-i", nodes.inventories[label], "-e", json.dumps(extra_vars), playbook],
                                               ansible_env(**NODE_CONNECTION))
        logs = dict((short, parse_call_log(text)) for short, text in nodes.read(label, CALL_LOG).items())
        calls = [row for short in sorted(logs) for row in logs[short][seen[short]:]]
        seen = dict((short, len(rows_of_node)) for short, rows_of_node in logs.items())
        rows.append({"contender": label, "run": run, "seconds": seconds, "calls": count_calls(calls),
                     "changed": result["changed"]})
    states = dict((short, end_state(text)) for short, text in nodes.read(label, STATE).items())
    return rows, states


def check(rows, states):
    """Problems that make the comparison wrong; empty when all is well."""
    problems = []
    second = [row for row in rows if row["contender"] == "role" and row["run"] == "second"][0]
    if second["changed"] or second["calls"]["write"]:
        problems.append("the role is not idempotent: its second run reported %d changed tasks and made %d writes"
                        % (second["changed"], second["calls"]["write"]))
    if states["role"] != states["naive"]:
        for node in sorted(states["role"]):
            if states["role"][node] != states["naive"][node]:
                problems.append("node %s ends differently: role %s, naive %s" % (node, states["role"][node], states["naive"][node]))
    return problems


def table(rows, layout, scan_tasks):
    masters = sum(1 for _name, group in layout if group == "masters")
    title = ("KESL: role (playbooks/kesl.yml) vs naive play (bench/playbooks/kesl_naive.yml) on %d podman node(s) "
             "(%d master, %d worker), kesl-control test double with the KESL %s profile, exclusions in %d scan task(s) (%s).\n"
             "Calls and changed tasks are summed over the nodes."
             % (len(layout), masters, len(layout) - masters, KESL_VERSION, len(scan_tasks),
                ", ".join(name for name, _id in scan_tasks)))
    headers = ["contender", "run", "wall s", "kesl-control calls", "read", "write", "non-zero exit", "tasks changed"]
    body = [[row["contender"], row["run"], "%.1f" % row["seconds"], row["calls"]["total"], row["calls"]["read"],
             row["calls"]["write"], row["calls"]["failed"], row["changed"]] for row in rows]
    return title + "\n\n" + format_table(headers, body)


def main(argv=None):
    args = bench_arguments(__doc__, "one master node and one scan task instead of three nodes and five", argv)
    # What the Makefile exports; set here too so the script also runs on its own.
    os.environ.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tests", "nodes", "containers.conf"))
    layout = SMOKE_NODES if args.smoke else FULL_NODES
    scan_tasks = SMOKE_SCAN_TASKS if args.smoke else FULL_SCAN_TASKS
    image = build_output("tests/nodes/build-node-image.sh")
    rows, states = [], {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-kesl-") as workdir, \
                Nodes([label for label, _playbook, _vars in CONTENDERS], layout, workdir) as nodes:
            for label, playbook, extra_vars in CONTENDERS:
                contender_rows, states[label] = run_contender(nodes, label, playbook, extra_vars(scan_tasks))
                rows.extend(contender_rows)
    except BenchError as err:
        print("bench_kesl_roles: %s" % err, file=sys.stderr)
        return 1
    print(table(rows, layout, scan_tasks))
    print("\nnode image %s" % image)
    problems = check(rows, states)
    for problem in problems:
        print("bench_kesl_roles: %s" % problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
