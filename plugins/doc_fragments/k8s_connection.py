# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The kube-apiserver connection of the modules that talk to it without the kubernetes client library.
    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path of a kubeconfig. Without it and without O(host), C(KUBECONFIG) or C(~/.kube/config).
      - Users that authenticate through an C(exec) or C(auth-provider) plugin are not supported.
    type: path
    aliases: [kubeconfig_path]
  context:
    description: The kubeconfig context; its current context when omitted.
    type: str
  host:
    description: The API server URL, overriding the kubeconfig's (for example one master instead of the load balancer).
    type: str
  api_key:
    description: A bearer token.
    type: str
  ca_cert:
    description: CA certificate file to verify the server with.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description: Client certificate file.
    type: path
    aliases: [cert_file]
  client_key:
    description: Client key file.
    type: path
    aliases: [key_file]
  validate_certs:
    description: Verify the server certificate; the kubeconfig's C(insecure-skip-tls-verify) decides when omitted.
    type: bool
    aliases: [verify_ssl]
notes:
  - Without O(kubeconfig) the options fall back to the environment variables C(K8S_AUTH_KUBECONFIG), C(K8S_AUTH_CONTEXT),
    C(K8S_AUTH_HOST), C(K8S_AUTH_API_KEY), C(K8S_AUTH_SSL_CA_CERT), C(K8S_AUTH_CERT_FILE), C(K8S_AUTH_KEY_FILE) and
    C(K8S_AUTH_VERIFY_SSL), as in C(kubernetes.core).
'''
