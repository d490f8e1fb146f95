# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every hostile-input case asserts: refused with a message naming the field, nothing changed on disk,
no secret in anything the run printed or returned."""

import base64
import json
import os

import pytest

from ansible_collections.auditops.deckhouse.tests.unit.plugins.modules._module_runner import Fail, run_module
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MANIFEST = os.path.join(FIXTURES, "manifests", "deckhouse-file.yaml")


def static_pod(tmp_path):
    """``tmp_path/manifests/kube-apiserver.yaml``, a copy of the Deckhouse fixture manifest; returns its path."""
    import shutil

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    path = manifests / "kube-apiserver.yaml"
    shutil.copy(MANIFEST, str(path))
    return path


def snapshot(*directories):
    """Every file and symlink below ``directories``: path -> bytes (or 'link -> target'), with modes."""
    found = {}
    for directory in directories:
        for base, dirs, files in os.walk(str(directory)):
            for name in dirs + files:
                path = os.path.join(base, name)
                if os.path.islink(path):
                    found[path] = "link -> %s" % os.readlink(path)
                elif os.path.isfile(path):
                    with open(path, "rb") as handle:
                        found[path] = (oct(os.stat(path).st_mode), handle.read())
                else:
                    found[path] = oct(os.stat(path).st_mode)
    return found


def secret_forms(secret):
    """The secret as given, base64-encoded, and each PEM body line when it is PEM."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    forms = {raw.decode("utf-8", "replace"), base64.b64encode(raw).decode("ascii")}
    for line in raw.decode("utf-8", "replace").splitlines():
        if len(line) >= 16 and not line.startswith("-----"):
            forms.add(line)
    return sorted(form for form in forms if form)


def assert_no_secret(output, secrets):
    text = output if isinstance(output, str) else json.dumps(output, default=repr)
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in text, "secret %r shows in the output" % form[:12]


def refuse(module, args, field, watched=(), secrets=(), **kwargs):
    """Run ``module`` with ``args``: it must fail naming ``field``, leave ``watched`` directories as they were and
    show none of ``secrets``. Returns the failure result."""
    before = snapshot(*watched)
    with pytest.raises(Fail) as info:
        run_module(module, args, **kwargs)
    result = info.value.args[0]
    assert field in result["msg"], "%r does not name %r" % (result["msg"], field)
    assert not result.get("changed"), result
    assert snapshot(*watched) == before, "a refused run changed files"
    assert_no_secret(result, secrets)
    return result


def api_snapshot(cluster, paths):
    """Each API path of ``cluster`` (tests/cluster/harness.py) as (status, object); a list keeps only its items (the
    list's resourceVersion moves with any write to the cluster)."""
    found = {}
    for path in paths:
        status, body = cluster.api.request("GET", path)
        found[path] = (status, body["items"] if isinstance(body, dict) and "items" in body else body)
    return found


def refuse_role(tmp_path, role, variables, field, watched=(), cluster=None, api_paths=(), secrets=(), **kwargs):
    """Run role ``role`` with ``variables`` (at -vv unless told): it must fail naming ``field``, leave the ``watched``
    directories and the ``api_paths`` of ``cluster`` as they were and print none of ``secrets``. Returns the run."""
    before = snapshot(*watched)
    api_before = api_snapshot(cluster, api_paths) if cluster is not None else {}
    kwargs.setdefault("verbosity", 2)
    run = run_role(tmp_path, role, variables, **kwargs)
    assert run.rc != 0, run
    assert field in run.failure(), "%r does not name %r" % (run.failure(), field)
    after = snapshot(*watched)
    assert {k: v for k, v in after.items() if "adversarial-" not in k} == \
        {k: v for k, v in before.items() if "adversarial-" not in k}, "a refused run changed files"
    if cluster is not None:
        assert api_snapshot(cluster, api_paths) == api_before, "a refused run changed API objects"
    assert_no_secret(run.output, secrets)
    return run


class RoleRun(object):
    """One ansible-playbook run of a role on localhost; ``output`` is everything it printed."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        start = proc.stdout.find('{\n    "custom_stats"')
        self.data = json.loads(proc.stdout[start:]) if start >= 0 else None

    def failures(self):
        found = []
        for play in (self.data or {}).get("plays", []):
            for task in play["tasks"]:
                result = task["hosts"].get("localhost", {})
                if result.get("failed") and not result.get("ignore_errors"):
                    items = [item.get("msg", "") for item in result.get("results", []) if item.get("failed")]
                    found.append("; ".join(items) if items else result.get("msg", ""))
        return found

    def failure(self):
        failures = self.failures()
        return failures[-1] if failures else ""

    def __repr__(self):
        return "rc=%s failure=%s\n%s" % (self.rc, self.failure(), self.output[-3000:])


def run_role(tmp_path, role, variables, **kwargs):
    """Run ``auditops.deckhouse.<role>`` on localhost; see run_play."""
    return run_play(tmp_path, "- hosts: localhost\n  gather_facts: false\n  roles:\n    - auditops.deckhouse.%s\n" % role,
                    variables, **kwargs)


def run_play(tmp_path, play, variables, check=False, verbosity=0, diff=False, extra_vars_as_strings=None, env=None):
    """Run the playbook text ``play`` on localhost with ``variables`` (a vars file, typed as YAML/JSON gives
    them) and ``extra_vars_as_strings`` (each as ``-e name=value``, a string, as a shell or an AWX survey sends it)."""
    import sys

    from ansible_collections.auditops.deckhouse.tests.integration._role_run import ansible_playbook

    playbook = tmp_path / "adversarial-play.yml"
    playbook.write_text(play)
    vars_file = tmp_path / "adversarial-vars.json"
    vars_file.write_text(json.dumps(variables))
    environ = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    environ.update(env or {})
    extra_vars = ["@%s" % vars_file] + ["%s=%s" % item for item in (extra_vars_as_strings or {}).items()]
    return RoleRun(ansible_playbook(playbook, "localhost,", extra_vars, environ, check=check, diff=diff,
                                    verbosity=verbosity, args=("-c", "local")))
