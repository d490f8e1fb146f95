#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: log_shipper_manifest
short_description: Build, validate and render Deckhouse log-shipper objects for Kaspersky KUMA
version_added: 0.1.0
description:
  - Turns a compact description of KUMA destinations and log sources into Deckhouse
    C(ClusterLogDestination) and C(ClusterLoggingConfig) objects.
  - Every object is checked against the CRD's OpenAPI schema (types, enums, patterns, required
    fields, C(oneOf)/C(anyOf)/C(not), the C(x-kubernetes-validations) rules that can be evaluated
    client-side) before it is returned or written; unknown fields are errors because the API
    server would drop them silently. Errors name the input field and the object field.
  - Generation follows the live CRDs when O(crds) is given (the served version and its schema),
    otherwise the named O(profile). The RV(profile) return value always says which one was used.
  - With O(state=built) (the default) it talks to no cluster; it returns the objects, or writes them to
    O(dest_dir) (render mode).
  - With O(state=present) it makes the cluster hold them itself, over the connection options of
    M(kubernetes.core.k8s) (same names, same C(K8S_AUTH_*) environment fallbacks; the module is in the
    C(auditops.deckhouse.k8s) action group). It reads the served CRDs and the existing objects,
    server-side applies only the objects whose applied fields or values differ, reads each written
    object back and fails unless the server holds exactly what was applied, and deletes the objects
    this O(owner) labelled earlier that the input no longer describes (O(prune)). The secrets reach the
    cluster exactly as given; they never appear in any result, diff, warning or error.
  - Secrets in the objects (client keys, key passphrases, SASL, Loki and Elasticsearch passwords, AWS keys, Loki and
    Splunk tokens) are masked in every return value, including RV(objects).
author:
  - auditops maintainers (@auditops)
extends_documentation_fragment:
  - auditops.deckhouse.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Diffs are returned for files in render mode and for every object created, updated or deleted with
        O(state=present); private keys, key passphrases and SASL passwords are masked in them.
  idempotent:
    support: full
options:
  destinations:
    description:
      - KUMA destinations, one C(ClusterLogDestination) each.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Object name. Defaults to C(kuma-<mode>-<codec>) for sockets and C(kuma-<type>) for the other types.
        type: str
      type:
        description:
          - Destination type. Defaults to C(socket). C(loki), C(elasticsearch), C(logstash), C(vector) and C(splunk)
            were added in version 0.2.0.
          - The served CRD must list the type in C(spec.type) (the January 2025 CRD lists all seven).
        type: str
        choices: [socket, kafka, loki, elasticsearch, logstash, vector, splunk]
      address:
        description:
          - KUMA collector as C(host:port) (C([ipv6]:port)); socket destinations only.
        type: str
      mode:
        description:
          - Socket transport. Defaults to C(tcp).
        type: str
        choices: [tcp, udp]
      codec:
        description:
          - Encoding. Sockets accept what the CRD lists (C(json), C(cef), C(syslog), C(text), C(gelf) in the
            default profile), Kafka C(json) or C(cef). Defaults to C(json). Case and C(_) do not matter.
        type: str
      tls:
        description:
          - TLS for C(tcp) sockets and every other type. Certificates and keys are inline PEM, base64-encoded PEM or
            paths of PEM files on the host that runs this module; they are written base64-encoded as the
            CRD expects. log-shipper turns TLS on only when a CA or client certificate is given.
          - The served CRDs have no C(tls.secretRef), so the client key and passphrase are stored inline in the
            cluster-wide object; a warning names the field.
          - For sockets, the verify flags go where the CRD version declares them; on the default profile
            log-shipper ignores them there (a warning says so).
        type: dict
        suboptions:
          verify_certificate:
            description: Verify the server certificate.
            type: bool
          verify_hostname:
            description: Verify that the server name matches its certificate.
            type: bool
          ca:
            description: CA certificate.
            type: str
          client_cert:
            description: Client certificate; needs O(destinations[].tls.client_key).
            type: str
          client_key:
            description: Client private key (PKCS#8); needs O(destinations[].tls.client_cert).
            type: str
          key_pass:
            description: Passphrase of the client key, in plain text (it is base64-encoded for the CRD).
            type: str
      extra_labels:
        description:
          - Labels added to every event (C(spec.extraLabels)). Values must match C(^[a-zA-Z0-9_-]+$) or be one
            C({{ field.path }}) template; keys C(pod), C(namespace), C(node) and the other reserved keys are refused.
        type: dict
      cef:
        description:
          - Shorthand for the CEF extra labels C(cef.name) and C(cef.severity), and the CEF device header fields.
        type: dict
        suboptions:
          name:
            description: CEF event name (C(cef.name)).
            type: str
          severity:
            description: CEF severity, 0-10 (C(cef.severity)).
            type: raw
          device_vendor:
            version_added: 0.2.0
            description:
              - CEF DeviceVendor (C(encoding.cef.deviceVendor)). Only where the served CRD has the field (later
                log-shipper CRDs); otherwise refused with an error naming the field and the served version.
            type: str
          device_product:
            version_added: 0.2.0
            description: CEF DeviceProduct (C(encoding.cef.deviceProduct)); as O(destinations[].cef.device_vendor).
            type: str
          device_version:
            version_added: 0.2.0
            description: CEF DeviceVersion (C(encoding.cef.deviceVersion)); as O(destinations[].cef.device_vendor).
            type: str
      bootstrap_servers:
        description: Kafka brokers as C(host:port); required for Kafka.
        type: list
        elements: str
      topic:
        description: Kafka topic; required for Kafka.
        type: str
      key_field:
        description: Kafka message key field (C(keyField)).
        type: str
      sasl:
        description: Kafka SASL authentication.
        type: dict
        suboptions:
          mechanism:
            description: C(plain), C(scram-sha-256) or C(scram-sha-512).
            type: str
          username:
            description: SASL user name.
            type: str
          password:
            description: SASL password.
            type: str
      endpoint:
        version_added: 0.2.0
        description:
          - Required for C(loki), C(elasticsearch), C(logstash), C(vector) and C(splunk).
          - Loki, Elasticsearch and Splunk take a base URL (C(http://) or C(https://); Splunk's HTTP Event Collector
            without a path, such as C(https://splunk.example.com:8088)).
          - Logstash (a C(tcp) input with the C(json) codec) and Vector (API v2) take C(host:port).
        type: str
      tenant_id:
        version_added: 0.2.0
        description: Loki tenant ID (C(tenantID)).
        type: str
      auth:
        version_added: 0.2.0
        description: Loki or Elasticsearch authentication, stored inline (the served CRD has no Secret reference).
        type: dict
        suboptions:
          strategy:
            description:
              - C(basic) (default, with O(destinations[].auth.user) and O(destinations[].auth.password)).
              - Loki also C(bearer) (with O(destinations[].auth.token)); Elasticsearch also C(aws) (with
                O(destinations[].auth.aws_access_key) and O(destinations[].auth.aws_secret_key)).
            type: str
          user:
            description: Basic user name.
            type: str
          password:
            description: Basic password in plain text (it is base64-encoded for the CRD).
            type: str
          token:
            description: Loki bearer token.
            type: str
          aws_access_key:
            description: Elasticsearch AWS access key, in plain text (it is base64-encoded for the CRD).
            type: str
          aws_secret_key:
            description: Elasticsearch AWS secret key, in plain text (it is base64-encoded for the CRD).
            type: str
          aws_assume_role:
            description: Elasticsearch, ARN of an IAM role to assume.
            type: str
          aws_region:
            description: Elasticsearch, AWS region.
            type: str
      index:
        version_added: 0.2.0
        description: Elasticsearch or Splunk index (Elasticsearch takes templates such as C(k8s-audit-%F)).
        type: str
      pipeline:
        version_added: 0.2.0
        description: Elasticsearch ingest pipeline.
        type: str
      doc_type:
        version_added: 0.2.0
        description: Elasticsearch C(docType) (only for Elasticsearch 6.x and older).
        type: str
      data_stream_enabled:
        version_added: 0.2.0
        description: Elasticsearch, write to data streams (Elasticsearch 7.16 and later).
        type: bool
      token:
        version_added: 0.2.0
        description: Splunk HTTP Event Collector token; required for C(splunk). Stored inline, never returned.
        type: str
      transformations:
        version_added: 0.2.0
        description:
          - C(spec.transformations) exactly as the CRD writes them. Only where the served CRD has the field (later
            log-shipper CRDs; its schema then validates them); otherwise refused with an error naming the field and
            the served version.
        type: list
        elements: dict
      rate_limit:
        description: Rate limit (C(spec.rateLimit)).
        type: dict
        suboptions:
          lines_per_minute:
            description: Events per minute; required.
            type: raw
          key_field:
            description: Field whose value groups events for the limit.
            type: str
          excludes:
            description: Filters (C(field), C(operator), C(values)) of events the limit does not apply to.
            type: list
            elements: dict
      buffer:
        description:
          - Buffer (C(spec.buffer)); C(type) is C(disk) (with C(max_size), at least 268435488 bytes) or
            C(memory) (with C(max_events)); C(when_full) is C(block) (default) or C(drop_newest).
        type: dict
        suboptions:
          type:
            description: Buffer type.
            type: str
          max_size:
            description: Disk buffer size, a quantity such as C(1Gi) or a number of bytes.
            type: raw
          max_events:
            description: Memory buffer size in events.
            type: int
          when_full:
            description: What to do when the buffer is full.
            type: str
  sources:
    description:
      - Log sources, one C(ClusterLoggingConfig) each.
      - When omitted, one C(File) source named C(kuma-kube-audit) sends the kube-apiserver audit log to
        every destination. An empty list builds no source.
    type: list
    elements: dict
    suboptions:
      name:
        description: Object name; required and unique.
        type: str
        required: true
      type:
        description: Source type. Defaults to C(file).
        type: str
        choices: [file, kubernetes_pods]
      include:
        description: Files to read (globs). Defaults to C(/var/log/kube-audit/audit.log).
        type: list
        elements: str
      exclude:
        description: Files to skip (globs).
        type: list
        elements: str
      line_delimiter:
        description: Line delimiter of the files.
        type: str
      namespace_selector:
        description:
          - C(kubernetes_pods) only. Exactly one of C(match_names), C(exclude_names), C(label_selector)
            (C(match_labels), C(match_expressions)).
        type: dict
      label_selector:
        description: C(kubernetes_pods) only. Pod label selector (C(match_labels), C(match_expressions)).
        type: dict
      keep_deleted_files_opened_for:
        description: C(kubernetes_pods) only. How long to keep deleted log files open, such as C(1h30m).
        type: str
      log_filter:
        description:
          - Filters on JSON fields of each message (C(field), C(operator), C(values)). Operators are those of
            the CRD (C(In), C(NotIn), C(Regex), C(NotRegex), C(Exists), C(DoesNotExist)). Nothing is
            filtered unless you ask.
        type: list
        elements: dict
      label_filter:
        description: Filters on metadata labels, same shape as O(sources[].log_filter).
        type: list
        elements: dict
      multiline_parser:
        description:
          - Multiline parser; C(type) is one of the CRD's types (C(none), C(general), C(backslash),
            C(log_with_time), C(multiline_json), C(custom)); C(custom) takes C(starts_when)/C(ends_when), each with
            C(regex) or C(not_regex).
        type: dict
      destinations:
        description: Names of destinations from O(destinations). Defaults to all of them.
        type: list
        elements: str
  profile:
    description:
      - Named Deckhouse profile (the CRD snapshot generation follows) when no O(crds) are given.
        Defaults to C(dkp-1.67), the January 2025 log-shipper CRDs.
      - Ignored (with a note in RV(profile)) when O(crds) is given.
    type: str
  crds:
    description:
      - The live C(clusterlogdestinations.deckhouse.io) and C(clusterloggingconfigs.deckhouse.io)
        CustomResourceDefinitions, as M(kubernetes.core.k8s_info) returns them. When given, the objects use
        a version the cluster serves and are validated against its schema. An empty list means the cluster
        has no log-shipper CRDs and fails.
    type: list
    elements: dict
  existing:
    description:
      - Live objects of both kinds (M(kubernetes.core.k8s_info) results). With it the module returns
        RV(prune) (objects this O(owner) labelled earlier that the input no longer describes) and
        RV(foreign) (objects the input describes that exist without this owner's labels).
    type: list
    elements: dict
  owner:
    description:
      - Value of the C(auditops.deckhouse/role) label put on every object next to
        C(app.kubernetes.io/managed-by=auditops.deckhouse); pruning only considers objects with both.
    type: str
    default: kuma_log_shipper
  adopt:
    description:
      - Allow objects in RV(foreign) (same name, not labelled by this owner) to be taken over.
        When false and O(existing) shows such objects, the module fails and names them.
    type: bool
    default: false
  prune:
    description:
      - Report owned objects no longer in the input in RV(prune), and in render mode delete files this
        owner rendered earlier for objects no longer in the input.
    type: bool
    default: true
  dest_dir:
    description:
      - Render mode. Write every object to C(<dest_dir>/<kind>-<name>.yml) (lowercase kind), atomically and
        byte-stable, creating the directory when needed.
    type: path
  file_mode:
    description:
      - Mode of rendered files. Defaults to C(0644), or C(0600) for files that hold a private key, key
        passphrase or SASL password.
      - Permission bits only, as a quoted octal string (C('0640')) or a YAML octal number (C(0640)). Refused, before
        anything is written - setuid, setgid and sticky bits; a mode that lets every user write the files; a mode
        with permissions for other users when a file holds a secret; an unquoted number such as C(644), which
        YAML reads as the decimal 644 (mode C(01204)).
    type: raw
  audit_log:
    version_added: 0.2.0
    description:
      - The control-plane-manager audit settings (C(spec.settings.apiserver.auditLog)) the audit-log source must
        follow. An audit-log source is a file source without C(include) (the default source is one).
      - With C(output=File) it reads C(<path>/audit.log); with C(output=Stdout) it becomes a C(KubernetesPods)
        source for the kube-apiserver pods (label C(component=kube-apiserver)) in C(kube-system) that keeps only
        lines with an C(auditID).
      - Given explicitly it wins over O(follow_audit_settings).
    type: dict
    suboptions:
      output:
        description: C(File) or C(Stdout).
        type: str
        choices: [File, Stdout]
        default: File
      path:
        description: Directory of C(audit.log) for C(output=File).
        type: str
        default: /var/log/kube-audit
  follow_audit_settings:
    version_added: 0.2.0
    description:
      - With O(state=present), read the C(control-plane-manager) ModuleConfig and make the audit-log source follow
        its C(auditLog) settings (see O(audit_log)); a cluster without that ModuleConfig uses the defaults.
    type: bool
    default: false
  state:
    version_added: 0.2.0
    description:
      - C(built) returns (and in render mode writes) the objects without talking to a cluster.
      - C(present) applies them to the cluster, reads them back and prunes (see the description). Check mode
        sends server-side dry runs and reports what would change.
    type: str
    choices: [built, present]
    default: built
  field_manager:
    version_added: 0.2.0
    description: Server-side apply field manager (O(state=present)).
    type: str
    default: auditops-deckhouse
  force_conflicts:
    version_added: 0.2.0
    description:
      - Take over fields another field manager set (O(state=present)); adopted objects (O(adopt)) are always
        applied with force.
    type: bool
    default: false
  kubeconfig:
    version_added: 0.2.0
    description:
      - Path of a kubeconfig file or the kubeconfig as a dictionary (as in M(kubernetes.core.k8s)). Defaults to
        C(K8S_AUTH_KUBECONFIG), then C(~/.kube/config) or the in-cluster configuration.
    type: raw
  context:
    version_added: 0.2.0
    description: Kubeconfig context (C(K8S_AUTH_CONTEXT)).
    type: str
  host:
    version_added: 0.2.0
    description: API server URL (C(K8S_AUTH_HOST)).
    type: str
  api_key:
    version_added: 0.2.0
    description: Bearer token (C(K8S_AUTH_API_KEY)).
    type: str
  validate_certs:
    version_added: 0.2.0
    description: Verify the API server's certificate (C(K8S_AUTH_VERIFY_SSL)).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    version_added: 0.2.0
    description: CA certificate of the API server (C(K8S_AUTH_SSL_CA_CERT)).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    version_added: 0.2.0
    description: Client certificate file (C(K8S_AUTH_CERT_FILE)).
    type: path
    aliases: [cert_file]
  client_key:
    version_added: 0.2.0
    description: Client key file (C(K8S_AUTH_KEY_FILE)).
    type: path
    aliases: [key_file]
  error_path_prefix:
    description:
      - Prefix of the input names in error messages; the role passes C(kuma_log_shipper_) so errors read
        C(kuma_log_shipper_destinations[2].address).
    type: str
    default: ''
notes:
  - O(state=present) talks to the API server with the collection's own HTTPS client (standard library and PyYAML),
    choosing the kubeconfig, host and credentials as M(kubernetes.core.k8s) does. The C(kubernetes.core) collection
    and the C(kubernetes) Python library are needed (and imported) only for what that client does not do, that is the
    in-cluster service account (no O(kubeconfig), O(context), or O(host) with credentials given, inside a pod),
    a kubeconfig user with an C(exec) or C(auth-provider) credential plugin or a user name and password, a cluster
    with C(proxy-url) or C(tls-server-name), and several kubeconfig files to merge (C(KUBECONFIG=a:b)).
  - Without O(ca_cert), the own client trusts the system's CA store; the C(kubernetes) library uses the C(certifi)
    bundle.
  - The served CRDs (January 2025) have no Secret reference for TLS material, passwords, AWS keys or tokens, so
    these are stored inline in the cluster-wide C(ClusterLogDestination), readable by anyone allowed to read those
    objects; the module warns when it writes them, naming each field. Later CRDs add C(tls.secretRef); this release
    does not write Secret references yet (see docs/destinations.md).
requirements:
  - PyYAML, for O(state=present) with a kubeconfig file
  - kubernetes (Python library) and the kubernetes.core collection, only for O(state=present) with the in-cluster
    configuration or the kubeconfig features named in the notes
seealso:
  - module: kubernetes.core.k8s
  - module: kubernetes.core.k8s_info
'''

EXAMPLES = r'''
- name: Render the shortest KUMA setup (audit log over TCP/JSON) for GitOps
  auditops.deckhouse.log_shipper_manifest:
    destinations:
      - address: kuma.example.com:5140
    dest_dir: /srv/gitops/log-shipper

- name: CEF over TCP with TLS, for the CRDs the cluster serves
  auditops.deckhouse.log_shipper_manifest:
    crds: "{{ log_shipper_crds }}"
    destinations:
      - name: kuma-tcp-cef
        address: kuma.example.com:5141
        codec: cef
        cef:
          name: d8
          severity: 1
        tls:
          ca: /etc/pki/kuma-ca.pem
    sources:
      - name: kube-audit-to-kuma
  register: log_shipper

- name: Apply the objects to the cluster (server-side apply of what differs, read back, prune)
  auditops.deckhouse.log_shipper_manifest:
    state: present
    kubeconfig: ~/.kube/config
    destinations:
      - type: kafka
        bootstrap_servers: [kafka-1.example.com:9092]
        topic: k8s-audit
        sasl:
          mechanism: scram-sha-512
          username: shipper
          password: "{{ vault_kafka_password }}"

- name: Elasticsearch with Basic auth and Splunk HEC, for the CRDs the cluster serves
  auditops.deckhouse.log_shipper_manifest:
    state: present
    destinations:
      - type: elasticsearch
        endpoint: https://es.example.com:9200
        index: k8s-audit-%F
        auth:
          user: shipper
          password: "{{ vault_es_password }}"
      - type: splunk
        endpoint: https://splunk.example.com:8088
        token: "{{ vault_splunk_hec_token }}"
        index: k8s_audit

- name: Kafka with SASL, only kubelet audit events (an explicit filter)
  auditops.deckhouse.log_shipper_manifest:
    destinations:
      - type: kafka
        bootstrap_servers: [kafka-1.example.com:9092]
        topic: k8s-audit
        sasl:
          mechanism: scram-sha-512
          username: shipper
          password: "{{ vault_kafka_password }}"
    sources:
      - name: kubelet-audit-to-kafka
        log_filter:
          - field: userAgent
            operator: Regex
            values: ["kubelet.*"]
'''

RETURN = r'''
objects:
  description:
    - The validated objects, destinations first, with client keys, key passphrases and SASL passwords
      replaced by C(********). Use O(state=present) or render mode to write the real values.
  returned: success
  type: list
  elements: dict
  sample:
    - apiVersion: deckhouse.io/v1alpha1
      kind: ClusterLogDestination
      metadata:
        name: kuma-tcp-json
        labels:
          app.kubernetes.io/managed-by: auditops.deckhouse
          auditops.deckhouse/role: kuma_log_shipper
      spec:
        type: Socket
        socket:
          address: kuma.example.com:5140
          mode: TCP
          encoding:
            codec: JSON
profile:
  description: The profile generation followed and why.
  returned: success
  type: dict
  contains:
    name:
      description: C(live) or the named profile.
      type: str
    source:
      description: C(live) (from O(crds)) or C(named).
      type: str
    description:
      description: Where a named profile's CRDs come from.
      type: str
    api_versions:
      description: apiVersion used per kind.
      type: dict
    served_versions:
      description: Versions the CRDs serve, per kind.
      type: dict
    features:
      description: Version-dependent facts, such as where socket TLS verify flags live (C(socket_tls_verify)).
      type: dict
    notes:
      description: Which profile was used and version caveats.
      type: list
      elements: str
    unchecked_rules:
      description: CEL rules of the schema that cannot be evaluated client-side (the API server still checks them).
      type: list
      elements: str
  sample:
    name: dkp-1.67
    source: named
    api_versions:
      ClusterLogDestination: deckhouse.io/v1alpha1
      ClusterLoggingConfig: deckhouse.io/v1alpha1
kinds:
  description: Kind and apiVersion of each object type, for listing existing objects.
  returned: success
  type: list
  elements: dict
  sample:
    - kind: ClusterLogDestination
      api_version: deckhouse.io/v1alpha1
label_selector:
  description: Label selector matching the objects this owner manages.
  returned: success
  type: str
  sample: app.kubernetes.io/managed-by=auditops.deckhouse,auditops.deckhouse/role=kuma_log_shipper
endpoints:
  description: Network endpoints of the destinations (for preflight checks).
  returned: success
  type: list
  elements: dict
  sample:
    - destination: kuma-tcp-json
      address: kuma.example.com:5140
      host: kuma.example.com
      port: 5140
      protocol: tcp
prune:
  description: Owned objects no longer in the input (only with O(existing) and O(prune)); configs first.
  returned: success
  type: list
  elements: dict
  sample:
    - kind: ClusterLoggingConfig
      api_version: deckhouse.io/v1alpha1
      name: old-audit-source
foreign:
  description: Objects the input describes that exist without this owner's labels (only with O(existing)).
  returned: success
  type: list
  elements: dict
audit_log:
  version_added: 0.2.0
  description: The audit settings read from the control-plane-manager ModuleConfig (O(follow_audit_settings)).
  returned: when O(follow_audit_settings) read them
  type: dict
  sample:
    output: File
    path: /var/log/kube-audit
changes:
  version_added: 0.2.0
  description: O(state=present); what happened to each object (C(create), C(update), C(unchanged), C(delete)).
  returned: when O(state=present)
  type: list
  elements: dict
  sample:
    - kind: ClusterLogDestination
      name: kuma-tcp-json
      action: unchanged
files:
  description: Render mode; each file and what happened to it (C(create), C(update), C(unchanged), C(delete)).
  returned: when O(dest_dir) is set
  type: list
  elements: dict
  sample:
    - path: /srv/gitops/log-shipper/clusterlogdestination-kuma-tcp-json.yml
      action: create
errors:
  description:
    - On failure, every problem found, in order; C(msg) names the first and how many more there are.
    - Each has C(path), the option or object field to fix (empty when there is none), and C(message).
  returned: failure
  type: list
  elements: dict
  sample: [{"path": "kuma_log_shipper_destinations[2].address", "message": "missing port in \"kuma\": expected 'host:port'"}]
'''

import json
import os
import re
import stat
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper as engine
from ansible_collections.auditops.deckhouse.plugins.module_utils import _log_shipper_apply as apply_engine
from ansible_collections.auditops.deckhouse.plugins.module_utils._apiserver_probe import (
    Client, ProbeError, RequestError, resolve)
from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import Error, as_error, fail_json
from ansible_collections.auditops.deckhouse.plugins.module_utils._io import atomic_write

# kubernetes.core's connection options (same names, meaning and K8S_AUTH_* environment variables; unset ones
# fall back to the kubeconfig or the in-cluster configuration, as in kubernetes.core.k8s).
AUTH_SPEC = dict(
    kubeconfig=dict(type='raw', no_log=True, fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
    context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
    host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
    api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
    validate_certs=dict(type='bool', aliases=['verify_ssl'], fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert'], fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
    client_cert=dict(type='path', aliases=['cert_file'], fallback=(env_fallback, ['K8S_AUTH_CERT_FILE'])),
    client_key=dict(type='path', aliases=['key_file'], no_log=False, fallback=(env_fallback, ['K8S_AUTH_KEY_FILE'])),
)
# Where a pod finds its service account (kubernetes.config.load_incluster_config reads the same files).
SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

FILTER_DOC = dict(type='list', elements='dict')
TLS_SPEC = dict(
    verify_certificate=dict(type='bool'),
    verify_hostname=dict(type='bool'),
    ca=dict(type='str'),
    client_cert=dict(type='str'),
    client_key=dict(type='str', no_log=True),
    key_pass=dict(type='str', no_log=True),
)
DESTINATION_SPEC = dict(
    name=dict(type='str'),
    type=dict(type='str', choices=list(engine.DESTINATION_TYPES)),
    endpoint=dict(type='str'),
    tenant_id=dict(type='str'),
    auth=dict(type='dict', options=dict(
        strategy=dict(type='str'),
        user=dict(type='str'),
        password=dict(type='str', no_log=True),
        token=dict(type='str', no_log=True),
        aws_access_key=dict(type='str', no_log=True),
        aws_secret_key=dict(type='str', no_log=True),
        aws_assume_role=dict(type='str'),
        aws_region=dict(type='str'),
    )),
    index=dict(type='str'),
    pipeline=dict(type='str'),
    doc_type=dict(type='str'),
    data_stream_enabled=dict(type='bool'),
    token=dict(type='str', no_log=True),
    transformations=dict(type='list', elements='dict'),
    address=dict(type='str'),
    mode=dict(type='str', choices=['tcp', 'udp']),
    codec=dict(type='str'),
    tls=dict(type='dict', options=TLS_SPEC),
    extra_labels=dict(type='dict'),
    cef=dict(type='dict', options=dict(
        name=dict(type='str'),
        severity=dict(type='raw'),
        device_vendor=dict(type='str'),
        device_product=dict(type='str'),
        device_version=dict(type='str'),
    )),
    bootstrap_servers=dict(type='list', elements='str'),
    topic=dict(type='str'),
    key_field=dict(type='str', no_log=False),
    sasl=dict(type='dict', options=dict(
        mechanism=dict(type='str'),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
    )),
    rate_limit=dict(type='dict', options=dict(
        lines_per_minute=dict(type='raw'),
        key_field=dict(type='str', no_log=False),
        excludes=FILTER_DOC,
    )),
    buffer=dict(type='dict', options=dict(
        type=dict(type='str'),
        max_size=dict(type='raw'),
        max_events=dict(type='int'),
        when_full=dict(type='str'),
    )),
)
SOURCE_SPEC = dict(
    name=dict(type='str', required=True),
    type=dict(type='str', choices=['file', 'kubernetes_pods']),
    include=dict(type='list', elements='str'),
    exclude=dict(type='list', elements='str'),
    line_delimiter=dict(type='str'),
    namespace_selector=dict(type='dict'),
    label_selector=dict(type='dict'),
    keep_deleted_files_opened_for=dict(type='str'),
    log_filter=FILTER_DOC,
    label_filter=FILTER_DOC,
    multiline_parser=dict(type='dict'),
    destinations=dict(type='list', elements='str'),
)


def _mode(value):
    """file_mode as permission bits: an int (YAML reads 0600 as 384), or '0600', '600', '0o600'. Raises
    ValueError saying what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected an octal mode such as '0600', got %r" % (value,))
    if isinstance(value, int):
        mode = value
        if mode > 0o777 and re.match(r"^[0-7]{3,4}$", str(mode)):
            raise ValueError("%d is the decimal number %d (mode 0o%o); quote the mode: '0%d'" % (mode, mode, mode, mode))
    else:
        text = str(value).strip()
        if not re.match(r"^(0o)?[0-7]{1,4}$", text):
            raise ValueError("%r is not an octal mode such as '0600'" % (value,))
        mode = int(text[2:] if text.startswith("0o") else text, 8)
    if not 0 <= mode <= 0o7777:
        raise ValueError("%r is not a mode: expected permission bits from 0 to 0777" % (value,))
    if mode & 0o7000:
        raise ValueError("%r sets setuid, setgid or sticky bits (0o%o); give permission bits only, at most 0777"
                         % (value, mode))
    if mode & 0o002:
        raise ValueError("%r lets every user write the rendered files, which are applied to the cluster" % (value,))
    return mode


def _render(module, objects, params):
    dest_dir = params['dest_dir']
    plan = engine.plan_render(dest_dir, objects, owner=params['owner'], prune=params['prune'])
    forced_mode = _mode(params['file_mode'])
    exposed = [item['path'] for item in plan if item['action'] != 'delete' and item['secret']]
    if forced_mode is not None and forced_mode & 0o007 and exposed:
        fail_json(module, "%sfile_mode: %r lets other users read %s, which hold(s) a private key, key passphrase or "
                          "password; give a mode without permissions for others (such as '0600' or '0640'), or leave "
                          "file_mode unset (0644, and 0600 for those files); nothing was written"
                  % (params['error_path_prefix'], params['file_mode'], ", ".join(exposed)), changed=False)
    changed = not os.path.isdir(dest_dir)
    diffs, files = [], []
    for item in plan:
        mode = None
        if item['action'] != 'delete':
            mode = forced_mode if forced_mode is not None else (0o600 if item['secret'] else 0o644)
            if item['action'] == 'unchanged' and stat.S_IMODE(os.stat(item['path']).st_mode) != mode:
                item['action'] = 'update'
        item['mode'] = mode
        files.append(dict(path=item['path'], action=item['action']))
        if item['action'] != 'unchanged':
            changed = True
            diffs.append(dict(before=engine.mask_yaml_text(item['before'] or ''),
                              after=engine.mask_yaml_text(item['after'] or ''),
                              before_header=item['path'], after_header=item['path']))
    if changed and not module.check_mode:
        if not os.path.isdir(dest_dir):
            os.makedirs(dest_dir, 0o755)
        for item in plan:
            if item['action'] == 'delete':
                os.unlink(item['path'])
            elif item['action'] != 'unchanged':
                atomic_write(item['path'], item['after'], mode=item['mode'])
    return changed, files, diffs


def _in_cluster():
    """Would kubernetes.config.load_incluster_config succeed (service environment and account files present)?"""
    return bool(os.environ.get('KUBERNETES_SERVICE_HOST') and os.environ.get('KUBERNETES_SERVICE_PORT')
                and all(os.path.isfile(os.path.join(SERVICE_ACCOUNT_DIR, name)) for name in ('token', 'ca.crt')))


def _own_connection(params):
    """``(Connection, None)`` for the collection's own client, chosen as kubernetes.core chooses it: host with a
    token or a client certificate and key reads no kubeconfig; otherwise the kubeconfig (given, K8S_AUTH_KUBECONFIG,
    KUBECONFIG, ~/.kube/config), except that without kubeconfig and context the in-cluster service account comes
    first. ``(None, reason)`` when only kubernetes.core's client does what the options ask. A bad option raises
    ProbeError naming it."""
    host = params['host']
    kubeconfig = None
    if not (host and (params['api_key'] or (params['client_cert'] and params['client_key']))):
        kubeconfig = params['kubeconfig']
        if not kubeconfig and not params['context'] and _in_cluster():
            return None, "the in-cluster service account (no kubeconfig, context, or host with credentials given)"
        if not kubeconfig:
            kubeconfig = os.environ.get('KUBECONFIG') or '~/.kube/config'
        if not isinstance(kubeconfig, dict):
            kubeconfig = str(kubeconfig)
            if os.pathsep in kubeconfig:
                return None, "kubeconfig: several files to merge (%s)" % kubeconfig
    conn = resolve(kubeconfig, params['context'], host.rstrip('/') if host else None, params['api_key'],
                   params['ca_cert'], params['client_cert'], params['client_key'], params['validate_certs'])
    if conn.unsupported:
        return None, "kubeconfig: " + ", ".join(conn.unsupported)
    return conn, None


def _api_caller(module):
    """``(api, close)``: api(method, path, query, body, content_type) -> (status, decoded body) over the
    collection's own client, or over kubernetes.core's (imported only then) for what only it does."""
    try:
        conn, reason = _own_connection(module.params)
        if conn is not None:
            client = Client(conn)
    except ProbeError as exc:
        fail_json(module, exc, "cannot connect to the Kubernetes API, nothing changed")
    if conn is None:
        return _kubernetes_core_api(module, reason), lambda: None

    def api(method, path, query=None, body=None, content_type=None):
        try:
            return client.request(method, path, query=query, body=body, content_type=content_type)
        except RequestError as exc:  # connection refused, TLS, timeouts
            fail_json(module, "%s %s failed, stopped there: %s" % (method, path, exc))
    return api, client.close


def _kubernetes_core_api(module, reason):
    """api(...) over kubernetes.core's client, for ``reason`` (exec or auth-provider users, in-cluster...)."""
    try:
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
        from kubernetes.dynamic.exceptions import DynamicApiError
    except ImportError:
        fail_json(module, missing_required_lib("kubernetes.core and the kubernetes Python library (for %s)" % reason),
                  exception=traceback.format_exc())
    auth = dict((key, module.params[key]) for key in AUTH_SPEC if module.params[key] is not None)
    try:
        client = get_api_client(**auth).client
    except Exception as exc:  # pylint: disable=broad-except  # kubeconfig, in-cluster and TLS errors alike
        fail_json(module, "cannot connect to the Kubernetes API, nothing changed: %s" % exc)

    def api(method, path, query=None, body=None, content_type=None):
        try:
            response = client.request(method, path, body=body, query_params=list(query or []),
                                      content_type=content_type, serialize=False)
            status, data = response.status, response.data
        except DynamicApiError as exc:
            status, data = exc.status, exc.body
        except Exception as exc:  # pylint: disable=broad-except  # connection refused, TLS, timeouts
            fail_json(module, "%s %s failed, stopped there: %s" % (method, path, exc))
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        try:
            return status, json.loads(data)
        except (TypeError, ValueError):
            return status, data
    return api


def _fail(module, scrubber, error, what=None, **result):
    """The collection's failure (msg and errors, _errors.py) with every secret value masked."""
    masked = Error([(path, scrubber.text(message)) for path, message in as_error(error).problems])
    fail_json(module, masked, scrubber.text(what) if what else None, **scrubber.deep(result))


def _present(module, params, result):
    """state=present: read the CRDs, build, apply what differs, read back, prune."""
    api, close = _api_caller(module)
    try:
        _apply(module, params, result, api)
    finally:
        # Embedded kubeconfig certificates are removed (exit_json and fail_json end the module through here).
        close()


def _apply(module, params, result, api):
    scrubber = apply_engine.Scrubber([])
    try:
        crds = params['crds'] if params['crds'] is not None else apply_engine.read_crds(api)
        profile = engine.resolve_profile(params['profile'], crds)
        sources = params['sources']
        if params['audit_log'] is not None:
            sources = engine.follow_audit_log(sources, params['audit_log']['output'], params['audit_log']['path'])
        elif params['follow_audit_settings']:
            output, directory = engine.audit_log_settings(apply_engine.read_module_config(api))
            result['audit_log'] = dict(output=output, path=directory)
            where = "ModuleConfig control-plane-manager spec.settings.apiserver.auditLog"
            sources = engine.follow_audit_log(sources, output, directory, path=where)
        built = engine.build(params['destinations'], sources, profile,
                             prefix=params['error_path_prefix'], owner=params['owner'])
        scrubber = apply_engine.Scrubber(built['objects'])
        result.update(objects=[engine.mask_secrets(obj) for obj in built['objects']], profile=profile.as_dict(),
                      kinds=built['kinds'], endpoints=built['endpoints'])
        for warning in built['warnings']:
            module.warn(scrubber.text(warning))
        existing = apply_engine.list_existing(api, profile)
        synced = apply_engine.sync(api, built['objects'], existing, profile, owner=params['owner'],
                                   manager=params['field_manager'], adopt=params['adopt'], prune=params['prune'],
                                   force=params['force_conflicts'], check_mode=module.check_mode, scrubber=scrubber)
    except apply_engine.ApplyError as exc:
        _fail(module, scrubber, exc, "log-shipper apply stopped", **result)
    except engine.LogShipperError as exc:
        _fail(module, scrubber, exc, "log-shipper input refused, nothing changed", **result)
    result.update(changed=synced['changed'], changes=synced['changes'], prune=synced['prune'],
                  foreign=synced['foreign'])
    if module._diff:
        result['diff'] = [dict(before=d['before'], after=d['after'], before_header=d['header'],
                               after_header=d['header']) for d in synced['diffs']]
    module.exit_json(**scrubber.deep(result))


def main():
    argument_spec = dict(
        destinations=dict(type='list', elements='dict', required=True, options=DESTINATION_SPEC),
        sources=dict(type='list', elements='dict', options=SOURCE_SPEC),
        profile=dict(type='str'),
        crds=dict(type='list', elements='dict'),
        existing=dict(type='list', elements='dict'),
        owner=dict(type='str', default=engine.DEFAULT_OWNER),
        adopt=dict(type='bool', default=False),
        prune=dict(type='bool', default=True),
        dest_dir=dict(type='path'),
        file_mode=dict(type='raw'),
        error_path_prefix=dict(type='str', default=''),
        state=dict(type='str', choices=['built', 'present'], default='built'),
        audit_log=dict(type='dict', options=dict(
            output=dict(type='str', choices=['File', 'Stdout'], default='File'),
            path=dict(type='str', default=engine.DEFAULT_AUDIT_DIR),
        )),
        follow_audit_settings=dict(type='bool', default=False),
        field_manager=dict(type='str', default='auditops-deckhouse'),
        force_conflicts=dict(type='bool', default=False),
    )
    argument_spec.update(AUTH_SPEC)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('state', 'dest_dir')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        _mode(params['file_mode'])
    except ValueError as exc:
        fail_json(module, "%sfile_mode: %s" % (params['error_path_prefix'], exc), changed=False)
    result = dict(changed=False, objects=[], prune=[], foreign=[], label_selector=engine.label_selector(params['owner']))
    if params['state'] == 'present':
        if params['dest_dir']:
            fail_json(module, "dest_dir: render mode writes files; it cannot be combined with state=present")
        _present(module, params, result)

    scrubber = apply_engine.Scrubber([])
    try:
        profile = engine.resolve_profile(params['profile'], params['crds'])
        sources = params['sources']
        if params['audit_log'] is not None:
            sources = engine.follow_audit_log(sources, params['audit_log']['output'], params['audit_log']['path'])
        built = engine.build(params['destinations'], sources, profile,
                             prefix=params['error_path_prefix'], owner=params['owner'])
    except engine.LogShipperError as exc:
        fail_json(module, exc, "log-shipper input refused, nothing changed")

    objects = built['objects']
    scrubber = apply_engine.Scrubber(objects)
    result.update(
        objects=[engine.mask_secrets(obj) for obj in objects],
        profile=profile.as_dict(),
        kinds=built['kinds'],
        endpoints=built['endpoints'],
    )
    for warning in built['warnings']:
        module.warn(scrubber.text(warning))

    if params['existing'] is not None:
        prune, foreign = engine.plan_prune(objects, params['existing'], owner=params['owner'])
        result['prune'] = prune if params['prune'] else []
        result['foreign'] = foreign
        if foreign and not params['adopt']:
            names = ", ".join("%s/%s" % (ref['kind'], ref['name']) for ref in foreign)
            _fail(module, scrubber, "%s already exist(s) without the labels %s; refusing to take over objects this "
                                    "role does not own (rename the destination/source, or allow adoption)"
                                    % (names, result['label_selector']), **result)

    if params['dest_dir']:
        try:
            changed, files, diffs = _render(module, objects, params)
        except (IOError, OSError) as exc:
            _fail(module, scrubber, "cannot write to %s: %s" % (params['dest_dir'], exc), **result)
        result.update(changed=changed, files=files)
        if module._diff:
            result['diff'] = diffs

    module.exit_json(**scrubber.deep(result))


if __name__ == '__main__':
    main()
