# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Requests to a test kube-apiserver with a chosen Audit-ID, and reading back its audit log."""

import json
import os
import ssl
import time
import urllib.error
import urllib.request


def send(api, method, path, body=None, anonymous=False, audit_id=None, content_type="application/json"):
    """One request as the harness's admin (or anonymously); returns the HTTP status. The apiserver takes
    the Audit-ID header as the events' auditID, so a test finds its own requests in the log."""
    ctx = ssl.create_default_context(cafile=api.ca_file)
    if not anonymous:
        ctx.load_cert_chain(api.client_cert, api.client_key)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api.server + path, data=data, method=method)
    if audit_id:
        req.add_header("Audit-ID", audit_id)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        err.read()
        return err.code


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
