"""The db-slow fault's holder: sessions that make the lab's database look slow.

Run as ``python -m irdrive_lab.pg.slow --dir DIR`` with the libpq variables (PGHOST, PGPORT,
PGDATABASE, PGUSER, PGPASSWORD, PGAPPNAME) in its environment, never on its command line. It
holds two long-running queries and two idle-in-transaction sessions, and runs a few slow
report queries so pg_stat_statements shows slow entries. It holds them until SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

LONG_QUERY = "SELECT pg_sleep(3600) /* lab db-slow: stuck report */"
IDLE_TX_QUERY = "SELECT count(*) FROM payments WHERE status = 'pending'"
SLOW_QUERIES = (
    "SELECT p.processor, count(*) FROM payments p JOIN payments q "
    "ON q.amount_cents >= p.amount_cents AND q.processor = p.processor GROUP BY p.processor",
    "SELECT a.ip, count(*), pg_sleep(0.4) IS NULL FROM auth_logs a "
    "WHERE a.event <> 'login_success' GROUP BY a.ip ORDER BY 2 DESC LIMIT 1",
)


def _connect() -> Any:
    import psycopg2

    return psycopg2.connect(connect_timeout=5)  # everything else from the PG* variables


def _long_query(stop: threading.Event) -> None:
    import psycopg2

    conn = _connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(LONG_QUERY)
    except psycopg2.Error as exc:
        if not stop.is_set():
            print(f"long query ended: {exc}".strip(), flush=True)


def _idle_in_transaction(conns: list[Any]) -> None:
    conn = _connect()
    conn.autocommit = False  # psycopg2 opens a transaction on the first statement
    with conn.cursor() as cur:
        cur.execute(IDLE_TX_QUERY)
        cur.fetchone()
    conns.append(conn)  # left open: the session stays "idle in transaction"


def _slow_reports() -> None:
    conn = _connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        for _ in range(3):
            for query in SLOW_QUERIES:
                cur.execute(query)
                cur.fetchall()
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m irdrive_lab.pg.slow")
    parser.add_argument("--dir", required=True, type=Path, help="the lab folder")
    parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    held: list[Any] = []
    for _ in range(2):
        _idle_in_transaction(held)
    for _ in range(2):
        threading.Thread(target=_long_query, args=(stop,), daemon=True).start()
    started = time.monotonic()
    _slow_reports()
    print(f"holding; slow reports took {time.monotonic() - started:.2f}s", flush=True)

    stop.wait()
    for conn in held:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
