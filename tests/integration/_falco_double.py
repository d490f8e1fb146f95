# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluates the catalogue's Falco conditions on audit events, standing in for Falco with the k8saudit plugin.

Only what the catalogue uses is emulated, each from a public source; anything else raises, so a new
field or operator cannot pass unnoticed:

- field extraction: falcosecurity/plugins plugins/k8saudit/pkg/k8saudit/extract.go (the JSON path each
  ``ka.*`` field reads; a missing path yields no value, and every comparison on no value is false);
- operators: Falco's condition syntax (https://falco.org/docs/concepts/rules/conditions/): ``=``, ``!=``,
  ``startswith``, ``contains`` compare one value; ``in`` asks whether the value is one of the set;
  ``intersects`` whether any of a list field's values is in the set; ``exists`` whether the field has a value.
"""

from urllib.parse import parse_qs, urlsplit

from ansible_collections.auditops.deckhouse.plugins.module_utils import _falco_rules as fr


def _path(event, *keys):
    node = event
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _containers(event):
    return _path(event, "requestObject", "spec", "containers") or []


# field -> (is a list field, extractor); paths from extract.go.
SINGLE = {
    "ka.stage": lambda e, a: _path(e, "stage"),
    "ka.verb": lambda e, a: _path(e, "verb"),
    "ka.uri": lambda e, a: _path(e, "requestURI"),
    "ka.uri.param": lambda e, a: (parse_qs(urlsplit(_path(e, "requestURI") or "").query).get(a) or [None])[0],
    "ka.user.name": lambda e, a: _path(e, "user", "username"),
    "ka.target.resource": lambda e, a: _path(e, "objectRef", "resource"),
    "ka.target.subresource": lambda e, a: _path(e, "objectRef", "subresource"),
    "ka.target.namespace": lambda e, a: _path(e, "objectRef", "namespace"),
    "ka.target.name": lambda e, a: _path(e, "objectRef", "name"),
    "ka.response.code": lambda e, a: _path(e, "responseStatus", "code"),
    "ka.req.binding.role": lambda e, a: _path(e, "requestObject", "roleRef", "name"),
    "ka.req.container.image": lambda e, a: (_containers(e) or [{}])[0].get("image"),
    "ka.req.pod.host_network": lambda e, a: _path(e, "requestObject", "spec", "hostNetwork"),
    "ka.req.pod.host_pid": lambda e, a: _path(e, "requestObject", "spec", "hostPID"),
    "ka.req.pod.host_ipc": lambda e, a: _path(e, "requestObject", "spec", "hostIPC"),
}
LISTS = {
    "ka.req.role.rules.verbs": lambda e: [v for r in _path(e, "requestObject", "rules") or [] for v in r.get("verbs") or []],
    "ka.req.role.rules.resources": lambda e: [v for r in _path(e, "requestObject", "rules") or []
                                              for v in r.get("resources") or []],
    "ka.req.pod.containers.privileged": lambda e: [_text(_path(c, "securityContext", "privileged"))
                                                   for c in _containers(e) if _path(c, "securityContext", "privileged")
                                                   is not None],
    # every key of each volume but "name" (extract.go, ka.req.pod.volumes.volume_type)
    "ka.req.pod.volumes.volume_type": lambda e: [k for v in _path(e, "requestObject", "spec", "volumes") or []
                                                 for k in v if k != "name"],
}


class Falco(object):
    def __init__(self, items):
        self.rules, self.macros = fr.check_items(items)
        self.lists = dict((i["list"]["name"], i["list"]["items"]) for i in items if "list" in i)

    def _set(self, operand):
        out = set()
        for kind, text in operand:
            out.update(self.lists[text] if kind == "list" else [text])
        return out

    def _eval(self, node, event):
        kind = node[0]
        if kind == "or":
            return any(self._eval(child, event) for child in node[1])
        if kind == "and":
            return all(self._eval(child, event) for child in node[1])
        if kind == "not":
            return not self._eval(node[1], event)
        if kind == "macro":
            return self._eval(self.macros[node[1]].tree, event)
        _check, field, arg, op, operand = node
        if field in LISTS:
            values = LISTS[field](event)
            if op == "intersects":
                return bool(set(values) & self._set(operand))
            raise NotImplementedError("operator %s on list field %s" % (op, field))
        if field not in SINGLE:
            raise NotImplementedError("field %s is not emulated" % field)
        value = _text(SINGLE[field](event, arg))
        if op == "exists":
            return value is not None
        if value is None:
            return False
        if op in ("=", "=="):
            return value == operand
        if op == "!=":
            return value != operand
        if op == "startswith":
            return value.startswith(operand)
        if op == "contains":
            return operand in value
        if op == "in":
            return value in self._set(operand)
        raise NotImplementedError("operator %s" % op)

    def fired(self, event):
        """Names of the rules whose condition is true for ``event``."""
        return [name for name, condition in self.rules.items() if self._eval(condition.tree, event)]
