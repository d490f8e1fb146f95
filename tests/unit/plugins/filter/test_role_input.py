# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""role_input reads what -e and AWX surveys send (strings) as the argument spec type."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.auditops.deckhouse.plugins.filter.role_input import role_input


@pytest.mark.parametrize("value,args,expected", [
    ("false", ("bool",), False), ("true", ("bool",), True), ("no", ("bool",), False), (True, ("bool",), True),
    ("24", ("int",), 24), (24, ("int",), 24), ("2.5", ("float",), 2.5),
    ("localhost", ("list",), ["localhost"]), ("a, b,,c", ("list",), ["a", "b", "c"]), ("a\nb\n", ("list",), ["a", "b"]),
    ("", ("list",), []), (["x", "y"], ("list",), ["x", "y"]), ("200,401", ("list", "int"), [200, 401]),
    ([200, "401"], ("list", "int"), [200, 401]), (None, ("bool",), None), (None, ("list",), None),
    ("text", ("str",), "text"), ({"a": 1}, ("dict",), {"a": 1}),
])
def test_strings_become_the_spec_type(value, args, expected):
    assert role_input(value, *args) == expected


def test_a_value_the_type_cannot_read_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected a bool"):
        role_input("maybe", "bool")
