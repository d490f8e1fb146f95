# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role auditops.deckhouse.kesl: its defaults against Deckhouse's directory list (reference copy) and
against meta/argument_specs.yml, so neither can drift."""

import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.plugins.module_utils import _kesl as kesl
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
ROLE = os.path.join(ROOT, "roles", "kesl")
REFERENCE = os.path.join(_paths.REFERENCE, "deckhouse-used-directories.yml")


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def defaults():
    return load(os.path.join(ROLE, "defaults", "main.yml"))


@pytest.fixture(scope="module")
def specs():
    return load(os.path.join(ROLE, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def test_directories_match_deckhouse(defaults):
    reference = load(_paths.require(REFERENCE))["directories"]
    assert len(reference) == 14
    wanted = [(d["path"], d["node"]) for d in reference]
    ours = [(d["path"], d["node"]) for d in defaults["kesl_directories"]]
    assert sorted(ours) == sorted(wanted)
    assert len(set(p for p, _n in ours)) == 14


def test_no_old_runbook_typos(defaults):
    paths = [d["path"] for d in defaults["kesl_directories"]]
    assert "/etc/kubernetes" in paths and "/var/lib/bashible" in paths
    assert not [p for p in paths if p != p.lower() or "bashable" in p]


def test_directories_per_node_role(defaults):
    master = kesl.normalize_exclusions(defaults["kesl_directories"], "master")
    worker = kesl.normalize_exclusions(defaults["kesl_directories"], "worker")
    assert len(master) == 14 and len(worker) == 10
    only_master = set(e["path"] for e in master) - set(e["path"] for e in worker)
    assert only_master == {"/var/lib/etcd", "/mnt/kubernetes-data", "/var/lib/deckhouse/", "/var/lib/upmeter"}


def test_stop_tasks_and_scan_tasks(defaults):
    deckhouse = ["Firewall_Management", "Web_Threat_Protection", "Network_Threat_Protection", "Web_Control"]
    assert defaults["kesl_stop_tasks"] == deckhouse
    assert defaults["kesl_exclusion_tasks"] == list(kesl.DEFAULT_EXCLUSION_TASKS)


def test_argument_specs_document_every_default(defaults, specs):
    assert sorted(defaults) == sorted(specs)
    for name, value in defaults.items():
        assert name.startswith("kesl_")
        assert specs[name]["default"] == value, name
        assert specs[name].get("description"), name
        assert specs[name].get("type"), name
