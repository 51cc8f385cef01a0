"""module_utils.postgres and irdrive.ops.pg_health against a real, throw-away PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import psycopg2
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import AuthError, TransientError
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession
from ansible_collections.irdrive.ops.plugins.modules import pg_health
from helpers import wait_until
from pg_server import login


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


def test_statement_timeout_cancels_and_is_transient(pg) -> None:
    with PgSession(PgConnParams(**login(pg), statement_timeout=200)) as session:
        with pytest.raises(TransientError, match="cancel"):
            session.query("SELECT pg_sleep(2)")
        assert session.queries == ["SELECT pg_sleep(2)"]


def test_health_session_is_read_only(pg) -> None:
    session = PgSession(PgConnParams(**login(pg)), readonly=True)
    with session, pytest.raises(Exception, match="read-only"):
        session.query("CREATE TABLE t (x int)")


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
