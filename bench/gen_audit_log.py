#!/usr/bin/env python
"""Synthetic kube-apiserver audit log, so the benchmarks need no real cluster.

Writes audit.k8s.io/v1 Event JSON lines as kube-apiserver's log backend writes them under a
catch-all ``level: RequestResponse`` policy with no omitted stages, so every event that any
narrower policy would keep is present, with its request and response bodies, for a simulator to
re-estimate:

- per request the stages the apiserver emits, sharing one auditID: RequestReceived (no status, no
  bodies, no annotations: it is written before authorization), ResponseStarted for long-running
  requests (watch, exec, attach, portforward, log, proxy), ResponseComplete; a failed
  authentication is the single ResponseStarted event with an empty user;
- events in the order they are written: a watch's ResponseComplete lands minutes after its
  RequestReceived, between other requests' events;
- timestamps in MicroTime format (``2025-06-02T08:00:00.123456Z``), requests arriving at
  ``--rate`` per second on average (exponential gaps);
- objectRef completed as LogRequestObject does (a create gets the body's name, an update its
  uid and resourceVersion), latency annotations on slow requests, authorization annotations.

The traffic mix is a 20-node Deckhouse cluster seen by one apiserver: node and leader-election
leases, kube-rbac-proxy token and access reviews, kubelets' status patches, watches and token
requests, controllers' list/watch and writes, health probes and discovery, scheduler bindings,
and a small share of people: kubectl get/list/apply, exec/attach/port-forward/logs -f, secret
reads, RBAC changes, privileged pods, forbidden and unauthenticated requests.

    python bench/gen_audit_log.py --size 50M [--seed 7] [--rate 25] [--gzip] [-o FILE]
    python bench/gen_audit_log.py --events 100000 -o -

Without ``-o`` the log goes to a cache (``~/.cache/auditops-deckhouse/bench``, keyed by the
parameters and this file's content) and its path is printed; a second call is instant. Sizes
count uncompressed bytes (``K``, ``M``, ``G`` are powers of 1024); the log never exceeds the size
or event count asked for and stops within one event of it.
"""

import argparse
import base64
import bisect
import gzip
import hashlib
import heapq
import json
import os
import random
import sys
import time

START_US = 1748851200 * 1000000  # 2025-06-02T08:00:00Z
KUBE_VERSION = "v1.33.13"
KUBE_COMMIT = "kubernetes/3a2f6e0"
STAGE_RR, STAGE_RS, STAGE_RC = "RequestReceived", "ResponseStarted", "ResponseComplete"
LONG_RUNNING_VERBS = ("watch", "proxy")
LONG_RUNNING_SUBRESOURCES = ("attach", "exec", "proxy", "log", "portforward")
CHUNK = 1 << 20
WARMUP_US = 600 * 1000000  # longer than any watch

MASTERS = ["master-%d" % i for i in range(3)]
WORKERS = ["worker-%d" % i for i in range(17)]
NODES = MASTERS + WORKERS
APP_NAMESPACES = ["prod", "staging", "shop", "payments", "default"]
SYSTEM_NAMESPACES = ["kube-system", "d8-system", "d8-monitoring", "d8-ingress-nginx", "d8-cni-cilium"]
APPS = ["web", "api", "worker", "cart", "checkout", "redis", "postgres", "frontend"]
IMAGES = ["registry.example.com/%s:1.%d.%d" % (app, minor, patch) for app in APPS for minor, patch in ((4, 2), (5, 0))]
CONTROLLERS = ["replicaset-controller", "deployment-controller", "endpointslice-controller", "daemon-set-controller",
               "job-controller", "namespace-controller", "generic-garbage-collector", "statefulset-controller",
               "resourcequota-controller", "node-controller"]
DECKHOUSE_SAS = [("d8-system", "deckhouse"), ("d8-monitoring", "prometheus"), ("d8-ingress-nginx", "ingress-nginx"),
                 ("d8-cni-cilium", "agent"), ("kube-system", "d8-kube-dns"), ("d8-monitoring", "grafana")]
LEADER_LEASES = [("kube-system", "kube-controller-manager", "system:kube-controller-manager", "kube-controller-manager"),
                 ("kube-system", "kube-scheduler", "system:kube-scheduler", "kube-scheduler"),
                 ("d8-system", "deckhouse-leader-election", "system:serviceaccount:d8-system:deckhouse", "deckhouse-controller"),
                 ("d8-cni-cilium", "cilium-operator-resource-lock", "system:serviceaccount:d8-cni-cilium:cilium-operator",
                  "cilium-operator-generic"),
                 ("d8-ingress-nginx", "ingress-controller-leader", "system:serviceaccount:d8-ingress-nginx:ingress-nginx",
                  "nginx-ingress-controller"),
                 ("d8-monitoring", "prometheus-operator-leader", "system:serviceaccount:d8-monitoring:operator-prometheus",
                  "operator")]
WATCHED = [("", "v1", "pods"), ("", "v1", "configmaps"), ("", "v1", "secrets"), ("", "v1", "services"),
           ("", "v1", "nodes"), ("", "v1", "namespaces"), ("apps", "v1", "deployments"), ("apps", "v1", "replicasets"),
           ("apps", "v1", "daemonsets"), ("discovery.k8s.io", "v1", "endpointslices"),
           ("networking.k8s.io", "v1", "ingresses"), ("deckhouse.io", "v1alpha1", "moduleconfigs"),
           ("deckhouse.io", "v1", "nodegroups"), ("rbac.authorization.k8s.io", "v1", "clusterrolebindings")]
PEOPLE = [("alice@example.com", ["developers"]), ("bob@example.com", ["developers", "oncall"]),
          ("carol@example.com", ["admins"]), ("dave@example.com", ["qa"])]
KUBECTL = "kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0"
KUBECTL_OLD = "kubectl/v1.29.4 (darwin/arm64) kubernetes/55019c8"
OK_STATUS = '{"metadata":{},"code":%d}'


def dumps(value):
    return json.dumps(value, separators=(",", ":"))


def parse_size(text):
    """'50M' -> 52428800; K, M, G, T are powers of 1024, a plain number is bytes."""
    text = str(text).strip().upper().rstrip("B").rstrip("I")
    factor = 1
    if text and text[-1] in "KMGT":
        factor = 1024 ** ("KMGT".index(text[-1]) + 1)
        text = text[:-1]
    value = float(text)
    if value <= 0:
        raise ValueError("size must be positive")
    return int(value * factor)


def go_duration(us):
    """A duration as Go's time.Duration.String() prints it (microsecond precision)."""
    if us < 1000:
        return "%dµs" % us
    if us < 1000000:
        return ("%.3f" % (us / 1000.0)).rstrip("0").rstrip(".") + "ms"
    minutes, rest = divmod(us, 60000000)
    seconds = ("%.6f" % (rest / 1e6)).rstrip("0").rstrip(".") + "s"
    return ("%dm" % minutes if minutes else "") + seconds


class Clock(object):
    """MicroTime strings, with the formatted second cached."""

    def __init__(self):
        self._cache = {}

    def format(self, us):
        second, micro = divmod(us, 1000000)
        base = self._cache.get(second)
        if base is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            base = self._cache[second] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return "%s.%06dZ" % (base, micro)


def _stamp(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1000000))


def _uid(*parts):
    digest = hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()
    return "%s-%s-4%s-a%s-%s" % (digest[:8], digest[8:12], digest[13:16], digest[17:20], digest[20:32])


def _fields(value):
    """A FieldsV1 set that mirrors an object's structure, as server-side apply records it."""
    if isinstance(value, dict):
        return {"f:" + key: _fields(item) for key, item in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict) and "name" in value[0]:
        return {'k:{"name":"%s"}' % item["name"]: dict(_fields(item), **{".": {}}) for item in value}
    return {}


class Request(object):
    """One API request and what the apiserver logs for it."""

    __slots__ = ("verb", "uri", "user", "ips", "agent", "ref", "ref_done", "code", "status", "request_body",
                 "response_body", "latency", "annotations", "unauthenticated")

    def __init__(self, verb, uri, user, ips, agent, ref=None, code=200, request_body=None, response_body=None,
                 latency=3000, annotations=None):
        self.verb, self.uri, self.user, self.ips, self.agent = verb, uri, user, ips, agent
        self.ref = ref
        self.ref_done = ref
        self.code = code
        self.status = OK_STATUS % code
        self.request_body, self.response_body = request_body, response_body
        self.latency = latency
        self.annotations = annotations or {}
        self.unauthenticated = False

    @property
    def long_running(self):
        if self.verb in LONG_RUNNING_VERBS:
            return True
        return bool(self.ref and self.ref.get("subresource") in LONG_RUNNING_SUBRESOURCES)


def _ref(resource, namespace="", name="", group="", version="v1", subresource=""):
    ref = {"resource": resource}
    if namespace:
        ref["namespace"] = namespace
    if name:
        ref["name"] = name
    if group:
        ref["apiGroup"] = group
    ref["apiVersion"] = version
    if subresource:
        ref["subresource"] = subresource
    return ref


def _path(group, version, resource, namespace="", name="", subresource=""):
    parts = ["/api/v1"] if not group else ["/apis", group, version]
    if namespace:
        parts += ["namespaces", namespace]
    parts.append(resource)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Cluster(object):
    """The cluster's actors and objects; each traffic method returns one Request."""

    def __init__(self, rng):
        self.rng = rng
        self.now = START_US
        self.rv = 48213377
        self.pods = {ns: ["%s-%s-%s" % (app, self._hex(10), self._hex(5)) for app in APPS[:6] for _copy in range(2)]
                     for ns in APP_NAMESPACES}
        self.users = {}

    # --- helpers ------------------------------------------------------------------------------
    def _hex(self, length):
        return "%0*x" % (length, self.rng.getrandbits(4 * length))

    def _next_rv(self):
        self.rv += self.rng.randint(1, 40)
        return str(self.rv)

    def _pick(self, options):
        return options[self.rng.randrange(len(options))]

    def _sa(self, namespace, name, node=None):
        key = (namespace, name, node)
        if key not in self.users:
            extra = {"authentication.kubernetes.io/credential-id": ["JTI=" + _uid("jti", namespace, name)]}
            if node:
                pod = "%s-%s" % (name, self._hex(5))
                extra.update({"authentication.kubernetes.io/node-name": [node],
                              "authentication.kubernetes.io/node-uid": [_uid("node", node)],
                              "authentication.kubernetes.io/pod-name": [pod],
                              "authentication.kubernetes.io/pod-uid": [_uid("pod", namespace, pod)]})
            self.users[key] = dumps({"username": "system:serviceaccount:%s:%s" % (namespace, name),
                                     "uid": _uid("sa", namespace, name),
                                     "groups": ["system:serviceaccounts", "system:serviceaccounts:" + namespace,
                                                "system:authenticated"], "extra": extra})
        return self.users[key]

    def _user(self, name, groups):
        return dumps({"username": name, "groups": list(groups) + ["system:authenticated"]})

    @staticmethod
    def _node_user(node):
        return '{"username":"system:node:%s","groups":["system:nodes","system:authenticated"]}' % node

    @staticmethod
    def _node_ip(node):
        index = NODES.index(node)
        return '["10.0.%d.%d"]' % (0 if index < 3 else 1, 10 + index)

    def _pod_ip(self):
        return '["10.111.%d.%d"]' % (self.rng.randrange(20), self.rng.randrange(2, 250))

    def _person_ip(self):
        return '["192.168.40.%d"]' % self.rng.randrange(10, 60)

    @staticmethod
    def _agent(component, suffix=""):
        return "%s/%s (linux/amd64) %s%s" % (component, KUBE_VERSION, KUBE_COMMIT, suffix)

    @staticmethod
    def _rbac(decision, binding="", role="", subject=""):
        if decision != "allow":
            return {"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": ""}
        reason = "RBAC: allowed by %s of ClusterRole \"%s\" to %s" % (binding, role, subject) if binding else ""
        return {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": reason}

    def _sa_rbac(self, namespace, name, role):
        return self._rbac("allow", 'ClusterRoleBinding "%s"' % role, role, 'ServiceAccount "%s/%s"' % (name, namespace))

    def _meta(self, name, namespace="", labels=None, manager="kube-controller-manager", generate=False):
        created = self.now - self.rng.randrange(86400, 90 * 86400) * 1000000
        meta = {"name": name}
        if generate:
            meta = {"generateName": name.rsplit("-", 1)[0] + "-"}
        if namespace:
            meta["namespace"] = namespace
        meta["uid"] = _uid(namespace, name)
        meta["resourceVersion"] = self._next_rv()
        meta["creationTimestamp"] = _stamp(created)
        if labels:
            meta["labels"] = labels
        return meta, [{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": _stamp(created),
                       "fieldsType": "FieldsV1"}]

    def _object(self, kind, api_version, name, namespace, body, **meta):
        meta, managed = self._meta(name, namespace, **meta)
        managed[0]["fieldsV1"] = _fields(dict(body, metadata={"labels": meta["labels"]}) if "labels" in meta else body)
        managed[0]["apiVersion"] = api_version
        meta["managedFields"] = managed
        out = {"kind": kind, "apiVersion": api_version, "metadata": meta}
        out.update(body)
        return out

    def _container(self, app, privileged=False):
        container = {"name": app, "image": self._pick(IMAGES),
                     "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                     "env": [{"name": "APP_ENV", "value": "production"}, {"name": "LOG_LEVEL", "value": "info"}],
                     "resources": {"limits": {"cpu": "500m", "memory": "512Mi"},
                                   "requests": {"cpu": "100m", "memory": "128Mi"}},
                     "volumeMounts": [{"name": "kube-api-access", "readOnly": True,
                                       "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                     "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                     "imagePullPolicy": "IfNotPresent"}
        if privileged:
            container["securityContext"] = {"privileged": True, "runAsUser": 0}
        else:
            container["securityContext"] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                            "capabilities": {"drop": ["ALL"]}}
        return container

    def _pod(self, namespace, name, node=None, privileged=False, generate=False, status=True):
        app = name.split("-")[0]
        sources = [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                   {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]
        spec = {"volumes": [{"name": "kube-api-access", "projected": {"sources": sources}}],
                "containers": [self._container(app, privileged)], "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
                "securityContext": {}, "schedulerName": "default-scheduler",
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": 300}], "priority": 0, "enableServiceLinks": True}
        if privileged:
            spec.update(hostPID=True, hostNetwork=True)
        if node:
            spec["nodeName"] = node
        body = {"spec": spec}
        if status:
            body["status"] = {"phase": "Running", "conditions": [
                {"type": cond, "status": "True", "lastProbeTime": None, "lastTransitionTime": _stamp(self.now - 9e9)}
                for cond in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
                "hostIP": "10.0.1.21", "podIP": "10.111.4.17", "startTime": _stamp(self.now - 9e9),
                "containerStatuses": [{"name": app, "state": {"running": {"startedAt": _stamp(self.now - 9e9)}},
                                       "ready": True, "restartCount": 0, "image": self._pick(IMAGES),
                                       "imageID": "registry.example.com/%s@sha256:%s" % (app, self._hex(64)),
                                       "containerID": "containerd://" + self._hex(64), "started": True}],
                "qosClass": "Burstable"}
        labels = {"app": app, "pod-template-hash": self._hex(10)}
        return self._object("Pod", "v1", name, namespace, body, labels=labels, generate=generate)

    def _node(self, node):
        images = [{"names": ["registry.example.com/%s@sha256:%s" % (image.split("/")[1].split(":")[0], self._hex(64)),
                             image], "sizeBytes": self.rng.randrange(10 ** 7, 4 * 10 ** 8)} for image in IMAGES]
        status = {"capacity": {"cpu": "8", "memory": "32863592Ki", "pods": "110", "ephemeral-storage": "102175644Ki"},
                  "allocatable": {"cpu": "7800m", "memory": "31712616Ki", "pods": "110"},
                  "conditions": self._node_conditions(), "addresses": [
                      {"type": "InternalIP", "address": self._node_ip(node)[2:-2]}, {"type": "Hostname", "address": node}],
                  "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                  "nodeInfo": {"machineID": self._hex(32), "systemUUID": _uid("sys", node), "bootID": _uid("boot", node),
                               "kernelVersion": "6.1.0-31-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                               "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": KUBE_VERSION,
                               "operatingSystem": "linux", "architecture": "amd64"},
                  "images": images}
        labels = {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "node.deckhouse.io/group":
                  "master" if node in MASTERS else "worker"}
        body = {"spec": {"podCIDR": "10.111.%d.0/24" % NODES.index(node)}, "status": status}
        return self._object("Node", "v1", node, "", body, labels=labels, manager="kubelet")

    def _node_conditions(self):
        beat = _stamp(self.now)
        return [{"type": kind, "status": "False", "lastHeartbeatTime": beat, "lastTransitionTime": _stamp(START_US - 9e11),
                 "reason": "Kubelet" + reason, "message": "kubelet has " + message}
                for kind, reason, message in (("MemoryPressure", "HasSufficientMemory", "sufficient memory available"),
                                              ("DiskPressure", "HasNoDiskPressure", "no disk pressure"),
                                              ("PIDPressure", "HasSufficientPID", "sufficient PID available"))]

    def _lease(self, namespace, name, holder, duration):
        spec = {"holderIdentity": holder, "leaseDurationSeconds": duration,
                "acquireTime": _stamp(START_US - 36e8), "renewTime": Clock().format(self.now), "leaseTransitions": 3}
        return dumps(self._object("Lease", "coordination.k8s.io/v1", name, namespace, {"spec": spec}, manager=holder))

    def _secret(self, namespace, name):
        data = {"tls.crt": base64.b64encode(self._hex(600).encode()).decode(),
                "tls.key": base64.b64encode(self._hex(400).encode()).decode()}
        return self._object("Secret", "v1", name, namespace, {"data": data, "type": "kubernetes.io/tls"})

    def _configmap(self, namespace, name):
        settings = "\n".join("%s.setting_%d: %s" % (name, i, self._hex(12)) for i in range(12))
        return self._object("ConfigMap", "v1", name, namespace, {"data": {"settings.yaml": settings}})

    def _list(self, kind, items):
        return dumps({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": self._next_rv()}, "items": items})

    def _watch_uri(self, path, selector=""):
        timeout = self.rng.randrange(300, 600)
        query = "allowWatchBookmarks=true%s&resourceVersion=%s&timeout=%dm%ds&timeoutSeconds=%d&watch=true" % (
            selector, self._next_rv(), timeout // 60, timeout % 60, timeout)
        return path + "?" + query, timeout * 1000000 + self.rng.randrange(1000, 50000)

    def _app_pod(self):
        namespace = self._pick(APP_NAMESPACES)
        return namespace, self._pick(self.pods[namespace])

    # --- nodes --------------------------------------------------------------------------------
    def node_lease(self):
        node = self._pick(NODES)
        lease = self._lease("kube-node-lease", node, node, 40)
        return Request("update", _path("coordination.k8s.io", "v1", "leases", "kube-node-lease", node) + "?timeout=10s",
                       self._node_user(node), self._node_ip(node), self._agent("kubelet"),
                       _ref("leases", "kube-node-lease", node, "coordination.k8s.io"), 200, lease, lease,
                       self.rng.randrange(1500, 9000), self._rbac("allow"))

    def node_status(self):
        node = self._pick(NODES)
        patch = dumps({"status": {"$setElementOrder/conditions": [{"type": c["type"]} for c in self._node_conditions()],
                                  "conditions": [{"lastHeartbeatTime": c["lastHeartbeatTime"], "type": c["type"]}
                                                 for c in self._node_conditions()]}})
        return Request("patch", "/api/v1/nodes/%s/status?timeout=10s" % node, self._node_user(node), self._node_ip(node),
                       self._agent("kubelet"), _ref("nodes", "", node, subresource="status"), 200, patch,
                       dumps(self._node(node)), self.rng.randrange(4000, 30000), self._rbac("allow"))

    def node_get(self):
        node = self._pick(NODES)
        return Request("get", "/api/v1/nodes/%s?resourceVersion=0&timeout=10s" % node, self._node_user(node),
                       self._node_ip(node), self._agent("kubelet"), _ref("nodes", "", node), 200, None,
                       dumps(self._node(node)), self.rng.randrange(800, 4000), self._rbac("allow"))

    def kubelet_watch(self):
        node = self._pick(NODES)
        namespace = self._pick(APP_NAMESPACES + SYSTEM_NAMESPACES)
        resource = self._pick(["secrets", "configmaps", "configmaps"])
        name = self._pick(["kube-root-ca.crt", "app-config", "app-tls", "registry-pull"])
        uri, latency = self._watch_uri(_path("", "v1", resource, namespace),
                                       "&fieldSelector=metadata.name%3D" + name)
        return Request("watch", uri, self._node_user(node), self._node_ip(node), self._agent("kubelet"),
                       _ref(resource, namespace), 200, latency=latency, annotations=self._rbac("allow"))

    def kubelet_get(self):
        node = self._pick(NODES)
        namespace = self._pick(APP_NAMESPACES + SYSTEM_NAMESPACES)
        if self.rng.random() < 0.5:
            name, resource, body = "app-tls", "secrets", self._secret(namespace, "app-tls")
        else:
            name, resource, body = "app-config", "configmaps", self._configmap(namespace, "app-config")
        return Request("get", _path("", "v1", resource, namespace, name), self._node_user(node), self._node_ip(node),
                       self._agent("kubelet"), _ref(resource, namespace, name), 200, None, dumps(body),
                       self.rng.randrange(600, 3000), self._rbac("allow"))

    def pod_status(self):
        node = self._pick(WORKERS)
        namespace, pod = self._app_pod()
        patch = dumps({"metadata": {"uid": _uid(namespace, pod)}, "status": {"conditions": [
            {"lastTransitionTime": _stamp(self.now), "status": "True", "type": "Ready"}]}})
        return Request("patch", _path("", "v1", "pods", namespace, pod, "status"), self._node_user(node),
                       self._node_ip(node), self._agent("kubelet"), _ref("pods", namespace, pod, subresource="status"),
                       200, patch, dumps(self._pod(namespace, pod, node)), self.rng.randrange(3000, 20000),
                       self._rbac("allow"))

    def token_request(self):
        node = self._pick(WORKERS)
        namespace, pod = self._app_pod()
        body = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": None},
                "spec": {"audiences": ["https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 3607,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod, "uid": _uid(namespace, pod)}},
                "status": {"token": "", "expirationTimestamp": None}}
        response = dict(body, metadata={"name": "default", "namespace": namespace,
                                        "creationTimestamp": _stamp(self.now)},
                        status={"token": "eyJhbGciOiJSUzI1NiIsImtpZCI6I" + self._hex(900),
                                "expirationTimestamp": _stamp(self.now + 3607e6)})
        return Request("create", _path("", "v1", "serviceaccounts", namespace, "default", "token"), self._node_user(node),
                       self._node_ip(node), self._agent("kubelet"),
                       _ref("serviceaccounts", namespace, "default", subresource="token"), 201, dumps(body),
                       dumps(response), self.rng.randrange(2000, 8000), self._rbac("allow"))

    # --- controllers --------------------------------------------------------------------------
    def leader_election(self):
        namespace, name, user, component = self._pick(LEADER_LEASES)
        user_json = self._sa(*user.split(":")[2:]) if user.startswith("system:serviceaccount:") else \
            '{"username":"%s","groups":["system:authenticated"]}' % user
        master = self._pick(MASTERS)
        holder = "%s_%s" % (master, _uid(component, master))
        lease = self._lease(namespace, name, holder, 15)
        path = _path("coordination.k8s.io", "v1", "leases", namespace, name) + "?timeout=5s"
        annotations = self._rbac("allow", 'RoleBinding "%s/system::leader-locking-%s"' % (namespace, component),
                                 "system::leader-locking-" + component, 'User "%s"' % user)
        verb = "get" if self.rng.random() < 0.5 else "update"
        return Request(verb, path, user_json, '["10.0.0.%d"]' % (10 + MASTERS.index(master)),
                       self._agent(component, "/leader-election"), _ref("leases", namespace, name, "coordination.k8s.io"),
                       200, lease if verb == "update" else None, lease, self.rng.randrange(1000, 6000), annotations)

    def _review_user(self):
        namespace, name = self._pick(DECKHOUSE_SAS)
        return namespace, name, self._sa(namespace, name, self._pick(NODES))

    def token_review(self):
        namespace, name, user = self._review_user()
        spec = {"token": "eyJhbGciOiJSUzI1NiIsImtpZCI6I" + self._hex(800),
                "audiences": ["https://kubernetes.default.svc.cluster.local"]}
        request = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                   "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"user": {}}}
        response = dict(request, status={"authenticated": True, "user": {
            "username": "system:serviceaccount:d8-monitoring:prometheus", "uid": _uid("sa", "prom"),
            "groups": ["system:serviceaccounts", "system:serviceaccounts:d8-monitoring", "system:authenticated"]},
            "audiences": spec["audiences"]})
        return Request("create", "/apis/authentication.k8s.io/v1/tokenreviews", user, self._pod_ip(), "Go-http-client/2.0",
                       _ref("tokenreviews", group="authentication.k8s.io"), 201, dumps(request), dumps(response),
                       self.rng.randrange(300, 2500), self._sa_rbac(namespace, name, "d8:rbac-proxy"))

    def access_review(self):
        namespace, name, user = self._review_user()
        spec = {"resourceAttributes": {"namespace": self._pick(SYSTEM_NAMESPACES), "verb": "get", "group": "",
                                       "resource": "services", "subresource": "prometheus-metrics"},
                "user": "system:serviceaccount:d8-monitoring:prometheus",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:d8-monitoring", "system:authenticated"],
                "uid": _uid("sa", "prom")}
        request = {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                   "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"allowed": False}}
        response = dict(request, status={"allowed": True, "reason": 'RBAC: allowed by ClusterRoleBinding '
                                         '"d8:prometheus" of ClusterRole "d8:prometheus" to ServiceAccount '
                                         '"prometheus/d8-monitoring"'})
        return Request("create", "/apis/authorization.k8s.io/v1/subjectaccessreviews", user, self._pod_ip(),
                       "Go-http-client/2.0", _ref("subjectaccessreviews", group="authorization.k8s.io"), 201,
                       dumps(request), dumps(response), self.rng.randrange(300, 2500),
                       self._sa_rbac(namespace, name, "d8:rbac-proxy"))

    def _controller(self):
        controller = self._pick(CONTROLLERS)
        return controller, self._sa("kube-system", controller), self._agent(
            "kube-controller-manager", "/system:serviceaccount:kube-system:" + controller)

    def controller_watch(self):
        group, version, resource = self._pick(WATCHED)
        if self.rng.random() < 0.6:
            controller, user, agent = self._controller()
            annotations = self._sa_rbac("kube-system", controller, "system:controller:" + controller)
            ips = '["10.0.0.%d"]' % self.rng.randrange(10, 13)
        else:
            namespace, name = self._pick(DECKHOUSE_SAS)
            user, agent = self._sa(namespace, name, self._pick(NODES)), "%s/v0.0.0 (linux/amd64) kubernetes/$Format" % name
            annotations, ips = self._sa_rbac(namespace, name, "d8:" + name), self._pod_ip()
        uri, latency = self._watch_uri(_path(group, version, resource))
        return Request("watch", uri, user, ips, agent, _ref(resource, group=group, version=version), 200,
                       latency=latency, annotations=annotations)

    def controller_list(self):
        controller, user, agent = self._controller()
        namespace = self._pick(APP_NAMESPACES)
        items = [self._pod(namespace, pod, self._pick(WORKERS)) for pod in self.pods[namespace]]
        del items[self.rng.randrange(1, len(items)):]
        latency = self.rng.randrange(20000, 900000)
        request = Request("list", "/api/v1/namespaces/%s/pods?limit=500&resourceVersion=0" % namespace, user,
                          '["10.0.0.11"]', agent, _ref("pods", namespace), 200, None, self._list("PodList", items),
                          latency, self._sa_rbac("kube-system", controller, "system:controller:" + controller))
        return request

    def endpointslice(self):
        namespace = self._pick(APP_NAMESPACES)
        name = "%s-%s" % (self._pick(APPS), self._hex(5))
        body = self._object("EndpointSlice", "discovery.k8s.io/v1", name, namespace, {
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.111.%d.%d" % (i, 7 * i + 3)], "conditions": {"ready": True},
                           "nodeName": self._pick(WORKERS), "targetRef": {"kind": "Pod", "namespace": namespace,
                                                                          "name": self._pick(self.pods[namespace])}}
                          for i in range(self.rng.randrange(1, 5))]})
        request = Request("update", _path("discovery.k8s.io", "v1", "endpointslices", namespace, name),
                          self._sa("kube-system", "endpointslice-controller"), '["10.0.0.11"]',
                          self._agent("kube-controller-manager", "/system:serviceaccount:kube-system:endpointslice-controller"),
                          _ref("endpointslices", namespace, name, "discovery.k8s.io"), 200, dumps(body), dumps(body),
                          self.rng.randrange(2000, 12000),
                          self._sa_rbac("kube-system", "endpointslice-controller", "system:controller:endpointslice-controller"))
        request.ref_done = dict(request.ref, uid=body["metadata"]["uid"], resourceVersion=body["metadata"]["resourceVersion"])
        return request

    def event(self):
        namespace, pod = self._app_pod()
        node = self._pick(WORKERS)
        name = "%s.%s" % (pod, self._hex(16))
        body = {"kind": "Event", "apiVersion": "events.k8s.io/v1",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                "eventTime": Clock().format(self.now), "reportingController": "kubelet", "reportingInstance": node,
                "action": "Pulled", "reason": self._pick(["Pulled", "Created", "Started", "BackOff", "Unhealthy"]),
                "regarding": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": _uid(namespace, pod),
                              "apiVersion": "v1", "fieldPath": "spec.containers{app}"},
                "note": "Readiness probe failed: Get \"http://10.111.4.17:8080/ready\": context deadline exceeded",
                "type": "Normal", "deprecatedSource": {}, "deprecatedFirstTimestamp": None,
                "deprecatedLastTimestamp": None}
        response = dict(body, metadata=dict(body["metadata"], uid=_uid(name), resourceVersion=self._next_rv(),
                                            creationTimestamp=_stamp(self.now)))
        request = Request("create", _path("events.k8s.io", "v1", "events", namespace), self._node_user(node),
                          self._node_ip(node), self._agent("kubelet"), _ref("events", namespace, group="events.k8s.io"),
                          201, dumps(body), dumps(response), self.rng.randrange(1500, 6000), self._rbac("allow"))
        request.ref_done = dict(request.ref, name=name)
        return request

    def deckhouse(self):
        namespace, name = "d8-system", "deckhouse"
        module = self._pick(["prometheus", "ingress-nginx", "cni-cilium", "log-shipper", "control-plane-manager",
                             "user-authn", "node-manager"])
        body = self._object("ModuleConfig", "deckhouse.io/v1alpha1", module, "", {
            "spec": {"enabled": True, "version": 2, "settings": {"highAvailability": True, "retentionDays": 15}},
            "status": {"message": "", "version": "2"}}, manager="deckhouse-controller")
        verb = self._pick(["get", "get", "patch"])
        request_body = dumps({"status": {"message": "", "version": "2"}}) if verb == "patch" else None
        return Request(verb, _path("deckhouse.io", "v1alpha1", "moduleconfigs", name=module) +
                       ("/status" if verb == "patch" else ""), self._sa(namespace, name, self._pick(MASTERS)),
                       self._pod_ip(), "deckhouse-controller/v1.69.6 (linux/amd64) kubernetes/$Format",
                       _ref("moduleconfigs", "", module, "deckhouse.io", "v1alpha1", "status" if verb == "patch" else ""),
                       200, request_body, dumps(body), self.rng.randrange(1000, 8000),
                       self._sa_rbac(namespace, name, "d8:deckhouse"))

    def pod_create(self):
        namespace = self._pick(APP_NAMESPACES)
        app = self._pick(APPS[:6])
        name = "%s-%s-%s" % (app, self._hex(10), self._hex(5))
        body = self._pod(namespace, name, generate=True, status=False)
        body["metadata"].pop("uid")
        body["metadata"].pop("resourceVersion")
        response = dict(body, metadata=dict(body["metadata"], name=name, uid=_uid(namespace, name),
                                            resourceVersion=self._next_rv()))
        self.pods[namespace][self.rng.randrange(len(self.pods[namespace]))] = name
        annotations = self._sa_rbac("kube-system", "replicaset-controller", "system:controller:replicaset-controller")
        annotations["pod-security.kubernetes.io/enforce-policy"] = "baseline:latest"
        return Request("create", _path("", "v1", "pods", namespace), self._sa("kube-system", "replicaset-controller"),
                       '["10.0.0.11"]', self._agent("kube-controller-manager",
                                                    "/system:serviceaccount:kube-system:replicaset-controller"),
                       _ref("pods", namespace), 201, dumps(body), dumps(response), self.rng.randrange(5000, 40000),
                       annotations)

    def pod_delete(self):
        namespace, pod = self._app_pod()
        options = dumps({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": _uid(namespace, pod)}})
        return Request("delete", _path("", "v1", "pods", namespace, pod), self._sa("kube-system", "replicaset-controller"),
                       '["10.0.0.11"]', self._agent("kube-controller-manager",
                                                    "/system:serviceaccount:kube-system:replicaset-controller"),
                       _ref("pods", namespace, pod), 200, options, dumps(self._pod(namespace, pod, self._pick(WORKERS))),
                       self.rng.randrange(4000, 20000),
                       self._sa_rbac("kube-system", "replicaset-controller", "system:controller:replicaset-controller"))

    def binding(self):
        namespace, pod = self._app_pod()
        node = self._pick(WORKERS)
        body = dumps({"kind": "Binding", "apiVersion": "v1", "metadata": {"name": pod, "namespace": namespace,
                                                                          "uid": _uid(namespace, pod)},
                      "target": {"kind": "Node", "name": node}})
        return Request("create", _path("", "v1", "pods", namespace, pod, "binding"),
                       '{"username":"system:kube-scheduler","groups":["system:authenticated"]}', '["10.0.0.10"]',
                       self._agent("kube-scheduler", "/scheduler"), _ref("pods", namespace, pod, subresource="binding"),
                       201, body, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}',
                       self.rng.randrange(3000, 15000),
                       self._rbac("allow", 'ClusterRoleBinding "system:kube-scheduler"', "system:kube-scheduler",
                                  'User "system:kube-scheduler"'))

    # --- the apiserver's own endpoints --------------------------------------------------------
    def probe(self):
        path = self._pick(["/livez", "/readyz", "/healthz", "/readyz", "/livez"])
        if self.rng.random() < 0.5:
            user, agent, ips = '{"username":"system:anonymous","groups":["system:unauthenticated"]}', \
                "kube-probe/1.33", '["10.0.0.10"]'
            annotations = self._rbac("allow", 'ClusterRoleBinding "system:public-info-viewer"', "system:public-info-viewer",
                                     'Group "system:unauthenticated"')
        else:
            user, agent, ips = self._sa("d8-system", "deckhouse", "master-0"), "Go-http-client/2.0", self._pod_ip()
            annotations = self._sa_rbac("d8-system", "deckhouse", "system:public-info-viewer")
        return Request("get", path, user, ips, agent, None, 200, None, None, self.rng.randrange(200, 3000), annotations)

    def metrics(self):
        return Request("get", "/metrics", self._sa("d8-monitoring", "prometheus", self._pick(WORKERS)), self._pod_ip(),
                       "Prometheus/2.53.2", None, 200, None, None, self.rng.randrange(80000, 400000),
                       self._sa_rbac("d8-monitoring", "prometheus", "d8:prometheus"))

    def discovery(self):
        path = self._pick(["/api", "/apis", "/apis", "/openapi/v3", "/version", "/apis/deckhouse.io/v1alpha1"])
        user, groups = self._pick(PEOPLE)
        if self.rng.random() < 0.5:
            user, agent, ips = self._user(user, groups), KUBECTL, self._person_ip()
            annotations = self._rbac("allow", 'ClusterRoleBinding "system:discovery"', "system:discovery",
                                     'Group "system:authenticated"')
        else:
            namespace, name = self._pick(DECKHOUSE_SAS)
            user, agent, ips = self._sa(namespace, name, self._pick(NODES)), "Go-http-client/2.0", self._pod_ip()
            annotations = self._sa_rbac(namespace, name, "system:discovery")
        return Request("get", path, user, ips, agent, None, 200, None, None, self.rng.randrange(500, 20000), annotations)

    # --- people -------------------------------------------------------------------------------
    def _person(self):
        name, groups = self._pick(PEOPLE)
        binding = 'ClusterRoleBinding "%s"' % groups[0]
        return (name, self._user(name, groups), self._person_ip(), KUBECTL if self.rng.random() < 0.8 else KUBECTL_OLD,
                self._rbac("allow", binding, "admin" if "admins" in groups else "edit", 'Group "%s"' % groups[0]))

    def kubectl_read(self):
        _name, user, ips, agent, annotations = self._person()
        namespace, pod = self._app_pod()
        if self.rng.random() < 0.5:
            table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": self._next_rv()},
                     "columnDefinitions": [{"name": column, "type": "string", "format": "", "description": column,
                                            "priority": 0} for column in ("Name", "Ready", "Status", "Restarts", "Age")],
                     "rows": [{"cells": [name, "1/1", "Running", 0, "3d"],
                               "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                          "metadata": {"name": name, "namespace": namespace,
                                                       "uid": _uid(namespace, name)}}}
                              for name in self.pods[namespace]]}
            return Request("list", "/api/v1/namespaces/%s/pods?limit=500" % namespace, user, ips, agent,
                           _ref("pods", namespace), 200, None, dumps(table), self.rng.randrange(3000, 60000), annotations)
        group, version, resource = self._pick([("", "v1", "pods"), ("apps", "v1", "deployments"), ("", "v1", "services")])
        if resource == "pods":
            name, body = pod, self._pod(namespace, pod, self._pick(WORKERS))
        else:
            name = pod.split("-")[0]
            body = self._object("Deployment" if group else "Service", "apps/v1" if group else "v1", name, namespace,
                                {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}}})
        return Request("get", _path(group, version, resource, namespace, name), user, ips, agent,
                       _ref(resource, namespace, name, group, version), 200, None, dumps(body),
                       self.rng.randrange(1500, 9000), annotations)

    def kubectl_apply(self):
        _name, user, ips, agent, annotations = self._person()
        namespace = self._pick(APP_NAMESPACES)
        name = self._pick(APPS)
        applied = dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace}})
        patch = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
                 "spec": {"template": {"spec": {"containers": [{"name": name, "image": self._pick(IMAGES)}]}}}}
        body = self._object("Deployment", "apps/v1", name, namespace,
                            {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {
                                "metadata": {"labels": {"app": name}},
                                "spec": {"containers": [self._container(name)]}}}}, manager="kubectl-client-side-apply")
        return Request("patch", _path("apps", "v1", "deployments", namespace, name) +
                       "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", user, ips, agent,
                       _ref("deployments", namespace, name, "apps"), 200, dumps(patch), dumps(body),
                       self.rng.randrange(6000, 30000), annotations)

    def kubectl_secret(self):
        _name, user, ips, agent, annotations = self._person()
        namespace = self._pick(APP_NAMESPACES)
        if self.rng.random() < 0.3:
            items = [self._secret(namespace, name) for name in ("app-tls", "db-password", "registry-pull")]
            return Request("list", "/api/v1/namespaces/%s/secrets?limit=500" % namespace, user, ips, agent,
                           _ref("secrets", namespace), 200, None, self._list("SecretList", items),
                           self.rng.randrange(3000, 20000), annotations)
        name = self._pick(["db-password", "app-tls", "registry-pull"])
        return Request("get", _path("", "v1", "secrets", namespace, name), user, ips, agent,
                       _ref("secrets", namespace, name), 200, None, dumps(self._secret(namespace, name)),
                       self.rng.randrange(1500, 6000), annotations)

    def kubectl_stream(self):
        _name, user, ips, agent, annotations = self._person()
        namespace, pod = self._app_pod()
        container = pod.split("-")[0]
        kind = self._pick(["exec", "exec", "exec", "log", "log", "attach", "portforward"])
        # kubectl 1.31+ streams over WebSockets (GET, verb get); older clients use SPDY (POST, verb create).
        verb = "get" if agent == KUBECTL else "create"
        if kind == "exec":
            query = "?command=%s&container=%s&stdin=true&stdout=true&tty=true" % (self._pick(["sh", "bash", "env"]),
                                                                                  container)
        elif kind == "attach":
            query = "?container=%s&stdin=true&stdout=true&tty=true" % container
        elif kind == "portforward":
            query = "?ports=8080"
        else:
            verb, query = "get", "?container=%s&follow=true&tailLines=100" % container
        code = 200 if kind == "log" else 101
        return Request(verb, _path("", "v1", "pods", namespace, pod, kind) + query, user, ips, agent,
                       _ref("pods", namespace, pod, subresource=kind), code,
                       latency=self.rng.randrange(2, 1800) * 1000000 + self.rng.randrange(10 ** 6),
                       annotations=annotations)

    def rbac_change(self):
        _name, user, ips, agent, annotations = self._person()
        namespace = self._pick(APP_NAMESPACES)
        cluster = self.rng.random() < 0.4
        resource = "clusterrolebindings" if cluster else "rolebindings"
        name = "%s-%s" % (self._pick(["ci-deployer", "oncall-admin", "view-all", "debug"]), self._hex(4))
        body = {"kind": "ClusterRoleBinding" if cluster else "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": name} if cluster else {"name": name, "namespace": namespace},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": self._pick(PEOPLE)[0]}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": self._pick(["cluster-admin", "edit", "view"])}}
        verb = self._pick(["create", "create", "update", "delete"])
        ns = "" if cluster else namespace
        response = dict(body, metadata=dict(body["metadata"], uid=_uid(ns, name), resourceVersion=self._next_rv(),
                                            creationTimestamp=_stamp(self.now)))
        request = Request(verb, _path("rbac.authorization.k8s.io", "v1", resource, ns, "" if verb == "create" else name),
                          user, ips, agent, _ref(resource, ns, "" if verb == "create" else name,
                                                 "rbac.authorization.k8s.io"), 201 if verb == "create" else 200,
                          dumps(body) if verb != "delete" else '{"kind":"DeleteOptions","apiVersion":"v1"}',
                          dumps(response), self.rng.randrange(4000, 15000), annotations)
        request.ref_done = dict(request.ref, name=name)
        return request

    def privileged_pod(self):
        _name, user, ips, agent, annotations = self._person()
        namespace = self._pick(["default", "kube-system", "prod"])
        name = "node-debugger-%s-%s" % (self._pick(NODES), self._hex(5))
        body = self._pod(namespace, name, self._pick(NODES), privileged=True, status=False)
        body["metadata"].pop("uid")
        body["metadata"].pop("resourceVersion")
        response = dict(body, metadata=dict(body["metadata"], uid=_uid(namespace, name), resourceVersion=self._next_rv()))
        annotations = dict(annotations, **{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"})
        request = Request("create", _path("", "v1", "pods", namespace), user, ips, agent, _ref("pods", namespace), 201,
                          dumps(body), dumps(response), self.rng.randrange(6000, 30000), annotations)
        request.ref_done = dict(request.ref, name=name)
        return request

    def forbidden(self):
        name, groups = self._pick(PEOPLE[:2] + PEOPLE[3:])
        namespace = self._pick(SYSTEM_NAMESPACES)
        resource, secret = self._pick([("secrets", "d8-cluster-terraform-state"), ("secrets", "deckhouse-registry"),
                                       ("clusterrolebindings", ""), ("pods", "")])
        group = "rbac.authorization.k8s.io" if resource == "clusterrolebindings" else ""
        ns = "" if group else namespace
        verb = "get" if secret else self._pick(["list", "create"])
        where = " in the namespace \"%s\"" % ns if ns else " at the cluster scope"
        message = '%s "%s" is forbidden: User "%s" cannot %s resource "%s" in API group "%s"%s' % (
            resource, secret, name, verb, resource, group, where) if secret else \
            '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"%s' % (
                resource, name, verb, resource, group, where)
        status = {"metadata": {}, "status": "Failure", "message": message, "reason": "Forbidden",
                  "details": {"name": secret, "group": group, "kind": resource}, "code": 403}
        if not secret:
            del status["details"]["name"]
        request = Request(verb, _path(group, "v1", resource, ns, secret), self._user(name, groups), self._person_ip(),
                          KUBECTL, _ref(resource, ns, secret, group), 403,
                          # authorization refuses before the body is read, so no requestObject
                          response_body=dumps(dict({"kind": "Status", "apiVersion": "v1"}, **status)),
                          latency=self.rng.randrange(500, 3000), annotations=self._rbac("forbid"))
        request.status = dumps(status)
        return request

    def unauthenticated(self):
        path = self._pick(["/api/v1/namespaces/kube-system/secrets", "/apis", "/api/v1/pods", "/version"])
        request = Request("list" if "secrets" in path or "pods" in path else "get", path, "{}", self._person_ip(),
                          self._pick([KUBECTL, "curl/8.5.0", "python-requests/2.32.3"]), None, 401,
                          latency=self.rng.randrange(200, 1500))
        if path.startswith("/api/v1/"):
            request.ref = request.ref_done = _ref(path.rsplit("/", 1)[1], "kube-system" if "secrets" in path else "")
        request.status = '{"metadata":{},"message":"Authentication failed, attempted: bearer","code":401}'
        request.unauthenticated = True
        return request


# (weight per 10000 requests, traffic): one apiserver of a 20-node Deckhouse cluster, mostly machines.
MIX = [
    (1500, Cluster.node_lease), (1800, Cluster.leader_election), (800, Cluster.token_review),
    (800, Cluster.access_review), (500, Cluster.kubelet_watch), (500, Cluster.controller_watch),
    (700, Cluster.probe), (60, Cluster.metrics), (250, Cluster.discovery), (300, Cluster.endpointslice),
    (400, Cluster.event), (300, Cluster.deckhouse), (120, Cluster.node_status), (150, Cluster.node_get),
    (200, Cluster.pod_status), (120, Cluster.token_request), (150, Cluster.kubelet_get), (40, Cluster.controller_list),
    (60, Cluster.pod_create), (40, Cluster.pod_delete), (60, Cluster.binding), (300, Cluster.kubectl_read),
    (40, Cluster.kubectl_apply), (40, Cluster.kubectl_secret), (30, Cluster.kubectl_stream), (10, Cluster.rbac_change),
    (8, Cluster.privileged_pod), (50, Cluster.forbidden), (15, Cluster.unauthenticated),
]


# The traffic that can still be in flight minutes after it was received.
LONG_RUNNING_KINDS = frozenset((Cluster.kubelet_watch, Cluster.controller_watch, Cluster.kubectl_stream))


class Writer(object):
    """Renders requests into events and writes them in stageTimestamp order, as a window of the
    apiserver's log that starts at START_US and ends where the size or event budget runs out."""

    def __init__(self, out, rng, size=None, events=None):
        self.out = out
        self.rng = rng
        self.size = size
        self.max_events = events
        self.clock = Clock()
        self.pending = []  # (time, sequence, line): events not written yet
        self.sequence = 0
        self.buffer = []
        self.buffered = 0
        self.bytes = 0
        self.events = 0

    def render(self, request, received):
        """The request's events as (time, line), in the order the apiserver emits them."""
        audit_id = "%08x-%04x-4%03x-%04x-%012x" % (self.rng.getrandbits(32), self.rng.getrandbits(16),
                                                   self.rng.getrandbits(12), 0x8000 | self.rng.getrandbits(14),
                                                   self.rng.getrandbits(48))
        head = '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"%s","stage":"' % audit_id
        common = '","requestURI":%s,"verb":"%s","user":%s,"sourceIPs":%s,"userAgent":%s' % (
            dumps(request.uri), request.verb, request.user, request.ips, dumps(request.agent))
        received_text = self.clock.format(received)
        done = received + request.latency
        annotations = request.annotations
        if request.unauthenticated:
            stages = [(STAGE_RS, done, request.ref_done, False)]
        else:
            stages = [(STAGE_RR, received, request.ref, False)]
            if request.long_running:
                stages.append((STAGE_RS, received + min(request.latency, self.rng.randrange(300, 4000)),
                               request.ref_done, False))
            elif request.latency > 500000 and annotations:
                annotations = dict(annotations, **{
                    "apiserver.latency.k8s.io/etcd": go_duration(request.latency * 2 // 3),
                    "apiserver.latency.k8s.io/serialize-response-object": go_duration(request.latency // 5),
                    "apiserver.latency.k8s.io/total": go_duration(request.latency)})
            stages.append((STAGE_RC, done, request.ref_done, True))
        events = []
        for stage, at, ref, complete in stages:
            parts = [head, stage, common]
            if ref:
                parts.append(',"objectRef":' + dumps(ref))
            if stage != STAGE_RR:
                parts.append(',"responseStatus":' + request.status)
            if complete and request.request_body:
                parts.append(',"requestObject":' + request.request_body)
            if complete and request.response_body:
                parts.append(',"responseObject":' + request.response_body)
            parts.append(',"requestReceivedTimestamp":"%s","stageTimestamp":"%s"' % (received_text, self.clock.format(at)))
            if stage != STAGE_RR and annotations:
                parts.append(',"annotations":' + dumps(annotations))
            parts.append("}\n")
            events.append((at, "".join(parts)))
        return events

    def add(self, events):
        for at, line in events:
            self.sequence += 1
            heapq.heappush(self.pending, (at, self.sequence, line))

    def advance(self, now):
        """Write every pending event that happened up to ``now``; False once the budget is spent
        (what is still pending is cut off, as in a log file rotated while requests were in flight)."""
        pending = self.pending
        while pending and pending[0][0] <= now:
            at, _sequence, line = heapq.heappop(pending)
            if at < START_US:
                continue
            if (self.size and self.bytes + len(line) > self.size) or \
                    (self.max_events and self.events >= self.max_events):
                return False
            self.buffer.append(line)
            self.buffered += len(line)
            self.bytes += len(line)
            self.events += 1
            if self.buffered >= CHUNK:
                self.flush()
        return True

    def flush(self):
        self.out.write("".join(self.buffer))
        self.buffer = []
        self.buffered = 0


def generate(out, size=None, events=None, seed=7, rate=25.0, progress=None):
    """Write a synthetic audit log to the text stream ``out``: at most ``size`` bytes and at most
    ``events`` lines (at least one of them must be given), stopping within one event of the limit.
    Returns what was written: bytes, events, requests (received in the window), first and last time."""
    if not size and not events:
        raise ValueError("give a size or an event count")
    rng = random.Random(seed)
    cluster = Cluster(random.Random(seed + 1))
    writer = Writer(out, rng, size, events)
    kinds = [kind for _weight, kind in MIX]
    cumulative = []
    total = 0
    for weight, _kind in MIX:
        total += weight
        cumulative.append(total)
    # Start in steady state: requests received before the window (long-running ones still in flight)
    # contribute their later stages only.
    now = START_US - WARMUP_US
    requests = 0
    next_report = 64 << 20
    while writer.advance(now):
        now += int(rng.expovariate(rate) * 1e6) + 1
        cluster.now = now
        kind = kinds[bisect.bisect_right(cumulative, rng.random() * total)]
        if now < START_US - 2000000 and kind not in LONG_RUNNING_KINDS:
            continue  # over before the window starts (no short request takes 2 s)
        request = kind(cluster)
        if now + request.latency < START_US:
            continue
        writer.add(writer.render(request, now))
        requests += now >= START_US
        if progress and writer.bytes >= next_report:
            progress(writer.bytes, writer.events)
            next_report = writer.bytes + (64 << 20)
    writer.flush()
    return {"bytes": writer.bytes, "events": writer.events, "requests": requests, "first": START_US, "last": now}


def cache_dir():
    base = os.environ.get("AUDITOPS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "auditops-deckhouse")
    return os.path.join(base, "bench")


def _source_key():
    with open(os.path.abspath(__file__), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def open_output(path, compress):
    if path == "-":
        return sys.stdout
    if compress:
        return gzip.open(path, "wt", compresslevel=6, encoding="utf-8")
    return open(path, "w", encoding="utf-8")


def write_log(path, size=None, events=None, seed=7, rate=25.0, compress=False, progress=None):
    """Generate into ``path`` through a temporary file; returns the counts."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with open_output(tmp, compress) as out:
            counts = generate(out, size, events, seed, rate, progress)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return counts


def cached_log(size=None, events=None, seed=7, rate=25.0, compress=False, progress=None):
    """Path of a generated log with these parameters, generating it once (older versions of the same
    parameters are removed)."""
    params = "%s-seed%d-rate%g" % ("size%d" % size if size else "events%d" % events, seed, rate)
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    name = "audit-%s-%s.jsonl%s" % (params, _source_key(), ".gz" if compress else "")
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        for old in os.listdir(directory):
            if old.startswith("audit-%s-" % params) and old.endswith(name[name.index(".jsonl"):]) and old != name:
                os.unlink(os.path.join(directory, old))
        write_log(path, size, events, seed, rate, compress, progress)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--size", type=parse_size, help="uncompressed size, e.g. 50M or 1G")
    amount.add_argument("--events", type=int, help="number of events (lines)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=25.0, help="mean requests per second (timestamps only)")
    parser.add_argument("--gzip", action="store_true", help="gzip the output")
    parser.add_argument("-o", "--output", help="file to write, '-' for stdout; default: the cache, path printed")
    args = parser.parse_args(argv)

    def report(done, count):
        print("gen_audit_log: %d MiB, %d events" % (done >> 20, count), file=sys.stderr)

    if args.output:
        if args.output == "-":
            counts = generate(sys.stdout, args.size, args.events, args.seed, args.rate)
        else:
            counts = write_log(args.output, args.size, args.events, args.seed, args.rate, args.gzip, report)
        print("gen_audit_log: %(events)d events, %(requests)d requests, %(bytes)d bytes" % counts, file=sys.stderr)
    else:
        print(cached_log(args.size, args.events, args.seed, args.rate, args.gzip, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
