# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The order `make pytest` hands files to its workers in (tests/conftest.py): the slow files first."""

import os

from ansible_collections.auditops.deckhouse.tests import _paths
from ansible_collections.auditops.deckhouse.tests import conftest


def test_every_slow_file_named_first_exists():
    # A renamed or removed file would silently lose its place at the front.
    missing = [name for name in conftest.SLOW_FILES_FIRST if not os.path.isfile(os.path.join(_paths.ROOT, name))]
    assert not missing and len(set(conftest.SLOW_FILES_FIRST)) == len(conftest.SLOW_FILES_FIRST)


class _Item(object):
    def __init__(self, nodeid):
        self.nodeid = nodeid


def test_slow_files_go_first_and_the_rest_keep_their_order():
    names = ["tests/unit/test_a.py::test_1", conftest.SLOW_FILES_FIRST[1] + "::test_x",
             "tests/unit/test_b.py::test_2", conftest.SLOW_FILES_FIRST[0] + "::test_y",
             conftest.SLOW_FILES_FIRST[1] + "::test_z", "tests/unit/test_a.py::test_3"]
    items = [_Item(name) for name in names]
    conftest.pytest_collection_modifyitems(items)
    assert [item.nodeid for item in items] == [names[3], names[1], names[4], names[0], names[2], names[5]]
