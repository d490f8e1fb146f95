# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate plugins/module_utils/_cpm_settings_schema.py from the control-plane-manager settings schemas.

Each snapshot of the module's openapi/config-values.yaml is trimmed to the keys validation needs (no
descriptions or examples) and written as a Python dict, so the module shipped to a host needs no data file.

    python tools/gen_cpm_settings_schema.py            # rewrite the module
    python tools/gen_cpm_settings_schema.py --check    # exit 1 when the committed module is stale
"""

from __future__ import annotations

import hashlib
import os
import sys

import _schema_emit
from _schema_emit import DEFAULT_SOURCE, ROOT

# The generated module names its generator and says what it holds.
TITLE = "Trimmed control-plane-manager settings schemas (validation keys only), one per named profile."
SCRIPT = "tools/gen_cpm_settings_schema.py"
OUTPUT = os.path.join(ROOT, "plugins", "module_utils", "_cpm_settings_schema.py")

# Profile name -> source file. A file without x-config-version is settings version 1.
SNAPSHOTS = {
    "latest": {
        "description": "control-plane-manager settings schema of Deckhouse main, 2025-2026 (Kubernetes 1.32-1.36)",
        "upstream": "deckhouse/deckhouse@00b39dc10abb1e9ee1bc95051666f4a286137235 "
                    "modules/040-control-plane-manager/openapi/config-values.yaml",
        "file": "control-plane-manager-openapi-config-values.yaml",
    },
    "2025-01": {
        "description": "control-plane-manager settings schema of Deckhouse main at 2025-01-04, the DKP 1.67/1.68 era",
        "upstream": "deckhouse/deckhouse@30543731e7dfd68f49c44b4a4e4eaacabb972f4b "
                    "modules/040-control-plane-manager/openapi/config-values.yaml",
        "file": "control-plane-manager-openapi-config-values.v2025-01.yaml",
    },
}


def generate(source_dir=DEFAULT_SOURCE):
    snapshots = {}
    for name, config in sorted(SNAPSHOTS.items()):
        with open(os.path.join(source_dir, config["file"]), "rb") as handle:
            raw = handle.read()
        document = _schema_emit.yaml_io.safe_load(raw)
        snapshots[name] = {
            "description": config["description"],
            "upstream": config["upstream"],
            "sha256": hashlib.sha256(raw).hexdigest(),
            "config_version": int(document.get("x-config-version", 1)),
            "schema": _schema_emit.openapi.trim(document),
        }
    return _schema_emit.module_text(SCRIPT, TITLE, "schemas", snapshots)


def main(argv=None):
    return _schema_emit.main(argv, __doc__, SCRIPT, generate, OUTPUT, "directory with the config-values YAML files")


if __name__ == "__main__":
    sys.exit(main())
