"""A runbook's parameters, checked before anything runs, by the role's own rules.

The contract is each role's ``meta/argument_specs.yml`` (entry point ``main``), and the check
is Ansible's ``ArgumentSpecValidator``: the implementation ``validate_argument_spec`` runs in
the role, so a value passes here exactly when it passes there. What this module adds is what a
person at a terminal needs:

- ``-e key=value`` strings: a list may be written ``a,b``, one a line, or as JSON; everything else (int,
  bool, float, a dict as JSON or ``k=v,k2=v2``) is converted by the validator itself;
- short names: a parameter may be named without its role prefix (``reason`` for
  ``processor_failover_reason``);
- one readable line per problem, naming the parameter, with "did you mean" for unknown names;
- no secret in any message: values of no_log options are never shown, and the validator's own
  messages (which may quote a value) are scrubbed of them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from irdrive.errors import ParameterError
from irdrive.redact import REDACTED, Redactor, secret_values

if TYPE_CHECKING:
    from irdrive.catalog import Runbook

SHOWN_LIMIT = 80


def parse_extra_vars(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` strings (values stay strings) and ``@file`` (a YAML/JSON mapping)."""
    from irdrive.catalog import load_yaml

    values: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            path = Path(item[1:]).expanduser()
            try:
                data = load_yaml(path)
            except (OSError, yaml.YAMLError) as exc:
                problem = " ".join(str(exc).split())  # a YAML error spans lines: one line
                raise ParameterError(f"cannot read extra vars file {path}: {problem}") from exc
            if not isinstance(data, dict):
                raise ParameterError(f"extra vars file {path} must hold a mapping")
            values.update({str(k): v for k, v in data.items()})
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"-e expects key=value or @file, got {item.split('=')[0]!r}")
        values[key] = value
    return values


def inline_secrets(runbook: Runbook, items: list[str] | tuple[str, ...]) -> list[str]:
    """The secret parameters given as ``-e key=value``: their values sit in the shell's history
    and in ``/proc/<pid>/cmdline`` for the whole run, so the responder is told to use @FILE."""
    aliases = {p.alias: p.name for p in runbook.parameters.values() if p.alias}
    named = {item.partition("=")[0].strip() for item in items if not item.startswith("@")}
    full = {name if name in runbook.parameters else aliases.get(name, name) for name in named}
    return sorted(full & runbook.secrets)


def resolve_aliases(runbook: Runbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` with short names (role prefix left out) replaced by the parameter names."""
    aliases = {p.alias: p.name for p in runbook.parameters.values() if p.alias}
    resolved: dict[str, Any] = {}
    for key, value in given.items():
        name = key if key in runbook.parameters else aliases.get(key, key)
        if name in resolved:
            raise ParameterError(f"parameter {name} is given twice (as {key} and by full name)")
        resolved[name] = value
    return resolved


def validate(runbook: Runbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``given`` against the runbook's argument specs; return the given values, converted
    to their declared types. Raises ParameterError (exit 2) with one line naming the problem.
    """
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    values = resolve_aliases(runbook, given)
    spec = _spec_for_given(runbook)
    for name, value in values.items():
        if name in spec:
            values[name] = _from_text(name, spec[name], value)
    result = ArgumentSpecValidator(spec).validate(values)
    if result.error_messages:
        raise ParameterError(_problem(runbook, spec, values, result))
    checked = result.validated_parameters
    return {name: checked[name] for name in values}


def _spec_for_given(runbook: Runbook) -> dict[str, dict[str, Any]]:
    """The runbook's options without their defaults: only values given here are checked (the
    role applies its defaults, which may be templates, itself)."""
    return {
        name: {k: v for k, v in param.spec.items() if k != "default"}
        for name, param in runbook.parameters.items()
    }


def _from_text(name: str, option: Mapping[str, Any], value: Any) -> Any:
    """A list or mapping given as text. A list: ``a, b`` (items stripped), or a YAML flow
    sequence (JSON is one): ``[a, b]``; "" is empty. A mapping (type dict or raw): a YAML flow
    mapping, ``{backend: 5}`` as well as JSON; other text (``k=v,k2=v2``) is left to the
    validator."""
    kind = option.get("type")
    if kind not in ("list", "dict", "raw") or not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "list" and not text.startswith("["):
        # Commas or lines (an AWX textarea's, an alert annotation's): what irdrive.ops.lines reads.
        return [item.strip() for item in re.split(r"[\r\n]+|,", text)] if text else []
    if kind != "list" and not text.startswith("{"):
        return value
    want, what = (list, "list") if kind == "list" else (dict, "mapping")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, want):
        shown = _shown(option, value)
        raise ParameterError(
            f"parameter {name} must be of type {kind}, got {shown}: not a YAML/JSON {what}"
        )
    return parsed


def _problem(
    runbook: Runbook, spec: dict[str, dict[str, Any]], values: dict[str, Any], result: Any
) -> str:
    """The first problem of a failed validation, as one line without secrets."""
    from ansible.module_utils.errors import RequiredError

    unknown = sorted(n for n in result.unsupported_parameters if isinstance(n, str))
    if unknown:
        return _unknown(runbook, unknown[0])
    errors = result.errors.errors  # the AnsibleValidationError instances, in order
    missing = [n for n, o in spec.items() if o.get("required") and n not in values]
    if missing and any(isinstance(e, RequiredError) for e in errors):
        param = runbook.parameters[missing[0]]
        return f"runbook {runbook.name} needs parameter {param.name} (-e {param.alias or param.name}=...)"
    redactor = Redactor(_secrets(spec, values))
    for name, value in values.items():
        message = _parameter_problem(name, spec[name], value)
        if message:
            return redactor.text(message)
    # A rule across parameters (mutually_exclusive, required_if, ...): Ansible's words.
    return redactor.text(" ".join(str(errors[0].msg).split()))


def _parameter_problem(name: str, option: dict[str, Any], value: Any) -> str | None:
    """What is wrong with one parameter's value, checked alone, or None."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.errors import ArgumentTypeError, ArgumentValueError, ElementError

    errors = ArgumentSpecValidator({name: option}).validate({name: value}).errors.errors
    if not errors:
        return None
    first = errors[0]
    shown = _shown(option, value)
    if "options" not in option:  # a suboption's problem is told in Ansible's words, below
        kind = option.get("type", "str")
        if isinstance(first, ElementError):
            return f"parameter {name} must be a list of {option.get('elements')}, got {shown}"
        if isinstance(first, ArgumentTypeError):
            return f"parameter {name} must be of type {kind}, got {shown}"
        if isinstance(first, ArgumentValueError) and option.get("choices"):
            choices = ", ".join(str(c) for c in option["choices"])
            which = "one or more of" if kind == "list" else "one of"
            return f"parameter {name} must be {which} {choices}, got {shown}"
    if option.get("no_log"):  # Ansible's words may quote the value: not for a secret
        return f"parameter {name} is not a valid {option.get('type', 'str')} (value not shown)"
    return f"parameter {name}: {' '.join(str(first.msg).split())}"


def _unknown(runbook: Runbook, name: str) -> str:
    names = [p.alias or p.name for p in runbook.parameters.values()]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    known = ", ".join(names) or "none"
    return f"unknown parameter {name!r} for runbook {runbook.name}{hint} (parameters: {known})"


def _shown(option: Mapping[str, Any], value: Any) -> str:
    if option.get("no_log"):
        return REDACTED
    text = repr(value)
    return text if len(text) <= SHOWN_LIMIT else text[: SHOWN_LIMIT - 1] + "…"


def secrets(runbook: Runbook, values: Mapping[str, Any]) -> list[Any]:
    """The secret values among ``values``: those of no_log options and suboptions."""
    return _secrets({n: p.spec for n, p in runbook.parameters.items()}, values)


def _secrets(spec: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]) -> list[Any]:
    """Every value given for a no_log option, suboptions included."""
    found: list[Any] = []
    for name, option in spec.items():
        if name not in values:
            continue
        value = values[name]
        if option.get("no_log"):
            found.extend(secret_values(value))
        elif isinstance(option.get("options"), dict):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    found.extend(_secrets(option["options"], item))
    return found
