"""Load the scripts in bench/ as modules (they are not a package)."""
import importlib.util
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "bench")


def _load(name):
    if BENCH not in sys.path:  # the benchmarks import their shared module, bench/_audit_bench.py
        sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location("bench_" + name, os.path.join(BENCH, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", name="load_bench")
def load_bench_fixture():
    """The loader: ``load_bench("bench_presets")`` is bench/bench_presets.py as a module."""
    return _load


@pytest.fixture(scope="session")
def gen():
    return _load("gen_audit_log")
