# Fixtures for tests against the real local control plane (etcd + kube-apiserver built from source).
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cluster"))
import harness  # noqa: E402  (lives in tests/cluster, not a package)


@pytest.fixture(scope="session")
def apiserver_runner(k8s_cluster):
    """Start extra kube-apiservers with chosen flags against the session's etcd."""
    return harness.ApiServerRunner(k8s_cluster)


@pytest.fixture
def ansible_env(k8s_cluster):
    """Environment for ansible-playbook runs that target the test cluster."""
    env = dict(os.environ)
    env["K8S_AUTH_KUBECONFIG"] = k8s_cluster.kubeconfig
    env["ANSIBLE_CONFIG"] = os.path.join(harness.ROOT, "ansible.cfg")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    # The venv that runs the tests has kubernetes and PyYAML; do not let discovery pick another Python.
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    return env


def _run_adhoc(module, args, env, check=False, diff=False):
    """Run one module with ``ansible localhost`` and return its result dict (plus ``_rc``)."""
    import json
    import subprocess

    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
           "-i", "localhost,", "-m", module, "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=harness.ROOT,
                          check=False)
    # The minimal callback prints "localhost | STATUS => {json}" (diffs, when asked, come before it).
    marker = proc.stdout.find("localhost | ")
    start = proc.stdout.find("{", marker)
    if marker < 0 or start < 0:
        raise AssertionError("no module result in output:\n%s\n%s" % (proc.stdout, proc.stderr))
    result = json.loads(proc.stdout[start:])
    result["_rc"] = proc.returncode
    result["_status"] = proc.stdout[marker + len("localhost | "):start].split()[0]  # SUCCESS, CHANGED, FAILED!
    return result


@pytest.fixture
def run_module(ansible_env):
    """run_module(name, args, check=False, diff=False) -> result dict, against the test cluster."""
    def run(module, args, check=False, diff=False):
        return _run_adhoc(module, args, ansible_env, check=check, diff=diff)
    return run
