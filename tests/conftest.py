# Shared pytest setup: make the work tree importable as ansible_collections.auditops.deckhouse.
import os
import shutil
import sys
import tempfile

import pytest

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # pytest's default import mode put it there
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _paths  # noqa: E402 pylint: disable=wrong-import-position

ROOT = _paths.ROOT
_paths.make_collection_importable()


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


# The files that take minutes, longest first (per-file sums of `pytest -n 2 --dist loadfile --durations` runs over
# tests/integration and over tests/unit + tests/adversarial, 2026-12-03, in docs/benchmarks.md "Test-suite time").
# `make pytest` passes --no-loadscope-reorder, so pytest-xdist hands out files in this order: the long files start at
# once and the many short files fill the gaps at the end. (By default xdist starts the files with the most tests
# first, which put the integration files, a few long tests each, last: one worker ran the last of them while the
# other had nothing left.)
SLOW_FILES_FIRST = tuple("tests/%s.py" % name for name in (
    "integration/test_control_plane_audit", "integration/test_playbooks", "integration/test_recovery_e2e",
    "integration/test_kuma_log_shipper", "integration/test_audit_policy_apiserver", "integration/test_audit_detections",
    "integration/test_log_shipper_destinations", "unit/plugins/modules/test_kesl_runs", "integration/test_packaging",
    "adversarial/test_role_refusals", "adversarial/test_apiserver_recovery_inputs", "adversarial/test_secrets",
    "unit/plugins/modules/test_kesl_task", "unit/plugins/modules/test_kesl_exclusion",
    "unit/plugins/modules/test_kesl_double"))


def pytest_collection_modifyitems(items):
    rank = dict((name, index) for index, name in enumerate(SLOW_FILES_FIRST))
    # Stable: the other files, and the tests in every file, keep their order.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(SLOW_FILES_FIRST)))
