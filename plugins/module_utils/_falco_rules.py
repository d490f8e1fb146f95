# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A checker for Falco rule conditions on the Kubernetes audit event source (``k8s_audit``).

It parses the condition language far enough to refuse, before anything is applied, what Falco's rule
loader would refuse or silently mis-read:

- a field the k8saudit plugin does not export (the list is ``K8SAUDIT_FIELDS``);
- unbalanced parentheses, a missing operand, an operator with no value, a dangling ``and``/``or``;
- a macro that is not defined (a bare word where a check belongs), a list that is not defined
  (see ``LIST_REFERENCE``), and macros that refer to each other in a cycle.

Grammar (Falco's condition syntax, https://falco.org/docs/concepts/rules/conditions/):
``expr := or; or := and ("or" and)*; and := not ("and" not)*; not := "not" not | "(" expr ")" | check
| macro; check := field [ "[" arg "]" ] (unary-op | binary-op value | list-op "(" items ")")``.
Values are bare words or quoted strings; items of a parenthesised list are values or list names.
Field transformers (``tolower(field)`` and the like) are accepted around a field.

Every error names the rule, macro or list it belongs to: ``rule 'Pod exec': condition: unknown field
'ka.target.nam' at column 31``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import PathError

# The fields the k8saudit plugin exports: falcosecurity/plugins plugins/k8saudit/pkg/k8saudit/fields.go
# (``Fields()``) and the field table of plugins/k8saudit/README.md (which adds ka.sourceips and
# ka.cluster.name, exported by newer plugin versions). Fields marked ArgRequired there take ``[arg]``.
K8SAUDIT_FIELDS = frozenset((
    "ka.auditid", "ka.stage", "ka.auth.decision", "ka.auth.reason", "ka.user.name", "ka.user.groups",
    "ka.impuser.name", "ka.verb", "ka.uri", "ka.uri.param", "ka.target.name", "ka.target.namespace",
    "ka.target.resource", "ka.target.subresource", "ka.req.binding.subjects", "ka.req.binding.role",
    "ka.req.binding.subject.has_name", "ka.req.configmap.name", "ka.req.configmap.obj",
    "ka.req.pod.containers.image", "ka.req.container.image", "ka.req.pod.containers.image.repository",
    "ka.req.container.image.repository", "ka.req.pod.host_ipc", "ka.req.pod.host_network",
    "ka.req.container.host_network", "ka.req.pod.host_pid", "ka.req.pod.containers.host_port",
    "ka.req.pod.containers.privileged", "ka.req.container.privileged",
    "ka.req.pod.containers.allow_privilege_escalation", "ka.req.pod.containers.read_only_fs",
    "ka.req.pod.run_as_user", "ka.req.pod.containers.run_as_user", "ka.req.pod.containers.eff_run_as_user",
    "ka.req.pod.run_as_group", "ka.req.pod.containers.run_as_group", "ka.req.pod.containers.eff_run_as_group",
    "ka.req.pod.containers.proc_mount", "ka.req.role.rules", "ka.req.role.rules.apiGroups",
    "ka.req.role.rules.nonResourceURLs", "ka.req.role.rules.verbs", "ka.req.role.rules.resources",
    "ka.req.pod.fs_group", "ka.req.pod.supplemental_groups", "ka.req.pod.containers.add_capabilities",
    "ka.req.service.type", "ka.req.service.ports", "ka.req.pod.volumes.hostpath", "ka.req.volume.hostpath",
    "ka.req.pod.volumes.flexvolume_driver", "ka.req.pod.volumes.volume_type", "ka.resp.name",
    "ka.response.code", "ka.response.reason", "ka.useragent", "ka.sourceips", "ka.cluster.name",
))
FIELDS_SOURCE = "falcosecurity/plugins plugins/k8saudit/pkg/k8saudit/fields.go and plugins/k8saudit/README.md"
ARG_REQUIRED = frozenset(("ka.uri.param", "ka.req.binding.subject.has_name", "ka.req.volume.hostpath"))

# Operators of Falco's condition syntax (libsinsp filter parser).
UNARY_OPERATORS = frozenset(("exists",))
BINARY_OPERATORS = frozenset(("=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains",
                              "startswith", "bstartswith", "endswith", "glob", "iglob", "regex"))
LIST_OPERATORS = frozenset(("in", "intersects", "pmatch"))
TRANSFORMERS = frozenset(("tolower", "toupper", "b64", "basename", "len"))
KEYWORDS = frozenset(("and", "or", "not")) | UNARY_OPERATORS | BINARY_OPERATORS | LIST_OPERATORS

# A bare item of a parenthesised list that looks like this is read as a list name (Falco's own rule files
# name every list in snake_case with an underscore); quote a literal value of that shape.
LIST_REFERENCE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
_OUTPUT_FIELD = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)")
_SYMBOLS = ("==", "!=", "<=", ">=", "=", "<", ">", "(", ")", ",", "[", "]")

PRIORITIES = ("EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG")


class FalcoRuleError(PathError):
    """``where`` names the rule, macro or list ("rule 'X'"), ``message`` says what is wrong."""

    @property
    def where(self):
        return self.path


class _Token(object):
    __slots__ = ("kind", "text", "column")

    def __init__(self, kind, text, column):
        self.kind, self.text, self.column = kind, text, column  # kind: sym, word, string, end


def tokenize(text):
    """Tokens of a condition; ValueError on an unterminated string."""
    tokens = []
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "'\"":
            end = i + 1
            while end < size and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            if end >= size:
                raise ValueError("unterminated string starting at column %d" % (i + 1))
            tokens.append(_Token("string", text[i + 1:end], i + 1))
            i = end + 1
            continue
        symbol = next((s for s in _SYMBOLS if text.startswith(s, i)), None)
        if symbol:
            tokens.append(_Token("sym", symbol, i + 1))
            i += len(symbol)
            continue
        end = i
        while end < size and not text[end].isspace() and text[end] not in "()[],=<>!'\"":
            end += 1
        if end == i:  # a lone '!'
            raise ValueError("unexpected character %r at column %d" % (char, i + 1))
        tokens.append(_Token("word", text[i:end], i + 1))
        i = end
    tokens.append(_Token("end", "", size + 1))
    return tokens


class Condition(object):
    """What a parsed condition refers to: fields, macros and lists (sets of names), and its ``tree``:
    ``("or", [node, ...])``, ``("and", [...])``, ``("not", node)``, ``("macro", name)`` or
    ``("check", field, arg, operator, operand)`` where operand is None (unary), a string (binary) or a list of
    ``("value", text)`` / ``("list", name)`` items (list operators)."""

    def __init__(self):
        self.fields, self.macros, self.lists = set(), set(), set()
        self.tree = None


class _Parser(object):
    def __init__(self, text, fields):
        self.tokens = tokenize(text)
        self.pos = 0
        self.known_fields = fields
        self.found = Condition()

    def peek(self):
        return self.tokens[self.pos]

    def take(self):
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self, token, message):
        raise ValueError("%s at column %d" % (message, token.column) if token.kind != "end" else
                         "%s at the end of the condition" % message)

    def expect(self, text):
        token = self.take()
        if token.kind != "sym" or token.text != text:
            self.fail(token, "expected %r, found %s" % (text, _show(token)))
        return token

    def parse(self):
        if self.peek().kind == "end":
            raise ValueError("the condition is empty")
        self.found.tree = self.expr()
        token = self.peek()
        if token.kind != "end":
            if token.kind == "sym" and token.text == ")":
                self.fail(token, "unbalanced parentheses: ')' without a matching '('")
            self.fail(token, "expected 'and', 'or' or the end, found %s" % _show(token))
        return self.found

    def expr(self):
        nodes = [self.conjunction()]
        while self._keyword("or"):
            self.take()
            nodes.append(self.conjunction())
        return nodes[0] if len(nodes) == 1 else ("or", nodes)

    def conjunction(self):
        nodes = [self.negation()]
        while self._keyword("and"):
            self.take()
            nodes.append(self.negation())
        return nodes[0] if len(nodes) == 1 else ("and", nodes)

    def _keyword(self, word):
        token = self.peek()
        return token.kind == "word" and token.text == word

    def negation(self):
        if self._keyword("not"):
            self.take()
            return ("not", self.negation())
        token = self.peek()
        if token.kind == "sym" and token.text == "(":
            opening = self.take()
            node = self.expr()
            closing = self.peek()
            if closing.kind != "sym" or closing.text != ")":
                self.fail(opening if closing.kind == "end" else closing,
                          "unbalanced parentheses: '(' is never closed" if closing.kind == "end" else
                          "expected ')', found %s" % _show(closing))
            self.take()
            return node
        return self.check()

    def check(self):
        token = self.take()
        if token.kind != "word" or token.text in KEYWORDS:
            self.fail(token, "expected a field, a macro or '(', found %s" % _show(token))
        name = token.text
        after = self.peek()
        transformer = None
        if name in TRANSFORMERS and after.kind == "sym" and after.text == "(":
            self.take()
            transformer, token = name, self.take()
            field, arg = self.field(token)
            self.expect(")")
        elif _FIELD.match(name):
            field, arg = self.field(token)
        elif _NAME.match(name):
            self.found.macros.add(name)
            return ("macro", name)
        else:
            self.fail(token, "%r is neither a field nor a macro name" % name)
        operator, operand = self.operator()
        node = ("check", field, arg, operator, operand)
        return node if transformer is None else ("check", (transformer, field), arg, operator, operand)

    def field(self, token):
        if token.kind != "word" or not _FIELD.match(token.text):
            self.fail(token, "expected a field, found %s" % _show(token))
        name = token.text
        if name not in self.known_fields:
            self.fail(token, "unknown field %r (not a k8saudit field, see %s)" % (name, FIELDS_SOURCE))
        self.found.fields.add(name)
        nxt = self.peek()
        if nxt.kind == "sym" and nxt.text == "[":
            self.take()
            arg = self.take()
            if arg.kind not in ("word", "string"):
                self.fail(arg, "expected an argument inside '[...]' of %s" % name)
            self.expect("]")
            return name, arg.text
        if name in ARG_REQUIRED:
            self.fail(nxt, "field %s needs an argument: %s[...]" % (name, name))
        return name, None

    def operator(self):
        token = self.take()
        op = token.text
        if token.kind in ("word", "sym") and op in UNARY_OPERATORS:
            return op, None
        if token.kind in ("word", "sym") and op in BINARY_OPERATORS:
            return op, self.value()
        if token.kind == "word" and op in LIST_OPERATORS:
            return op, self.items()
        self.fail(token, "expected an operator after the field, found %s" % _show(token))

    def value(self):
        token = self.take()
        if token.kind == "string":
            return token.text
        if token.kind == "word" and token.text not in ("and", "or", "not"):
            if token.text == "val" and self.peek().kind == "sym" and self.peek().text == "(":
                self.take()
                field = self.field(self.take())
                self.expect(")")
                return ("val", field[0])
            return token.text
        self.fail(token, "expected a value, found %s" % _show(token))

    def items(self):
        opening = self.peek()
        if opening.kind != "sym" or opening.text != "(":
            # Falco also accepts a single list name without parentheses.
            token = self.take()
            if token.kind == "word" and LIST_REFERENCE.match(token.text):
                self.found.lists.add(token.text)
                return [("list", token.text)]
            self.fail(token, "expected '(' and a list of values, found %s" % _show(token))
        self.take()
        items = []
        if self.peek().kind == "sym" and self.peek().text == ")":
            self.take()
            return items
        while True:
            token = self.take()
            if token.kind == "word" and LIST_REFERENCE.match(token.text):
                self.found.lists.add(token.text)
                items.append(("list", token.text))
            elif token.kind in ("word", "string"):
                items.append(("value", token.text))
            else:
                self.fail(token, "unbalanced parentheses: the list is never closed" if token.kind == "end" else
                          "expected a list item, found %s" % _show(token))
            sep = self.take()
            if sep.kind == "sym" and sep.text == ")":
                return items
            if sep.kind != "sym" or sep.text != ",":
                self.fail(sep, "unbalanced parentheses: the list is never closed" if sep.kind == "end" else
                          "expected ',' or ')' in the list, found %s" % _show(sep))


def _show(token):
    if token.kind == "end":
        return "the end"
    if token.kind == "string":
        return "string %r" % token.text
    return repr(token.text)


def parse_condition(text, fields=K8SAUDIT_FIELDS):
    """Parse one condition; returns a Condition (fields, macros, lists it uses) or raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("must be a string")
    return _Parser(text, fields).parse()


def output_fields(text):
    """The %field references of a rule's output."""
    return [match.group(1) for match in _OUTPUT_FIELD.finditer(text or "")]


def _label(item):
    for kind in ("rule", "macro", "list"):
        if kind in item:
            return kind, item[kind]
    return None, None


def check_items(items, known_macros=(), known_lists=(), fields=K8SAUDIT_FIELDS):
    """Check a Falco rules list (items ``{"rule": ...}``, ``{"macro": ...}``, ``{"list": ...}`` as in
    FalcoAuditRules ``spec.rules`` and Falco rules files after their ``- rule:`` keys are expanded).
    ``known_macros``/``known_lists`` are names defined elsewhere (another file Falco loads). Raises
    FalcoRuleError for the first problem, naming the item. Returns ({rule name: Condition},
    {macro name: Condition})."""
    macros, lists = {}, {}
    parsed = {}
    rules = []
    for index, item in enumerate(items or ()):
        kind, body = (_label(item) if isinstance(item, dict) else (None, None))
        where = "item %d" % index
        if kind is None or not isinstance(body, dict):
            raise FalcoRuleError(where, "must be a mapping with one of 'rule', 'macro' or 'list'")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FalcoRuleError(where, "%s.name must be a non-empty string" % kind)
        where = "%s %r" % (kind, name)
        if kind == "list":
            if name in lists:
                raise FalcoRuleError(where, "is defined twice")
            values = body.get("items")
            if not isinstance(values, list):
                raise FalcoRuleError(where, "items must be a list")
            lists[name] = values
            continue
        condition = body.get("condition")
        if not isinstance(condition, str):
            raise FalcoRuleError(where, "condition must be a string")
        try:
            parsed[(kind, name)] = parse_condition(condition, fields)
        except ValueError as exc:
            raise FalcoRuleError(where, "condition: %s" % exc)
        if kind == "macro":
            if name in macros:
                raise FalcoRuleError(where, "is defined twice")
            macros[name] = parsed[(kind, name)]
        else:
            if name in (rule for rule, _body in rules):
                raise FalcoRuleError(where, "is defined twice")
            rules.append((name, body))
    all_lists = set(lists) | set(known_lists)
    for (kind, name), found in sorted(parsed.items()):
        where = "%s %r" % (kind, name)
        undefined = sorted(found.macros - set(macros) - set(known_macros))
        if undefined:
            raise FalcoRuleError(where, "condition: macro %r is not defined" % undefined[0])
        missing = sorted(found.lists - all_lists)
        if missing:
            raise FalcoRuleError(where, "condition: list %r is not defined (quote the value if it is not a "
                                        "list name)" % missing[0])
    _check_cycles(macros)
    for name, body in rules:
        where = "rule %r" % name
        for field in output_fields(body.get("output")):
            if field not in fields:
                raise FalcoRuleError(where, "output: unknown field %r (see %s)" % (field, FIELDS_SOURCE))
        priority = body.get("priority")
        if priority is not None and (not isinstance(priority, str) or priority.upper() not in PRIORITIES):
            raise FalcoRuleError(where, "priority %r is not one of %s" % (priority, ", ".join(PRIORITIES)))
    return dict((name, parsed[("rule", name)]) for name, _body in rules), macros


def _check_cycles(macros):
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            raise FalcoRuleError("macro %r" % name, "refers to itself through %s" % " -> ".join(trail + [name]))
        state[name] = "open"
        for used in sorted(macros[name].macros):
            if used in macros:
                visit(used, trail + [name])
        state[name] = "done"

    for name in sorted(macros):
        visit(name, [])


def expand_fields(name, conditions, macros):
    """Every field a rule reads, its macros' fields included (``conditions``: {rule: Condition},
    ``macros``: {macro: Condition})."""
    seen, fields = set(), set(conditions[name].fields)
    todo = list(conditions[name].macros)
    while todo:
        macro = todo.pop()
        if macro in seen or macro not in macros:
            continue
        seen.add(macro)
        fields |= macros[macro].fields
        todo.extend(macros[macro].macros)
    return fields
