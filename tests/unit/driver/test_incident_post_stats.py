"""``irdrive incident stats``: the monthly review over a set of incidents with frozen times:
counts by severity, exact MTTD/MTTA/MTTR means and medians, target breaches (an open incident
past its targets counts), the top runbooks (from run.start entries and the records), the open
action items; ``--since`` forms and their errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from incident_post_records import Env, at, make_env

from irdrive.cli import cli
from irdrive.commands import incident_post
from irdrive.errors import UsageError
from irdrive.incidents.common import parse_since
from irdrive.incidents.stats import load_trends
from irdrive.incidents.store import IncidentStore, NewEntry

NOW = at(60 * 24 * 5)  # 2026-11-25 03:00 UTC


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setattr(incident_post, "_now", lambda: NOW)
    monkeypatch.setenv("COLUMNS", "160")
    return make_env(tmp_path, monkeypatch)


def run_entry(runbook: str, minute: float, check: bool = False) -> NewEntry:
    data = {"runbook": runbook, "check": check}
    return NewEntry("run.start", f"run {runbook} started", "run:x", data, at(minute))


def build(store: IncidentStore) -> dict[str, str]:
    """Four incidents; the oldest is outside --since 30d.
    A  P1: MTTD 120, MTTA 180, MTTR 3720, met; runbook payments-failover, run twice (and a
       --check run of rollback, which is not counted).
    B  P0: MTTD 240, MTTA 1200 (> 900), MTTR 5400 (> 3600): both breached; platform-outage
       and rollback run once each; no runbook on the record.
    C  P2: open, commander at opening (MTTA 0), MTTD 600; its runbook on the record, no runs;
       opened 10m after T0, so at NOW (5 days on) its 24h resolve target is breached.
    D  P3 40 days before: not counted; its runs are not either."""
    a = store.open(
        title="A", severity="P1", actor="x", runbook="payments-failover",
        started_at=at(0), now=at(2),
    )  # fmt: skip
    store.set_status(a.id, "IDENTIFIED", actor="x", now=at(5))
    store.append(
        a.id,
        [
            run_entry("payments-failover", 6),
            run_entry("rollback", 7, check=True),  # a --check run: not a use
            run_entry("payments-failover", 20),
        ],
    )
    store.set_status(a.id, "RESOLVED", actor="x", now=at(62))
    b = store.open(title="B", severity="P0", actor="x", started_at=at(100), now=at(104))
    store.set_status(b.id, "IDENTIFIED", actor="x", now=at(124))
    store.append(b.id, [run_entry("platform-outage", 125), run_entry("rollback", 130)])
    store.set_status(b.id, "RESOLVED", actor="x", now=at(190))
    c = store.open(
        title="C", severity="P2", actor="x", commander="carol",
        runbook="performance-degradation", started_at=at(200), now=at(210),
    )  # fmt: skip
    d = store.open(
        title="D", severity="P3", actor="x", started_at=at(-60 * 24 * 40),
        now=at(-60 * 24 * 40),
    )  # fmt: skip
    store.append(d.id, [run_entry("rollback", -60 * 24 * 40 + 5)])
    store.set_status(d.id, "RESOLVED", actor="x", now=at(-60 * 24 * 39))
    for ident, due, status in (
        (a.id, "2026-11-20", "open"),  # overdue
        (b.id, "2026-12-20", "in-progress"),
        (b.id, "2026-11-01", "done"),  # past its date, but done
        (d.id, "2026-10-20", "open"),  # an old incident's item still counts (and is overdue)
    ):
        item = store.add_action(
            ident, action="do", owner="o", priority="P2", due=due, actor="x", now=at(300)
        )
        if status != "open":
            store.set_action_status(int(item.id or 0), status, actor="x", now=at(301))
    return {"A": a.id, "B": b.id, "C": c.id, "D": d.id}


EXPECTED = {
    "total": 3,
    "open": 1,
    "by_severity": {"P0": 1, "P1": 1, "P2": 1, "P3": 0},
    "mttd": {"count": 3, "mean_s": 320.0, "median_s": 240.0},
    "mtta": {"count": 3, "mean_s": 460.0, "median_s": 180.0},
    "mttr": {"count": 2, "mean_s": 4560.0, "median_s": 4560.0},
    "breaches": {
        "respond": 1,
        "resolve": 2,
        "incidents": 2,
        "by_severity": {"P0": 1, "P1": 0, "P2": 1, "P3": 0},
    },
    "top_runbooks": [
        {"runbook": "payments-failover", "incidents": 1, "runs": 2},
        {"runbook": "platform-outage", "incidents": 1, "runs": 1},
        {"runbook": "rollback", "incidents": 1, "runs": 1},
        {"runbook": "performance-degradation", "incidents": 1, "runs": 0},
    ],
    "action_items": {"open": 2, "in_progress": 1, "overdue": 2},
    "by_month": [
        {
            "month": "2026-11",
            "incidents": 3,
            "P0": 1,
            "P1": 1,
            "P2": 1,
            "P3": 0,
            "breached": 2,
            "mttr_mean_s": 4560.0,
        }
    ],
}


def test_trends_are_exact(env: Env) -> None:
    with env.store() as store:
        build(store)
        found = load_trends(store, since=parse_since("30d", NOW), now=NOW).to_dict()
    assert found.pop("since") == (NOW - timedelta(days=30)).isoformat()
    assert found.pop("now") == NOW.isoformat()
    assert found == EXPECTED


def test_stats_command_json_and_table(env: Env) -> None:
    with env.store() as store:
        build(store)
    result = CliRunner().invoke(cli, ["incident", "stats", "--json"])
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert {k: v for k, v in shown.items() if k not in ("since", "now")} == EXPECTED
    result = CliRunner().invoke(cli, ["incident", "stats", "--since", "2026-11-01"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Incidents detected since 2026-11-01 00:00 UTC: 3 (1 open)" in out
    assert "MTTA (acknowledge) │ 7m 40s │ 3m 00s" in out
    assert "Target breaches: respond 1, resolve 2 (2 incidents)" in out
    assert "payments-failover" in out
    assert "Action items: 2 open, 1 in progress, 2 overdue" in out
    # 60 days take in D (October): acknowledged only when resolved, a day on (respond
    # breached, resolve met), and the table by month appears.
    result = CliRunner().invoke(cli, ["incident", "stats", "--since", "60d", "--json"])
    wider = json.loads(result.stdout)
    assert wider["by_month"][0] == {
        "month": "2026-10",
        "incidents": 1,
        "P0": 0,
        "P1": 0,
        "P2": 0,
        "P3": 1,
        "breached": 1,
        "mttr_mean_s": 86400.0,
    }
    assert wider["by_month"][1] == EXPECTED["by_month"][0]
    assert wider["top_runbooks"][0] == {"runbook": "rollback", "incidents": 2, "runs": 2}
    result = CliRunner().invoke(cli, ["incident", "stats", "--since", "60d"])
    assert "│ 2026-10 │ 1         │ 0  │ 0  │ 0  │ 1  │ 1        │ 1d 00h    │" in result.stdout
    # A window with nothing in it.
    result = CliRunner().invoke(cli, ["incident", "stats", "--since", "1h", "--json"])
    empty = json.loads(result.stdout)
    assert (empty["total"], empty["mttr"], empty["top_runbooks"]) == (
        0,
        {"count": 0, "mean_s": None, "median_s": None},
        [],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW - timedelta(days=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(days=14)),
        ("90m", NOW - timedelta(minutes=90)),
        (" 7D ", NOW - timedelta(days=7)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
    ],
)
def test_since_forms(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["0d", "-3d", "30x", "thirty days", "2026-13-01", "2027-01-01"])
def test_bad_since_is_one_line(env: Env, text: str) -> None:
    with pytest.raises(UsageError, match="invalid --since"):
        parse_since(text, NOW)
    result = CliRunner().invoke(cli, ["incident", "stats", "--since", text])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: invalid --since") and result.stderr.count("\n") == 1
