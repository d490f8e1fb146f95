# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tools/check_docs_site.py finds broken internal links and anchors, and leaves external links alone."""

import importlib.util
import os
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
_spec = importlib.util.spec_from_file_location("check_docs_site", os.path.join(ROOT, "tools", "check_docs_site.py"))
check_docs_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_docs_site)


def test_broken_links_and_anchors_are_found(tmp_path):
    (tmp_path / "guides").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="guides/a.html#usage">ok</a> <a href="guides/a.html#gone">bad anchor</a> '
        '<a href="guides/missing.html">bad file</a> <a href="https://docs.ansible.com/x.html">external</a> '
        '<a href="#top">self</a><h1 id="top">t</h1><img src="_static/logo.png">')
    (tmp_path / "guides" / "a.html").write_text('<h2 id="usage">u</h2><a href="../index.html">back</a>')
    pages, broken = check_docs_site.broken_links(str(tmp_path))
    assert pages == 2
    assert sorted(broken) == ["index.html: _static/logo.png (no _static/logo.png)",
                              "index.html: guides/a.html#gone (no anchor #gone in guides/a.html)",
                              "index.html: guides/missing.html (no guides/missing.html)"]


def test_raw_markup_pattern():
    assert check_docs_site.RAW_MARKUP.findall("use C(foo) and O(bar=1)") == ["C(f", "O(b"]
    assert check_docs_site.RAW_MARKUP.findall("rendered foo and bar=1 (see the docs)") == []
