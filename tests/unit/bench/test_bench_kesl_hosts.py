"""bench_kesl_hosts: one double state per host, calls counted per host and refused when hosts differ."""
import os
import subprocess

import pytest


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("bench_kesl_hosts")


def test_every_host_gets_its_own_double_state(bench, tmp_path):
    path, hosts = bench.inventory(str(tmp_path), 3)
    assert sorted(hosts) == ["kesl-001", "kesl-002", "kesl-003"] and os.path.exists(path)
    assert bench.calls(hosts) == dict.fromkeys(hosts, (0, 0))
    first = hosts["kesl-001"]
    subprocess.run([first["kesl_control_executable"], "--app-info"], check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    counted = bench.calls(hosts)
    assert sum(counted["kesl-001"]) == 1, "the call is logged in the first host's state only"
    assert counted["kesl-002"] == counted["kesl-003"] == (0, 0)
    assert os.path.exists(first["bench_state"])


def test_hosts_that_made_different_calls_fail_the_run(bench):
    before = {"a": (0, 0), "b": (1, 0)}
    assert bench.per_host_calls(before, {"a": (4, 2), "b": (5, 2)}, "x") == (4, 2)
    with pytest.raises(bench.BenchError, match="different numbers"):
        bench.per_host_calls(before, {"a": (4, 2), "b": (4, 2)}, "x")
