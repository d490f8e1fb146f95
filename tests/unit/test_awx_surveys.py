# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX side cannot drift from the collection.

- Every wrapper playbook in awx/ imports exactly one collection playbook that exists.
- awx/configure.yml has one job template per collection playbook, each with a wrapper and a survey.
- Every survey field maps onto an argument spec option of a role the playbook runs (or of the playbook's own
  ``*__argument_spec``): the name exists, the survey type can carry the option's type, choices are equal,
  required is consistent, and the defaults pass Ansible's own argument spec validation and equal the role
  defaults (a survey answered with its defaults behaves like the role without a survey).
- Survey specs are in the form AWX accepts: choices as newline-separated strings, integers required with a
  default and bounds (a blank optional integer breaks the launch), unique variables.
"""

import copy
import glob
import json
import os
import re

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.auditops.deckhouse.tests import _paths

ROOT = _paths.ROOT
AWX = os.path.join(ROOT, "awx")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
ROLES = os.path.join(ROOT, "roles")
FQCN = "auditops.deckhouse."

SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# Which argument spec types each survey type can carry. AWX sends text as a string; Ansible's argument
# spec validation turns "a,b" into a list and JSON text into a dict, and raw takes anything.
COMPATIBLE = {
    "text": {"str", "path", "raw", "list"},
    "textarea": {"str", "raw", "dict"},
    "password": {"str", "raw"},
    "integer": {"int", "float", "raw"},
    "float": {"float", "raw"},
    "multiplechoice": {"str", "bool", "raw"},
    "multiselect": {"list"},
}
BOOL_CHOICES = {"true", "false"}


def load_yaml(path):
    # !unsafe in configure.yml marks AWX injector templates; read it as a plain string here.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    with open(path) as handle:
        return yaml.load(handle, Loader=Loader)


def wrappers():
    return sorted(p for p in glob.glob(os.path.join(AWX, "*.yml")) if os.path.basename(p) != "configure.yml")


def configure():
    return load_yaml(os.path.join(AWX, "configure.yml"))[0]


def job_templates():
    return configure()["vars"]["auditops_awx_job_templates"]


def _names(pattern):
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(pattern))


def alias_playbooks():
    """Old names kept for 0.1.0 users: one import_playbook of another collection playbook and nothing else."""
    aliases = []
    for name in _names(os.path.join(PLAYBOOKS, "*.yml")):
        plays = load_yaml(os.path.join(PLAYBOOKS, name + ".yml"))
        if len(plays) == 1 and set(plays[0]) <= {"name", "ansible.builtin.import_playbook"}:
            aliases.append(name)
    return aliases


def collection_playbooks():
    return [name for name in _names(os.path.join(PLAYBOOKS, "*.yml")) if name != "demo" and name not in alias_playbooks()]


def role_options(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def _task_roles(tasks):
    for task in tasks or []:
        for key in ("block", "rescue", "always"):
            yield from _task_roles(task.get(key))
        for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
            if key in task:
                yield task[key]["name"]


def playbook_specs(name, seen=None):
    """{option name: (source, option spec)} of every role the collection playbook runs, recursively."""
    seen = set() if seen is None else seen
    if name in seen:
        return {}
    seen.add(name)
    specs = {}
    for play in load_yaml(os.path.join(PLAYBOOKS, name + ".yml")):
        imported = play.get("ansible.builtin.import_playbook")
        if imported:
            assert imported.startswith(FQCN), "%s imports %s: use the FQCN" % (name, imported)
            specs.update(playbook_specs(imported[len(FQCN):], seen))
            continue
        roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]
        for key in ("pre_tasks", "tasks", "post_tasks"):
            roles.extend(_task_roles(play.get(key)))
        for role in roles:
            assert role.startswith(FQCN), "%s uses role %s: use the FQCN" % (name, role)
            for option, spec in role_options(role[len(FQCN):]).items():
                specs[option] = (role, spec)
        for var, value in (play.get("vars") or {}).items():
            if var.endswith("__argument_spec"):
                for option, spec in value.items():
                    specs[option] = ("playbook " + name, spec)
    return specs


def choices_of(question):
    raw = question.get("choices")
    return raw.split("\n") if isinstance(raw, str) else raw


def _validate(option, spec, value):
    """Errors of Ansible's own role argument validation for one value."""
    validator = ArgumentSpecValidator({option: copy.deepcopy(spec)})
    result = validator.validate({option: value}, validate_role_argument_spec=True)
    return result.error_messages, result.validated_parameters.get(option)


def survey_errors(survey, specs):
    """Everything wrong with one survey against the available argument spec options."""
    errors = []
    for key in ("name", "description", "spec"):
        if key not in survey:
            errors.append("survey: %s is missing" % key)
    seen = set()
    for index, question in enumerate(survey.get("spec", [])):
        var = question.get("variable", "")
        where = "spec[%d] (%s)" % (index, var)
        for key in ("question_name", "variable", "type", "required"):
            if key not in question:
                errors.append("%s: %s is missing" % (where, key))
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", var):
            errors.append("%s: variable is not a valid name" % where)
        if var in seen:
            errors.append("%s: variable asked twice" % where)
        seen.add(var)
        kind = question.get("type")
        if kind not in SURVEY_TYPES:
            errors.append("%s: type %r is not an AWX survey type" % (where, kind))
            continue
        if var not in specs:
            errors.append("%s: no role argument spec of this playbook has the option %s" % (where, var))
            continue
        source, spec = specs[var]
        opt_type = spec.get("type", "str")
        if opt_type not in COMPATIBLE[kind]:
            errors.append("%s: survey type %s cannot carry %s option %s of %s" % (where, kind, opt_type, var, source))
            continue
        if opt_type == "list" and kind == "text" and spec.get("elements", "str") not in ("str", "path"):
            errors.append("%s: a text answer only makes a list of strings, %s wants %s" % (where, var, spec.get("elements")))

        # Choices: a newline-separated string (AWX's form), equal to the option's choices.
        if kind in ("multiplechoice", "multiselect"):
            if not isinstance(question.get("choices"), str):
                errors.append("%s: choices must be one newline-separated string" % where)
                continue
            choices = choices_of(question)
            if "" in choices or len(set(choices)) != len(choices):
                errors.append("%s: choices have empty or repeated entries" % where)
            wanted = BOOL_CHOICES if opt_type == "bool" else {str(c) for c in spec.get("choices") or []}
            if not wanted:
                errors.append("%s: %s has no choices to offer" % (where, var))
            elif set(choices) != wanted:
                errors.append("%s: choices %s differ from %s's %s" % (where, sorted(choices), source, sorted(wanted)))
        elif spec.get("choices"):
            errors.append("%s: %s has choices; ask it as multiplechoice or multiselect" % (where, var))

        # Required: a required option must be asked as required; a required question needs an option that
        # is required or has a non-empty default (else the survey forces an answer the role does not need).
        required = question.get("required")
        if not isinstance(required, bool):
            errors.append("%s: required must be true or false" % where)
        elif spec.get("required") and not required:
            errors.append("%s: %s is required by %s but optional in the survey" % (where, var, source))
        elif required and not spec.get("required") and spec.get("default") in (None, "", [], {}):
            errors.append("%s: required in the survey, but %s's default is empty" % (where, source))

        # AWX may send a blank answer to an optional text question: the role must take "" as "not set".
        if kind in ("text", "textarea", "password") and not required:
            if opt_type == "list":
                errors.append("%s: a blank answer would make the list [''] - ask %s as required or not at all" % (where, var))
            elif _validate(var, spec, "")[0]:
                errors.append("%s: a blank answer fails %s's argument spec for %s" % (where, source, var))

        if kind in ("integer", "float"):
            if not required or "default" not in question:
                errors.append("%s: numbers must be required and have a default (a blank optional number breaks the launch)"
                              % where)
            for bound in ("min", "max"):
                if not isinstance(question.get(bound), (int, float)) or isinstance(question.get(bound), bool):
                    errors.append("%s: %s must be a number" % (where, bound))

        if "default" not in question:
            if not required:
                errors.append("%s: an optional question needs the role's default" % where)
            continue
        default = question["default"]
        errors.extend(_default_errors(where, question, kind, default, var, spec, source))
    return errors


def _default_errors(where, question, kind, default, var, spec, source):
    errors = []
    if kind in ("integer", "float"):
        if not isinstance(default, (int, float)) or isinstance(default, bool):
            return ["%s: default %r is not a number" % (where, default)]
        if not question.get("min", default) <= default <= question.get("max", default):
            errors.append("%s: default %s is outside min/max" % (where, default))
        answer = default
    elif kind == "multiselect":
        answer = [c for c in default.split("\n") if c] if isinstance(default, str) else default
        if not set(answer) <= set(choices_of(question) or []):
            errors.append("%s: default %r is not among the choices" % (where, default))
    else:
        if not isinstance(default, str):
            return ["%s: default %r must be a string for a %s question" % (where, default, kind)]
        if kind == "multiplechoice" and default not in (choices_of(question) or []):
            errors.append("%s: default %r is not among the choices" % (where, default))
        if kind in ("text", "textarea", "password"):
            low, high = question.get("min", 0), question.get("max", len(default))
            if not low <= len(default) <= high:
                errors.append("%s: default is %d characters, outside min %s / max %s" % (where, len(default), low, high))
        answer = default
    messages, value = _validate(var, spec, answer)
    if messages:
        return errors + ["%s: default %r fails %s's argument spec: %s" % (where, default, source, "; ".join(messages))]
    # A survey answered with its defaults must behave like the role left alone.
    if "default" in spec:
        _messages, role_default = _validate(var, spec, spec["default"])
        if value != role_default:
            errors.append("%s: default %r differs from %s's default %r" % (where, default, source, spec["default"]))
    return errors


# --- the real files ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", wrappers(), ids=os.path.basename)
def test_wrapper_imports_an_existing_collection_playbook(path):
    plays = load_yaml(path)
    name = os.path.splitext(os.path.basename(path))[0]
    assert len(plays) == 1 and set(plays[0]) <= {"name", "ansible.builtin.import_playbook"}, \
        "%s must be one ansible.builtin.import_playbook and nothing else" % path
    assert plays[0]["ansible.builtin.import_playbook"] == FQCN + name
    assert os.path.isfile(os.path.join(PLAYBOOKS, name + ".yml"))


def test_every_collection_playbook_has_a_wrapper_and_a_job_template():
    names = collection_playbooks()
    # The wrappers of the old (0.1.0) names stay for job templates created from them; they get no new template.
    assert {os.path.splitext(os.path.basename(p))[0] for p in wrappers()} == set(names) | set(alias_playbooks())
    assert sorted(t["playbook"] for t in job_templates()) == names


def test_the_old_playbook_names_are_aliases_of_the_renamed_ones():
    assert alias_playbooks() == ["audit", "kuma", "recover_apiserver"]
    for name in alias_playbooks():
        target = load_yaml(os.path.join(PLAYBOOKS, name + ".yml"))[0]["ansible.builtin.import_playbook"]
        assert target[len(FQCN):] in collection_playbooks(), "%s imports %s" % (name, target)


def test_every_job_template_has_its_survey_and_no_survey_is_orphaned():
    templates = {t["playbook"] for t in job_templates()}
    surveys = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(AWX, "surveys", "*.json"))}
    assert surveys == templates


def test_job_templates_point_at_the_wrappers_and_load_the_surveys():
    play = configure()
    task = [t for t in play["tasks"] if "awx.awx.job_template" in t][0]
    args = task["awx.awx.job_template"]
    assert args["playbook"] == "awx/{{ item.playbook }}.yml"
    assert "'surveys/' ~ item.playbook ~ '.json'" in args["survey_spec"]
    assert args["survey_enabled"] is True
    # Changing playbooks ask for check mode and diff at launch; the read-only ones do not need to.
    for template in job_templates():
        assert template["changes"] == (template["playbook"] not in ("verify", "simulate"))


@pytest.mark.parametrize("template", [t["playbook"] for t in job_templates()])
def test_survey_matches_the_argument_specs(template):
    with open(os.path.join(AWX, "surveys", template + ".json")) as handle:
        survey = json.load(handle)
    specs = playbook_specs(template)
    assert specs, "playbook %s runs no role with an argument spec" % template
    assert survey_errors(survey, specs) == []
    assert survey["spec"], "survey of %s asks nothing" % template


# --- the checker catches drift ------------------------------------------------------------------------------

SPECS = {
    "x_mode": ("role x", {"type": "str", "choices": ["a", "b"], "default": "a"}),
    "x_flag": ("role x", {"type": "bool", "default": False}),
    "x_count": ("role x", {"type": "int", "default": 5}),
    "x_name": ("role x", {"type": "str", "default": ""}),
    "x_items": ("role x", {"type": "list", "elements": "dict", "required": True}),
    "x_tags": ("role x", {"type": "list", "elements": "str", "choices": ["p", "q"], "default": []}),
}


def _survey(*questions):
    return {"name": "t", "description": "", "spec": list(questions)}


def _q(variable, kind, **extra):
    question = {"question_name": variable, "variable": variable, "type": kind, "required": True}
    question.update(extra)
    return question


def test_checker_accepts_a_good_survey():
    survey = _survey(
        _q("x_mode", "multiplechoice", choices="a\nb", default="a"),
        _q("x_flag", "multiplechoice", choices="false\ntrue", default="false"),
        _q("x_count", "integer", min=1, max=10, default=5),
        _q("x_name", "text", required=False, default=""),
        _q("x_tags", "multiselect", choices="p\nq", required=False, default=""),
    )
    assert survey_errors(survey, SPECS) == []


@pytest.mark.parametrize("question, message", [
    (_q("x_mdoe", "multiplechoice", choices="a\nb", default="a"), "no role argument spec of this playbook has the option x_mdoe"),
    (_q("x_mode", "multiplechoice", choices=["a", "b"], default="a"), "choices must be one newline-separated string"),
    (_q("x_mode", "multiplechoice", choices="a\nb\nc", default="a"), "differ from role x's"),
    (_q("x_mode", "text", default="a"), "has choices; ask it as multiplechoice"),
    (_q("x_mode", "multiplechoice", choices="a\nb", default="b"), "differs from role x's default 'a'"),
    (_q("x_flag", "multiplechoice", choices="yes\nno", default="no"), "differ from role x's"),
    (_q("x_count", "integer", required=False, min=1, max=10), "numbers must be required"),
    (_q("x_count", "integer", min=1, max=4, default=5), "outside min/max"),
    (_q("x_count", "text", default="5"), "cannot carry int option"),
    (_q("x_items", "textarea", default=""), "cannot carry list option"),
    (_q("x_items", "text", required=False, default=""), "required by role x but optional"),
    (_q("x_name", "text", default="x"), "required in the survey, but role x's default is empty"),
    (_q("x_tags", "multiselect", choices="p\nq", required=False, default="r"), "not among the choices"),
    (_q("x_name", "password", required=False), "an optional question needs the role's default"),
    (_q("x_name", "checkbox", default=""), "is not an AWX survey type"),
    (_q("x_tags", "text", required=False, default=""), "a blank answer would make the list"),
    (_q("x_count", "text", required=False, default="5"), "cannot carry int option"),
])
def test_checker_reports_drift(question, message):
    errors = survey_errors(_survey(question), SPECS)
    assert any(message in error for error in errors), errors


def test_checker_reports_a_variable_asked_twice():
    question = _q("x_name", "text", required=False, default="")
    errors = survey_errors(_survey(question, dict(question)), SPECS)
    assert any("asked twice" in e for e in errors), errors
