"""Survey questions from a runbook's parameters, by AWX's survey rules.

A parameter is declared once, in its role's ``meta/argument_specs.yml``; this module turns it into
the AWX survey question that gives the playbook the same value with the same type. AWX's rules
(its survey spec validation on save and the per-question checks on launch):

- question types: text, textarea, password (str values), integer (int), float (int or float),
  multiplechoice (one of ``choices``, a str), multiselect (a list of ``choices``);
- a default must have the question type's Python type; a multiselect default is the chosen
  values one a line; a multiplechoice default is one of the choices;
- ``min``/``max`` are integers: a length for text questions, a bound for numbers.

A parameter whose type no question gives losslessly (bool, dict, raw, a list of numbers, an
optional free list) is left out of the survey and listed with the reason: it is given as an
extra var (``ask_variables_on_launch``) or in the job template's own extra vars. A required free
list (``elements: str`` without choices) becomes a textarea, one value a line, and its role reads
the lines with the ``irdrive.ops.lines`` filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from irdrive.catalog import Parameter, Runbook

CONFIRM_VARIABLE = "irdrive_confirm"  # checked by each destructive playbook when it is defined
QUESTION_NAME_MAX = 80
NUMBER_TYPES = {"int": "integer", "float": "float"}


@dataclass(frozen=True)
class Skipped:
    """A parameter the survey does not ask for, and why."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"variable": self.name, "reason": self.reason}


def question_name(param: Parameter) -> str:
    """The question's label: the description's first sentence, short, else the name."""
    text = param.description.split(". ")[0].rstrip(".").strip() or param.name
    if len(text) > QUESTION_NAME_MAX:
        text = text[: QUESTION_NAME_MAX - 3].rstrip() + "..."
    return text


def _base(param: Parameter, qtype: str) -> dict[str, Any]:
    description = param.description or param.name
    return {
        "question_name": question_name(param),
        "question_description": f"{description} (variable {param.name})",
        "variable": param.name,
        "type": qtype,
        "required": param.required,
    }


def question(param: Parameter) -> dict[str, Any] | Skipped:
    """The survey question for ``param``, or why it has none."""
    elements = param.elements or "str"
    if param.no_log:
        if param.type != "str":
            return Skipped(param.name, f"a secret of type {param.type}: no survey type carries it")
        # The value is a secret: a password question, and no default shown in the survey.
        return _base(param, "password")
    if param.type == "str" and param.choices:
        item = _base(param, "multiplechoice")
        item["choices"] = [str(c) for c in param.choices]
        if param.default is not None and str(param.default) in item["choices"]:
            item["default"] = str(param.default)
        return item
    if param.type == "str":
        item = _base(param, "text")
        if param.required:
            item["min"] = 1  # an empty answer is no answer
        if isinstance(param.default, str):
            item["default"] = param.default
        return item
    if param.type in NUMBER_TYPES and not param.choices:
        item = _base(param, NUMBER_TYPES[param.type])
        if isinstance(param.default, (int, float)) and not isinstance(param.default, bool):
            if param.type == "int" and not isinstance(param.default, int):
                return Skipped(param.name, "an int whose default is not an integer")
            item["default"] = param.default
        return item
    if param.type == "list" and elements == "str" and param.choices:
        item = _base(param, "multiselect")
        item["choices"] = [str(c) for c in param.choices]
        if isinstance(param.default, list) and param.default:
            item["default"] = "\n".join(str(d) for d in param.default)
        return item
    if param.type == "list" and elements == "str" and param.required:
        item = _base(param, "textarea")
        item["question_description"] += "; one a line"
        item["min"] = 1
        return item
    if param.type == "bool":
        reason = "a bool: survey answers are text, and the roles test it as a boolean"
    elif param.type == "list":
        reason = f"an optional list of {elements}: no survey type gives a list of it"
    else:
        reason = f"a {param.type}: no survey type gives one"
    return Skipped(param.name, reason)


def confirmation(runbook: Runbook) -> dict[str, Any]:
    """The required question a destructive runbook asks: its name, typed.

    AWX checks the length; the playbook's first play checks the value (a pre_task that asserts
    ``irdrive_confirm`` is the runbook's name when it is defined).
    """
    return {
        "question_name": f"Type {runbook.name} to run it",
        "question_description": (
            f"{runbook.name} is destructive: type its name to confirm (variable {CONFIRM_VARIABLE})"
        ),
        "variable": CONFIRM_VARIABLE,
        "type": "text",
        "required": True,
        "min": len(runbook.name),
        "max": len(runbook.name),
    }


def survey(runbook: Runbook) -> tuple[dict[str, Any], list[Skipped]]:
    """The survey spec of ``runbook`` and the parameters it leaves to extra vars."""
    questions: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    if runbook.destructive:
        questions.append(confirmation(runbook))
    # Required parameters first: the questions a responder must answer come at the top.
    params = sorted(runbook.parameters.values(), key=lambda p: not p.required)
    for param in params:
        found = question(param)
        if isinstance(found, Skipped):
            skipped.append(found)
        else:
            questions.append(found)
    spec = {
        "name": f"irdrive {runbook.name}",
        "description": runbook.summary or runbook.description,
        "spec": questions,
    }
    return spec, skipped
