"""CLI tests: list, show, run's validation and confirmation, the short forms, help and start-up
imports. None of them starts ansible-runner or the lab (see tests/integration/driver)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from irdrive import session
from irdrive.cli import cli

HEAVY = ("ansible", "ansible_runner", "kubernetes", "boto3", "rich")


def invoke(*args: str, input: str | None = None):  # noqa: A002 - click's name
    return CliRunner().invoke(cli, list(args), input=input)


def test_list_is_a_table_of_runbooks(project_dir: Path) -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    [demo] = [line for line in result.output.splitlines() if "demo-failover" in line]
    assert "P1" in demo and "P1 Demo Failure" in demo and "Fail the demo service" in demo
    assert "health-check" in result.output
    assert "reason" not in result.output  # parameters are `irdrive show`'s
    assert "irdrive show NAME" in result.output


def test_list_json(project_dir: Path) -> None:
    result = invoke("list", "--json")
    data = json.loads(result.output)
    assert [rb["name"] for rb in data] == ["demo-failover", "health-check"]
    token = next(p for p in data[0]["parameters"] if p["name"] == "api_token")
    assert token["secret"] is True
    assert (data[0]["severity"], data[0]["procedure"]) == ("P1", "P1 Demo Failure")


def test_show_describes_parameters_secrets_and_changes(project_dir: Path) -> None:
    result = invoke("show", "demo-failover")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "  procedure: P1 Demo Failure (P1)\n" in out
    assert "reason (str; required)" in out
    assert "service (str; default payments; one of payments, streaming)" in out
    assert "api_token (str; default -; secret: never printed or logged)" in out
    assert "What it changes:\n  - demo switch\n  - demo config" in out
    assert "irdrive run demo-failover -e reason=..." in out


def test_show_read_only_runbook(project_dir: Path) -> None:
    assert "What it changes: nothing (read-only)" in invoke("show", "health-check").output


def test_unknown_runbook_is_exit_2_with_one_line(project_dir: Path) -> None:
    for args in (("show", "demo-failovr"), ("run", "demo-failovr", "--yes")):
        result = invoke(*args)
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [
            "Error: unknown runbook 'demo-failovr'; did you mean demo-failover?"
        ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "Error: runbook demo-failover needs parameter reason (-e reason=...)"),
        (["-e", "reason=x", "-e", "nope=1"], "Error: unknown parameter 'nope'"),
        (["-e", "reason=x", "-e", "replicas=many"], "Error: parameter replicas must be of type"),
        (["-e", "reason=x", "-i", "no/such/inventory"], "Error: inventory 'no/such/inventory'"),
    ],
)
def test_bad_input_is_exit_2_and_runs_nothing(
    project_dir: Path, state_dir: Path, extra: list[str], message: str
) -> None:
    result = invoke("run", "demo-failover", "--yes", *extra)
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert not state_dir.exists()  # no run folder: nothing started


def test_declining_the_prompt_runs_nothing(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "stdin_is_interactive", lambda: True)
    result = invoke("run", "demo-failover", "-e", "reason=x", "-i", "local", input="n\n")
    assert "Run demo-failover? It changes demo switch; demo config" in result.output
    assert result.exit_code == 2
    assert "not confirmed" in result.output
    assert not state_dir.exists()


def test_a_secret_typed_on_the_command_line_is_warned_about_never_shown(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "stdin_is_interactive", lambda: True)
    canary = "CANARY-CLI-7d1e"
    args = ["-e", "reason=x", "-e", f"api_token={canary}", "-i", "local"]
    result = invoke("run", "demo-failover", *args, input="n\n")
    assert result.exit_code == 2 and not state_dir.exists()
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning: secret")]
    assert len(warnings) == 1
    assert "api_token" in warnings[0] and "-e @FILE" in warnings[0]
    assert canary not in result.output
    quiet = invoke("run", "demo-failover", "-e", "reason=x", "-i", "local", input="n\n")
    assert "Warning: secret" not in quiet.output


def test_should_confirm_only_for_a_person_and_a_real_change(project_dir: Path) -> None:
    from irdrive.catalog import Catalog
    from irdrive.paths import find_project

    catalog = Catalog(find_project())
    mutating, read_only = catalog.get("demo-failover"), catalog.get("health-check")
    assert session.should_confirm(mutating, check=False, yes=False, interactive=True)
    assert not session.should_confirm(mutating, check=True, yes=False, interactive=True)
    assert not session.should_confirm(mutating, check=False, yes=True, interactive=True)
    assert not session.should_confirm(mutating, check=False, yes=False, interactive=False)
    assert not session.should_confirm(read_only, check=False, yes=False, interactive=True)


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["run"]])
def test_help_has_examples(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output


@pytest.mark.parametrize("command", [[], ["run"], ["list"], ["show"]])
def test_help_imports_no_heavy_module(command: list[str]) -> None:
    code = (
        "import sys\n"
        "from irdrive.cli import main\n"
        "try:\n"
        f"    main({command + ['--help']!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_target_is_named_before_anything_runs(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from irdrive.paths import find_project

    for name in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):  # else the banner names that cluster too
        monkeypatch.delenv(name, raising=False)
    project = find_project()
    lab = session.choose_target(project, ())
    assert (lab.kind, lab.lab_dir) == ("lab", project_dir.parent / "lab")
    assert lab.inventories == ((project_dir / "inventories" / "lab").resolve(),)
    given = session.choose_target(project, ("local", str(project_dir / "inventories" / "lab")))
    assert given.kind == "inventory" and given.lab_dir is None
    assert [p.name for p in given.inventories] == ["local", "lab"]
    assert given.detail == ", ".join(str(p) for p in given.inventories)


@pytest.mark.parametrize(
    ("args", "runbook", "given", "check"),
    [
        (
            ["kill-switch", "disable", "payments,search", "video", "-r", "INC-9"],
            "kill-switch",
            {
                "kill_switch_names": ["payments", "search", "video"],
                "kill_switch_state": "disabled",
                "kill_switch_reason": "INC-9",
            },
            False,
        ),
        (
            ["kill-switch", "status", "all"],
            "kill-switch",
            {"kill_switch_names": ["all"], "kill_switch_state": "query"},
            True,
        ),
        (
            ["rollback", "backend", "--to-revision", "3", "--dry-run"],
            "rollback",
            {"rollback_deployments": ["backend"], "rollback_to_revision": 3},
            True,
        ),
        (["rollback", "full"], "rollback", {"rollback_deployments": ["full"]}, False),
    ],
)
def test_short_forms_pass_typed_values(
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    runbook: str,
    given: dict[str, object],
    check: bool,
) -> None:
    calls: list[tuple[str, object, bool]] = []

    def fake_execute(name: str, values: object, check: bool = False, **_: object) -> None:
        calls.append((name, values, check))

    module = "kill_switch" if args[0] == "kill-switch" else "rollback"
    monkeypatch.setattr(f"irdrive.commands.{module}.execute", fake_execute)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert calls == [(runbook, given, check)]


def test_list_shows_the_last_passing_drill_and_stale_or_never(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from irdrive import freshness
    from irdrive.history import DrillRecord, open_store
    from irdrive.paths import find_project

    digest = freshness.files_digest(find_project(), "demo-failover")
    drill = DrillRecord(
        runbook="demo-failover",
        scenario="demo-failover",
        variant="",
        started_at=datetime.now(UTC) - timedelta(days=3, hours=1),
        passed=True,
        failed_check=None,
        outcome="recovered",
        detect_s=2.5,
        recover_s=12.0,
        severity="P1",
        respond_target_s=1800,
        resolve_target_s=14400,
        breached=False,
        commit=None,
        files_digest=digest,
    )
    with open_store() as store:  # the default: SQLite in the state folder
        store.record_drill(drill)
    assert (state_dir / "history.db").is_file()
    [demo] = [line for line in invoke("list").output.splitlines() if "demo-failover" in line]
    assert "3d ago" in demo and "stale" not in demo
    [probe] = [line for line in invoke("list").output.splitlines() if "health-check" in line]
    assert "never" in probe
    data = {rb["name"]: rb["drill"] for rb in json.loads(invoke("list", "--json").output)}
    assert data["health-check"] == {"status": "never", "reasons": [], "last_passing": None}
    assert data["demo-failover"]["status"] == "fresh"
    assert data["demo-failover"]["last_passing"]["files_digest"] == digest
    # A role file of the runbook changes: stale, and `run` says so before it asks.
    tasks = project_dir / "roles" / "demo_failover" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text() + "\n# changed after the drill\n")
    [demo] = [line for line in invoke("list").output.splitlines() if "demo-failover" in line]
    assert "3d ago, stale" in demo
    stale = json.loads(invoke("list", "--json").output)[0]["drill"]
    assert stale["reasons"] == ["its files changed since the drill"]
    monkeypatch.setattr(session, "stdin_is_interactive", lambda: True)
    result = invoke("run", "demo-failover", "-e", "reason=x", "-i", "local", input="n\n")
    [line] = [x for x in result.output.splitlines() if "drill" in x]
    assert line.startswith("Warning: runbook demo-failover is stale: last passing drill 3d ago")
    assert result.output.index(line) < result.output.index("Run demo-failover?")
    assert result.exit_code == 2  # declined: the warning did not stop or change anything


def test_run_warns_about_a_never_drilled_incident_runbook_and_a_broken_store(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "stdin_is_interactive", lambda: True)
    result = invoke("run", "demo-failover", "-e", "reason=x", "-i", "local", input="n\n")
    assert "Warning: runbook demo-failover has never passed a drill" in result.output
    # A store that cannot be read is one warning line; the run goes on to its confirmation.
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://irdrive:pw-canary@127.0.0.1:1/irdrive")
    result = invoke("run", "demo-failover", "-e", "reason=x", "-i", "local", input="n\n")
    [line] = [x for x in result.output.splitlines() if "drill history" in x]
    assert line.startswith("Warning: drill history not read: history store postgresql://")
    assert "pw-canary" not in result.output and "Run demo-failover?" in result.output
    listed = invoke("list")
    assert listed.exit_code == 0 and "pw-canary" not in listed.output
    assert "Warning: drill history not shown" in listed.output
