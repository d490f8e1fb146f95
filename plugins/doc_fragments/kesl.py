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
      - V(auto) uses C(--json) from KESL 12 on and the text and INI forms on 11.x.
      - V(json) and V(text) force one form (for a KESL whose JSON differs from what the module expects).
    type: str
    choices: [auto, json, text]
    default: auto
'''
