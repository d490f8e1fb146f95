# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter log_shipper_endpoints (documentation in log_shipper_endpoints.yml next to this file)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.auditops.deckhouse.plugins.filter.audit import _plain


def log_shipper_endpoints(destinations):
    """The network endpoints of KUMA destinations as the kuma_log_shipper role takes them."""
    if not isinstance(destinations, (list, tuple)):
        raise AnsibleFilterError("log_shipper_endpoints: expected a list of destinations")
    # Imported here, not at the top: ansible-core imports every filter file to find any one (see audit.py).
    from ansible_collections.auditops.deckhouse.plugins.module_utils._log_shipper import endpoints
    return endpoints(_plain(destinations))


class FilterModule(object):
    def filters(self):
        return {"log_shipper_endpoints": log_shipper_endpoints}
