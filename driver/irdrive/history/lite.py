"""Read the newest passing drills from an SQLite store with the standard library only.

``irdrive list`` and ``irdrive run`` show or warn about freshness on every call; importing
SQLAlchemy costs them about 0.1-0.2 s (more than ``irdrive list`` is allowed in total), so an
SQLite store is read here with ``sqlite3``, read-only, by the same query as
``Store.last_passing_all`` (a test holds the two to the same answer). A database whose schema
revision is not the one this code knows returns None: the caller opens the full store, which
migrates it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from irdrive.errors import TargetUnreachable
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
    "WHERE rank = 1"
)


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL, None for any other URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or len(url) == len(prefix):
        return None
    return Path(url[len(prefix) :]).expanduser()


def last_passing_all(path: Path) -> dict[str, DrillRecord] | None:
    """The newest passing drill per runbook in the SQLite store at ``path`` (which exists);
    None when its schema is not at ``HEAD_REVISION``."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise TargetUnreachable(f"history store {path}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        try:
            version = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
        except sqlite3.OperationalError:
            return None  # no schema yet: an empty database
        if [tuple(row) for row in version] != [(HEAD_REVISION,)]:
            return None
        rows = conn.execute(LAST_PASSING).fetchall()
        return {rec.runbook: rec for rec in (record_from_row(row) for row in rows)}
    except sqlite3.Error as exc:
        raise TargetUnreachable(f"history store {path}: {exc}") from None
    finally:
        conn.close()
