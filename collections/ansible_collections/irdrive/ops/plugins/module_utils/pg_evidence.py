# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Database evidence (module pg_evidence): queries in one read-only snapshot, as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    IrdriveOpsError,
    TransientError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgSession

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # PgSession raises MissingLibrary before these are used
    pass

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def plain(value: Any) -> Any:
    """A value as JSON and CSV can hold it (timestamps ISO 8601, inet and numerics as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return value
    return str(value)


def to_csv(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [json.dumps(v) if isinstance(v, (dict, list)) else v for v in map(plain, row)]
        )
    return buffer.getvalue().encode("utf-8")


def to_json(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    # zip(strict=True) is Python 3.10+; modules run on 3.9 too.
    if any(len(row) != len(columns) for row in rows):
        raise ValueError("a row has not one value per column")
    records = [dict(zip(columns, map(plain, row))) for row in rows]
    return (json.dumps(records, indent=1, sort_keys=False) + "\n").encode("utf-8")


def validate(queries: list[dict[str, str]], max_rows: int) -> None:
    names = [q["name"] for q in queries]
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise InvalidInputError(f"query name {bad[0]!r} must be letters, digits, '_' or '-'")
    if len(set(names)) != len(names):
        raise InvalidInputError("query names must be unique")
    if max_rows < 1:
        raise InvalidInputError("max_rows must be at least 1")


def run_queries(
    session: PgSession, queries: list[dict[str, str]], seconds: int, max_rows: int
) -> tuple[dict[str, bytes], dict[str, Any], str]:
    """Run every query in one read-only snapshot; return files, results and the server clock."""
    conn = session.connection
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
    files: dict[str, bytes] = {}
    results: dict[str, Any] = {}
    params = {"window_seconds": seconds}
    try:
        with conn.cursor() as cursor:
            try:
                cursor.execute("SELECT now()")
                session.queries.append(cursor.query.decode())
                db_now = plain(cursor.fetchone()[0])
                for query in queries:
                    cursor.execute(query["sql"], params)
                    session.queries.append(cursor.query.decode("utf-8", errors="replace"))
                    if cursor.description is None:
                        raise InvalidInputError(f"query {query['name']} returns no rows")
                    columns = [c.name for c in cursor.description]
                    rows = cursor.fetchmany(max_rows + 1)
                    truncated = len(rows) > max_rows
                    rows = rows[:max_rows]
                    files[f"db/{query['name']}.csv"] = to_csv(columns, rows)
                    files[f"db/{query['name']}.json"] = to_json(columns, rows)
                    results[query["name"]] = {
                        "rows": len(rows),
                        "truncated": truncated,
                        "columns": columns,
                        "sql": query["sql"],
                    }
            except psycopg2.extensions.QueryCanceledError as error:
                raise TransientError(
                    f"query cancelled on {session.params.target} (statement_timeout "
                    f"{session.params.statement_timeout} ms): {str(error).strip()}"
                ) from error
            except psycopg2.Error as error:
                raise IrdriveOpsError(
                    f"query failed on {session.params.target}: {str(error).strip()}"
                ) from error
    finally:
        conn.rollback()
    return files, results, str(db_now)
