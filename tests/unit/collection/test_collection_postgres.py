"""module_utils.postgres and irdrive.ops.pg_health without a server: options, unreachable.

The tests against a real PostgreSQL are in tests/integration/collection/.
"""

from __future__ import annotations

import socket

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import UnreachableError
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession
from ansible_collections.irdrive.ops.plugins.modules import pg_health

PASSWORD = "canary-pg-5b1e"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
