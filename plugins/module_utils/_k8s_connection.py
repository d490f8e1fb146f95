# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options of the modules that talk to kube-apiserver through ``_apiserver_probe`` (documented
in the ``auditops.deckhouse.k8s_connection`` doc fragment): the names, aliases and environment variables of
kubernetes.core."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import resolve


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
