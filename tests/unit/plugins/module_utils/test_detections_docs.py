# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/detections.md lists every detection with the level, stage and alert the catalogue gives it."""

import os

from ansible_collections.auditops.deckhouse.plugins.module_utils import _detections as det

DOC = os.path.join(os.path.dirname(__file__), *[".."] * 4 + ["docs", "detections.md"])


def test_the_table_matches_the_catalogue():
    with open(DOC) as handle:
        rows = dict((line.split("|")[1].strip().strip("`"), line) for line in handle if line.startswith("| `"))
    for row in det.catalogue():
        line = rows[row["id"]]
        assert "| %s | %s |" % (row["level"], ", ".join(row["stages"])) in line, row["id"]
        assert "`%s` (%s, `for: %s`" % (row["alert"], row["severity"], row["for"]) in line, row["id"]
        for field in row["fields"]:
            assert "`%s`" % field in line, (row["id"], field)
    for alert in det.APISERVER_ALERTS:
        assert "`%s`" % alert["alert"] in rows.get(alert["alert"], ""), alert["alert"]
