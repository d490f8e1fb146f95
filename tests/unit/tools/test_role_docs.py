"""tools/role_docs.py keeps role READMEs in step with meta/argument_specs.yml."""
import importlib.util
import os

import pytest
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
SPEC = """
argument_specs:
  main:
    short_description: Demo role
    options:
      demo_port:
        type: int
        default: 514
        description: Port of the receiver.
      demo_mode:
        type: str
        choices: [tcp, udp]
        required: true
        description: Transport.
"""


@pytest.fixture
def role_docs(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("role_docs", os.path.join(ROOT, "tools", "role_docs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "roles" / "demo" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml").write_text(SPEC)
    monkeypatch.setattr(module, "ROOT", str(tmp_path))
    return module


def test_check_fails_on_missing_readme_then_passes_after_generation(role_docs, tmp_path):
    assert role_docs.main(["--check"]) == 1
    assert role_docs.main([]) == 0
    readme = (tmp_path / "roles" / "demo" / "README.md").read_text()
    assert "| `demo_mode` | str (one of `tcp`, `udp`) | yes |  | Transport. |" in readme
    assert "| `demo_port` | int | no | `514` | Port of the receiver. |" in readme
    assert role_docs.main(["--check"]) == 0


def test_hand_written_text_survives_and_spec_change_makes_readme_stale(role_docs, tmp_path):
    role_docs.main([])
    readme = tmp_path / "roles" / "demo" / "README.md"
    readme.write_text("Intro written by hand.\n\n" + readme.read_text() + "\nFooter by hand.\n")
    assert role_docs.main(["--check"]) == 0
    spec = tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.replace("Port of the receiver.", "UDP or TCP port."))
    assert role_docs.main(["--check"]) == 1
    role_docs.main([])
    text = readme.read_text()
    assert text.startswith("Intro written by hand.")
    assert text.rstrip().endswith("Footer by hand.")
    assert "UDP or TCP port." in text and "Port of the receiver." not in text


def test_an_entry_point_with_mains_options_is_not_listed_twice(role_docs, tmp_path):
    spec = SPEC.replace("    options:\n", "    options: &options\n", 1) + (
        "  validate:\n    short_description: Check only\n    options: *options\n"
        "  other:\n    short_description: Another\n    options:\n      demo_other:\n        type: str\n"
        "        description: Other.\n")
    (tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml").write_text(spec)
    assert role_docs.main([]) == 0
    readme = (tmp_path / "roles" / "demo" / "README.md").read_text()
    validate = readme.split("### Entry point `validate`")[1]
    assert validate.strip().startswith("Check only\n\nThe same variables as entry point `main`.")
    assert readme.count("`demo_port`") == 1
    assert "`demo_other`" in readme.split("### Entry point `other`")[1]
