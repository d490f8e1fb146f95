# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The errors of the KESL engine (``_kesl``): a failed or not understood ``kesl-control`` call, bad module input,
a call that timed out; and the two exit codes an error is asked about (Kaspersky's exit-code table, docs/kesl.md)."""

from __future__ import annotations

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import TextError

NOT_RUNNING = 64
POLICY_LOCKED = 68


class KeslError(TextError):
    """A failed ``kesl-control`` call or output that cannot be understood."""

    def __init__(self, message, rc=None, cmd=None, stdout="", stderr=""):
        super(KeslError, self).__init__(message)
        self.msg = message
        self.rc = rc
        self.cmd = cmd
        self.stdout = stdout
        self.stderr = stderr

    @property
    def policy_locked(self):
        return self.rc == POLICY_LOCKED

    @property
    def not_running(self):
        return self.rc == NOT_RUNNING

    def as_dict(self):
        """The call's context a failing module returns beside the failure keys."""
        return {"rc": self.rc, "cmd": self.cmd, "stdout": self.stdout, "stderr": self.stderr,
                "policy_locked": self.policy_locked, "kesl_not_running": self.not_running}


class KeslInputError(TextError):
    """Bad module input; the message names the field (``exclusions[2].path: ...``)."""


class KeslTimeout(Exception):
    """A kesl-control call that did not end within the timeout."""
