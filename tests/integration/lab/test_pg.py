"""The lab's PostgreSQL: a real server run as postgres, seeded, with the db-down/db-slow faults."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _ports import port_base
from helpers import has_user, requires, wait_until

from irdrive_lab.control import proc
from irdrive_lab.control.config import DEFAULT_PG_BINDIR, ENV_PG_BINDIR, LabConfig
from irdrive_lab.control.errors import LabError
from irdrive_lab.pg import cluster
from irdrive_lab.pg import faults as pg_faults
from irdrive_lab.pg import journal as pg_journal
from irdrive_lab.pg import postgres as pg

pytestmark = [
    requires(os.geteuid() == 0, "root (the lab runs PostgreSQL as the postgres user)"),
    requires((Path(DEFAULT_PG_BINDIR) / "postgres").exists(), f"PostgreSQL in {DEFAULT_PG_BINDIR}"),
    requires(has_user("postgres"), "the postgres user"),
]

Lab = tuple[LabConfig, dict[str, Any]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    cfg = LabConfig(dir=Path(tmp_path_factory.mktemp("pg-lab")), port_base=port_base(1))
    started = time.monotonic()
    info: dict[str, Any] = {}
    try:
        info = pg.start(cfg, {})
        pg.wait_ready(cfg, info, timeout=60)
        print(f"postgres initdb+start+seed: {time.monotonic() - started:.2f}s")
        yield cfg, info
    finally:
        pg.destroy(cfg, info)


def connect(info: dict[str, Any], role: str = "responder") -> Any:
    conn = psycopg2.connect(
        host=info["host"],
        port=info["port"],
        dbname=info["dbname"],
        user=info["app_user" if role == "app" else "user"],
        password=info["app_password" if role == "app" else "password"],
        connect_timeout=3,
    )
    conn.autocommit = True
    return conn


def scalar(conn: Any, sql: str, args: tuple[Any, ...] = ()) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def postgres_pids_for(data_dir: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmdline and data_dir in cmdline:
            pids.append(int(entry.name))
    return pids


def test_seeded_rows(lab: Lab) -> None:
    _, info = lab
    conn = connect(info)
    try:
        counts = {
            t: scalar(conn, f"SELECT count(*) FROM {t}")
            for t in ("users", "sessions", "payments", "auth_logs", "audit_log")
        }
        assert counts == {
            "users": 200,
            "sessions": 300,
            "payments": 1000,
            "auth_logs": 500,
            "audit_log": 500,
        }
        assert scalar(conn, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL") == 300
        assert scalar(
            conn, "SELECT array_agg(DISTINCT processor ORDER BY processor) FROM payments"
        ) == [
            "ccbill",
            "segpay",
        ]
        span = scalar(conn, "SELECT now() - min(created_at) FROM auth_logs")
        assert span.total_seconds() <= 48 * 3600 + 60
        assert scalar(conn, "SELECT count(DISTINCT event) FROM auth_logs") == 3
        assert scalar(conn, "SELECT count(DISTINCT action) FROM audit_log") == 4
        assert scalar(conn, "SELECT tableowner FROM pg_tables WHERE tablename = 'payments'") == (
            "platform_app"
        )
    finally:
        conn.close()
    assert pg.health(*lab)[0]


def test_pg_stat_statements_and_responder_rights(lab: Lab) -> None:
    _, info = lab
    conn = connect(info)
    try:
        assert scalar(conn, "SHOW shared_preload_libraries") == "pg_stat_statements"
        assert scalar(
            conn, "SELECT extversion FROM pg_extension WHERE extname = %s", ("pg_stat_statements",)
        )
        scalar(conn, "SELECT count(*) FROM payments WHERE processor = 'segpay'")
        assert (
            scalar(
                conn,
                "SELECT count(*) FROM pg_stat_statements WHERE query LIKE %s",
                ("%FROM payments WHERE processor%",),
            )
            >= 1
        )
        roles = scalar(
            conn,
            "SELECT array_agg(b.rolname ORDER BY b.rolname) FROM pg_auth_members m "
            "JOIN pg_roles b ON b.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            "WHERE u.rolname = 'irdrive'",
        )
        assert roles == ["pg_monitor", "pg_signal_backend"]
        with conn.cursor() as cur:
            cur.execute("UPDATE sessions SET revoked_at = now() WHERE id = 1")
            assert cur.rowcount == 1
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DELETE FROM payments WHERE id = 1")
    finally:
        conn.close()


def test_journal_entries_hold_mutating_statements_only(lab: Lab) -> None:
    cfg, info = lab
    before = pg_journal.journal_entries(cfg, info)
    # The lab's own seeding is not logged.
    assert not [e for e in before if e["path"] in ("CREATE", "INSERT")]
    conn = connect(info, "app")
    try:
        scalar(conn, "SELECT count(*) FROM users")
        with conn.cursor() as cur:
            cur.execute("UPDATE users SET status = 'locked' WHERE id = %s", (7,))
    finally:
        conn.close()
    new = wait_until(
        lambda: pg_journal.journal_entries(cfg, info)[len(before) :],
        timeout=5,
        what="the UPDATE in the lab's journal",
    )
    assert [(e["source"], e["method"], e["path"], e["user"]) for e in new] == [
        ("postgres", "SQL", "UPDATE", "platform_app_a")
    ]
    assert new[0]["body_sha256"].startswith("sha256:")
    assert abs(new[0]["ts"] - time.time()) < 60


def test_db_slow_holds_long_and_idle_in_transaction_sessions(lab: Lab) -> None:
    cfg, info = lab
    fault = pg_faults.fault_db_slow(cfg, info)
    try:
        conn = connect(info)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pid, state, query, now() - state_change FROM pg_stat_activity "
                    "WHERE application_name = 'lab-db-slow'"
                )
                rows = cur.fetchall()
            idle_tx = [r for r in rows if r[1] == "idle in transaction"]
            long_running = [r for r in rows if r[1] == "active" and "pg_sleep(3600)" in r[2]]
            assert len(idle_tx) == 2
            assert len(long_running) == 2
            # Slow report queries show in pg_stat_statements.
            wait_until(
                lambda: scalar(
                    conn,
                    "SELECT count(*) FROM pg_stat_statements WHERE max_exec_time > 300 "
                    "AND query NOT LIKE '%%pg_sleep(3600)%%'",
                ),
                timeout=15,
                interval=0.2,
                what="a slow report query in pg_stat_statements",
            )
            # The responder role may end them (pg_signal_backend).
            assert scalar(conn, "SELECT pg_terminate_backend(%s)", (idle_tx[0][0],)) is True
        finally:
            conn.close()
    finally:
        pg_faults.clear_db_slow(cfg, info)
    assert pg_faults.slow_sessions(cfg, info) == {"active": 0, "idle in transaction": 0}
    assert not proc.is_alive(fault["procs"][0])


def test_db_down_and_clear(lab: Lab) -> None:
    cfg, info = lab
    pg_faults.fault_db_down(cfg, info)
    ok, message = pg.health(cfg, info)
    assert not ok and "unreachable" in message
    assert postgres_pids_for(info["data_dir"]) == []
    pg_faults.clear_db_down(cfg, info)
    assert pg.health(cfg, info)[0]
    conn = connect(info)
    try:
        assert scalar(conn, "SELECT count(*) FROM payments") == 1000
    finally:
        conn.close()


def test_reseed_restores_rows(lab: Lab) -> None:
    cfg, info = lab
    conn = connect(info, "app")
    try:
        scalar(conn, "DELETE FROM audit_log WHERE id > 10 RETURNING 1")
        with conn.cursor() as cur:
            cur.execute("UPDATE sessions SET revoked_at = now()")
    finally:
        conn.close()
    pg.reseed(cfg, info)
    conn = connect(info)
    try:
        assert scalar(conn, "SELECT count(*) FROM audit_log") == 500
        assert scalar(conn, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL") == 300
    finally:
        conn.close()


def test_stop_leaves_no_process_and_restart_reuses_the_cluster(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=port_base(2))
    info = pg.start(cfg, {})
    try:
        pg.wait_ready(cfg, info, timeout=60)
        assert info["initdb"] and info["seeded_now"]
        assert (tmp_path / "pgdata").resolve() == Path(info["data_root"])
        pg.stop(cfg, info)
        assert postgres_pids_for(info["data_dir"]) == []
        assert not proc.port_in_use(info["port"]) and not pg.health(cfg, info)[0]
        pg.stop(cfg, info)  # idempotent

        info = pg.start(cfg, {})
        pg.wait_ready(cfg, info, timeout=60)
        assert not info["initdb"] and not info["seeded_now"]
        assert pg.health(cfg, info)[0]
    finally:
        pg.destroy(cfg, info)
    assert postgres_pids_for(info["data_dir"]) == []
    assert not cluster.data_root(cfg).exists()
    assert not (tmp_path / "pgdata").is_symlink()


def test_missing_binaries_give_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PG_BINDIR, str(tmp_path / "nowhere"))
    cfg = LabConfig(dir=tmp_path, port_base=port_base(3))
    with pytest.raises(LabError) as err:
        pg.start(cfg, {})
    assert "PostgreSQL binaries missing" in str(err.value)
    assert "\n" not in str(err.value)
    assert not cluster.data_root(cfg).exists()


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=port_base(4))
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", cfg.port("postgres")))
            sock.listen()
            with pytest.raises(LabError, match="already in use"):
                pg.start(cfg, {})
    finally:
        pg.destroy(cfg)


def test_intrusion_rows_added_and_cleared(lab: Lab) -> None:
    cfg, info = lab
    ips = ["203.0.113.45", "198.51.100.23"]
    conn = connect(info)
    try:
        before = scalar(conn, "SELECT count(*) FROM auth_logs")
        rows = pg_faults.fault_intrusion_db(cfg, info, ips)
        assert rows == 80
        failed = scalar(
            conn,
            "SELECT count(*) FROM auth_logs WHERE ip = ANY(%s::inet[]) "
            "AND event <> 'login_success' AND created_at > now() - interval '11 minutes'",
            (ips,),
        )
        assert failed >= 80
        pg_faults.clear_intrusion_db(cfg, info, ips)
        assert scalar(conn, "SELECT count(*) FROM auth_logs") == before
    finally:
        conn.close()
