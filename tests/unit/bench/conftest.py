"""Load the scripts in bench/ as modules (they are not a package)."""
import pytest

from ansible_collections.auditops.deckhouse.tests.unit.bench._bench_loader import load


@pytest.fixture(scope="session", name="load_bench")
def load_bench_fixture():
    """The loader: ``load_bench("bench_presets")`` is bench/bench_presets.py as a module."""
    return load


@pytest.fixture(scope="session")
def gen():
    return load("gen_audit_log")
