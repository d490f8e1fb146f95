"""The benchmark keeps working: every policy row is printed and the synthetic log is valid audit JSON."""
import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _load():
    spec = importlib.util.spec_from_file_location("audit_volume", os.path.join(ROOT, "bench", "audit_volume.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_prints_one_row_per_policy_and_writes_events(tmp_path, capsys):
    bench = _load()
    log = tmp_path / "audit.jsonl"
    assert bench.main(["--requests", "300", "--write-log", str(log)]) == 0
    out = capsys.readouterr().out
    for name, _policy in bench.policies():
        assert name in out
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events, "minimal logs everything at Metadata, so the log cannot be empty"
    assert {e["level"] for e in events} == {"Metadata"}
    assert all(e["apiVersion"] == "audit.k8s.io/v1" and e["stage"] in ("ResponseStarted", "ResponseComplete") for e in events)


def test_security_preset_logs_less_than_minimal_on_the_same_traffic():
    bench = _load()
    requests = list(bench.synthetic_requests(2000, 3))
    results = {name: bench.measure(policy, requests) for name, policy in bench.policies()}
    assert results["security (kubeadm)"][2] < results["minimal (kubeadm)"][2]
    # comprehensive keeps bodies, so it is the largest of the three presets
    assert results["comprehensive (kubeadm)"][2] > results["minimal (kubeadm)"][2]
