"""The runbook catalog: discovery, parameter specs and validation of -e values."""

from __future__ import annotations

from pathlib import Path

import pytest

from irdrive.catalog import Catalog, coerce, parse_extra_vars, validate
from irdrive.errors import EXIT_USAGE, ParameterError, UnknownRunbookError, UsageError
from irdrive.paths import Project, ProjectNotFound, find_project


@pytest.fixture
def catalog(project_dir: Path) -> Catalog:
    return Catalog(find_project())


def test_find_project_honours_irdrive_home(project_dir: Path) -> None:
    assert find_project().root == project_dir


def test_irdrive_home_without_playbooks_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_HOME", str(tmp_path))
    with pytest.raises(ProjectNotFound) as err:
        find_project()
    assert err.value.exit_code == EXIT_USAGE


def test_runbooks_are_the_playbooks(catalog: Catalog) -> None:
    assert catalog.names() == ["demo-failover", "health-check"]


def test_parameters_come_from_the_role_argument_spec(catalog: Catalog) -> None:
    rb = catalog.get("demo-failover")
    assert rb.roles == ["demo_failover"]
    assert rb.description == "Fail the demo service over to its backup."
    assert rb.changes == ["demo switch", "demo config"]
    assert rb.mutating
    assert list(rb.parameters) == [
        "reason",
        "service",
        "replicas",
        "force",
        "regions",
        "fail_now",
        "api_token",
        "demo_failover_window",
    ]
    reason = rb.parameters["reason"]
    assert reason.required and reason.type == "str"
    assert rb.parameters["service"].choices == ("payments", "streaming")
    assert rb.parameters["replicas"].default == 2
    assert rb.secrets == {"api_token"}


def test_import_role_in_tasks_and_read_only(catalog: Catalog) -> None:
    rb = catalog.get("health-check")
    assert rb.roles == ["health_probe"]
    assert rb.parameters == {}
    assert rb.read_only and not rb.mutating
    assert rb.description == "Health check"  # falls back to the play name


def test_role_vars_bound_by_the_playbook_are_not_parameters(project_dir: Path) -> None:
    (project_dir / "playbooks" / "bound.yml").write_text(
        "- hosts: all\n  roles:\n    - role: demo_failover\n      reason: fixed\n"
    )
    rb = Catalog(Project(project_dir)).get("bound")
    assert "reason" not in rb.parameters
    assert "service" in rb.parameters


def test_unknown_runbook_suggests_close_matches(catalog: Catalog) -> None:
    with pytest.raises(UnknownRunbookError, match="did you mean demo-failover"):
        catalog.get("demo-failvoer")
    with pytest.raises(UnknownRunbookError, match="known: demo-failover, health-check"):
        catalog.get("zzz")
    with pytest.raises(UnknownRunbookError):
        catalog.get("../playbooks/demo-failover")


def test_unreadable_runbook_is_listed_with_its_error(project_dir: Path) -> None:
    (project_dir / "playbooks" / "broken.yml").write_text("- hosts: all\n  roles: [no_such_role]\n")
    catalog = Catalog(Project(project_dir))
    listed = {rb.name: rb for rb in catalog.runbooks()}
    assert "no_such_role" in (listed["broken"].error or "")
    with pytest.raises(UsageError, match="cannot be read"):
        catalog.get("broken")


def test_validate_converts_strings_to_declared_types(catalog: Catalog) -> None:
    rb = catalog.get("demo-failover")
    values = validate(
        rb,
        parse_extra_vars(
            ["reason=INC-7", "replicas=3", "force=yes", "regions=eu-west-1, us-east-1"]
        ),
    )
    assert values == {
        "reason": "INC-7",
        "replicas": 3,
        "force": True,
        "regions": ["eu-west-1", "us-east-1"],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reason=x", "replica=3"], "unknown parameter 'replica'.*did you mean replicas"),
        (["service=payments"], "needs parameter reason"),
        (["reason=x", "replicas=two"], "replicas must be of type int, got 'two'"),
        (["reason=x", "force=maybe"], "force must be of type bool"),
        (["reason=x", "service=video"], "service must be one of payments, streaming"),
        (["reason=x", "regions=[1"], "regions must be of type list"),
    ],
)
def test_bad_values_are_usage_errors(catalog: Catalog, args: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message) as err:
        validate(catalog.get("demo-failover"), parse_extra_vars(args))
    assert err.value.exit_code == EXIT_USAGE
    assert "\n" not in str(err.value)


def test_an_ill_typed_secret_is_never_echoed(catalog: Catalog) -> None:
    rb = catalog.get("demo-failover")
    with pytest.raises(ParameterError) as err:
        coerce(rb.parameters["api_token"], {"nested": "CANARY-S3CRET"})
    assert "CANARY-S3CRET" not in str(err.value)
    assert "********" in str(err.value)


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


@pytest.mark.parametrize(
    ("type_name", "raw", "expected"),
    [
        ("int", "42", 42),
        ("int", 7.0, 7),
        ("float", "1.5", 1.5),
        ("bool", "off", False),
        ("bool", "1", True),
        ("list", '["a", "b"]', ["a", "b"]),
        ("list", "", []),
        ("dict", '{"a": 1}', {"a": 1}),
        ("dict", "a=1,b=2", {"a": "1", "b": "2"}),
        ("str", 5, "5"),
        ("raw", "x", "x"),
    ],
)
def test_coerce_like_ansible(type_name: str, raw: object, expected: object) -> None:
    from irdrive.catalog import Parameter

    assert coerce(Parameter(name="p", type=type_name), raw) == expected


def test_int_rejects_booleans() -> None:
    from irdrive.catalog import Parameter

    with pytest.raises(ParameterError):
        coerce(Parameter(name="p", type="int"), True)


def test_parameters_may_be_named_without_their_role_prefix(catalog: Catalog) -> None:
    rb = catalog.get("demo-failover")
    assert rb.parameters["demo_failover_window"].alias == "window"
    assert rb.parameters["reason"].alias is None
    assert validate(rb, {"reason": "x", "window": "7"}) == {
        "reason": "x",
        "demo_failover_window": 7,
    }
    with pytest.raises(ParameterError, match="given twice"):
        validate(rb, {"reason": "x", "window": "7", "demo_failover_window": "8"})
    with pytest.raises(ParameterError, match="did you mean window"):
        validate(rb, {"reason": "x", "windw": "7"})
