"""The audit benchmarks' own logic: they fail when the tools disagree or a preset breaks a promise, and
their tables line up. (The end-to-end runs are `make bench-smoke`.)"""
import pytest


@pytest.fixture(scope="module")
def policy_eval(load_bench):
    return load_bench("bench_policy_eval")


def _request(**fields):
    request = {"user": "alice", "groups": ["developers"], "verb": "get", "namespace": "prod", "api_group": "",
               "resource": "secrets", "subresource": "", "name": "db", "path": "", "resource_request": True}
    request.update(fields)
    return request


def test_policy_eval_counts_every_disagreement_and_shows_examples(policy_eval, capsys):
    requests = [_request(), _request(verb="list"), _request(resource="", path="/healthz", resource_request=False)]
    assert policy_eval.disagreements("p", requests, "MMN", "MMN") == 0
    assert policy_eval.disagreements("p", requests, "MQN", "MMM") == 2
    err = capsys.readouterr().err
    assert "event 2: Python Q, Go M" in err and "event 3: Python N, Go M" in err and '"path": "/healthz"' in err
    assert policy_eval.disagreements("p", requests, "MMN", "MM") == 1, "a missing answer is a disagreement"


def test_policy_eval_python_side_decides_like_the_engine(policy_eval):
    engine = policy_eval.engine
    requests = [_request(), _request(user=None, groups=[]), _request(resource="pods", subresource="exec", verb="create"),
                _request(resource="", path="/livez", namespace="", name="", resource_request=False)]
    for _name, policy in policy_eval.policies():
        letters, rate = policy_eval.run_python(policy, requests, 0.0)
        public = [{key: value for key, value in request.items() if key != "resource_request"} for request in requests]
        assert letters == "".join(policy_eval.LETTERS[engine.evaluate(policy, request).level] for request in public)
        assert rate > 0
    assert [name for name, _policy in policy_eval.policies()][-1] == "security (Deckhouse basic)"


def test_simulator_bench_refuses_inconsistent_runs(load_bench):
    bench = load_bench("bench_simulator")
    same = {"events": 10, "bad_lines": 0, "results": {"security": {"events": 4, "bytes": 900}}}
    measured = [("parse", 1.0, 1, {"events": 10}), ("jq", 1.0, 1, {}), ("one", 1.0, 1, same), ("three", 1.0, 1, same)]
    bench.check(measured, 10)
    with pytest.raises(bench.common.BenchError, match="parse-only read 10 events"):
        bench.check(measured, 11)
    other = dict(same, results={"security": {"events": 4, "bytes": 901}})
    with pytest.raises(bench.common.BenchError, match="among three presets"):
        bench.check(measured[:3] + [("three", 1.0, 1, other)], 10)
    with pytest.raises(bench.common.BenchError, match="bad lines"):
        bench.check(measured[:2] + [("one", 1.0, 1, dict(same, bad_lines=1)), measured[3]], 10)


def test_presets_bench_checks_each_presets_promise(load_bench):
    bench = load_bench("bench_presets")
    kept = {"requests": 3, "recorded": 3, "lost": 0, "with_body": 3}
    security = dict.fromkeys(bench.SECURITY, kept)
    good = {"name": "security (kubeadm)", "requests_by_level": {"None": 50}, "security": security}
    assert bench.check(good) == []
    lost = dict(security, rbac_changes={"requests": 3, "recorded": 2, "lost": 1, "with_body": 2})
    assert "rbac_changes" in bench.check(dict(good, security=lost))[0]
    assert bench.check(dict(good, name="minimal (kubeadm)", requests_by_level={"None": 1}))
    assert bench.check(dict(good, name="minimal (Deckhouse basic)", requests_by_level={"None": 1})) == []


def test_tables_are_markdown_with_numbers_right_aligned(load_bench):
    table = load_bench("_table").format_table(["tool", "MiB/s", "ratio"], [["jq", "53.8", "0.89x"], ["parse-only", "160.2", "1.00x"]])
    assert table.splitlines() == ["| tool       | MiB/s | ratio |",
                                  "|------------|------:|------:|",
                                  "| jq         |  53.8 | 0.89x |",
                                  "| parse-only | 160.2 | 1.00x |"]


def test_measure_drains_a_child_that_prints_more_than_a_pipe_holds(load_bench):
    """A pipe holds 64 KiB; a child printing 1 MiB blocks on write unless measure() reads while it waits
    (this hung `make bench` on the Go evaluator's per-event output)."""
    import sys  # pylint: disable=import-outside-toplevel
    common = load_bench("_audit_bench")
    size = 1024 * 1024
    cmd = [sys.executable, "-c", "import sys; sys.stdout.write('x' * %d); sys.stdout.flush()" % size]
    seconds, cpu, peak, out = common.measure(cmd)
    assert out == b"x" * size
    assert seconds > 0 and 0 < cpu and peak >= 0
    with pytest.raises(common.BenchError, match="exited with 3"):
        common.measure([sys.executable, "-c", "import sys; sys.stdout.write('y' * %d); sys.exit(3)" % size])
