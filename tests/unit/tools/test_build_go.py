"""tests/build-go.sh tells what it builds, that the result is cached and how long it took; a second call is
silent and instant (make demo's first run waits minutes for kube-apiserver)."""
import os
import shutil
import subprocess
import time

import pytest
from ansible_collections.auditops.deckhouse.tests import _paths

SCRIPT = os.path.join(_paths.ROOT, "tests", "build-go.sh")


@pytest.mark.skipif(shutil.which("go") is None, reason="no go toolchain")
def test_first_build_says_what_and_where_then_the_cached_binary_is_reused(tmp_path):
    wrapper = tmp_path / "hello"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text("module hello\n\ngo 1.21\n")
    (wrapper / "go.sum").write_text("")
    # Unique content: a binary of its own in the shared cache (the compiled standard library there is reused).
    (wrapper / "main.go").write_text('package main\n\nfunc main() { println("%s") }\n' % tmp_path)
    env = dict(os.environ, AUDITOPS_BUILD_PROGRESS_SECONDS="1")
    first = subprocess.run(["bash", SCRIPT, str(wrapper)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, check=False)
    binary = first.stdout.strip()
    try:
        assert first.returncode == 0, first.stderr
        assert os.access(binary, os.X_OK) and os.path.basename(binary).startswith("hello-local-")
        lines = first.stderr.splitlines()
        assert lines[0] == ("building hello local from the Go module proxy: once per machine (minutes the first "
                            "time), then cached in %s" % os.path.dirname(binary)), lines
        assert lines[-1].startswith("built hello in ") and lines[-1].endswith(" s; later runs reuse %s" % binary)
        assert all(line.startswith("still building hello: ") for line in lines[1:-1]), lines
        start = time.monotonic()
        again = subprocess.run(["bash", SCRIPT, str(wrapper)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, check=False)
        assert (again.returncode, again.stdout.strip(), again.stderr) == (0, binary, "")
        assert time.monotonic() - start < 5
    finally:
        if binary and os.path.isfile(binary):
            os.remove(binary)
