"""The history store on SQLite: migration from an empty database, drill records round-trip,
where the store is, one-line errors without the password, and the cheap reader that
``irdrive list`` uses. The same on PostgreSQL: tests/integration/test_history_pg.py."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from irdrive import history
from irdrive.errors import TargetUnreachable, UsageError
from irdrive.history import DrillRecord, lite, open_store
from irdrive.history import store as store_mod
from irdrive.history.revision import HEAD_REVISION, VERSION_TABLE
from irdrive.history.schema import metadata

T0 = datetime(2026, 11, 20, 3, 0, 5, 123456, tzinfo=UTC)


def record(runbook: str = "payments-failover", **changes: object) -> DrillRecord:
    base = DrillRecord(
        runbook=runbook,
        scenario=runbook,
        variant="",
        started_at=T0,
        passed=True,
        failed_check=None,
        outcome="recovered",
        detect_s=4.25,
        recover_s=31.5,
        severity="P1",
        respond_target_s=1800,
        resolve_target_s=14400,
        breached=False,
        commit="0123abc+dirty",
        files_digest="ab" * 32,
        details={"checks": ["health", "alert resolved"], "retries": 2},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IRDRIVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("IRDRIVE_DB_URL", raising=False)
    return tmp_path


def schema_diff(url: str) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_migrates_an_empty_database_and_round_trips_drills(env: Path) -> None:
    url = f"sqlite:///{env / 'h.db'}"
    with open_store(url) as store:
        with store.engine.connect() as conn:
            assert store_mod.current_revision(conn) == HEAD_REVISION
        assert store.drills() == [] and store.last_passing("payments-failover") is None
        east = timezone(timedelta(hours=5))
        rows = [
            record(),
            record(started_at=T0 + timedelta(hours=1), passed=False, failed_check="health"),
            record(started_at=(T0 - timedelta(days=1)).astimezone(east), variant="api-flaky"),
            record("platform-outage", severity="P0", detect_s=None, recover_s=None),
        ]
        ids = [store.record_drill(r) for r in rows]
        assert len(set(ids)) == 4
        newest = store.drills("payments-failover")
        assert [r.id for r in newest] == [ids[1], ids[0], ids[2]]  # newest first
        assert newest[1] == dataclasses.replace(rows[0], id=ids[0])  # every field round-trips
        assert newest[2].started_at == T0 - timedelta(days=1)  # stored and read back as UTC
        assert newest[2].started_at.tzinfo == UTC
        assert [r.id for r in store.drills(limit=2)] == [ids[1], ids[3]]  # same time: by id
        assert store.last_passing("payments-failover") == newest[1]  # the failed one is newer
        assert store.last_passing("platform-outage").detect_s is None  # type: ignore[union-attr]
        assert store.last_passing("rollback") is None
        every = store.last_passing_all()
        assert {k: v.id for k, v in every.items()} == {
            "payments-failover": ids[0],
            "platform-outage": ids[3],
        }
    # The migrated schema is exactly the tables the code uses.
    assert schema_diff(url) == []
    # The stdlib reader gives the same answer as SQLAlchemy.
    assert lite.last_passing_all(env / "h.db") == every


def test_the_migrations_build_the_same_schema_as_a_fresh_store(env: Path) -> None:
    """A new store is created at head in one step (create_at_head); an existing one is brought
    there by the migrations: both give exactly the tables the code uses."""
    fresh, migrated = f"sqlite:///{env / 'fresh.db'}", f"sqlite:///{env / 'migrated.db'}"
    with open_store(fresh):
        pass
    engine = sa.create_engine(migrated)
    try:
        with engine.begin() as conn:
            store_mod.migrate(conn)  # every migration, from an empty database
            assert store_mod.current_revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()
    assert schema_diff(fresh) == [] and schema_diff(migrated) == []
    with open_store(migrated) as store:  # at head already: opened without migrating
        assert store.drills() == []


def test_records_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        record(started_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="outcome"):
        record(outcome="fine")


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "irdrive.history:migrations")
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_where_the_store_is(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = env / "state" / "history.db"
    assert history.last_passing_all() == {}
    assert not default.exists()  # reading does not create it
    with open_store() as store:
        store.record_drill(record())
    assert default.is_file()
    config = env / "config.toml"
    config.write_text(f'[history]\ndb_url = "sqlite:///{env / "team.db"}"\n')
    monkeypatch.setenv("IRDRIVE_CONFIG", str(config))
    with open_store() as store:
        assert store.drills() == []
        store.record_drill(record("rollback"))
    assert list(history.last_passing_all()) == ["rollback"]
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{default}")  # the environment wins
    assert list(history.last_passing_all()) == ["payments-failover"]


def test_an_old_schema_is_read_through_the_full_store(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = env / "h.db"
    with open_store(f"sqlite:///{path}") as store:
        store.record_drill(record())
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'older'"))
    assert lite.last_passing_all(path) is None  # not a schema it knows

    def as_head(conn: sa.Connection) -> None:  # stands in for a real upgrade from "older"
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '{HEAD_REVISION}'"))

    monkeypatch.setattr(store_mod, "migrate", as_head)
    assert list(history.last_passing_all(f"sqlite:///{path}")) == ["payments-failover"]
    assert lite.last_passing_all(path) is not None  # at head again


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_errors_are_one_line_without_the_password(env: Path) -> None:
    secret = "S3cr3t-pw"
    with pytest.raises(UsageError) as bad:
        open_store(f"postgresql//irdrive:{secret}@db/irdrive")
    assert "not a database URL" in str(bad.value) and secret not in str(bad.value)
    with pytest.raises(UsageError) as unknown:
        open_store(f"nosuchdb://irdrive:{secret}@db/irdrive")
    assert secret not in str(unknown.value) and "\n" not in str(unknown.value)
    down = f"postgresql://irdrive:{secret}@127.0.0.1:{free_port()}/irdrive"
    for call in (lambda: open_store(down), lambda: history.last_passing_all(down)):
        with pytest.raises(TargetUnreachable) as unreachable:
            call()
        message = str(unreachable.value)
        assert message.startswith("history store postgresql://irdrive:***@127.0.0.1:")
        assert secret not in message and "\n" not in message
    not_db = env / "not.db"
    not_db.write_text("this is not a database, but long enough to look like a header\n" * 20)
    with pytest.raises(TargetUnreachable, match="not a database"):
        lite.last_passing_all(not_db)


def test_redact() -> None:
    assert (
        history.location.redact("postgresql://u:p@ss@h:5/db and sqlite:///x")
        == "postgresql://u:***@h:5/db and sqlite:///x"
    )
    assert history.location.redact("postgresql://h/db") == "postgresql://h/db"


def test_importing_the_history_package_imports_no_sqlalchemy() -> None:
    code = (
        "import sys, irdrive.history, irdrive.history.lite, irdrive.freshness\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_schema_from_a_newer_irdrive_is_one_line(env: Path) -> None:
    url = f"sqlite:///{env / 'h.db'}"
    with open_store(url) as store, store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(UsageError, match="schema revision '9999'.*upgrade irdrive"):
        open_store(url)
    with pytest.raises(UsageError, match="9999"):
        history.last_passing_all(url)  # the cheap reader does not know it either


def test_an_up_to_date_store_opens_without_importing_alembic(env: Path) -> None:
    url = f"sqlite:///{env / 'h.db'}"
    open_store(url).close()
    code = (
        "import sys; from irdrive.history import open_store; open_store(sys.argv[1]).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
