"""What users install: ansible-doc renders every plugin, and the runtime requirements are enough."""
import glob
import os
import re
import subprocess
import sys

import pytest
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
BIN = os.path.dirname(sys.executable)


def _plugins():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        found.append(("module", os.path.splitext(os.path.basename(path))[0]))
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml"))):
        found.append(("filter", os.path.splitext(os.path.basename(path))[0]))
    return found


def _env():
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def test_every_module_is_documented():
    assert [name for kind, name in _plugins() if kind == "module"], "no modules found"


_DOCS = {}


def _rendered(kind):
    """One ansible-doc run for every plugin of ``kind`` (about 0.6 CPU s a start saved per plugin): its
    return code, its stderr and {name: that plugin's part of stdout} (each part starts with '> KIND fqcn ')."""
    if kind not in _DOCS:
        names = ["auditops.deckhouse." + name for plugin_kind, name in _plugins() if plugin_kind == kind]
        proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", kind] + names, env=_env(), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        parts = {}
        for part in re.split(r"^(?=> %s )" % kind.upper(), proc.stdout, flags=re.M):
            if part.startswith("> "):
                parts[part.split()[2]] = part
        _DOCS[kind] = (proc.returncode, proc.stderr, parts)
    return _DOCS[kind]


@pytest.mark.parametrize("kind,name", _plugins())
def test_ansible_doc_renders(kind, name):
    returncode, stderr, parts = _rendered(kind)
    assert returncode == 0, stderr
    # A plugin that does not render is a warning or an error of the run shared by all plugins of its kind.
    assert "[WARNING]" not in stderr and "ERROR" not in stderr, stderr
    assert "auditops.deckhouse." + name in parts, sorted(parts)
    assert "EXAMPLES" in parts["auditops.deckhouse." + name] or kind == "filter"


@pytest.mark.slow
def test_runtime_requirements_are_enough_to_import_every_module(tmp_path):
    """A clean venv with ansible-core and requirements.txt only (what the execution environment gets)."""
    venv = tmp_path / "venv"
    # No pip (nor the setuptools that comes with it) in the venv: the test's own pip installs into it, and without
    # byte-compiling (the imports below compile what they use). About 6x less CPU than ensurepip + pip install there.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
           "--disable-pip-version-check", "--no-compile"]
    subprocess.run(pip + ["ansible-core", "-r", os.path.join(ROOT, "requirements.txt")], check=True)
    collections = os.path.join(ROOT, ".collections")
    names = [name for kind, name in _plugins() if kind == "module"]
    names += [os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "plugins", "module_utils", "_*.py"))]
    code = "\n".join(
        ["import importlib"]
        + ["importlib.import_module('ansible_collections.auditops.deckhouse.plugins.%s.%s')"
           % ("module_utils" if n.startswith("_") else "modules", n) for n in names]
        + ["print('imported', %d)" % len(names)])
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], env={"PYTHONPATH": collections, "PATH": os.environ["PATH"]},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "imported %d" % len(names)


def test_execution_environment_definition_builds_a_context(tmp_path):
    """ansible-builder accepts the EE definition and puts the runtime requirements into the build context."""
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        with open(os.path.join(ROOT, name)) as src, open(tmp_path / name, "w") as dst:
            dst.write(src.read())
    (tmp_path / "auditops-deckhouse-0.1.0.tar.gz").write_bytes(b"")  # stands in for the built tarball
    proc = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(tmp_path / "execution-environment.yml"),
                           "-c", str(tmp_path / "context")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    with open(tmp_path / "context" / "_build" / "requirements.txt") as handle:
        assert handle.read() == open(os.path.join(ROOT, "requirements.txt")).read()
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile


def _install_commands():
    """Every `ansible-galaxy collection install` of the tarball that README.md and docs/ tell users to type."""
    found = []
    for path in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(path) as handle:
            found.extend((os.path.relpath(path, ROOT), line.strip()) for line in handle
                         if line.strip().startswith("ansible-galaxy collection install") and ".tar.gz" in line)
    return found


def test_the_documented_install_works_inside_the_checkout_and_the_bare_one_is_the_trap_they_avoid(tmp_path):
    """In the checkout ansible.cfg points collections_path at .collections, where the work tree is a symlink:
    an install there stops with "Cannot call rmtree on a symbolic link". Every documented command passes -p and
    works from the checkout after make demo, leaving the development link alone."""
    commands = _install_commands()
    assert {doc for doc, _line in commands} >= {"README.md", "docs/getting-started.md"}, commands
    link = os.path.join(ROOT, ".collections", "ansible_collections", "auditops", "deckhouse")
    assert os.path.islink(link)
    build = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                            str(tmp_path)], env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, check=False)
    assert build.returncode == 0, build.stdout
    tarball = glob.glob(str(tmp_path / "auditops-deckhouse-*.tar.gz"))[0]
    for doc, line in commands:
        assert " -p " in line, "%s: %s installs into collections_path, the development symlink" % (doc, line)
        words = line.replace("~/.ansible/collections", str(tmp_path / "installed")).split()
        words = [os.path.join(BIN, "ansible-galaxy")] + words[1:-1] + [tarball]
        run = subprocess.run(words, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=False)
        assert run.returncode == 0, "%s: %s\n%s" % (doc, line, run.stdout)
        assert os.path.isfile(str(tmp_path / "installed" / "ansible_collections" / "auditops" / "deckhouse" / "MANIFEST.json"))
        assert os.path.islink(link) and os.path.realpath(link) == os.path.realpath(ROOT)
    bare = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--no-deps",
                           tarball], env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    assert bare.returncode != 0 and "Cannot call rmtree on a symbolic link" in bare.stdout, bare.stdout
    assert os.path.islink(link)
