# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate plugins/module_utils/_log_shipper_schema.py from the Deckhouse log-shipper CRDs.

The output holds each CRD snapshot trimmed to what validation needs (no descriptions or doc
examples) as a Python dict, so modules shipped to a remote host need no data files.

    python tools/gen_log_shipper_schema.py            # rewrite the module
    python tools/gen_log_shipper_schema.py --check    # exit 1 when the committed module is stale
"""

from __future__ import annotations

import hashlib
import os
import sys

import _schema_emit
from _schema_emit import DEFAULT_SOURCE, ROOT

# The generated module names its generator and says what it holds.
TITLE = "Trimmed Deckhouse log-shipper CRD snapshots (validation keys only), one per named profile."
SCRIPT = "tools/gen_log_shipper_schema.py"
OUTPUT = os.path.join(ROOT, "plugins", "module_utils", "_log_shipper_schema.py")

# Profile name -> where its CRDs come from. Add a snapshot here when a newer CRD file is available.
SNAPSHOTS = {
    "dkp-1.67": {
        "description": "log-shipper CRDs of Deckhouse main at 2025-01-04, the DKP 1.67/1.68 era",
        "upstream": "deckhouse/deckhouse@30543731e7dfd68f49c44b4a4e4eaacabb972f4b modules/460-log-shipper/crds",
        "files": [
            "log-shipper-crd-cluster-log-destination.yaml",
            "log-shipper-crd-cluster-logging-config.yaml",
        ],
    },
}


def generate(source_dir=DEFAULT_SOURCE):
    snapshots = {}
    for name, config in sorted(SNAPSHOTS.items()):
        crds, digests = [], {}
        for file_name in config["files"]:
            path = os.path.join(source_dir, file_name)
            with open(path, "rb") as handle:
                raw = handle.read()
            digests[file_name] = hashlib.sha256(raw).hexdigest()
            crds.append(_schema_emit.openapi.trim_crd(_schema_emit.yaml_io.safe_load(raw)))
        snapshots[name] = {
            "description": config["description"],
            "upstream": config["upstream"],
            "sha256": digests,
            "crds": crds,
        }
    return _schema_emit.module_text(SCRIPT, TITLE, "CRDs", snapshots)


def main(argv=None):
    return _schema_emit.main(argv, __doc__, SCRIPT, generate, OUTPUT, "directory with the CRD YAML files")


if __name__ == "__main__":
    sys.exit(main())
