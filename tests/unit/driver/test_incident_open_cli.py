"""``irdrive incident open``: by hand and --from-alert (a file or stdin), through the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from irdrive.cli import cli
from irdrive.incidents.store import open_incidents

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history.db"
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{path}")
    monkeypatch.setenv("IRDRIVE_USER", "alice")
    monkeypatch.setenv("IRDRIVE_TZ", "Europe/Berlin")
    return path


def _run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["incident", "open", *args], input=stdin)


def _incidents(db: Path) -> list[Any]:
    if not db.exists():
        return []
    with open_incidents(f"sqlite:///{db}") as store:
        return store.incidents()


def _notification(*alerts: dict[str, Any]) -> str:
    return json.dumps({"version": "4", "status": "firing", "alerts": list(alerts)})


def _alert(status: str = "firing", severity: str | None = "P0", **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": "PodsCrashLooping", "runbook": "platform-outage", **labels}
    if severity:
        all_labels["severity"] = severity
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": "Pods crash on start"},
        "startsAt": "2026-12-02T03:15:00Z",
        "endsAt": "2026-12-02T03:45:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "fingerprint": "f1",
    }


def test_open_by_hand_prints_the_new_id(db: Path) -> None:
    res = _run(
        "--severity",
        "p1",
        "--title",
        "Payments failing",
        "--service",
        "payments",
        "--service",
        "checkout",
        "--commander",
        "carol",
        "--comms-lead",
        "erin",
        "--runbook",
        "payments-failover",
        "--summary",
        "card payments fail",
    )
    assert res.exit_code == 0, res.output
    ident = res.stdout.strip()
    assert re.fullmatch(r"INC-\d{8}-\d{6}", ident)
    assert "P1 INVESTIGATING: Payments failing" in res.stderr
    (incident,) = _incidents(db)
    assert incident.id == ident and incident.severity == "P1" and incident.source == "cli"
    assert incident.services == ["payments", "checkout"]
    assert (incident.commander, incident.scribe, incident.comms_lead) == ("carol", None, "erin")
    assert incident.acknowledged_at is not None and incident.summary == "card payments fail"
    with open_incidents(f"sqlite:///{db}") as store:
        entry, escalation = store.timeline(ident)
    assert (entry.kind, entry.actor) == ("opened", "alice")
    # A P1 engages the team lead at once, from the first entries on.
    assert (escalation.kind, escalation.data["to"]) == ("escalation", 2)


def test_open_by_hand_json(db: Path) -> None:
    res = _run("--severity", "P3", "--title", "Slow search", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["action"] == "opened" and out["incident"]["id"] == out["id"]
    assert out["incident"]["severity"] == "P3" and out["incident"]["status"] == "INVESTIGATING"
    assert out["incident"]["detected_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--severity", "P7", "--title", "x"], "invalid severity 'P7': one of P0, P1, P2, P3"),
        (["--severity", "P1", "--title", "  "], "give the incident a --title"),
        (["--severity", "P1"], "give the incident a --title"),
        (["--title", "x"], "give --severity P0..P3 (or --from-alert FILE)"),
        (["--severity", "P1", "--title", "x", "--commander", " "], "--commander cannot be empty"),
        (["--severity", "P1", "--title", "x", "--tz", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    db: Path, args: list[str], message: str
) -> None:
    res = _run(*args)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == f"Error: {res.stderr.strip().removeprefix('Error: ')}"
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not db.exists()  # the store is not even created


def test_from_alert_on_stdin_opens_then_attaches(db: Path) -> None:
    payload = _notification(_alert(deployment="payment-service"))
    first = _run("--from-alert", "-", "--json", stdin=payload)
    assert first.exit_code == 0, first.output
    (opened,) = json.loads(first.stdout)["alerts"]
    assert opened["action"] == "opened" and opened["count"] == 1
    assert opened["alert_key"] == "PodsCrashLooping{deployment=payment-service}"
    again = _run("--from-alert", "-", "--json", stdin=payload)
    (attached,) = json.loads(again.stdout)["alerts"]
    assert (attached["action"], attached["incident_id"], attached["count"]) == (
        "attached",
        opened["incident_id"],
        2,
    )
    (incident,) = _incidents(db)
    assert incident.severity == "P0" and incident.runbook == "platform-outage"
    assert incident.title == "Pods crash on start" and incident.source == "alert"


def test_from_alert_file_human_output_and_a_resolution(db: Path, tmp_path: Path) -> None:
    firing = tmp_path / "firing.json"
    firing.write_text(_notification(_alert(host="web"), _alert(host="db")))
    res = _run("--from-alert", str(firing), "--commander", "carol")
    assert res.exit_code == 0, res.output
    assert res.stdout.count("opened") == 2
    assert "03:15 UTC" in res.stdout and "04:15 CET" in res.stdout  # UTC and the zone
    resolved = tmp_path / "resolved.json"
    resolved.write_text(_notification(_alert("resolved", host="web")))
    res = _run("--from-alert", str(resolved), "--json")
    (noted,) = json.loads(res.stdout)["alerts"]
    assert noted["action"] == "resolved"
    assert all(i.status == "INVESTIGATING" and i.commander == "carol" for i in _incidents(db))


@pytest.mark.parametrize(
    ("stdin", "args", "message"),
    [
        ("", [], "--from-alert stdin is empty"),
        ("{not json", [], "--from-alert stdin is not JSON"),
        ('{"version": "3", "alerts": []}', [], "unsupported Alertmanager payload version"),
        (_notification(_alert(), _alert(severity=None)), [], "alerts[1] (PodsCrashLooping) has"),
        (_notification(_alert(severity="warning")), [], "severity label 'warning'"),
        (_notification(_alert(severity=None)), ["--severity", "P9"], "invalid severity 'P9'"),
    ],
)
def test_from_alert_bad_input_writes_nothing(
    db: Path, stdin: str, args: list[str], message: str
) -> None:
    res = _run("--from-alert", "-", *args, stdin=stdin)
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_from_alert_severity_default_for_an_alert_without_one(db: Path) -> None:
    res = _run(
        "--from-alert", "-", "--severity", "P2", "--json", stdin=json.dumps(_alert(severity=None))
    )
    assert res.exit_code == 0, res.output
    (incident,) = _incidents(db)
    assert incident.severity == "P2"


def test_a_missing_alert_file_is_a_usage_error(db: Path, tmp_path: Path) -> None:
    res = _run("--from-alert", str(tmp_path / "nope.json"))
    assert res.exit_code == 2 and "nope.json" in res.output
    assert not db.exists()


def test_an_unreachable_database_is_one_line_exit_3_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://irdrive:CANARY-pw-7f3a@127.0.0.1:9/irdrive")
    res = _run("--severity", "P1", "--title", "x")
    assert res.exit_code == 3, res.output
    assert "history store" in res.stderr and "CANARY-pw-7f3a" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_the_real_command_reads_stdin(tmp_path: Path) -> None:
    """One end-to-end check as a process: the console script, stdin and exit code."""
    env = {
        **os.environ,
        "IRDRIVE_DB_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "IRDRIVE_USER": "rulebook",
        "PYTHONPATH": os.pathsep.join([str(REPO / "driver"), str(REPO / "lab")]),
    }
    argv = [sys.executable, "-m", "irdrive.cli", "incident", "open", "--from-alert", "-", "--json"]
    event = {"alert": _alert(instance="10.0.0.5:9100"), "group": {}, "target": "10.0.0.5"}
    res = subprocess.run(
        argv, input=json.dumps(event), env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    (out,) = json.loads(res.stdout)["alerts"]
    assert out["action"] == "opened"
    assert out["alert_key"] == "PodsCrashLooping{instance=10.0.0.5:9100}"
