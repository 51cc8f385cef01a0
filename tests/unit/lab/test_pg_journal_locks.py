"""The lab's PostgreSQL journal marks the runs' lock-row writes (irdrive.ops.pg_lock) as locks."""

from __future__ import annotations

import csv
from pathlib import Path

from irdrive_lab.pg.journal import journal_entries


def _row(statement: str) -> list[str]:
    row = [""] * 23
    row[0], row[1], row[2], row[3] = "2026-12-01 20:00:00.123 UTC", "irdrive", "platform", "42"
    row[13], row[22] = f"statement: {statement}", "irdrive.ops"
    return row


def test_lock_row_writes_are_marked_and_others_are_not(tmp_path: Path) -> None:
    statements = [
        "INSERT INTO irdrive_locks (key, holder) VALUES ('platform', 'me') ON CONFLICT DO NOTHING",
        "UPDATE irdrive_locks SET holder = '', version = version + 1 WHERE key = 'platform'",
        "CREATE TABLE IF NOT EXISTS public.irdrive_locks (key text PRIMARY KEY)",
        "UPDATE sessions SET revoked_at = now() WHERE id = 1",
        "INSERT INTO audit_log (actor) SELECT holder FROM irdrive_locks",
    ]
    with (tmp_path / "postgresql.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(_row(s) for s in statements)
    entries = journal_entries(None, {"log_dir": str(tmp_path)})  # type: ignore[arg-type]
    assert [bool(e.get("lock")) for e in entries] == [True, True, True, False, False]
    assert [e["path"] for e in entries] == ["INSERT", "UPDATE", "CREATE", "UPDATE", "INSERT"]
