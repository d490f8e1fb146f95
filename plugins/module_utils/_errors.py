# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one error contract. Pure Python, no Ansible imports.

- ``Error``: one error type carrying a list of ``(path, message)`` problems; every engine's error class
  derives from it (their constructors only adapt the shapes they were raised with).
- ``line`` / ``render``: the one rendering, ``path: message`` joined by ``; `` (``str(error)``).
- ``fail_json(module, error, what=None, **extra)``: the one module failure. Every module fails with
  ``msg`` (``what: first problem (and N more, see errors)``) and ``errors``, a list of
  ``{"path": ..., "message": ...}``; ``extra`` is context the module also returns (``changed``, ``diff``).

docs/troubleshooting.md documents these keys once, at the top.
"""

from __future__ import annotations

import re

# A field path as the engines write them: rules[2].level, spec.settings.x, d[3].address, <root>.
_PATH = re.compile(r"^(?P<path>[A-Za-z_<$][^\s:]*): (?P<message>.*)$", re.DOTALL)


def line(path, message):
    """One problem as text: ``path: message`` (just the message when there is no path)."""
    return "%s: %s" % (path, message) if path else message


def render(problems):
    """All problems as one text."""
    return "; ".join(line(path, message) for path, message in problems)


def split(text):
    """``(path, message)`` of a ``path: message`` text; ``("", text)`` when it does not start with a path."""
    match = _PATH.match(text)
    return (match.group("path"), match.group("message")) if match else ("", text)


class Error(ValueError):
    """One or more problems, each ``(path, message)``; ``path`` names the offending option or field."""

    def __init__(self, problems):
        self.problems = [(path or "", message) for path, message in problems] or [("", "unknown error")]
        super(Error, self).__init__(render(self.problems))

    @property
    def errors(self):
        """The problems as ``path: message`` texts."""
        return [line(path, message) for path, message in self.problems]

    @property
    def path(self):
        """The first problem's path."""
        return self.problems[0][0]

    @property
    def message(self):
        """The first problem's message."""
        return self.problems[0][1]


class PathError(Error):
    """Base for errors raised as ``(path, message)``."""

    def __init__(self, path, message):
        super(PathError, self).__init__([(path, message)])


class ListError(Error):
    """Base for errors raised with a list of ``path: message`` texts."""

    def __init__(self, errors):
        super(ListError, self).__init__([split(text) for text in errors])


class TextError(Error):
    """Base for errors raised with one text whose field path comes first (``exclusions[2].path: ...``)."""

    def __init__(self, text):
        super(TextError, self).__init__([split(str(text))])


def as_error(error):
    """``error`` as an ``Error``: an ``Error`` as it is, anything else from its text."""
    if isinstance(error, Error):
        return error
    return Error([split(str(error))])


def summary(error, what=None):
    """The failure's ``msg``: ``what: first problem``, and how many more the ``errors`` list holds."""
    error = as_error(error)
    text = line(*error.problems[0])
    if what:
        text = "%s: %s" % (what, text)
    more = len(error.problems) - 1
    if more:
        text += " (and %d more, see errors)" % more
    return text


def failure(error, what=None):
    """The failure keys every module returns: ``msg`` and ``errors``."""
    error = as_error(error)
    return {"msg": summary(error, what),
            "errors": [{"path": path, "message": message} for path, message in error.problems]}


def fail_json(module, error, what=None, **extra):
    """Fail ``module`` (an AnsibleModule) with the collection's failure keys; ``extra`` adds context."""
    result = dict(extra)
    result.update(failure(error, what))
    module.fail_json(**result)
