"""Read the newest passing drills without SQLAlchemy: SQLite by ``sqlite3``, PostgreSQL by
``psycopg2`` (libpq takes the URL itself).

``irdrive list`` and ``irdrive run`` show or warn about freshness on every call; importing
SQLAlchemy costs them 0.1-0.2 s (more than ``irdrive list`` is allowed in total), so the store
is read here, by one portable query equal to ``Store.last_passing_all`` (a test holds the two
to the same answer on both backends). A database whose schema revision is not the one this
code knows, or a URL this module does not handle, gives None: the caller opens the full store,
which migrates it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from irdrive.errors import TargetUnreachable
from irdrive.history import location
from irdrive.history.model import DrillRecord, record_from_row
from irdrive.history.revision import HEAD_REVISION, VERSION_TABLE

COLUMNS = (
    "id, runbook, scenario, variant, started_at, recorded_at, passed, failed_check, outcome, "
    "detect_s, recover_s, severity, respond_target_s, resolve_target_s, breached, git_commit, "
    "files_digest, details"
)
# Started_at is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) by SQLAlchemy: text order is
# time order.
LAST_PASSING = (
    f"SELECT {COLUMNS} FROM (SELECT {COLUMNS}, row_number() OVER ("
    "PARTITION BY runbook ORDER BY started_at DESC, id DESC) AS rank FROM drills WHERE passed) "
    "AS ranked WHERE rank = 1"
)


def _records(cursor: Any) -> dict[str, DrillRecord] | None:
    """Run the version check and the query on a DB-API cursor."""
    cursor.execute(f"SELECT version_num FROM {VERSION_TABLE}")
    if [tuple(row) for row in cursor.fetchall()] != [(HEAD_REVISION,)]:
        return None
    cursor.execute(LAST_PASSING)
    names = [col[0] for col in cursor.description]
    found = (record_from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall())
    return {rec.runbook: rec for rec in found}


def last_passing_pg(url: str, connect_timeout: int) -> dict[str, DrillRecord] | None:
    """The same from PostgreSQL at ``url`` (``postgresql[+psycopg2]://``); None when the URL
    is not one libpq reads or the schema is not at ``HEAD_REVISION``."""
    import psycopg2
    import psycopg2.errors

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        return None
    shown = location.redact(url)
    try:
        conn = psycopg2.connect(f"postgresql://{rest}", connect_timeout=connect_timeout)
    except psycopg2.ProgrammingError:
        return None  # a query parameter libpq does not know: SQLAlchemy's to read
    except psycopg2.Error as exc:
        reason = location.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise TargetUnreachable(f"history store {shown}: {reason}") from None
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cursor:
            try:
                return _records(cursor)
            except psycopg2.errors.UndefinedTable:
                return None  # an empty database
    except psycopg2.Error as exc:
        reason = location.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise TargetUnreachable(f"history store {shown}: {reason}") from None
    finally:
        conn.close()


def last_passing_all(path: Path) -> dict[str, DrillRecord] | None:
    """The newest passing drill per runbook in the SQLite store at ``path`` (which exists);
    None when its schema is not at ``HEAD_REVISION``."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise TargetUnreachable(f"history store {path}: {exc}") from None
    try:
        try:
            return _records(conn.cursor())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None  # no schema yet: an empty database
            raise
    except sqlite3.Error as exc:
        raise TargetUnreachable(f"history store {path}: {exc}") from None
    finally:
        conn.close()
