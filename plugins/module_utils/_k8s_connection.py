# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module side of talking to kube-apiserver through ``_apiserver_probe``: the connection options (documented
in the ``auditops.deckhouse.k8s_connection`` doc fragment; the names, aliases and environment variables of
kubernetes.core) and ``connect``/``client``, which turn them into a connection or fail the module naming the
option."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import Client, ProbeError, resolve
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import anonymous as _anonymous
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import fail_json


def connection_argument_spec():
    return dict(
        kubeconfig=dict(type="path", aliases=["kubeconfig_path"], fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
        context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
        host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
        api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
        ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
        client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
        client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
        validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    )


def resolve_params(params, anonymous=False):
    """``_apiserver_probe.resolve`` with the connection options of ``params``."""
    return resolve(params["kubeconfig"], params["context"], params["host"], params["api_key"], params["ca_cert"],
                   params["client_cert"], params["client_key"], params["validate_certs"], anonymous)


def connect(module, anonymous=False, plugins="warn"):
    """The connection ``module``'s options name, its notes (where the settings came from) given as warnings; a
    bad option (unreadable kubeconfig, unknown context, no host) fails the module naming it.

    ``plugins="fail"``: a kubeconfig user that authenticates only through an exec or auth-provider plugin (which is
    not run) fails the module instead of leaving it to ask anonymously (for modules that write or read objects)."""
    try:
        conn = resolve_params(module.params, anonymous)
    except ProbeError as exc:
        fail_json(module, to_native(exc))
    if plugins == "fail" and conn.plugin and _anonymous(conn):
        fail_json(module, "kubeconfig: the user of the kubeconfig context authenticates through an exec or "
                  "auth-provider plugin, which this module does not run; give api_key, or client_cert and "
                  "client_key, or a kubeconfig with a token or client certificate")
    for note in conn.notes:
        module.warn(note)
    return conn


def client(module, plugins="warn"):
    """A ``Client`` for ``connect(module, plugins=plugins)``; a certificate or key it cannot load fails the module
    naming the option. The caller closes it."""
    conn = connect(module, plugins=plugins)
    try:
        return Client(conn)
    except ProbeError as exc:
        fail_json(module, to_native(exc))
