"""A throw-away PostgreSQL for the collection's integration tests (fixture ``pg``).

The server (Debian's PostgreSQL 15, run as the postgres user) listens on 127.0.0.1 at a free
port; without the binaries, root or the postgres user the tests skip (and fail under CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from helpers import has_user, require

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
