# Shared pytest setup: make the work tree importable as ansible_collections.auditops.deckhouse.
import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "auditops", "deckhouse")

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


@pytest.fixture(scope="session")
def k8s_cluster():
    """One etcd + kube-apiserver with the Deckhouse CRDs for the whole test run (tests/cluster/harness.py), shared by
    tests/integration and the hostile-input corpus in tests/adversarial."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
    # harness lives in tests/cluster, not a package.
    import harness  # pylint: disable=import-outside-toplevel

    workdir = tempfile.mkdtemp(prefix="auditops-cluster-")
    cluster = harness.Cluster(workdir)
    yield cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)
