# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Requests to a test kube-apiserver with a chosen Audit-ID, and reading back its audit log."""

import json
import os
import time

import harness  # tests/cluster, on sys.path through conftest


def send(api, method, path, body=None, anonymous=False, audit_id=None, content_type="application/json", token=None):
    """One request as the harness's admin (anonymously, or with a bearer ``token`` and no client certificate);
    returns the HTTP status. The apiserver takes the Audit-ID header as the events' auditID, so a test finds its
    own requests in the log."""
    headers = {}
    if audit_id:
        headers["Audit-ID"] = audit_id
    if token:
        headers["Authorization"] = "Bearer %s" % token
    ctx = harness.client_context(api.pki, anonymous=anonymous or bool(token))
    return harness.https_request(ctx, method, api.server + path, body, content_type=content_type, headers=headers)[0]


def wait_log_quiet(log_path, timeout=20):
    """The ResponseComplete event is written when the handler returns: wait until the log stops growing."""
    previous, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        current = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        if current == previous:
            return
        previous = current


def events_by_audit_id(log_path):
    """{auditID: [event, ...]} in log order."""
    found = {}
    if not os.path.exists(log_path):
        return found
    with open(log_path) as handle:
        for line in handle:
            line = line.strip()
            if line:
                event = json.loads(line)
                found.setdefault(event["auditID"], []).append(event)
    return found
