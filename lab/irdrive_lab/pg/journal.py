"""The PostgreSQL source of the lab's journal: mutating statements from the server's csv log."""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.pg.cluster import cluster_paths

_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.DOTALL)
# The runs' lock row (irdrive.ops.pg_lock) is their bookkeeping, as a Lease write is: marked.
_LOCK_TABLE = re.compile(
    r"^(?:INSERT\s+INTO|UPDATE|CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS|COMMENT\s+ON\s+TABLE)"
    r"\s+(?:\w+\.)?irdrive_locks\b",
    re.IGNORECASE,
)
# csvlog columns (PostgreSQL 15)
_COL_TIME, _COL_USER, _COL_DB, _COL_PID, _COL_MESSAGE, _COL_APP = 0, 1, 2, 3, 13, 22


def journal_entries(cfg: LabConfig, info: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Mutating statements from the server's csv log (``log_statement = 'mod'``), oldest first."""
    log_dir = Path((info or {}).get("log_dir") or cluster_paths(cfg)["log"])
    entries: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.csv")):
        with path.open(newline="", errors="replace") as fh:
            for row in csv.reader(fh):
                if len(row) <= _COL_APP:
                    continue
                match = _STATEMENT.match(row[_COL_MESSAGE])
                if not match:
                    continue
                statement = match.group(1).strip()
                words = statement.split(None, 1)
                entries.append(
                    {
                        "ts": _log_time(row[_COL_TIME]),
                        "source": "postgres",
                        "method": "SQL",
                        "path": words[0].upper() if words else "",
                        # as control.journal.body_digest; the journal folds this module in, so no import back
                        "body_sha256": "sha256:" + hashlib.sha256(statement.encode()).hexdigest(),
                        "status": None,
                        "user": row[_COL_USER],
                        "database": row[_COL_DB],
                        "pid": int(row[_COL_PID]) if row[_COL_PID].isdigit() else None,
                        "application_name": row[_COL_APP],
                        **({"lock": True} if _LOCK_TABLE.match(statement) else {}),
                    }
                )
    entries.sort(key=lambda e: e["ts"])
    return entries


def _log_time(value: str) -> float:
    try:
        return round(datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f %Z").timestamp(), 6)
    except ValueError:
        return 0.0
