# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # Options of every kesl_* module; their argspec is COMMON_ARGUMENT_SPEC in module_utils/_kesl.py.
    DOCUMENTATION = r'''
options:
  executable:
    description: Path of C(kesl-control).
    type: path
    default: /opt/kaspersky/kesl/bin/kesl-control
  output_format:
    description:
      - Kept for playbooks written for 0.1.0; V(auto) and V(text) are the same.
      - Task lists are read as text and settings as INI files (C(--get-settings <id> --file)) on every version. No
        Kaspersky page documents the layout of the C(--json) output, so it is not used (V(json) was removed in 0.2.0).
    type: str
    choices: [auto, text]
    default: auto
  timeout:
    description:
      - Seconds each C(kesl-control) call may take. A call that takes longer is killed and the module fails with a
        message that names the call; after a write that timed out, run again to re-read the node.
      - From 1 to 3600.
    type: int
    default: 120
    version_added: 0.2.0
'''
