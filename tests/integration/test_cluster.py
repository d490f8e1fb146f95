"""The test cluster is real: the Deckhouse CRDs are served and enforced, and kubernetes.core talks to it."""
import copy

import pytest

pytestmark = pytest.mark.cluster

# First KUMA example of the Deckhouse docs (UDP socket, JSON codec) with a real address.
SEED_UDP_JSON = {
    "apiVersion": "deckhouse.io/v1alpha1",
    "kind": "ClusterLogDestination",
    "metadata": {"name": "kuma-udp-json"},
    "spec": {"type": "Socket", "socket": {"address": "192.0.2.10:514", "mode": "UDP", "encoding": {"codec": "JSON"}}},
}


def test_cluster_serves_deckhouse_crds(k8s_cluster):
    status, body = k8s_cluster.api.request("GET", "/apis/deckhouse.io/v1alpha1")
    assert status == 200
    kinds = {r["kind"] for r in body["resources"]}
    assert {"ModuleConfig", "ClusterLogDestination", "ClusterLoggingConfig"} <= kinds
    assert k8s_cluster.kubernetes_version.startswith("1.33.")
    status = k8s_cluster.api.request("GET", "/api/v1/namespaces/kube-system")[0]
    assert status == 200


def test_non_schema_keys_are_stripped_but_property_names_kept():
    import harness
    crd = {"spec": {"x-doc-examples": [1],
                    "properties": {"descriptions": {"type": "string", "x-doc-examples": ["a"]},
                                   "descriptions2": {"descriptions": "typo"}}}}
    assert harness.strip_non_schema_keys(crd) == {
        "spec": {"properties": {"descriptions": {"type": "string"}, "descriptions2": {}}}}


def test_k8s_module_applies_seed_destination_idempotently(k8s_cluster, run_module):
    args = {"apply": True, "definition": SEED_UDP_JSON}
    first = run_module("kubernetes.core.k8s", args)
    assert first["_rc"] == 0, first
    assert first["changed"] is True
    status, stored = k8s_cluster.api.request("GET", "/apis/deckhouse.io/v1alpha1/clusterlogdestinations/kuma-udp-json")
    assert status == 200
    assert stored["spec"]["socket"] == SEED_UDP_JSON["spec"]["socket"]

    second = run_module("kubernetes.core.k8s", args)
    assert second["_rc"] == 0, second
    assert second["changed"] is False


def test_server_rejects_invalid_mode_with_crd_message(k8s_cluster, run_module):
    bad = copy.deepcopy(SEED_UDP_JSON)
    bad["metadata"]["name"] = "kuma-sctp"
    bad["spec"]["socket"]["mode"] = "SCTP"
    result = run_module("kubernetes.core.k8s", {"apply": True, "definition": bad})
    assert result["_rc"] != 0
    assert result["_status"] == "FAILED!"
    assert 'spec.socket.mode: Unsupported value: \\"SCTP\\"' in result["msg"], result["msg"]
    status = k8s_cluster.api.request("GET", "/apis/deckhouse.io/v1alpha1/clusterlogdestinations/kuma-sctp")[0]
    assert status == 404
