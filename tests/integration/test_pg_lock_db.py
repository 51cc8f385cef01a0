"""The db runbook under the database's own lock row (irdrive.ops.pg_lock), against the lab.

The judge is the row in the lab's PostgreSQL (read as its superuser) and the lab's journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _runbook import lock_writes_since, run_json, writes_since

from irdrive_lab.control.journal import Journal

pytestmark = pytest.mark.lab


def _sql(lab: dict[str, Any], statement: str) -> list[tuple[Any, ...]]:
    pg = lab["parts"]["postgres"]
    conn = psycopg2.connect(
        host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="platform"
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def test_db_takes_and_releases_the_row_and_refuses_a_live_holder(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    journal = Journal(Path(clean_lab["journal"]))
    mark = journal.mark()
    code, report = run_json(lab_env, "db")
    assert code == 0, report.get("errors")
    lock_task = next(t for t in report["tasks"] if t["task"] == "Lock the database (its lock row)")
    assert lock_task["status"] == "ok"
    # Taken (INSERT) and released (UPDATE at the version read): free again, two writes.
    assert _sql(clean_lab, "SELECT key, holder, version FROM irdrive_locks") == [
        ("platform", "", 2)
    ]
    # The locks span the whole runbook (one play): given back after its last write and check.
    names = [t["task"] for t in report["tasks"]]
    for task in (
        "Terminate sessions stuck idle in a transaction",
        "Verify the database answers after the changes",
    ):
        assert names.index(task) < names.index("Release the database's lock row"), names
    assert names.index("Release the database's lock row") < names.index("Release the target's lock")
    pg_locks = [e for e in lock_writes_since(clean_lab, mark) if e["source"] == "postgres"]
    assert [e["path"] for e in pg_locks] == ["INSERT", "UPDATE"]
    assert not [e for e in writes_since(clean_lab, mark) if e["source"] == "postgres"]

    # Another controller's run (no shared cluster) holds the row: this run refuses at once.
    _sql(
        clean_lab,
        "UPDATE irdrive_locks SET holder = 'AWX job 77 (ops@awx:9)', duration_seconds = 600, "
        "acquire_time = now(), renew_time = now(), version = version + 1",
    )
    mark = journal.mark()
    code, report = run_json(lab_env, "db", "--lock-wait", "0")
    assert code == 1, report
    (error,) = report["errors"]
    assert "irdrive_locks row 'platform' is locked by AWX job 77 (ops@awx:9) (since " in error
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed[0]["task"] == "Lock the database (its lock row)"
    assert failed[0]["error_kind"] == "locked"
    assert writes_since(clean_lab, mark) == []
    assert _sql(clean_lab, "SELECT holder FROM irdrive_locks") == [("AWX job 77 (ops@awx:9)",)]
    # The Lease taken before the row was given back in always.
    assert not [
        t
        for t in report["tasks"]
        if t["task"] == "Release the database's lock row" and t["status"] != "skipped"
    ]
    assert any(
        t["task"] == "Release the target's lock" and t["status"] == "ok" for t in report["tasks"]
    )
