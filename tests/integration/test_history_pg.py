"""The history store on the lab's PostgreSQL, as a team would share it: a fresh database,
migrated from empty by ``open_store``, drills recorded and read back (through SQLAlchemy and
through the cheap reader ``irdrive list`` uses), errors without the password; then dropped."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import psycopg2
import pytest
import sqlalchemy as sa

from irdrive import history
from irdrive.errors import TargetUnreachable
from irdrive.history import DrillRecord, lite, open_store
from irdrive.history.revision import HEAD_REVISION, VERSION_TABLE
from irdrive.history.schema import metadata
from irdrive.history.store import current_revision

PG_MIGRATION_LOCK = 0x1D5C_4E3A  # irdrive/history/migrations/env.py

pytestmark = pytest.mark.lab


def _admin(lab: dict[str, Any]) -> Any:
    pg = lab["parts"]["postgres"]
    conn = psycopg2.connect(
        host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="postgres"
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_store(pg_database: tuple[str, str]) -> tuple[str, str]:
    return pg_database


def drill(runbook: str, started_at: datetime, passed: bool = True) -> DrillRecord:
    return DrillRecord(
        runbook=runbook,
        scenario=runbook,
        variant="",
        started_at=started_at,
        passed=passed,
        failed_check=None if passed else "alert resolved",
        outcome="recovered" if passed else "failed",
        detect_s=3.5,
        recover_s=42.0 if passed else None,
        severity="P0",
        respond_target_s=900,
        resolve_target_s=3600,
        breached=False,
        commit="cafe1234",
        files_digest="cd" * 32,
        details={"fault": "processor-down", "alerts": [{"name": "PaymentsDown"}]},
    )


def test_store_on_postgresql_from_an_empty_database(pg_store: tuple[str, str]) -> None:
    url, password = pg_store
    t0 = datetime(2026, 11, 30, 2, 0, 0, 250000, tzinfo=UTC)
    # A client migrating the new database holds the migration lock: another one waits for it
    # (then finds the schema at head), instead of both creating the tables.
    holder = psycopg2.connect(url, connect_timeout=5)
    with holder.cursor() as cur:
        cur.execute(f"SELECT pg_advisory_lock({PG_MIGRATION_LOCK})")
    opened = threading.Event()
    waiter = threading.Thread(target=lambda: (open_store(url).close(), opened.set()))
    waiter.start()
    assert not opened.wait(0.5)  # waits on the lock
    with holder.cursor() as cur:
        cur.execute(f"SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})")
    holder.close()
    waiter.join(timeout=60)
    assert opened.is_set()
    with open_store(url) as store:
        with store.engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
        rows = [
            drill("platform-outage", t0),
            drill("platform-outage", t0 + timedelta(minutes=5), passed=False),
            drill("security-breach", t0 - timedelta(days=2)),
        ]
        ids = [store.record_drill(r) for r in rows]
        read = store.drills("platform-outage")
        assert [r.id for r in read] == [ids[1], ids[0]]
        assert read[1] == dataclasses.replace(rows[0], id=ids[0])  # every field round-trips
        assert read[1].started_at.tzinfo == UTC
        every = store.last_passing_all()
        assert {k: v.id for k, v in every.items()} == {
            "platform-outage": ids[0],
            "security-breach": ids[2],
        }
        assert store.last_passing("platform-outage") == every["platform-outage"]
    # The migrated schema is exactly the code's tables.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
    engine.dispose()
    # The reader of `irdrive list` and `irdrive run` gets the same, without SQLAlchemy.
    assert lite.last_passing_pg(url, 2) == every
    assert history.last_passing_all(url) == every
    # A wrong password: one line, the password (wrong or right) never shown.
    wrong = url.replace(quote(password, safe=""), "not-the-password", 1)
    for call in (lambda: open_store(wrong), lambda: history.last_passing_all(wrong)):
        with pytest.raises(TargetUnreachable) as failed:
            call()
        message = str(failed.value)
        assert "password authentication failed" in message and "\n" not in message
        assert "not-the-password" not in message and password not in message
