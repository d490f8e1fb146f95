# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Falco condition checker on a corpus of good and broken conditions."""

import pytest

from ansible_collections.auditops.deckhouse.plugins.module_utils import _falco_rules as fr

GOOD = [
    "ka.verb = create",
    "ka.verb=create and ka.target.resource=pods",
    "ka.target.subresource in (exec, attach)",
    "ka.target.subresource in (exec,attach) and not ka.user.name startswith 'system:'",
    'ka.user.name = "system:anonymous" and ka.auth.decision = allow',
    "(ka.verb in (create, update) or ka.verb = patch) and ka.req.binding.role = cluster-admin",
    "not (ka.target.resource = secrets)",
    "ka.req.pod.containers.privileged intersects (true)",
    "ka.req.role.rules.verbs intersects ('*')",
    "ka.uri.param[command] exists",
    "ka.response.code in (401, 403)",
    "ka.response.code >= 400",
    "tolower(ka.user.name) contains admin",
    "ka.req.pod.containers.image pmatch (registry.example/)",
    "ka.target.resource in ()",
    "ka.uri != /healthz",
    "ka.useragent regex '^kubectl/.*'",
    "not not ka.verb = get",
    "ka.req.pod.volumes.volume_type intersects (hostPath) or ka.req.pod.host_pid = true",
    "ka.sourceips exists",
]

# (condition, words the error must contain)
BROKEN = [
    ("", ["empty"]),
    ("ka.verb = create and", ["expected a field", "end"]),
    ("(ka.verb = create", ["unbalanced parentheses", "never closed", "column 1"]),
    ("ka.verb = create)", ["unbalanced parentheses", "without a matching"]),
    ("ka.target.subresource in (exec, attach", ["unbalanced", "never closed"]),
    ("((ka.verb = get) or (ka.verb = list)", ["unbalanced"]),
    ("ka.target.nam = x", ["unknown field", "ka.target.nam", "column 1"]),
    ("ka.verb = get and jevt.value[/verb] = get", ["unknown field", "jevt.value"]),
    ("ka.verb", ["expected an operator", "end"]),
    ("ka.verb foo bar", ["expected an operator", "'foo'"]),
    ("ka.verb = ", ["expected a value"]),
    ("ka.verb in exec", ["expected '('"]),
    ("ka.uri.param exists", ["needs an argument"]),
    ("and ka.verb = get", ["expected a field"]),
    ("ka.verb = 'get", ["unterminated string"]),
    ("ka.verb = get ka.verb = list", ["expected 'and', 'or'"]),
    ("tolower(ka.user.name contains x", ["expected ')'"]),
]


@pytest.mark.parametrize("condition", GOOD)
def test_good_conditions_parse(condition):
    fr.parse_condition(condition)


@pytest.mark.parametrize("condition,words", BROKEN)
def test_broken_conditions_are_refused_with_a_reason(condition, words):
    with pytest.raises(ValueError) as err:
        fr.parse_condition(condition)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_parse_reports_fields_macros_and_lists():
    found = fr.parse_condition("my_macro and ka.verb in (create, my_verbs) and ka.user.name = 'a_b'")
    assert found.fields == {"ka.verb", "ka.user.name"}
    assert found.macros == {"my_macro"}
    assert found.lists == {"my_verbs"}   # the quoted 'a_b' is a value, not a list


def _rule(name, condition, **extra):
    body = {"name": name, "condition": condition, "desc": "d", "output": "user=%ka.user.name", "priority": "Warning"}
    body.update(extra)
    return {"rule": body}


def test_check_items_accepts_a_consistent_set_and_returns_what_rules_read():
    items = [{"list": {"name": "my_verbs", "items": ["create", "update"]}},
             {"macro": {"name": "my_kevt", "condition": "ka.stage = ResponseComplete"}},
             {"macro": {"name": "my_write", "condition": "my_kevt and ka.verb in (my_verbs)"}},
             _rule("Writes", "my_write and ka.target.resource = pods")]
    rules, macros = fr.check_items(items)
    assert set(rules) == {"Writes"}
    assert fr.expand_fields("Writes", rules, macros) == {"ka.stage", "ka.verb", "ka.target.resource"}


@pytest.mark.parametrize("items,message", [
    ([_rule("Exec", "kevt and ka.verb = create")], "rule 'Exec': condition: macro 'kevt' is not defined"),
    ([_rule("Exec", "ka.verb in (exec_verbs)")], "rule 'Exec': condition: list 'exec_verbs' is not defined"),
    ([_rule("Exec", "ka.verb = create and (ka.target.resource = pods")],
     "rule 'Exec': condition: unbalanced parentheses"),
    ([_rule("Exec", "ka.verbs = create")], "rule 'Exec': condition: unknown field 'ka.verbs'"),
    ([_rule("Exec", "ka.verb = create", output="who=%ka.user")], "rule 'Exec': output: unknown field 'ka.user'"),
    ([_rule("Exec", "ka.verb = create", priority="Loud")], "rule 'Exec': priority 'Loud'"),
    ([_rule("Exec", "ka.verb = create"), _rule("Exec", "ka.verb = get")], "rule 'Exec': is defined twice"),
    ([{"macro": {"name": "a_m", "condition": "b_m"}}, {"macro": {"name": "b_m", "condition": "a_m"}}],
     "refers to itself through a_m -> b_m -> a_m"),
    ([{"macro": {"name": "m", "condition": "ka.verb ="}}], "macro 'm': condition: expected a value"),
    ([{"list": {"name": "l", "items": "x"}}], "list 'l': items must be a list"),
    ([{"rule": {"condition": "ka.verb = get"}}], "item 0: rule.name"),
    (["ka.verb = get"], "item 0: must be a mapping"),
])
def test_check_items_names_the_item_in_its_error(items, message):
    with pytest.raises(fr.FalcoRuleError) as err:
        fr.check_items(items)
    assert message in str(err.value)


def test_known_macros_and_lists_from_elsewhere_are_accepted():
    fr.check_items([_rule("Exec", "kevt and ka.verb in (exec_verbs)")], known_macros=["kevt"], known_lists=["exec_verbs"])


def test_the_tree_keeps_precedence_operands_and_list_references():
    tree = fr.parse_condition("not a_m and ka.verb in (get, my_verbs) or ka.uri.param[command] = 'id'").tree
    assert tree == ("or", [("and", [("not", ("macro", "a_m")),
                                    ("check", "ka.verb", None, "in", [("value", "get"), ("list", "my_verbs")])]),
                           ("check", "ka.uri.param", "command", "=", "id")])
