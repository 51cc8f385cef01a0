"""Parameters: -e strings and typed values checked by Ansible's ArgumentSpecValidator against the
roles' argument specs, with one readable line per problem and no secret in any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from irdrive.catalog import Catalog, Parameter, Runbook
from irdrive.errors import EXIT_USAGE, ParameterError
from irdrive.params import inline_secrets, parse_extra_vars, secrets, validate
from irdrive.paths import find_project

CANARY = "CANARY-S3CRET-91f2"


@pytest.fixture
def demo(project_dir: Path) -> Runbook:
    return Catalog(find_project()).get("demo-failover")


def runbook_with(**specs: dict[str, Any]) -> Runbook:
    """A runbook whose parameters are the given options of a role ``r``."""
    rb = Runbook(name="rb", path=Path("rb.yml"))
    rb.parameters = {n: Parameter.from_spec(n, s, "r") for n, s in specs.items()}
    return rb


def test_strings_convert_to_the_declared_types(demo: Runbook) -> None:
    given = parse_extra_vars(
        ["reason=INC-7", "replicas=3", "force=yes", "regions=eu-west-1, us-east-1"]
    )
    assert validate(demo, given) == {
        "reason": "INC-7",
        "replicas": 3,
        "force": True,
        "regions": ["eu-west-1", "us-east-1"],
    }


def test_only_given_values_are_returned_the_role_applies_its_defaults(demo: Runbook) -> None:
    # Extra vars win over everything in Ansible: a default passed on would override the play.
    assert validate(demo, {"reason": "x"}) == {"reason": "x"}


def test_typed_values_from_the_short_forms_pass_unchanged(demo: Runbook) -> None:
    given = {"reason": "x", "replicas": 4, "regions": ["a", "b"], "force": False}
    assert validate(demo, given) == given


@pytest.mark.parametrize(
    ("option", "raw", "expected"),
    [
        ({"type": "int"}, "42", 42),
        ({"type": "int"}, 7.0, 7),
        ({"type": "float"}, "1.5", 1.5),
        ({"type": "bool"}, "off", False),
        ({"type": "bool"}, "1", True),
        ({"type": "list"}, '["a", "b"]', ["a", "b"]),
        ({"type": "list"}, "a, b", ["a", "b"]),
        ({"type": "list"}, "", []),
        ({"type": "list", "elements": "int"}, "1,2", [1, 2]),
        ({"type": "dict"}, '{"a": 1}', {"a": 1}),
        ({"type": "dict"}, "a=1,b=2", {"a": "1", "b": "2"}),
        ({"type": "dict"}, "a=1, b=2", {"a": "1", "b": "2"}),
        ({"type": "str"}, 5, "5"),
        ({"type": "raw"}, "backend=5", "backend=5"),
        ({"type": "path"}, "~/x", str(Path("~/x").expanduser())),
    ],
)
def test_conversion_is_ansibles(option: dict[str, Any], raw: object, expected: object) -> None:
    assert validate(runbook_with(p=option), {"p": raw}) == {"p": expected}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reason=x", "replica=3"], r"unknown parameter 'replica'.*did you mean replicas\?"),
        (
            ["service=payments"],
            r"^runbook demo-failover needs parameter reason \(-e reason=\.\.\.\)$",
        ),
        (["reason=x", "replicas=two"], r"^parameter replicas must be of type int, got 'two'$"),
        (["reason=x", "force=maybe"], r"^parameter force must be of type bool, got 'maybe'$"),
        (
            ["reason=x", "service=video"],
            r"^parameter service must be one of payments, streaming, got 'video'$",
        ),
        (["reason=x", "regions=[1"], r"^parameter regions must be of type list, got '\[1'"),
    ],
)
def test_bad_values_are_one_line_usage_errors(demo: Runbook, args: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message) as err:
        validate(demo, parse_extra_vars(args))
    assert err.value.exit_code == EXIT_USAGE
    assert "\n" not in str(err.value)


def test_a_bad_element_and_a_bad_suboption_name_their_parameter() -> None:
    rb = runbook_with(
        ports={"type": "list", "elements": "int"},
        hpa={"type": "dict", "options": {"max": {"type": "int", "required": True}}},
    )
    with pytest.raises(ParameterError, match=r"^parameter ports must be a list of int, got"):
        validate(rb, {"ports": "1,x"})
    with pytest.raises(ParameterError, match=r"^parameter hpa: .*'max'") as err:
        validate(rb, {"hpa": "max=many"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ({"type": "int", "no_log": True}, CANARY),
        ({"type": "str", "no_log": True, "choices": ["a"]}, CANARY),
        ({"type": "list", "elements": "int", "no_log": True}, f"1,{CANARY}"),
        ({"type": "dict", "no_log": True}, CANARY),
    ],
)
def test_a_bad_secret_is_never_echoed(option: dict[str, Any], value: str) -> None:
    with pytest.raises(ParameterError) as err:
        validate(runbook_with(token=option), {"token": value})
    assert CANARY not in str(err.value)
    assert "token" in str(err.value)


def test_a_secret_suboption_is_scrubbed_from_ansibles_message() -> None:
    # The validator quotes a bad choice; the choice here is the secret itself.
    rb = runbook_with(
        auth={
            "type": "dict",
            "options": {"key": {"type": "str", "no_log": True, "choices": ["k1"]}},
        }
    )
    with pytest.raises(ParameterError, match="parameter auth") as err:
        validate(rb, {"auth": {"key": CANARY}})
    assert CANARY not in str(err.value)
    assert "********" in str(err.value)


def test_secrets_are_the_values_of_no_log_options(demo: Runbook) -> None:
    rb = runbook_with(
        token={"type": "str", "no_log": True},
        auth={"type": "dict", "options": {"key": {"type": "str", "no_log": True}}},
        name={"type": "str"},
    )
    values = {"token": "t0k", "auth": {"key": "k3y"}, "name": "public"}
    assert set(map(str, secrets(rb, values))) == {"t0k", "k3y"}


def test_parameters_may_be_named_without_their_role_prefix(demo: Runbook) -> None:
    assert demo.parameters["demo_failover_window"].alias == "window"
    assert demo.parameters["reason"].alias is None
    assert validate(demo, {"reason": "x", "window": "7"}) == {
        "reason": "x",
        "demo_failover_window": 7,
    }
    with pytest.raises(ParameterError, match="given twice"):
        validate(demo, {"reason": "x", "window": "7", "demo_failover_window": "8"})
    with pytest.raises(ParameterError, match=r"did you mean window\?"):
        validate(demo, {"reason": "x", "windw": "7"})


def test_a_templated_default_is_the_roles_business() -> None:
    # Role specs default to templates ("{{ irdrive_k8s_namespace | default('platform') }}");
    # the driver checks only what was given, so such a default is never type-checked here.
    rb = runbook_with(timeout={"type": "int", "default": "{{ irdrive_timeout }}"})
    assert validate(rb, {}) == {}


def test_extra_vars_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "vars.yml"
    path.write_text("api_token: t0k\nreplicas: 4\n")
    assert parse_extra_vars([f"@{path}", "reason=x"]) == {
        "api_token": "t0k",
        "replicas": 4,
        "reason": "x",
    }
    with pytest.raises(ParameterError, match="cannot read"):
        parse_extra_vars([f"@{tmp_path / 'missing.yml'}"])


def test_extra_var_without_equals_is_rejected() -> None:
    with pytest.raises(ParameterError, match="key=value"):
        parse_extra_vars(["reason"])


def test_secrets_given_on_the_command_line_are_named(demo: Runbook) -> None:
    items = ["reason=x", f"api_token={CANARY}", "window=3"]
    assert inline_secrets(demo, items) == ["api_token"]
    assert inline_secrets(demo, ["reason=x", "@secrets.yml"]) == []
    assert inline_secrets(demo, []) == []
