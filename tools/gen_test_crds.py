# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate tests/cluster/_crds.py: the Deckhouse CRDs the test cluster needs besides log-shipper's.

A clone with nothing beside it has no ../shared/reference/deckhouse; the test cluster (tests/cluster/harness.py)
then creates these CRDs from the generated module (and the log-shipper ones from
plugins/module_utils/_log_shipper_schema.py). Each CRD is trimmed to what the kube-apiserver validates (no
descriptions or doc examples), keeping the version subresources, which change how the apiserver stores status.

    python tools/gen_test_crds.py            # rewrite the module
    python tools/gen_test_crds.py --check    # exit 1 when the committed module is stale
"""

from __future__ import annotations

import hashlib
import os
import sys

import _schema_emit
from _schema_emit import DEFAULT_SOURCE, ROOT

TITLE = "Trimmed Deckhouse CRDs for the test cluster (validation keys and subresources only), by upstream file."
SCRIPT = "tools/gen_test_crds.py"
OUTPUT = os.path.join(ROOT, "tests", "cluster", "_crds.py")

# Upstream file (as named in ../shared/reference/deckhouse/SOURCES.md) -> where it comes from.
FILES = {
    "deckhouse-crd-module-config.yaml":
        "deckhouse/deckhouse@12b3a5b790f8ef5241b4042e5ea5527d8cc419ba deckhouse-controller/crds/module-config.yaml",
    "runtime-audit-engine-crd-falco-audit-rules.yaml":
        "deckhouse/deckhouse@4057eef8ed519b8c38cb7df74f9b98044d96d26b modules/650-runtime-audit-engine/crds/falco-audit-rules.yaml",
    "prometheus-crd-custom-prometheus-rules.yaml":
        "deckhouse/deckhouse@09086c0f72ee23622ee609cd411d4f83e5ee7ce7 modules/300-prometheus/crds/customprometheusrules.yaml",
    "prometheus-crd-cluster-alerts.yaml":
        "deckhouse/deckhouse@3ab100bf0449a85c1c36f91ca55d3fe5ca1ee561 modules/300-prometheus/crds/clusteralerts.yaml",
}


def trim(crd):
    """``_openapi.trim_crd`` plus each version's ``subresources`` (status/scale change what the apiserver stores)."""
    trimmed = _schema_emit.openapi.trim_crd(crd)
    for version, source in zip(trimmed["spec"]["versions"], crd["spec"]["versions"]):
        if source.get("subresources"):
            version["subresources"] = source["subresources"]
    return trimmed


def generate(source_dir=DEFAULT_SOURCE):
    crds = {}
    for file_name, upstream in sorted(FILES.items()):
        with open(os.path.join(source_dir, file_name), "rb") as handle:
            raw = handle.read()
        crds[file_name] = {
            "upstream": upstream,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "crd": trim(_schema_emit.yaml_io.safe_load(raw)),
        }
    return _schema_emit.module_text(SCRIPT, TITLE, "CRDs", crds)


def main(argv=None):
    return _schema_emit.main(argv, __doc__, SCRIPT, generate, OUTPUT, "directory with the CRD YAML files")


if __name__ == "__main__":
    sys.exit(main())
