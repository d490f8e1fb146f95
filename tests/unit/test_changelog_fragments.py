"""Every changelog fragment is what antsibull-changelog (ansible-test sanity's changelog test) accepts: a mapping
of known sections to lists of strings. An unquoted ``: `` inside an item makes YAML read it as a mapping."""
import glob
import os

import pytest
import yaml

from ansible_collections.auditops.deckhouse.tests import _paths

with open(os.path.join(_paths.ROOT, "changelogs", "config.yaml")) as _config:
    _CONFIG = yaml.safe_load(_config)
# The sections changelogs/config.yaml declares, plus the two keys antsibull-changelog always knows.
SECTIONS = {name for name, _title in _CONFIG["sections"]}
SECTIONS |= {_CONFIG.get("prelude_section_name", "release_summary"), _CONFIG.get("trivial_section_name", "trivial")}
FRAGMENTS = sorted(glob.glob(os.path.join(_paths.ROOT, "changelogs", "fragments", "*.yml")))


@pytest.mark.parametrize("path", FRAGMENTS, ids=os.path.basename)
def test_fragment_sections_hold_strings(path):
    with open(path) as handle:
        fragment = yaml.safe_load(handle)
    assert isinstance(fragment, dict) and fragment
    for section, items in fragment.items():
        assert section in SECTIONS, section
        if section == "release_summary":
            assert isinstance(items, str)
            continue
        assert isinstance(items, list) and items, section
        for item in items:
            assert isinstance(item, str), "%s: %s holds a %s, quote it or use >-: %r" % (
                os.path.basename(path), section, type(item).__name__, item)
