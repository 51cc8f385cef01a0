"""`irdrive incident timeline` and `irdrive incident verify` through the CLI, on a SQLite
store; the timeline tampered with by direct SQL: an edited row, a deleted row (in the middle
and at the end), an inserted one and reordered rows are each found."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from irdrive.cli import cli
from irdrive.incidents.store import NewEntry, open_incidents

T0 = datetime(2026, 12, 2, 3, 15, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history.db"
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{path}")
    monkeypatch.setenv("IRDRIVE_USER", "alice")
    monkeypatch.setenv("IRDRIVE_TZ", "Europe/Berlin")
    return path


@pytest.fixture
def ident(db: Path) -> str:
    """An incident with 6 entries: opened, run.start, two task ends, a change, run.end."""
    with open_incidents() as store:
        inc = store.open(title="Payments failing", severity="P1", actor="alice", now=T0)
        store.append(
            inc.id,
            [
                NewEntry(
                    "run.start",
                    "alice ran payments-failover against lab",
                    "alice",
                    {"runbook": "payments-failover", "check": False},
                    T0 + timedelta(minutes=1),
                ),  # fmt: skip
                NewEntry(
                    "task.end",
                    "ok Read the payment ConfigMap [lab-k8s] 0.2s",
                    "run:R1",
                    {"status": "ok"},
                    T0 + timedelta(minutes=2),
                ),  # fmt: skip
                NewEntry(
                    "task.end",
                    "changed Make the backup processor the primary [lab-k8s] 2.0s",
                    "run:R1",
                    {"status": "changed"},
                    T0 + timedelta(minutes=3),
                ),  # fmt: skip
                NewEntry(
                    "change",
                    "changed configmap/platform/payment-config: PRIMARY_PROCESSOR ccbill -> segpay",
                    "run:R1",
                    {"before": {"PRIMARY_PROCESSOR": "ccbill"}},
                    T0 + timedelta(minutes=3),
                ),  # fmt: skip
                NewEntry(
                    "run.end",
                    "payments-failover SUCCESS (exit 0) in 3m 00s",
                    "run:R1",
                    {"exit_code": 0},
                    T0 + timedelta(minutes=4),
                ),  # fmt: skip
            ],
        )
    return inc.id


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["incident", *args])


@pytest.fixture
def sql(db: Path, ident: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db)
    try:
        yield conn
    finally:
        conn.commit()
        conn.close()


def head(db: Path, ident: str) -> str:
    with open_incidents() as store:
        return store.verify(ident).head


def test_an_intact_timeline_verifies(db: Path, ident: str) -> None:
    res = invoke("verify", ident)
    assert res.exit_code == 0, res.output
    assert res.output == f"timeline of {ident}: 6 entries, chain intact, head {head(db, ident)}\n"
    res = invoke("verify", ident, "--json")
    assert res.exit_code == 0
    assert json.loads(res.output) == {
        "incident_id": ident,
        "ok": True,
        "entries": 6,
        "head": head(db, ident),
        "problems": [],
    }


def problems(ident: str) -> list[str]:
    res = invoke("verify", ident)
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert lines and all(line.startswith(f"{ident}: ") for line in lines)
    return [line.removeprefix(f"{ident}: ") for line in lines]


def test_an_edited_row_is_found(sql: sqlite3.Connection, ident: str) -> None:
    sql.execute(
        "UPDATE incident_timeline SET summary = 'changed nothing' WHERE incident_id = ? AND seq = 5",
        (ident,),
    )
    sql.commit()
    assert problems(ident) == ["entry 5 (change) was altered"]
    res = invoke("verify", ident, "--json")
    assert res.exit_code == 1
    assert json.loads(res.output)["problems"] == ["entry 5 (change) was altered"]


def test_an_edited_data_field_is_found(sql: sqlite3.Connection, ident: str) -> None:
    sql.execute(
        "UPDATE incident_timeline SET data = ? WHERE incident_id = ? AND seq = 6",
        (json.dumps({"exit_code": 1}), ident),
    )
    sql.commit()
    assert problems(ident) == ["entry 6 (run.end) was altered"]


def test_a_deleted_middle_row_is_found(sql: sqlite3.Connection, ident: str) -> None:
    sql.execute("DELETE FROM incident_timeline WHERE incident_id = ? AND seq = 3", (ident,))
    sql.commit()
    found = problems(ident)
    assert "entry 3 missing: deleted" in found
    assert any("entry 4 does not follow the entry before it" in p for p in found)
    assert any("1 deleted" in p for p in found)


def test_a_deleted_last_row_is_found(sql: sqlite3.Connection, ident: str) -> None:
    sql.execute("DELETE FROM incident_timeline WHERE incident_id = ? AND seq = 6", (ident,))
    sql.commit()
    found = problems(ident)
    assert found == ["the timeline has 5 entries, the incident recorded 6: 1 deleted"]


def test_reordered_rows_are_found(sql: sqlite3.Connection, ident: str) -> None:
    """Rows 3 and 4 swap places: their contents exchanged, numbers and hashes included, as
    if written in the other order."""
    rows = {
        seq: row
        for seq, *row in sql.execute(
            "SELECT seq, at, kind, actor, summary, data, prev_hash, hash FROM incident_timeline "
            "WHERE incident_id = ? AND seq IN (3, 4)",
            (ident,),
        )
    }
    ids = dict(
        sql.execute(
            "SELECT seq, id FROM incident_timeline WHERE incident_id = ? AND seq IN (3, 4)",
            (ident,),
        ).fetchall()
    )
    for seq, other in ((3, 4), (4, 3)):
        sql.execute(
            "UPDATE incident_timeline SET seq = ?, at = ?, kind = ?, actor = ?, summary = ?, "
            "data = ?, prev_hash = ?, hash = ? WHERE id = ?",
            (other + 1000, *rows[other], ids[seq]),
        )
    sql.execute("UPDATE incident_timeline SET seq = seq - 1000 WHERE seq > 1000")
    sql.commit()
    found = problems(ident)
    assert "entry 4 does not follow the entry before it: reordered or an entry removed" in found
    assert any("out of order" in p for p in found)


def test_a_reordered_sequence_number_is_found(sql: sqlite3.Connection, ident: str) -> None:
    """Only the numbers swapped (the rows stay where they are): both entries are altered."""
    sql.execute(
        "UPDATE incident_timeline SET seq = CASE seq WHEN 3 THEN 1003 ELSE 1004 END "
        "WHERE incident_id = ? AND seq IN (3, 4)",
        (ident,),
    )
    sql.execute("UPDATE incident_timeline SET seq = 7 - (seq - 1000) WHERE seq > 1000")
    sql.commit()
    found = problems(ident)
    assert "entry 4 (task.end) was altered" in found and "entry 3 (task.end) was altered" in found


def test_an_inserted_row_is_found(sql: sqlite3.Connection, ident: str) -> None:
    row = sql.execute(
        "SELECT at, kind, actor, data, prev_hash, hash FROM incident_timeline "
        "WHERE incident_id = ? AND seq = 6",
        (ident,),
    ).fetchone()
    sql.execute(
        "INSERT INTO incident_timeline (incident_id, seq, at, kind, actor, summary, data, "
        "prev_hash, hash) VALUES (?, 7, ?, ?, ?, 'all fine', ?, ?, ?)",
        (ident, *row),
    )
    sql.commit()
    found = problems(ident)
    assert "entry 7 (run.end) was altered" in found
    assert any("entries inserted" in p for p in found)


def test_timeline_shows_each_entry_with_utc_and_local_time(
    ident: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one row a line
    res = invoke("timeline", ident)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "03:15:00 UTC (04:15:00 CET)" in text
    assert "[lab-k8s]" in text  # text, not rich markup
    assert "PRIMARY_PROCESSOR ccbill -> segpay" in text
    for kind in ("opened", "run.start", "task.end", "change", "run.end"):
        assert kind in text
    res = invoke("timeline", ident, "--tz", "America/New_York")
    assert "(2026-12-01 22:15:00 EST)" in " ".join(res.output.split())


def test_timeline_json_and_kind_filter(ident: str) -> None:
    res = invoke("timeline", ident, "--json")
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data["incident_id"] == ident
    entries = data["entries"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0]["at"] == "2026-12-02T03:15:00+00:00"
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert set(entries[4]) == {
        "incident_id", "seq", "at", "kind", "summary", "actor", "data", "prev_hash", "hash"
    }  # fmt: skip

    res = invoke("timeline", ident, "--json", "--kind", "change", "--kind", "run.end")
    assert [e["kind"] for e in json.loads(res.output)["entries"]] == ["change", "run.end"]
    res = invoke("timeline", ident, "--json", "--kind", "task")
    assert [e["seq"] for e in json.loads(res.output)["entries"]] == [3, 4]
    res = invoke("timeline", ident, "--json", "--kind", "run")
    assert [e["seq"] for e in json.loads(res.output)["entries"]] == [2, 3, 4, 5, 6]
    res = invoke("timeline", ident, "--kind", "note")
    assert res.exit_code == 0 and "no timeline entries match" in res.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["timeline", "INC-20991231-000000"], 2, "no incident INC-20991231-000000"),
        (["verify", "INC-20991231-000000"], 2, "no incident INC-20991231-000000"),
        (["timeline", "INC-1"], 2, "invalid incident id 'INC-1'"),
        (["verify", "payments"], 2, "invalid incident id 'payments'"),
        (["timeline", "{ident}", "--kind", "gossip"], 2, "unknown entry kind 'gossip'"),
        (["timeline", "{ident}", "--tz", "Mars/Olympus"], 2, "unknown time zone"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    db: Path, ident: str, args: list[str], code: int, message: str
) -> None:
    before = db.read_bytes()
    res = invoke(*[a.format(ident=ident) for a in args])
    assert res.exit_code == code, res.output
    assert res.output.startswith("Error: ") and message in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert db.read_bytes() == before


def test_an_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://irdrive:pw@127.0.0.1:1/irdrive")
    res = invoke("verify", "INC-20261202-031500")
    assert res.exit_code == 3, res.output
    assert res.output.startswith("Error: history store") and len(res.output.splitlines()) == 1
    assert "pw@" not in res.output
