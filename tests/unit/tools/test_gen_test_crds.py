"""tests/cluster/_crds.py (tools/gen_test_crds.py) and the CRDs the test cluster loads in a clone with nothing
beside it: the same CRDs, trimmed, as from the upstream files."""
import os
import sys

from ansible_collections.auditops.deckhouse.tests import _paths

sys.path.insert(0, os.path.join(_paths.ROOT, "tools"))
sys.path.insert(0, os.path.join(_paths.ROOT, "tests", "cluster"))
import gen_test_crds as generator  # noqa: E402  (tools/ is not a package)
import harness  # noqa: E402  (tests/cluster is not a package)


def test_every_crd_the_cluster_loads_has_a_generated_copy():
    generated = harness.crd_documents(reference="/nonexistent")
    assert [name for name, _crd in generated] == list(harness.CRD_FILES)
    names = [crd["metadata"]["name"] for _name, crd in generated]
    assert names == ["moduleconfigs.deckhouse.io", "clusterlogdestinations.deckhouse.io",
                     "clusterloggingconfigs.deckhouse.io", "falcoauditrules.deckhouse.io",
                     "customprometheusrules.deckhouse.io", "clusteralerts.deckhouse.io"]
    for _name, crd in generated:
        assert crd["spec"]["versions"] and all(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"])


@_paths.needs(_paths.REFERENCE)
def test_generated_copies_are_the_upstream_crds_trimmed():
    upstream = dict(harness.crd_documents())
    for name, crd in harness.crd_documents(reference="/nonexistent"):
        assert crd == generator.trim(upstream[name]), name


class _FreshCrdApi:
    """Serves each CRD first as the apiserver does right after creating it (``status.conditions: null``),
    then Established; discovery answers at once."""

    def __init__(self):
        self.reads = {}

    def request(self, method, path, body=None):
        if method == "POST":
            return 201, {}
        if path == "/apis/deckhouse.io":
            return 200, {}
        self.reads[path] = self.reads.get(path, 0) + 1
        if self.reads[path] == 1:
            return 200, {"status": {"conditions": None}}
        return 200, {"status": {"conditions": [{"type": "Established", "status": "True"}]}}


def test_load_crds_waits_through_a_crd_served_without_conditions():
    api = _FreshCrdApi()
    names = harness.load_crds(api, reference="/nonexistent", files=("deckhouse-crd-module-config.yaml",))
    assert names == ["moduleconfigs.deckhouse.io"]
    assert list(api.reads.values()) == [2]
