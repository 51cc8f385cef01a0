"""`irdrive run ... --incident` against the lab: a real run's timeline, its hash chain, and
no secret in any row.

payments-failover with the processor-down fault, first in check mode, then for real: the
incident's timeline gets run.start, each task's end, the configmap's change with the prior
state it replaced (PRIMARY_PROCESSOR ccbill -> segpay), the verifications and run.end, and
``irdrive incident verify`` passes. The cache runbook, with its admin token as a secret
parameter (-e @FILE) and canaries as the environment's secrets, leaves none of them in the
history database, read raw, whether the run succeeds or fails.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _canary import ENV_SECRETS, new_canaries
from _runbook import irdrive, run_json
from test_history_pg import pg_store  # noqa: F401 - the fixture: a fresh PostgreSQL database

from irdrive.incidents.store import open_incidents
from irdrive_lab.faults import faults

pytestmark = [pytest.mark.lab, pytest.mark.incidents_extra]


@pytest.fixture
def inc_env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The lab's environment, with its own history store and state folder."""
    return lab_env | {
        "IRDRIVE_DB_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "IRDRIVE_STATE_DIR": str(tmp_path / "state"),
        "IRDRIVE_USER": "oncall-alice",
    }


def open_incident(env: dict[str, str], title: str, severity: str = "P1") -> str:
    with open_incidents(env["IRDRIVE_DB_URL"]) as store:
        return store.open(title=title, severity=severity, actor="oncall-alice").id


def timeline(env: dict[str, str], ident: str) -> list[Any]:
    with open_incidents(env["IRDRIVE_DB_URL"]) as store:
        return store.timeline(ident)


def run_entries(entries: list[Any], run_id: str) -> list[Any]:
    return [e for e in entries if e.actor == f"run:{run_id}" or e.data.get("run_id") == run_id]


def test_payments_failover_timeline_from_a_real_run(
    clean_lab: dict[str, Any], lab_cfg: Any, inc_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, clean_lab, "processor-down", {"processor": "ccbill"})
    ident = open_incident(inc_env, "Payments failing: ccbill down")

    rc, check = run_json(inc_env, "payments-failover", "--check", "--diff", "--incident", ident)
    assert rc == 0, check
    assert check["incident"] == {
        "id": ident,
        "entries_written": check["incident"]["entries_written"],
        "timeline_updated": True,
        "problems": [],
    }
    rc, report = run_json(inc_env, "payments-failover", "--incident", ident)
    assert rc == 0, report

    entries = timeline(inc_env, ident)
    check_run = run_entries(entries, Path(check["run_dir"]).name)
    real_run = run_entries(entries, Path(report["run_dir"]).name)
    assert check["incident"]["entries_written"] == len(check_run) + 1  # + the runbook field

    # The check run is recorded as one: nothing changed, "would change".
    assert check_run[0].kind == "run.start" and check_run[0].data["check"] is True
    assert check_run[-1].kind == "run.end" and check_run[-1].data["outcome"] == "CHECKED"
    would = [e for e in check_run if e.kind == "change"]
    assert would and all(e.summary.startswith("would change") for e in would)

    kinds = [e.kind for e in real_run]
    assert kinds[0] == "run.start" and kinds[-1] == "run.end"
    start, end = real_run[0], real_run[-1]
    assert start.actor == "oncall-alice" and start.data["check"] is False
    assert start.data["command"] == f"irdrive run payments-failover --incident {ident}"
    assert end.data["exit_code"] == 0 and end.data["outcome"] == "SUCCESS"
    assert end.data["counts"]["changed"] >= 3

    # Every task that ran has its end, at the event's time, in the order the run went.
    ran = [t for t in report["tasks"] if t["status"] != "skipped"]
    ends = [e for e in real_run if e.kind == "task.end"]
    assert [(e.data["task"], e.data["status"]) for e in ends] == [
        (t["task"], t["status"]) for t in ran
    ]
    assert [e.at for e in ends] == sorted(e.at for e in ends)
    assert start.at <= ends[0].at and ends[-1].at <= end.at

    # The configmap's change, with the prior state it replaced.
    recorded = {e.data["target"]: e for e in real_run if e.kind == "change" and "target" in e.data}
    cm = recorded["configmap/platform/payment-config"]
    assert cm.data["before"]["PRIMARY_PROCESSOR"] == "ccbill"
    assert cm.data["after"]["PRIMARY_PROCESSOR"] == "segpay"
    assert "PRIMARY_PROCESSOR ccbill -> segpay" in cm.summary
    switch = next(
        e for e in real_run if e.kind == "change" and "kill switch" in e.data.get("task", "")
    )
    assert switch.data["before"] == {"payments": "enabled"}

    verified = [e.data["task"] for e in real_run if e.kind == "verify"]
    assert any(t.startswith("Verify payments") for t in verified)
    assert len(verified) == len(report["verified"])

    with open_incidents(inc_env["IRDRIVE_DB_URL"]) as store:
        assert store.get(ident).runbook == "payments-failover"
    res = irdrive(inc_env, "incident", "verify", ident)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith(f"timeline of {ident}: {len(entries)} entries, chain intact")
    wide = inc_env | {"COLUMNS": "250"}  # one table row a line
    res = irdrive(wide, "incident", "timeline", ident, "--kind", "change")
    assert res.returncode == 0 and "PRIMARY_PROCESSOR ccbill -> segpay" in res.stdout

    # The short forms record too: kill-switch status is a check run of the kill-switch runbook.
    res = irdrive(inc_env, "kill-switch", "status", "payments", "--json", "--incident", ident)
    assert res.returncode == 0, res.stdout + res.stderr
    short = timeline(inc_env, ident)[len(entries) :]
    assert [e.kind for e in short][0] == "run.start" and short[-1].kind == "run.end"
    assert short[0].data["command"].startswith("irdrive run kill-switch -e ")
    assert short[0].data["check"] is True and short[-1].data["outcome"] == "CHECKED"


def test_no_secret_of_a_run_reaches_any_timeline_row(
    clean_lab: dict[str, Any], inc_env: dict[str, str], tmp_path: Path
) -> None:
    canaries = new_canaries()
    ident = open_incident(inc_env, "Stale cache", "P2")
    real = clean_lab["platform"]["admin_token"]
    # The real token (the run succeeds), then a canary token with canaries as the
    # environment's credentials too (the run fails: the modules fall back to them).
    runs = {
        "real": (real, inc_env),
        "canary": (
            canaries["cache_admin_token"],
            inc_env | {name: canaries[name] for name in ENV_SECRETS},
        ),
    }
    codes = {}
    for label, (token, env) in runs.items():
        secret_file = tmp_path / f"{label}.yml"
        secret_file.write_text(f"cache_admin_token: {token}\n")
        res = irdrive(env, "run", "cache", "-e", f"@{secret_file}", "--yes", "--incident", ident)
        codes[label] = res.returncode
        assert token not in res.stdout + res.stderr
        assert "timeline not updated" not in res.stderr
    assert codes["real"] == 0 and codes["canary"] != 0, (codes, res.stdout, res.stderr)

    entries = timeline(inc_env, ident)
    ends = [e for e in entries if e.kind == "run.end"]
    assert [e.data["exit_code"] for e in ends] == [codes["real"], codes["canary"]]
    starts = [e for e in entries if e.kind == "run.start"]
    assert all(e.data["parameters"]["cache_admin_token"] == "********" for e in starts)

    # The database, read raw: every row of every table, and the files themselves.
    secrets = [real, *canaries.values()]
    db = Path(inc_env["IRDRIVE_DB_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')]  # noqa: S608
    assert any(ident in row for row in rows) and len(rows) > 20
    assert [s for s in secrets if any(s in row for row in rows)] == []
    for path in db.parent.glob(f"{db.name}*"):
        data = path.read_bytes()
        assert [s for s in secrets if s.encode() in data] == [], path


def test_on_postgresql_a_run_is_recorded_and_tampering_is_found(
    clean_lab: dict[str, Any], lab_cfg: Any, inc_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """The same timeline on the lab's PostgreSQL, as a team shares it: a check run recorded,
    verified, then an edited row, a deleted row and reordered rows each found."""
    url, password = request.getfixturevalue("pg_store")
    env = inc_env | {"IRDRIVE_DB_URL": url}
    faults.inject(lab_cfg, clean_lab, "processor-down", {"processor": "ccbill"})
    ident = open_incident(env, "Payments failing (shared store)")
    rc, report = run_json(env, "payments-failover", "--check", "--incident", ident)
    assert rc == 0 and report["incident"]["timeline_updated"] is True, report
    entries = timeline(env, ident)
    assert [e.kind for e in entries][:3] == ["opened", "run.start", "field"]
    assert entries[-1].kind == "run.end" and entries[-1].data["outcome"] == "CHECKED"
    res = irdrive(env, "incident", "verify", ident)
    assert res.returncode == 0 and "chain intact" in res.stdout, res.stdout + res.stderr
    assert password not in res.stdout + res.stderr

    def tamper(sql: str, *args: Any) -> list[str]:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
        res = irdrive(env, "incident", "verify", ident)
        assert res.returncode == 1, res.stdout + res.stderr
        return res.stdout.splitlines()

    seq = len(entries) // 2
    found = tamper(
        "UPDATE incident_timeline SET summary = 'nothing' WHERE incident_id = %s AND seq = %s",
        ident,
        seq,
    )
    assert found == [f"{ident}: entry {seq} ({entries[seq - 1].kind}) was altered"]
    found = tamper("DELETE FROM incident_timeline WHERE incident_id = %s AND seq = %s", ident, seq)
    assert f"{ident}: entry {seq} missing: deleted" in found
    found = tamper(
        "UPDATE incident_timeline SET id = -id WHERE incident_id = %s AND seq = %s", ident, 2
    )  # row 2 now sorts first
    assert any("out of order" in line or "does not follow" in line for line in found)
