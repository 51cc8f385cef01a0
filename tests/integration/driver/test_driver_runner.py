"""Real ansible-runner runs of the fixture runbook: the report comes from the event stream.

No lab: the fixture project runs against localhost (``-i local``), and the default lab target
is stood in for by a fake ``irdrive.labsite.is_up`` (a lab that is up).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from irdrive.cli import cli

CANARY = "CANARY-7f3e9d1c-secret"


def run_json(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(cli, ["run", "demo-failover", "--json", *args])
    stdout = result.stdout
    return result.exit_code, json.loads(stdout), result.output


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {t["task"]: t["status"] for t in report["tasks"]}


def all_files_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_successful_run_reports_statuses_changes_and_verification(
    project_dir: Path, state_dir: Path, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"api_token: {CANARY}\n")
    code, report, output = run_json(
        "-i", "local", "-e", "reason=INC-1", "-e", f"@{secrets}", "-vvvv"
    )
    assert code == 0, output
    assert report["status"] == "successful" and report["rc"] == 0
    assert report["exit_code"] == 0
    assert statuses(report) == {
        "Validating arguments against arg spec 'main' - Demo failover role": "ok",
        "Read the current state": "ok",
        "Switch the processor": "changed",
        "Call the API with the token": "changed",
        "Echo the token by mistake (the driver must scrub it)": "ok",
        "Fail on request": "skipped",
        "Skipped step": "skipped",
        "Verify the switch": "ok",
        "Read the switch back": "ok",
        "Verify-looking step without the tag": "ok",
    }
    assert all(t["duration"] is not None and t["duration"] >= 0 for t in report["tasks"])
    assert [c["task"] for c in report["changes"]] == [
        "Switch the processor",
        "Call the API with the token",
    ]
    assert report["changes"][1] == {
        "task": "Call the API with the token",
        "host": "localhost",
        "censored": True,
    }
    # The tasks tagged verify (one by itself, one by its block), not the one named "Verify".
    assert report["verified"] == [
        {"task": "Verify the switch", "host": "localhost", "msg": "switch verified"},
        {"task": "Read the switch back", "host": "localhost", "msg": "switch read back"},
    ]
    assert report["hosts"]["localhost"]["changed"] == 2
    assert report["parameters"] == {"reason": "INC-1", "api_token": "********"}

    run_dir = Path(report["run_dir"])
    assert run_dir.parent == state_dir / "runs"
    assert json.loads((run_dir / "report.json").read_text())["exit_code"] == 0
    assert not (run_dir / "env" / "extravars").exists()
    events = list((run_dir / "artifacts" / "ansible" / "job_events").glob("*.json"))
    assert events, "ansible-runner kept the event stream"
    # The secret was used by the playbook but appears nowhere: output, artifacts, report.
    assert CANARY not in output
    assert CANARY not in all_files_text(run_dir)
    echoed = [e for e in events if "Echo the token" in e.read_text()]
    assert any("token=********" in e.read_text() for e in echoed)


def test_check_mode_changes_nothing_and_failure_is_exit_1(project_dir: Path) -> None:
    code, report, _ = run_json("-i", "local", "-e", "reason=x", "-e", "fail_now=true", "--check")
    assert code == 1
    assert report["check"] is True and report["status"] == "failed" and report["rc"] == 2
    assert statuses(report)["Switch the processor"] == "skipped"  # command skips in check mode
    assert statuses(report)["Fail on request"] == "failed"
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed[0]["msg"] == "requested failure"
    assert report["errors"] == ["Fail on request [localhost]: requested failure"]
    assert report["changes"] == []


def test_unreachable_host_is_exit_3(project_dir: Path) -> None:
    code, report, _ = run_json("-i", "unreachable", "-e", "reason=x", "--yes")
    assert code == 3
    assert report["unreachable"] == ["ghost"]
    assert report["hosts"]["ghost"]["dark"] == 1
    dark = next(t for t in report["tasks"] if t["status"] == "unreachable")
    assert report["errors"] == [f"{dark['task']} [ghost]: {dark['msg']}"]
    assert "Connection refused" in report["errors"][0]


def test_ansible_playbook_fails_on_an_inventory_it_cannot_parse(
    project_dir: Path, tmp_path: Path
) -> None:
    """Past the driver's own check (as under AWX or plain ansible-playbook), ansible itself
    refuses a source it cannot parse instead of running on an implicit localhost."""
    from irdrive import runner
    from irdrive.paths import find_project

    project = find_project()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("not an inventory\n")
    request = runner.RunRequest(
        runbook="demo-failover",
        playbook=project.playbooks_dir / "demo-failover.yml",
        project=project,
        inventories=[notes],
        extravars={"reason": "x"},
    )
    events: list[dict[str, Any]] = []
    outcome = runner.run(request, runner.make_run_dir("demo-failover"), events.append)
    assert outcome.status == "failed" and outcome.rc != 0
    assert not [e for e in events if e.get("event") == "runner_on_start"]  # no task ran


def test_default_target_is_the_lab(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from irdrive import labsite

    lab_dir = tmp_path / "lab"
    asked: list[Path | None] = []

    def fake_is_up(folder: Path | None = None) -> bool:
        asked.append(folder)
        return True

    monkeypatch.setattr(labsite, "is_up", fake_is_up)
    result = CliRunner().invoke(cli, ["run", "demo-failover", "-e", "reason=lab", "--diff"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Target: lab ({lab_dir})")
    assert asked == [lab_dir]
    assert "Switch the processor" in result.output and "SUCCESS" in result.output
    assert "Verified:\n  ✓ Verify the switch [localhost]: switch verified" in result.output
    run_dir = next(p for p in (tmp_path / "state" / "runs").iterdir() if not p.name.startswith("."))
    envvars = json.loads((run_dir / "env" / "envvars").read_text())
    assert envvars["IRDRIVE_LAB_DIR"] == str(lab_dir)
    assert envvars["ANSIBLE_CONFIG"] == str(project_dir / "ansible.cfg")
    report = json.loads((run_dir / "report.json").read_text())
    assert report["inventory"] == [str(project_dir / "inventories" / "lab")]
