# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""README.md's contents table lists exactly the modules, filters, roles and playbooks that exist, once each."""

import glob
import os
import re

import yaml
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
ROW = re.compile(r"^\| (module|filter|role|playbook) \| `([a-z0-9_]+)` \| (.+) \|$")


def stems(pattern):
    return sorted(os.path.splitext(os.path.basename(path))[0] for path in glob.glob(os.path.join(ROOT, pattern)))


def existing():
    filters = []
    for path in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml")):
        with open(path) as handle:
            filters.append(yaml.safe_load(handle)["DOCUMENTATION"]["name"])
    return {
        "module": [name for name in stems("plugins/modules/*.py") if name != "__init__"],
        "filter": sorted(filters),
        "role": sorted(os.path.basename(os.path.dirname(path)) for path in glob.glob(os.path.join(ROOT, "roles", "*", "tasks"))),
        "playbook": stems("playbooks/*.yml"),
    }


def listed():
    with open(os.path.join(ROOT, "README.md")) as handle:
        rows = [ROW.match(line.rstrip("\n")) for line in handle]
    found = {"module": [], "filter": [], "role": [], "playbook": []}
    for row in rows:
        if row:
            assert row.group(3).strip(), "README: %s %s has no description" % (row.group(1), row.group(2))
            found[row.group(1)].append(row.group(2))
    return found


def test_the_readme_lists_every_module_filter_role_and_playbook_once():
    table = listed()
    for kind, names in existing().items():
        assert names, "nothing found for %s: the test looks in the wrong place" % kind
        assert sorted(table[kind]) == names, "README contents table, %ss: listed %s, exist %s" % (kind, table[kind], names)
        assert len(set(table[kind])) == len(table[kind]), "README lists a %s twice" % kind


def test_the_readme_still_starts_with_the_two_commands():
    with open(os.path.join(ROOT, "README.md")) as handle:
        head = handle.read().split("\n")[:6]
    assert head[2:5] == ["```sh", "make demo   # starts a local, real kube-apiserver + etcd and lets the collection configure it",
                         "make test   # every test and gate: pytest (unit + integration), ansible-lint, ansible-test sanity, "
                         "molecule, build"], head
