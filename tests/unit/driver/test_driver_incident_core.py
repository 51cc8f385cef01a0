"""``irdrive incident list|show|update|status|resolve|close|reopen|note`` through the CLI,
with the commands' clock frozen: clocks and escalation shown and recorded, transitions and the
refused ones (exit 2, one line, nothing written), bad input, an unreachable database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from irdrive.cli import cli
from irdrive.incidents.store import open_incidents

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("IRDRIVE_DB_URL", url)
    monkeypatch.setenv("IRDRIVE_USER", "ana")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no roster there
    monkeypatch.delenv("IRDRIVE_CONFIG", raising=False)
    monkeypatch.delenv("IRDRIVE_ROSTER", raising=False)
    monkeypatch.delenv("IRDRIVE_TZ", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    clock = {"now": T0}
    monkeypatch.setattr("irdrive.commands.incident_core._now", lambda: clock["now"])
    yield {"url": url, "clock": clock, "tmp": tmp_path}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["incident", *args], env={"COLUMNS": "220"})


def ok_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(*args: str, code: int = 2) -> str:
    result = run(*args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def open_incident(url: str, *, severity: str = "P2", now: datetime = T0, **kw: Any) -> str:
    with open_incidents(url) as store:
        return store.open(
            title=kw.pop("title", "Payments failing"),
            severity=severity,
            actor="ana",
            now=now,
            **kw,
        ).id


def timeline(url: str, ident: str) -> list[dict[str, Any]]:
    with open_incidents(url) as store:
        return [e.to_dict() for e in store.timeline(ident)]


# -- list ----------------------------------------------------------------------------------


def test_list_open_first_by_severity_then_recent(env: dict[str, Any]) -> None:
    url = env["url"]
    p2 = open_incident(url, severity="P2", services=["web"])
    p0 = open_incident(url, severity="P0", now=T0 + timedelta(minutes=1))
    old = open_incident(url, severity="P1", now=T0 - timedelta(days=20))
    done = open_incident(url, severity="P3", now=T0 - timedelta(days=1))
    with open_incidents(url) as store:
        store.set_status(old, "RESOLVED", actor="ana", now=T0 - timedelta(days=19))
        store.set_status(done, "RESOLVED", actor="ana", now=T0 - timedelta(hours=20))
    env["clock"]["now"] = T0 + timedelta(hours=1, minutes=30)
    data = ok_json("list")
    assert [r["id"] for r in data["incidents"]] == [p0, p2, done]
    first = data["incidents"][0]
    assert first["severity"] == "P0" and first["level"] == 3  # unresolved at its 1h target
    assert first["resolve_breached"] and first["left_s"] == -1740.0
    assert first["elapsed_s"] == 5340.0 and first["escalation_level"] == 1
    assert data["incidents"][1]["level"] == 2 and not data["incidents"][1]["breached"]
    assert [r["id"] for r in ok_json("list", "--all")["incidents"]] == [p0, p2, done, old]
    assert [r["id"] for r in ok_json("list", "--since", "30d")["incidents"]][-1] == old
    assert [r["id"] for r in ok_json("list", "--severity", "p2")["incidents"]] == [p2]
    # Detected 20 days ago, resolved 19: outside 7d; resolved within --since counts as recent.
    with open_incidents(url) as store:
        store.set_status(old, "CLOSED", actor="ana", now=T0 - timedelta(days=2))
    assert old in [r["id"] for r in ok_json("list")["incidents"]]
    human = run("list", "--tz", "Europe/Berlin")
    assert human.exit_code == 0, human.output
    assert "BREACHED" in human.stdout and p0 in human.stdout and "L3" in human.stdout
    assert "04:30 UTC (05:30 CET)" in human.stdout
    # list reads: nothing recorded
    assert [e["kind"] for e in timeline(url, p0)] == ["opened"]


def test_list_bad_input(env: dict[str, Any]) -> None:
    assert "invalid --since '30 days'" in refused("list", "--since", "30 days")
    # One parser for list and stats: an ISO date is a form too, and not one in the future.
    assert "invalid --since '2999-01-01': it is in the future" in refused(
        "list", "--since", "2999-01-01"
    )
    assert "invalid severity 'P7'" in refused("list", "--severity", "P7")
    assert "unknown time zone 'Mars/Olympus'" in refused("list", "--tz", "Mars/Olympus")
    empty = run("list")
    assert empty.exit_code == 0 and "No open incidents" in empty.stdout


# -- show ----------------------------------------------------------------------------------


def test_show_clocks_escalation_and_overdue_update(env: dict[str, Any]) -> None:
    url = env["url"]
    ident = open_incident(url, severity="P1", services=["payments"])
    env["clock"]["now"] = T0 + timedelta(hours=2, minutes=12)
    view = ok_json("show", ident)
    assert view["clocks"]["respond"]["breached"]  # never acknowledged: 30m target
    assert view["clocks"]["resolve"]["left_s"] == 4 * 3600 - 7920
    esc = view["escalation"]
    assert esc["level"] == 3 and esc["why"] == "unresolved after 2 hours"
    assert esc["engage"] == "no roster: engage the Engineering Manager (L3)"
    assert esc["next_level"] is None  # a P1 reaches L4 only by a responder's call
    assert view["update"]["overdue"] and view["update"]["overdue_s"] == 72 * 60
    assert view["update"]["hint"] == (
        "Update overdue by 1h 12m (due 2026-12-02 04:00 UTC): "
        f"irdrive incident comms {ident} --send"
    )
    # The escalation was recorded, once: a second show adds nothing.
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds == ["opened", "escalation"]
    assert view["timeline"][1]["data"]["to"] == 3 and view["incident"]["escalation_level"] == 3
    assert view["timeline"][1]["data"]["reached_at"] == (T0 + timedelta(hours=2)).isoformat()
    assert view["timeline"][1]["at"] == (T0 + timedelta(hours=2, minutes=12)).isoformat()
    again = ok_json("show", ident)
    assert [e["kind"] for e in again["timeline"]] == kinds

    human = run("show", ident, "--tz", "America/New_York")
    assert human.exit_code == 0, human.output
    out = human.stdout
    assert "BREACHED" in out and "engage now: no roster: engage the Engineering Manager" in out
    assert (
        "Update overdue by 1h 12m (due 2026-12-02 04:00 UTC (2026-12-01 23:00 EST)): "
        f"irdrive incident comms {ident} --send"
    ) in out
    assert "2026-12-02 03:00 UTC (2026-12-01 22:00 EST)" in out  # started, both zones
    assert "Timeline (last 2 of 2)" in out


def test_show_names_the_roster_and_refuses_a_malformed_one(env: dict[str, Any]) -> None:
    url, tmp = env["url"], env["tmp"]
    ident = open_incident(url, severity="P0", services=["payments"])
    roster = tmp / "roster.yml"
    roster.write_text(
        "levels:\n  L2:\n    people: [{name: Dana, contact: dana@example.com}]\n"
        "    channels: ['#ir']\n"
    )
    os.environ["IRDRIVE_ROSTER"] = str(roster)
    try:
        bad = tmp / "bad.yml"
        bad.write_text("levels: {L2: {people: [{contact: x}]}}\n")
        os.environ["IRDRIVE_ROSTER"] = str(bad)
        line = refused("show", ident)
        assert "levels.L2.people[0]: needs a name" in line
        assert timeline(url, ident)[-1]["kind"] == "opened"  # nothing recorded
        os.environ["IRDRIVE_ROSTER"] = str(roster)
        view = ok_json("show", ident)
    finally:
        del os.environ["IRDRIVE_ROSTER"]
    esc = view["escalation"]
    assert esc["level"] == 2 and esc["engage"] == "L2 Team Lead: Dana (dana@example.com) on #ir"
    assert esc["next_level"] == 3 and esc["next_at"] == (T0 + timedelta(hours=1)).isoformat()
    assert view["roster"] == str(roster)
    assert view["timeline"][-1]["data"]["engage"] == esc["engage"]


def test_show_an_unknown_or_malformed_incident(env: dict[str, Any]) -> None:
    assert "no incident INC-20261202-030000" in refused("show", "INC-20261202-030000")
    assert "invalid incident id 'INC-1'" in refused("show", "INC-1")


# -- update --------------------------------------------------------------------------------


def test_update_fields_people_and_severity(env: dict[str, Any]) -> None:
    url = env["url"]
    ident = open_incident(url, severity="P3", services=["web"])
    env["clock"]["now"] = T0 + timedelta(minutes=5)
    data = ok_json(
        "update",
        ident,
        "--title",
        "Checkout down",
        "--commander",
        "bo",
        "--comms-lead",
        "cy",
        "--service",
        "payments",
        "--service",
        "checkout",
        "--severity",
        "p1",
        "--public-summary",
        "Some payments fail.",
        "--users-affected",
        "EU card users",
    )
    inc = data["incident"]
    assert inc["title"] == "Checkout down" and inc["severity"] == "P1"
    assert inc["services"] == ["payments", "checkout"] and inc["commander"] == "bo"
    assert (
        inc["public_summary"] == "Some payments fail." and inc["users_affected"] == "EU card users"
    )
    assert inc["acknowledged_at"] == (T0 + timedelta(minutes=5)).isoformat()
    kinds = [(e["kind"], e["data"].get("field")) for e in data["entries"]]
    assert ("role", "commander") in kinds and ("field", "severity") in kinds
    # Raised to P1: the team lead is engaged at once, recorded with the reason.
    last = data["entries"][-1]
    assert last["kind"] == "escalation" and last["data"]["why"] == (
        "a P1 incident engages the team lead at once"
    )
    assert inc["escalation_level"] == 2
    same = run("update", ident, "--title", "Checkout down")
    assert same.exit_code == 0 and "nothing changed" in same.stdout


def test_update_refusals_write_nothing(env: dict[str, Any]) -> None:
    url = env["url"]
    ident = open_incident(url)
    before = timeline(url, ident)
    assert "nothing to update" in refused("update", ident)
    assert "invalid severity 'P9'" in refused("update", ident, "--severity", "P9", "--title", "x")
    assert "title cannot be empty" in refused("update", ident, "--title", " ")
    assert "no incident INC-20261202-040000" in refused(
        "update", "INC-20261202-040000", "--title", "x"
    )
    assert timeline(url, ident) == before


# -- status, resolve, close, reopen --------------------------------------------------------


def test_transitions_through_the_cli(env: dict[str, Any]) -> None:
    url = env["url"]
    ident = open_incident(url, severity="P2")
    env["clock"]["now"] = T0 + timedelta(minutes=10)
    data = ok_json("status", ident, "identified", "--note", "bad deploy")
    assert data["incident"]["status"] == "IDENTIFIED"
    assert data["entries"][-1]["summary"] == "INVESTIGATING -> IDENTIFIED: bad deploy"
    assert data["incident"]["acknowledged_at"] == (T0 + timedelta(minutes=10)).isoformat()
    ok_json("status", ident, "MONITORING")
    env["clock"]["now"] = T0 + timedelta(minutes=40)
    resolved = ok_json("resolve", ident, "--note", "verified")
    # The 30-minute escalation was reached before the resolution: recorded first.
    assert [e["kind"] for e in resolved["entries"]] == ["escalation", "status"]
    assert resolved["incident"]["resolved_at"] == (T0 + timedelta(minutes=40)).isoformat()
    human = run("close", ident)
    assert human.exit_code == 0 and f"{ident}: RESOLVED -> CLOSED" in human.stdout
    reopened = ok_json("reopen", ident, "--reason", "errors again")
    assert reopened["incident"]["status"] == "INVESTIGATING"
    assert reopened["incident"]["resolved_at"] is None
    assert reopened["entries"][-1]["summary"] == "reopened CLOSED -> INVESTIGATING: errors again"
    with open_incidents(url) as store:
        assert store.verify(ident).ok


@pytest.mark.parametrize(
    ("setup", "args", "words"),
    [
        ("RESOLVED", ("status", "{id}", "INVESTIGATING"), "use `irdrive incident reopen`"),
        ("RESOLVED", ("resolve", "{id}"), "already RESOLVED"),
        ("INVESTIGATING", ("close", "{id}"), "cannot move an incident from INVESTIGATING"),
        ("INVESTIGATING", ("status", "{id}", "FIXED"), "invalid status 'FIXED'"),
        ("INVESTIGATING", ("reopen", "{id}", "--reason", "x"), "only a RESOLVED or CLOSED"),
        ("INVESTIGATING", ("reopen", "{id}", "--reason", " "), "needs a --reason"),
        ("INVESTIGATING", ("status", "INC-20261202-090000", "RESOLVED"), "no incident"),
        ("INVESTIGATING", ("note", "{id}", " "), "empty note"),
    ],
)
def test_refused_transitions_write_nothing(
    env: dict[str, Any], setup: str, args: tuple[str, ...], words: str
) -> None:
    url = env["url"]
    ident = open_incident(url, severity="P0")  # a P0: any write would also record L2
    if setup == "RESOLVED":
        with open_incidents(url) as store:
            store.set_status(ident, "RESOLVED", actor="ana", now=T0 + timedelta(minutes=1))
    env["clock"]["now"] = T0 + timedelta(minutes=5)
    before = timeline(url, ident)
    with open_incidents(url) as store:
        record = store.get(ident)
    line = refused(*(a.replace("{id}", ident) for a in args))
    assert words in line
    assert timeline(url, ident) == before
    with open_incidents(url) as store:
        assert store.get(ident) == record


# -- note ----------------------------------------------------------------------------------


def test_note_and_command_entries_without_secrets(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = env["url"]
    ident = open_incident(url)
    canary = "canary-7f3a9b-secret"
    monkeypatch.setenv("PAYMENTS_API_TOKEN", canary)
    result = run("note", ident, "customers", "report", "timeouts")
    assert result.exit_code == 0 and f"{ident}: #2 note recorded" in result.stdout
    data = ok_json(
        "note",
        ident,
        "--command",
        f"curl -H 'Authorization: {canary}' https://api && psql postgresql://u:hunter2@db/x",
    )
    entry = data["entry"]
    assert entry["kind"] == "command" and entry["actor"] == "ana"
    assert canary not in json.dumps(data) and "hunter2" not in json.dumps(data)
    assert "********" in entry["summary"] and "u:***@db" in entry["summary"]
    stored = json.dumps(timeline(url, ident))
    assert canary not in stored and "hunter2" not in stored
    assert [e["summary"] for e in timeline(url, ident)][1] == "customers report timeouts"


# -- an unreachable database ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("show", "INC-20261202-030000"),
        ("status", "INC-20261202-030000", "RESOLVED"),
        ("note", "INC-20261202-030000", "x"),
    ],
)
def test_an_unreachable_database_is_one_line_without_the_password(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://u:s3cretpw@127.0.0.1:1/x")
    line = refused(*args, code=3)
    assert "s3cretpw" not in line and "127.0.0.1" in line


def test_show_as_a_subprocess(env: dict[str, Any]) -> None:
    """One end-to-end check with the real clock and a real process."""
    ident = open_incident(env["url"], severity="P0", now=datetime.now(UTC) - timedelta(minutes=3))
    proc = subprocess.run(
        [sys.executable, "-m", "irdrive.cli", "incident", "show", ident, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    view = json.loads(proc.stdout)
    assert view["escalation"]["level"] == 2
    assert 170 < view["clocks"]["resolve"]["elapsed_s"] < 400
    assert not view["clocks"]["resolve"]["breached"]


HEAVY = ("sqlalchemy", "alembic", "rich", "jinja2", "apprise", "ansible", "yaml")


@pytest.mark.parametrize(
    "command", [["incident"], ["incident", "list"], ["incident", "show"], ["incident", "status"]]
)
def test_incident_help_imports_no_heavy_module(command: list[str]) -> None:
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


def test_a_malformed_roster_never_blocks_a_status_change(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, tmp = env["url"], env["tmp"]
    ident = open_incident(url, severity="P0")
    bad = tmp / "bad.yml"
    bad.write_text("levels: [\n")
    monkeypatch.setenv("IRDRIVE_ROSTER", str(bad))
    env["clock"]["now"] = T0 + timedelta(minutes=20)
    result = run("resolve", ident, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: roster ") and "is not valid YAML" in result.stderr
    data = json.loads(result.stdout)
    assert data["incident"]["status"] == "RESOLVED"
    escalated, resolved = data["entries"]
    assert escalated["data"]["engage"] == "no roster: engage the Team Lead (L2)"
    assert resolved["kind"] == "status"


def test_show_still_shows_when_the_escalation_cannot_be_written(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from irdrive.errors import IrdriveError
    from irdrive.incidents.store import IncidentStore

    ident = open_incident(env["url"], severity="P1")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise IrdriveError("history store x: permission denied for table incidents")

    monkeypatch.setattr(IncidentStore, "escalate", refuse)
    result = run("show", ident, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        "Warning: escalation not recorded: history store x: permission denied for table incidents"
    )
    view = json.loads(result.stdout)
    assert view["escalation"]["level"] == 2 and view["incident"]["escalation_level"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("show", "INC-20261202-030000"),
        ("timeline", "INC-20261202-030000"),
        ("verify", "INC-20261202-030000"),
        ("report", "INC-20261202-030000"),
    ],
)
def test_reading_an_incident_does_not_create_the_store(
    env: dict[str, Any], args: tuple[str, ...]
) -> None:
    db = env["tmp"] / "history.db"
    line = refused(*args)
    assert line == (
        f"Error: no incident INC-20261202-030000: the history store {db} does not exist yet "
        "(`irdrive incident open` makes it)"
    )
    assert not db.exists() and not list(env["tmp"].glob("history.db*"))
