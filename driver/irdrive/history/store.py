"""The history store on SQLAlchemy Core: open (and migrate), record drills, read them back.

Errors reach the user as one line from ``irdrive.errors``: a URL that is not one (or names a
database SQLAlchemy has no driver for) is a UsageError; a database that cannot be reached or
refuses the login is TargetUnreachable. The URL in those lines never shows its password.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from irdrive.errors import IrdriveError, TargetUnreachable, UsageError
from irdrive.history import location
from irdrive.history.model import DrillRecord, record_from_row
from irdrive.history.revision import PG_MIGRATION_LOCK
from irdrive.history.schema import HEAD_REVISION, VERSION_TABLE, drills, metadata

# Alembic's migration context is process-global: one migration at a time in a process.
_MIGRATING = threading.Lock()

# Seconds to wait for a PostgreSQL server before calling it unreachable (libpq's option).
PG_CONNECT_TIMEOUT = 5


def _reason(exc: BaseException) -> str:
    """The first line of the driver's own message, without SQLAlchemy's SQL and links."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return location.redact(lines[0] if lines else type(orig).__name__)


def make_engine(url: str, connect_timeout: int = PG_CONNECT_TIMEOUT) -> tuple[sa.Engine, str]:
    """An engine for ``url`` and the URL as it may be printed (password hidden)."""
    shown = location.redact(url)
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError:
        raise UsageError(
            f"history store URL {shown!r} is not a database URL "
            "(dialect+driver://user:password@host:port/database, or sqlite:///PATH)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg2 is irdrive's dependency; SQLAlchemy 2.1's default for postgresql:// is psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        from pathlib import Path

        try:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TargetUnreachable(f"history store {shown}: {exc}") from None
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa_exc.NoSuchModuleError, sa_exc.ArgumentError, ImportError) as exc:
        raise UsageError(f"history store URL {shown!r} cannot be used: {_reason(exc)}") from None
    return engine, shown


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the database, None for an empty database."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def create_at_head(conn: sa.Connection) -> None:
    """Create the newest schema in an empty database and record it as migrated to head, as
    Alembic's cookbook does for a fresh database ("create_all, then stamp"): one statement a
    table instead of every migration in turn (and no Alembic import). A test holds the tables
    the migrations build to the same metadata, so both ways give the same schema."""
    metadata.create_all(conn)
    version = sa.Table(
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
    version.create(conn)
    conn.execute(version.insert().values(version_num=HEAD_REVISION))


def migrate(conn: sa.Connection) -> None:
    """Upgrade the database on ``conn`` to the newest schema with Alembic (built in code)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "irdrive.history:migrations")
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


class Store:
    """Drill records in one database. Use as a context manager, or call ``close()``."""

    def __init__(self, engine: sa.Engine, shown_url: str) -> None:
        self.engine = engine
        self.url = shown_url  # password hidden: safe to print

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa_exc.OperationalError as exc:  # cannot connect, log in or open the file
            raise TargetUnreachable(f"history store {self.url}: {_reason(exc)}") from None
        except sa_exc.DBAPIError as exc:  # connected, refused (a permission, a constraint)
            raise IrdriveError(f"history store {self.url}: {_reason(exc)}") from None

    def upgrade(self) -> None:
        """Bring the schema to head; a database already there costs one query. Two clients
        migrating a new database at once take turns: threads of one process on a lock
        (Alembic's context is global), processes on PostgreSQL's advisory lock (env.py) or,
        for SQLite, an exclusive lock on ``<file>.migrate.lock`` beside the database."""
        with self._errors(), self.engine.connect() as conn:
            if current_revision(conn) == HEAD_REVISION:
                return
        with _MIGRATING, self._sqlite_lock(), self._errors(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # env.py takes it again: it stacks
                conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"))
            current = current_revision(conn)
            if current == HEAD_REVISION:
                return  # another client migrated it while this one waited
            if current is None and not set(sa.inspect(conn).get_table_names()) & set(
                metadata.tables
            ):
                create_at_head(conn)  # an empty database: the tables as they are at head
                return
            from alembic.util import CommandError

            try:
                migrate(conn)
            except CommandError:
                raise UsageError(
                    f"history store {self.url} has schema revision {current!r}, which this "
                    f"irdrive does not know (its newest is {HEAD_REVISION!r}): a newer irdrive "
                    "wrote it; upgrade irdrive"
                ) from None

    @contextlib.contextmanager
    def _sqlite_lock(self) -> Iterator[None]:
        """For an SQLite file, an exclusive lock on ``<file>.migrate.lock`` (other backends:
        nothing here)."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            yield
            return
        import fcntl
        from pathlib import Path

        lock_path = (
            Path(url.database).expanduser().with_name(Path(url.database).name + ".migrate.lock")
        )
        try:
            handle = open(lock_path, "a+b")  # noqa: SIM115 - held across the yield
        except OSError as exc:
            raise TargetUnreachable(f"history store {self.url}: {exc}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            handle.close()  # releases the lock

    def record_drill(self, rec: DrillRecord) -> int:
        """Store ``rec`` (its ``id`` is ignored); the new record's id."""
        row = {
            "runbook": rec.runbook,
            "scenario": rec.scenario,
            "variant": rec.variant,
            "started_at": rec.started_at,
            "recorded_at": datetime.now(UTC),
            "passed": rec.passed,
            "failed_check": rec.failed_check,
            "outcome": rec.outcome,
            "detect_s": rec.detect_s,
            "recover_s": rec.recover_s,
            "severity": rec.severity,
            "respond_target_s": rec.respond_target_s,
            "resolve_target_s": rec.resolve_target_s,
            "breached": rec.breached,
            "git_commit": rec.commit,
            "files_digest": rec.files_digest,
            "details": rec.details,
        }
        with self._errors(), self.engine.begin() as conn:
            result = conn.execute(drills.insert().values(**row).returning(drills.c.id))
            return int(result.scalar_one())

    def drills(self, runbook: str | None = None, limit: int = 50) -> list[DrillRecord]:
        """The newest ``limit`` drills (of ``runbook``, or of all runbooks), newest first."""
        query = sa.select(drills)
        if runbook is not None:
            query = query.where(drills.c.runbook == runbook)
        query = query.order_by(drills.c.started_at.desc(), drills.c.id.desc()).limit(limit)
        with self._errors(), self.engine.connect() as conn:
            return [record_from_row(row._mapping) for row in conn.execute(query)]

    def last_passing(self, runbook: str) -> DrillRecord | None:
        """The newest passing drill of ``runbook`` (any variant), or None."""
        query = (
            sa.select(drills)
            .where(drills.c.runbook == runbook, drills.c.passed.is_(True))
            .order_by(drills.c.started_at.desc(), drills.c.id.desc())
            .limit(1)
        )
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return record_from_row(row._mapping) if row is not None else None

    def last_passing_all(self) -> dict[str, DrillRecord]:
        """The newest passing drill of every runbook that has one, by runbook name."""
        ranked = (
            sa.select(
                drills,
                sa.func.row_number()
                .over(
                    partition_by=drills.c.runbook,
                    order_by=(drills.c.started_at.desc(), drills.c.id.desc()),
                )
                .label("rank"),
            )
            .where(drills.c.passed.is_(True))
            .subquery()
        )
        query = sa.select(*(ranked.c[c.name] for c in drills.columns)).where(ranked.c.rank == 1)
        with self._errors(), self.engine.connect() as conn:
            records = [record_from_row(row._mapping) for row in conn.execute(query)]
        return {rec.runbook: rec for rec in records}


def open_engine_store(url: str, connect_timeout: int = PG_CONNECT_TIMEOUT) -> Store:
    store = Store(*make_engine(url, connect_timeout))
    try:
        store.upgrade()
    except BaseException:
        store.close()
        raise
    return store
