# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters verify_cluster_report, verify_apiserver_report, verify_kesl_report and verify_summary of the verify role
(documentation in the .yml file of each next to this one; the engine is module_utils/_verify.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.auditops.deckhouse.plugins.filter.audit import _plain
from ansible_collections.auditops.deckhouse.plugins.module_utils import _verify


def _pair(report_problems):
    report, problems = report_problems
    return {"report": report, "problems": problems}


def verify_cluster_report(cluster, **kwargs):
    return _pair(_verify.cluster_report(_plain(cluster), **_plain(kwargs)))


def verify_apiserver_report(manifest, health, audit_log, healthy_status, now, audit_log_path):
    return _pair(_verify.apiserver_report(_plain(manifest), _plain(health), _plain(audit_log), _plain(healthy_status),
                                          float(now), str(audit_log_path)))


def verify_kesl_report(info, installed, node_role, executable, exclusions=None, tasks=None, required=False):
    return _pair(_verify.kesl_report(bool(installed), str(node_role), str(executable), _plain(info), _plain(exclusions),
                                     _plain(tasks), bool(required)))


def verify_summary(cluster, nodes, apiserver_wanted=True, kesl_wanted=True):
    return _verify.summary(_plain(cluster), _plain(nodes), bool(apiserver_wanted), bool(kesl_wanted))


class FilterModule(object):
    def filters(self):
        return {
            "verify_cluster_report": verify_cluster_report,
            "verify_apiserver_report": verify_apiserver_report,
            "verify_kesl_report": verify_kesl_report,
            "verify_summary": verify_summary,
        }
