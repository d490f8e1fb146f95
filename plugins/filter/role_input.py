# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter role_input (documentation in role_input.yml next to this one): a role or playbook variable read as the type
its argument spec gives it. ``-e name=value`` and AWX survey answers are strings; an argument spec accepts them but
leaves the variable as it came, so every role converts its variables once at entry through this filter."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.validation import check_type_bool, check_type_float, check_type_int

_CONVERT = {"bool": check_type_bool, "int": check_type_int, "float": check_type_float}
_SEPARATOR = re.compile(r"[,\n]")


def _convert(value, kind):
    if kind not in _CONVERT:
        return value
    try:
        return _CONVERT[kind](value)
    except TypeError as error:
        raise AnsibleFilterError("role_input: expected a %s, got %r (%s)" % (kind, value, error))


def role_input(value, type="str", elements=None):  # pylint: disable=redefined-builtin
    """``value`` as the argument spec type ``type`` (with ``elements`` for a list); null stays null."""
    if value is None:
        return None
    if type != "list":
        return _convert(value, type)
    if isinstance(value, str):
        # "a,b" from -e, one item per line from an AWX textarea; an empty answer is an empty list.
        value = [item.strip() for item in _SEPARATOR.split(value) if item.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    return [_convert(item, elements) for item in value]


class FilterModule(object):
    def filters(self):
        return {"role_input": role_input}
