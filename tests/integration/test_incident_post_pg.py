"""The post-incident commands on PostgreSQL give what they give on SQLite: the same incidents
(fixed times), the same post-mortem files byte for byte, the same trends and action items.
The stats' one query of its own (the runbooks of run.start entries, a JSON column) is the
part that differs by backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from incident_post_records import at, make_env, resolved_p1

from irdrive.cli import cli
from irdrive.commands import incident_post
from irdrive.incidents.store import NewEntry, open_incidents

pytestmark = [pytest.mark.lab, pytest.mark.incidents_extra]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg_url(pg_database: tuple[str, str]) -> str:
    return pg_database[0]


def scenario(url: str, out: Path) -> dict[str, Any]:
    """Build the same records in the store at ``url`` and take every output of the post
    commands (IRDRIVE_DB_URL points at ``url``)."""
    with open_incidents(url) as store:
        inc = resolved_p1(store)
        other = store.open(title="Slow", severity="P2", actor="x", started_at=at(90), now=at(95))
        store.append(
            other.id,
            [NewEntry("run.start", "run", "run:x", {"runbook": "performance-degradation"}, at(99))],
        )
    runner = CliRunner()

    def cmd(*args: str) -> str:
        result = runner.invoke(cli, ["incident", *args])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    cmd("action", "add", inc.id, "--action", "Alert on expiry", "--owner", "bob",
        "--due", "2026-11-24", "--priority", "P1")  # fmt: skip
    cmd("action", "add", other.id, "--action", "Index orders", "--owner", "carol")
    cmd("action", "done", "2")
    cmd("report", inc.id, "--out", str(out))
    with open_incidents(url) as store:
        assert store.verify(inc.id).ok and store.verify(other.id).ok
    return {
        "files": {p.name: p.read_text() for p in sorted(out.iterdir())},
        "stats": json.loads(cmd("stats", "--since", "2026-11-01", "--json")),
        "actions": json.loads(cmd("action", "list", "--json")),
    }


def same_on_both(pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incident_post, "_now", lambda: NOW)
    results = []
    for name, url in (("sqlite", None), ("postgresql", pg)):
        env = make_env(tmp_path / name, monkeypatch)
        monkeypatch.setenv("IRDRIVE_DB_URL", url or env.url)
        results.append(scenario(url or env.url, tmp_path / name / "out"))
    lite, pgsql = results
    assert len(lite["files"]) == 3 and lite["files"] == pgsql["files"]
    assert lite["stats"] == pgsql["stats"]
    assert pgsql["stats"]["top_runbooks"] == [
        {"runbook": "payments-failover", "incidents": 1, "runs": 1},
        {"runbook": "performance-degradation", "incidents": 1, "runs": 1},
    ]
    assert lite["actions"] == pgsql["actions"]
    assert [(a["id"], a["status"], a["overdue"]) for a in pgsql["actions"]] == [
        (1, "open", True),
        (2, "done", False),
    ]


def test_post_incident_outputs_are_the_same_on_both_backends(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    same_on_both(pg_url, tmp_path, monkeypatch)
