"""irdrive.ops.pg_maintenance and pg_slow_queries against a real, throw-away PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg2
import pytest
from ansible_collections.irdrive.ops.plugins.modules import pg_maintenance, pg_slow_queries
from helpers import wait_until
from pg_server import PASSWORD, login

pytestmark = pytest.mark.usefixtures("pg")


def admin(pg: dict[str, Any], dbname: str = "postgres") -> Any:
    conn = psycopg2.connect(
        host=pg["socket"], port=pg["login_port"], user="postgres", dbname=dbname
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def sessions(pg: dict[str, Any]) -> Any:
    """Two app sessions idle in a transaction, one active, and one of a superuser idle in one."""
    setup = admin(pg)
    with setup.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS app")
        cur.execute("CREATE ROLE app LOGIN PASSWORD 'app-pw'")
        cur.execute("GRANT pg_signal_backend TO irdrive")
    setup.close()

    def connect(user: str, app: str) -> Any:
        if user == "postgres":
            conn = psycopg2.connect(
                host=pg["socket"],
                port=pg["login_port"],
                user=user,
                dbname="postgres",
                application_name=app,
            )
        else:
            conn = psycopg2.connect(
                host="127.0.0.1",
                port=pg["login_port"],
                user=user,
                password="app-pw",
                dbname="postgres",
                application_name=app,
            )
        return conn

    held = []
    for app in ("api", "worker"):
        conn = connect("app", app)
        conn.cursor().execute("SELECT 1")  # opens a transaction and leaves it idle
        held.append(conn)
    root = connect("postgres", "api")
    root.cursor().execute("SELECT 1")
    held.append(root)
    busy = connect("app", "api")
    busy.autocommit = True
    thread = threading.Thread(target=lambda: _sleep(busy), daemon=True)
    thread.start()
    idle = [c.get_backend_pid() for c in held]
    wait_until(
        lambda: _settled(pg, idle, busy.get_backend_pid()),
        timeout=10,
        what="three sessions idle in a transaction for over 1 s, one running pg_sleep",
    )
    yield {c.get_backend_pid(): c for c in held}, busy.get_backend_pid()
    for conn in held:
        conn.close()
    cancel = admin(pg)
    with cancel.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'")
    cancel.close()


def _settled(pg: dict[str, Any], idle: list[int], busy: int) -> bool:  # noqa: F811
    """The ``idle`` sessions idle in a transaction for over a second, ``busy`` running."""
    conn = admin(pg)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FILTER (WHERE pid = ANY(%s) AND state = 'idle in transaction' "
                "AND state_change < clock_timestamp() - interval '1 second'), "
                "count(*) FILTER (WHERE pid = %s AND state = 'active') FROM pg_stat_activity",
                (idle, busy),
            )
            long_idle, running = cur.fetchone()
    finally:
        conn.close()
    return long_idle == len(idle) and running == 1


def _sleep(conn: Any) -> None:
    with contextlib.suppress(psycopg2.Error):
        conn.cursor().execute("SELECT pg_sleep(30)")


def states(pg: dict[str, Any]) -> dict[int, str]:
    conn = admin(pg)
    with conn.cursor() as cur:
        cur.execute("SELECT pid, state FROM pg_stat_activity WHERE backend_type = 'client backend'")
        rows = dict(cur.fetchall())
    conn.close()
    return rows


def test_terminates_only_matching_idle_in_transaction(run_module, pg, sessions) -> None:
    held, busy = sessions
    args = {
        **login(pg),
        "terminate_idle_in_transaction": True,
        "idle_min_seconds": 1,
        "application_names": ["api"],
    }
    check, failed = run_module(pg_maintenance, args, check_mode=True)
    assert not failed and check["changed"] and len(check["terminated"]) == 1
    assert check["terminated"][0]["pid"] in states(pg)
    result, failed = run_module(pg_maintenance, args, diff=True)
    assert not failed and result["changed"]
    gone = result["terminated"][0]["pid"]
    assert result["terminated"][0]["usename"] == "app"
    alive = states(pg)
    assert gone not in alive and busy in alive  # active query untouched
    superuser = [pid for pid, conn in held.items() if conn.info.user == "postgres"][0]
    worker = [p for p, c in held.items() if c.info.user == "app" and p != gone][0]
    assert superuser in alive and worker in alive  # superuser and other app untouched
    again, failed = run_module(pg_maintenance, args)
    assert not failed and not again["changed"]


def test_negative_threshold_is_refused_before_connecting(run_module) -> None:
    result, failed = run_module(
        pg_maintenance,
        {
            "login_host": "127.0.0.1",
            "login_port": 9,
            "terminate_idle_in_transaction": True,
            "idle_min_seconds": -1,
        },
    )
    assert failed and result["error_kind"] == "invalid_input"
    assert "idle_min_seconds must not be negative" in result["msg"]


def test_analyze_refuses_tables_it_does_not_own_then_runs_as_owner(run_module, pg) -> None:
    conn = admin(pg)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public.t_stats")
        cur.execute("CREATE TABLE public.t_stats AS SELECT g AS n FROM generate_series(1, 50) g")
        cur.execute("GRANT SELECT ON public.t_stats TO irdrive")
    conn.close()
    args = {**login(pg), "analyze": True, "analyze_tables": ["t_stats"]}
    refused, failed = run_module(pg_maintenance, args)
    assert failed and "only the owner (postgres)" in refused["msg"]
    assert not any(q.startswith("ANALYZE") for q in refused.get("queries", []))
    owner = {
        **args,
        "login_user": "postgres",
        "login_host": None,
        "login_unix_socket": pg["socket"],
    }
    owner.pop("login_password")
    check, failed = run_module(pg_maintenance, owner, check_mode=True)
    assert not failed and check["analyzed"] == ["public.t_stats"]
    assert not any(q.startswith("ANALYZE") for q in check["queries"])
    done, failed = run_module(pg_maintenance, owner)
    assert not failed and done["changed"] and done["after"]["tables"]["public.t_stats"]
    again, failed = run_module(pg_maintenance, owner)
    assert not failed and not again["changed"]
    missing, failed = run_module(pg_maintenance, {**owner, "analyze_tables": ["nope"]})
    assert failed and "no such table public.nope" in missing["msg"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"mean_exec_time", "total_exec_time", "query"}, "mean_exec_time"),
        ({"mean_time", "total_time", "query"}, "mean_time"),
        ({"query"}, None),
    ],
)
def test_timing_columns_follow_the_extension_version(names: set[str], expected: str | None) -> None:
    columns = pg_slow_queries.timing_columns(names)
    assert (columns or {}).get("mean") == expected


def test_slow_queries_without_the_extension(run_module, pg) -> None:
    result, failed = run_module(pg_slow_queries, login(pg))
    assert not failed and not result["available"] and "not installed" in result["reason"]
    result, failed = run_module(pg_slow_queries, {**login(pg), "fail_if_unavailable": True})
    assert failed and "pg_stat_statements is not installed" in result["msg"]


def test_slow_query_report_statement() -> None:
    sql = pg_slow_queries.build_query(
        "public", {"mean": "mean_time", "total": "total_time"}, "total", True
    )
    assert "ORDER BY s.total_time DESC" in sql and "s.mean_time >= %(min_mean)s" in sql
    assert "current_user" in sql
    assert PASSWORD not in sql
