"""AWX's survey rules, as AWX applies them, for checking the surveys irdrive generates.

Two places in AWX 24.6 decide whether a survey is valid:
- saving a survey spec (awx/api/views JobTemplateSurveySpec._validate_spec_data): the spec's
  name/description/spec fields, each question's type/question_name/variable/required, unique
  variables, the question type, the default's type (SURVEY_TYPE_MAPPING), integer min/max,
  choices on multiplechoice/multiselect, one default for multiplechoice, defaults among the
  choices, no "$encrypted$" defaults on a new spec;
- launching (awx/main/models/mixins.py SurveyJobTemplateMixin._survey_element_validation): a
  value's type per question type, text lengths and number bounds, answers among the choices.
Written from reading those functions; the error texts follow AWX's.
"""

from __future__ import annotations

from typing import Any

SURVEY_TYPE_MAPPING: dict[str, Any] = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": (float, int),
}


def _choices(item: dict[str, Any]) -> list[str]:
    choices = item["choices"]
    if isinstance(choices, str):
        return [c for c in choices.splitlines() if c.strip() != ""]
    return list(choices)


def spec_errors(spec: Any) -> list[str]:
    """What AWX answers 400 with when this survey spec is saved ([] when it is accepted)."""
    errors = []
    for field, kind, label in (
        ("name", str, "string"),
        ("description", str, "string"),
        ("spec", list, "list of items"),
    ):
        if not isinstance(spec, dict) or field not in spec:
            return [f"Field '{field}' is missing from survey spec."]
        if not isinstance(spec[field], kind):
            return [f"Expected {label} for field '{field}'."]
    if len(spec["spec"]) < 1:
        return ["'spec' doesn't contain any items."]
    seen: set[str] = set()
    for idx, item in enumerate(spec["spec"]):
        if not isinstance(item, dict):
            errors.append(f"Survey question {idx} is not a json object.")
            continue
        missing = [f for f in ("type", "question_name", "variable", "required") if f not in item]
        if missing:
            errors.append(f"'{missing[0]}' missing from survey question {idx}")
            continue
        for field in ("type", "question_name", "variable"):
            if not isinstance(item[field], str):
                errors.append(f"'{field}' in survey question {idx} expected to be string.")
        if not isinstance(item["required"], bool):
            errors.append(f"'required' in survey question {idx} expected to be boolean.")
        if item["variable"] in seen:
            errors.append(f"'variable' '{item['variable']}' duplicated in survey question {idx}.")
        seen.add(item["variable"])
        qtype = item["type"]
        if qtype not in SURVEY_TYPE_MAPPING:
            errors.append(f"'{qtype}' in survey question {idx} is not an allowed question type.")
            continue
        default = item.get("default", "")
        if (
            "default" in item
            and default != ""
            and not isinstance(default, SURVEY_TYPE_MAPPING[qtype])
        ):
            errors.append(f"Default value {default} in survey question {idx} has the wrong type.")
        for key in ("min", "max"):
            if item.get(key) is not None and not isinstance(item[key], int):
                errors.append(f"The {key} limit in survey question {idx} expected to be integer.")
        if qtype in ("multiselect", "multiplechoice"):
            if "choices" not in item:
                errors.append(f"Survey question {idx} of type {qtype} must specify choices.")
                continue
            if "default" in item:
                defaults = default.splitlines() if isinstance(default, str) else default
                defaults = [d for d in defaults if str(d).strip() != ""]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append(
                        "Multiple Choice (Single Select) can only have one default value."
                    )
                if any(d not in _choices(item) for d in defaults):
                    errors.append("Default choice must be answered from the choices listed.")
        if isinstance(default, str) and default.startswith("$encrypted$"):
            errors.append(f"$encrypted$ is a reserved keyword (survey question {idx}).")
    return errors


def answer_errors(item: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """What AWX says about the answers ``data`` to one question at launch ([] when accepted)."""
    var, qtype = item["variable"], item["type"]
    if var not in data:
        return [f"'{var}' value missing"] if item["required"] else []
    value = data[var]
    low, high = item.get("min"), item.get("max")
    low = None if low in ("", None) else low
    high = None if high in ("", None) else high
    if qtype in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"Value {value} for '{var}' expected to be a string."]
        errors = []
        if low is not None and len(value) < int(low):
            errors.append(f"'{var}' value {value} is too small (length is {len(value)}).")
        if high is not None and len(value) > int(high):
            errors.append(f"'{var}' value {value} is too large (must be no more than {high}).")
        return errors
    if qtype in ("integer", "float"):
        kinds = (int,) if qtype == "integer" else (float, int)
        if type(value) not in kinds:
            return [f"Value {value} for '{var}' expected to be a {qtype}."]
        errors = []
        if low is not None and value < low:
            errors.append(f"'{var}' value {value} is too small (must be at least {low}).")
        if high is not None and value > high:
            errors.append(f"'{var}' value {value} is too large (must be no more than {high}).")
        return errors
    if qtype == "multiselect":
        if type(value) is not list:
            return [f"'{var}' value is expected to be a list."]
        return [
            f"Value {v} for '{var}' expected to be one of {_choices(item)}."
            for v in value
            if v not in _choices(item)
        ]
    if qtype == "multiplechoice" and value not in _choices(item):
        return [f"Value {value} for '{var}' expected to be one of {_choices(item)}."]
    return []


def default_answer(item: dict[str, Any]) -> dict[str, Any]:
    """The answer AWX uses when the question is left at its default (multiselect: a list)."""
    if "default" not in item:
        return {}
    default = item["default"]
    if item["type"] == "multiselect" and isinstance(default, str):
        default = [d for d in default.splitlines() if d.strip()]
    return {item["variable"]: default}


def node_job_extra_vars(
    jt: dict[str, Any],
    workflow_vars: dict[str, Any],
    artifacts: dict[str, Any] | None = None,
    node_extra_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The extra vars of the job a workflow's job template node starts (AWX 24.6).

    awx/main/models/workflow.py WorkflowJobNode.get_job_kwargs: the node's own extra_data passes
    the template's prompt rules (all of it with ``ask_variables_on_launch``, else only survey
    variables); the ancestors' artifacts (set_stats, carried through approval nodes) come next;
    the workflow job's extra vars (its own extra_vars and survey answers) last, whatever the
    template's ``ask_variables_on_launch`` ("special historical case"). Then
    SurveyJobTemplateMixin._update_unified_job_kwargs: the template's extra_vars, its valid
    survey defaults, then those runtime vars. Missing required answers are only logged for a
    node, never stop it.
    """
    survey_vars = {q["variable"] for q in jt.get("survey_spec", {}).get("spec", [])}
    runtime = {
        k: v
        for k, v in (node_extra_data or {}).items()
        if jt["ask_variables_on_launch"] or (jt.get("survey_enabled") and k in survey_vars)
    }
    runtime.update(artifacts or {})
    runtime.update(workflow_vars)
    found = dict(jt.get("extra_vars") or {})
    if jt.get("survey_enabled"):
        for item in jt.get("survey_spec", {}).get("spec", []):
            # The raw default, checked as an answer (so a multiselect's text default is dropped).
            default = {item["variable"]: item.get("default")}
            if default[item["variable"]] is not None and not answer_errors(item, default):
                found.update(default)
    found.update(runtime)
    return found
