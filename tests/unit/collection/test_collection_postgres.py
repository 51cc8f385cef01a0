"""module_utils.postgres and irdrive.ops.pg_health against a real, throw-away PostgreSQL.

The server (Debian's PostgreSQL 15, run as the postgres user) listens on 127.0.0.1 at a free
port; without the binaries, root or the postgres user the tests skip (and fail under CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    TransientError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession
from ansible_collections.irdrive.ops.plugins.modules import pg_health
from helpers import has_user, require, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "canary-pg-5b1e"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(*argv: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
    )


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, Any]]:
    require(os.geteuid() == 0, "root (PostgreSQL runs as the postgres user)")
    require((PG_BIN / "initdb").exists(), f"PostgreSQL 15 in {PG_BIN}")
    require(shutil.which("runuser"), "runuser is not on PATH")
    require(has_user("postgres"), "the postgres user")
    root = Path(tempfile.mkdtemp(prefix="irdrive-ops-unit-pg-"))
    shutil.chown(root, "postgres")
    data, sock = root / "data", root / "run"
    sock.mkdir()
    shutil.chown(sock, "postgres")
    port = free_port()
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock}"
    log = root / "postgres.log"
    as_postgres(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(log),
        "-o",
        options,
        "-w",
        "-t",
        "20",
        "start",
    )
    try:
        admin = psycopg2.connect(host=str(sock), port=port, user="postgres", dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("CREATE ROLE irdrive LOGIN PASSWORD %s", (PASSWORD,))
            cursor.execute("GRANT pg_read_all_stats TO irdrive")
        admin.close()
        yield {
            "login_host": "127.0.0.1",
            "login_port": port,
            "login_user": "irdrive",
            "login_password": PASSWORD,
            "socket": str(sock),
        }
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def login(pg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pg.items() if k != "socket"}


def test_connection_options_carry_timeouts() -> None:
    params = PgConnParams(
        login_host="db", login_port=6432, statement_timeout=1500, lock_timeout=200
    )
    kwargs = params.dsn_kwargs()
    assert kwargs["options"] == "-c statement_timeout=1500 -c lock_timeout=200"
    assert kwargs["host"] == "db" and kwargs["port"] == 6432
    assert kwargs["connect_timeout"] == 5 and kwargs["sslmode"] == "prefer"
    assert "password" not in kwargs
    assert params.target == "db:6432"
    socket_params = PgConnParams(login_host="db", login_unix_socket="/run/pg")
    assert socket_params.dsn_kwargs()["host"] == "/run/pg"


def test_unreachable_server_names_host_and_port() -> None:
    port = free_port()
    with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}"):
        PgSession(PgConnParams(login_host="127.0.0.1", login_port=port, connect_timeout=2))


def test_pg_health_unreachable(run_module) -> None:
    port = free_port()
    args = {"login_host": "127.0.0.1", "login_port": port, "login_password": PASSWORD}
    result, failed = run_module(pg_health, args)
    assert failed and result["error_kind"] == "unreachable"
    assert f"127.0.0.1:{port}" in result["msg"]
    assert PASSWORD not in result["msg"]
    reported, failed = run_module(pg_health, {**args, "fail_on_unhealthy": False})
    assert not failed and reported["reachable"] is False and reported["healthy"] is False


def test_pg_health_reports_a_healthy_server(run_module, pg) -> None:
    result, failed = run_module(pg_health, login(pg), check_mode=True)
    assert not failed and result["healthy"] and result["reachable"] and not result["changed"]
    assert result["server_version"]["major"] == 15
    assert result["connections"]["max"] > 0
    assert result["queries"][0] == "SELECT 1"
    assert any("pg_stat_activity" in q for q in result["queries"])
    assert result["target"] == f"127.0.0.1:{pg['login_port']}"


def test_wrong_password_is_an_auth_error(run_module, pg) -> None:
    result, failed = run_module(pg_health, {**login(pg), "login_password": "nope"})
    assert failed and result["error_kind"] == "auth"
    assert "nope" not in result["msg"]
    with pytest.raises(AuthError):
        PgSession(PgConnParams(**{**login(pg), "login_password": "nope"}))


def test_idle_in_transaction_and_long_queries_are_found(run_module, pg) -> None:
    idle = psycopg2.connect(host=pg["socket"], port=pg["login_port"], user="postgres")
    busy = psycopg2.connect(host=pg["socket"], port=pg["login_port"], user="postgres")
    sleeper = threading.Thread(target=lambda: busy.cursor().execute("SELECT pg_sleep(3)"))
    try:
        idle.cursor().execute("SELECT 1")  # opens a transaction and leaves it idle
        sleeper.start()
        wait_until(
            lambda: _running_longer_than(pg, "SELECT pg_sleep(3)", 0.5),
            timeout=10,
            what="pg_sleep(3) running for over 0.5 s",
        )
        args = {
            **login(pg),
            "max_idle_in_transaction": 0,
            "max_query_seconds": 0.5,
            "fail_on_unhealthy": False,
        }
        result, failed = run_module(pg_health, args)
    finally:
        sleeper.join()
        idle.close()
        busy.close()
    assert not failed and not result["healthy"]
    assert result["idle_in_transaction"] >= 1
    sleeping = [q for q in result["longest_queries"] if "pg_sleep" in q["query"]]
    assert sleeping and sleeping[0]["state"] == "active" and sleeping[0]["duration_s"] >= 0.5
    assert any("idle in transaction" in p for p in result["problems"])
    assert any("running for" in p for p in result["problems"])


def _running_longer_than(pg: dict[str, Any], query: str, seconds: float) -> bool:
    conn = psycopg2.connect(host=pg["socket"], port=pg["login_port"], user="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = %s "
                "AND query_start < clock_timestamp() - make_interval(secs => %s)",
                (query, seconds),
            )
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def test_statement_timeout_cancels_and_is_transient(pg) -> None:
    with PgSession(PgConnParams(**login(pg), statement_timeout=200)) as session:
        with pytest.raises(TransientError, match="cancel"):
            session.query("SELECT pg_sleep(2)")
        assert session.queries == ["SELECT pg_sleep(2)"]


def test_health_session_is_read_only(pg) -> None:
    session = PgSession(PgConnParams(**login(pg)), readonly=True)
    with session, pytest.raises(Exception, match="read-only"):
        session.query("CREATE TABLE t (x int)")
