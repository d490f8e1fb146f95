"""tools/role_docs.py keeps role READMEs in step with meta/argument_specs.yml."""
import glob
import importlib.util
import os
import subprocess
import sys

import pytest
import yaml
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
SPEC = """
argument_specs:
  main:
    short_description: Demo role
    examples: |
      - name: Demo
        hosts: all
        roles:
          - role: auditops.deckhouse.demo
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


INTRO = "What the demo role does; how: [docs/demo.md](../../docs/demo.md).\n\n"


def _with_intro(tmp_path):
    readme = tmp_path / "roles" / "demo" / "README.md"
    title, rest = readme.read_text().split("\n\n", 1)
    readme.write_text(title + "\n\n" + INTRO + rest)


def test_check_fails_on_missing_readme_then_passes_after_generation(role_docs, tmp_path, capsys):
    assert role_docs.main(["--check"]) == 1
    assert role_docs.main([]) == 1  # written, but nobody wrote the introduction yet
    assert "roles/demo/README.md: no introduction above the generated part" in capsys.readouterr().out
    readme = (tmp_path / "roles" / "demo" / "README.md").read_text()
    assert "| `demo_mode` | str (one of `tcp`, `udp`) | yes |  | Transport. |" in readme
    assert "| `demo_port` | int | no | `514` | Port of the receiver. |" in readme
    assert "## Example\n\n```yaml\n- name: Demo\n  hosts: all\n" in readme
    assert readme.index("## Example") < readme.index("## Variables") < readme.index("### Entry point `main`")
    _with_intro(tmp_path)
    assert role_docs.main(["--check"]) == 0


def test_check_names_a_missing_example_and_an_introduction_without_a_guide(role_docs, tmp_path, capsys):
    spec = tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.split("    examples: |", 1)[0] + "    options:" + SPEC.split("    options:", 1)[1])
    readme = tmp_path / "roles" / "demo" / "README.md"
    readme.write_text("# Role `auditops.deckhouse.demo`\n\nNo link here.\n\n" + role_docs.render("demo"))
    assert role_docs.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "roles/demo/meta/argument_specs.yml: entry point main has no examples (an example play)" in out
    assert "roles/demo/README.md: the introduction links no guide in docs/ (../../docs/NAME.md)" in out
    assert "## Example" not in readme.read_text()


def test_the_old_layout_keeps_one_variables_heading(role_docs, tmp_path):
    readme = tmp_path / "roles" / "demo" / "README.md"
    readme.write_text("# Role `auditops.deckhouse.demo`\n\n" + INTRO + "## Variables\n\n" + role_docs.BEGIN
                      + "\nold\n" + role_docs.END + "\n")
    assert role_docs.main([]) == 0
    text = readme.read_text()
    assert text.count("## Variables") == 1 and text.startswith("# Role `auditops.deckhouse.demo`\n\n" + INTRO)


SPECS = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def _example(spec):
    with open(spec) as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    return specs, specs["main"]["examples"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: path.split(os.sep)[-3])
def test_each_role_example_uses_the_role_and_only_its_variables(spec):
    role = spec.split(os.sep)[-3]
    specs, example = _example(spec)
    known = set()
    for entry in specs.values():
        known.update((entry.get("options") or {}).keys())
    used, names = set(), []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "vars" and isinstance(value, dict):
                    used.update(name for name in value if name.startswith(role + "_"))
                if key in ("role", "name") and isinstance(value, str) and value.startswith("auditops.deckhouse."):
                    names.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(yaml.safe_load(example))
    assert names and set(names) == {"auditops.deckhouse." + role}, names
    assert used and used <= known, sorted(used - known)


def test_every_role_example_passes_ansible_playbook_syntax_check(tmp_path):
    playbooks = []
    for spec in SPECS:
        playbooks.append(tmp_path / ("%s.yml" % spec.split(os.sep)[-3]))
        playbooks[-1].write_text(_example(spec)[1])
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--syntax-check",
                          "-i", "localhost,"] + [str(path) for path in playbooks], env=env, cwd=str(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert len(playbooks) == 6 and run.returncode == 0, run.stdout
    # A play that names a role the collection lacks is refused: the check can fail.
    broken = tmp_path / "broken.yml"
    broken.write_text(_example(SPECS[0])[1].replace("auditops.deckhouse.", "auditops.deckhouse.no_such_"))
    assert subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--syntax-check",
                           "-i", "localhost,", str(broken)], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False).returncode != 0


def test_hand_written_text_survives_and_spec_change_makes_readme_stale(role_docs, tmp_path):
    role_docs.main([])
    readme = tmp_path / "roles" / "demo" / "README.md"
    readme.write_text("Intro written by hand: [guide](../../docs/demo.md).\n\n" + readme.read_text()
                      + "\nFooter by hand.\n")
    assert role_docs.main(["--check"]) == 0
    spec = tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.replace("Port of the receiver.", "UDP or TCP port."))
    assert role_docs.main(["--check"]) == 1
    role_docs.main([])
    text = readme.read_text()
    assert text.startswith("Intro written by hand: [guide](../../docs/demo.md).")
    assert text.rstrip().endswith("Footer by hand.")
    assert "UDP or TCP port." in text and "Port of the receiver." not in text


def test_an_entry_point_with_mains_options_is_not_listed_twice(role_docs, tmp_path):
    spec = SPEC.replace("    options:\n", "    options: &options\n", 1) + (
        "  validate:\n    short_description: Check only\n    options: *options\n"
        "  other:\n    short_description: Another\n    options:\n      demo_other:\n        type: str\n"
        "        description: Other.\n")
    (tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml").write_text(spec)
    role_docs.main([])
    readme = (tmp_path / "roles" / "demo" / "README.md").read_text()
    validate = readme.split("### Entry point `validate`")[1]
    assert validate.strip().startswith("Check only\n\nThe same variables as entry point `main`.")
    assert readme.count("`demo_port`") == 1
    assert "`demo_other`" in readme.split("### Entry point `other`")[1]
