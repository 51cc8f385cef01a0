"""irdrive.ops.pg_lock against a real, throw-away PostgreSQL: the lock row of irdrive_locks."""

from __future__ import annotations

import threading
from typing import Any

import psycopg2
import pytest
from ansible_collections.irdrive.ops.plugins.action.pg_lock import run_pg_lock
from ansible_collections.irdrive.ops.plugins.module_utils.errors import ConflictError
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import PgLockBackend
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LockedError,
    TargetLock,
)
from pg_server import login

pytestmark = pytest.mark.usefixtures("pg")


def admin(pg: dict[str, Any]) -> Any:
    conn = psycopg2.connect(host=pg["socket"], port=pg["login_port"], user="postgres")
    conn.autocommit = True
    return conn


def sql(pg: dict[str, Any], statement: str, args: Any = None) -> list[tuple[Any, ...]]:
    conn = admin(pg)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def lock(pg: dict[str, Any], check: bool = False, **extra: Any) -> dict[str, Any]:
    args = {
        "state": "acquired",
        "key": "db1",
        "holder": "me",
        "duration": 600,
        "wait": 0.0,
        "table": "irdrive_locks",
        "login_db": "postgres",
        "login_unix_socket": None,
        "ssl_mode": "disable",
        "ca_cert": None,
        "connect_timeout": 5,
        "statement_timeout": 5000,
        "lock_timeout": 2000,
        **login(pg),
        **extra,
    }
    return run_pg_lock(args, {}, check)


@pytest.fixture
def may_create(pg: dict[str, Any]) -> Any:
    sql(pg, "DROP TABLE IF EXISTS irdrive_locks")
    sql(pg, "GRANT CREATE ON SCHEMA public TO irdrive")
    yield
    sql(pg, "REVOKE CREATE ON SCHEMA public FROM irdrive")
    sql(pg, "DROP TABLE IF EXISTS irdrive_locks")


def test_a_user_that_may_not_create_the_table_is_told_the_statement(pg: dict[str, Any]) -> None:
    sql(pg, "DROP TABLE IF EXISTS irdrive_locks")
    result = lock(pg)
    assert result["failed"] and "cannot create the lock table" in result["msg"]
    assert "CREATE TABLE irdrive_locks (key text PRIMARY KEY" in result["msg"]
    assert sql(pg, "SELECT to_regclass('irdrive_locks') IS NULL") == [(True,)]


@pytest.mark.usefixtures("may_create")
def test_check_mode_creates_nothing_then_the_first_lock_creates_the_table(
    pg: dict[str, Any],
) -> None:
    result = lock(pg, check=True)
    assert not result.get("failed") and result["state"] == "would_acquire"
    assert not result["written"] and "irdrive_locks row 'db1'" in result["lock"]
    assert sql(pg, "SELECT to_regclass('irdrive_locks') IS NULL") == [(True,)]

    result = lock(pg)
    assert result["state"] == "acquired" and result["written"] and not result["changed"]
    assert sql(pg, "SELECT key, holder, duration_seconds, version FROM irdrive_locks") == [
        ("db1", "me", 600, 1)
    ]
    comment = sql(pg, "SELECT obj_description('irdrive_locks'::regclass)")[0][0]
    assert comment.startswith("irdrive:")


@pytest.mark.usefixtures("may_create")
def test_held_reentered_refused_released_and_taken_over(pg: dict[str, Any]) -> None:
    assert lock(pg)["state"] == "acquired"
    again = lock(pg)
    assert again["state"] == "reentered" and again["reentered"]

    refused = lock(pg, holder="other run")
    assert refused["failed"] and refused["error_kind"] == "locked"
    assert refused["held_by"] == "me" and refused["since"]
    assert "locked by me (since " in refused["msg"]

    checked = lock(pg, check=True, holder="other run", wait=30.0)
    assert checked["state"] == "would_wait" and checked["waited"] < 5

    assert lock(pg, holder="other run", state="released")["state"] == "not_held"
    assert lock(pg, state="released")["state"] == "released"
    assert sql(pg, "SELECT holder, version FROM irdrive_locks") == [("", 3)]

    # A killed run's lock: renewed long ago, so stale; taken over with one more transition.
    sql(
        pg,
        "UPDATE irdrive_locks SET holder = 'dead run', renew_time = now() - interval '1 hour', "
        "duration_seconds = 60, version = version + 1",
    )
    taken = lock(pg, holder="next run")
    assert taken["state"] == "acquired" and taken["took_over"]["holder"] == "dead run"
    assert "dead run" in taken["warnings"][0]
    assert sql(pg, "SELECT holder, transitions, version FROM irdrive_locks") == [("next run", 1, 5)]


@pytest.mark.usefixtures("may_create")
def test_an_update_at_an_old_version_writes_nothing(pg: dict[str, Any]) -> None:
    assert lock(pg)["state"] == "acquired"
    with PgSession(PgConnParams(**login(pg), ssl_mode="disable")) as session:
        backend = PgLockBackend(session, "db1")
        record = backend.read()
        assert record is not None and record.version == "1"
        sql(pg, "UPDATE irdrive_locks SET holder = 'rival', version = version + 1")
        with pytest.raises(ConflictError):
            backend.replace(record)
    assert sql(pg, "SELECT holder FROM irdrive_locks") == [("rival",)]


@pytest.mark.usefixtures("may_create")
def test_concurrent_runs_never_both_hold_it(pg: dict[str, Any]) -> None:
    winners: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(6)

    def run(name: str) -> None:
        with PgSession(PgConnParams(**login(pg), ssl_mode="disable")) as session:
            target = TargetLock(PgLockBackend(session, "db1"), name, 600)
            start.wait()
            try:
                target.acquire(0)
                winners.append(name)
            except LockedError:
                refused.append(name)

    threads = [threading.Thread(target=run, args=(f"run{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(refused) == 5
    assert sql(pg, "SELECT holder FROM irdrive_locks") == [(winners[0],)]
