# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_evidence
short_description: Preserve the result of read-only PostgreSQL queries over a time window
version_added: 0.1.0
description:
  - Runs each of O(queries) and saves its rows under O(dest) as C(db/<name>.csv) and
    C(db/<name>.json), for an evidence bundle (see M(irdrive.ops.evidence_manifest)).
    C(db/queries.json) records every statement, its parameters, row counts, the server's
    clock and the connection target.
  - All queries run in B(one read-only, repeatable-read transaction), so they see the same
    snapshot, and the session carries C(statement_timeout) and C(lock_timeout). Nothing is
    written to the database; the transaction is rolled back.
  - Each statement may use the parameter C(%(window_seconds\)s), the O(window) in seconds,
    for example C(created_at > now() - make_interval(secs => %(window_seconds\)s)).
  - Check mode runs the same queries and writes no file.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.postgres
options:
  dest:
    description: The bundle folder; created when missing.
    type: path
    required: true
  queries:
    description: The queries to save.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the artifact (letters, digits, C(_) and C(-)).
        type: str
        required: true
      sql:
        description: One read-only statement.
        type: str
        required: true
  window:
    description: The time window, as a duration such as V(30m), V(24h) or V(7d).
    type: str
    default: 24h
  max_rows:
    description: Rows kept per query at most; RV(results) says when a query had more.
    type: int
    default: 100000
attributes:
  check_mode:
    description: Runs the same read-only queries and reports the row counts; writes no file.
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
"""

EXAMPLES = r"""
- name: Save the last 24 hours of auth_logs and audit_log
  irdrive.ops.pg_evidence:
    dest: /srv/evidence/INC-1042-20261127T031200Z
    login_host: db.platform.internal
    login_user: irdrive
    login_password: "{{ irdrive_pg_password }}"
    login_db: platform
    window: 24h
    queries:
      - name: auth_logs
        sql: >-
          SELECT * FROM auth_logs
          WHERE created_at > now() - make_interval(secs => %(window_seconds)s)
          ORDER BY created_at DESC
"""

RETURN = r"""
results:
  description: Per query, the rows saved, whether more existed, and the columns.
  returned: always
  type: dict
  sample: {"auth_logs": {"rows": 412, "truncated": false,
           "columns": ["id", "user_id", "ip", "event", "user_agent", "created_at"]}}
before:
  description: The files of this module already in O(dest) before the task (replaced when they differ).
  returned: always
  type: dict
  sample: {"files": []}
files:
  description: The files written (or that would be written), relative to O(dest), with sizes.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "db/auth_logs.csv", "bytes": 40211}]
queries:
  description: The statements that ran.
  returned: always
  type: list
  elements: str
  sample: ["SELECT now()", "SELECT * FROM auth_logs WHERE created_at > now() - make_interval(secs => 86400) ORDER BY created_at DESC"]
db_now:
  description: The server's clock when the snapshot was taken.
  returned: always
  type: str
  sample: "2026-11-27T03:12:09.112+00:00"
window_seconds:
  description: The window in seconds.
  returned: always
  type: int
  sample: 86400
"""

import csv
import io
import json
import re
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    POSTGRES_KEYS,
    pick,
    postgres_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    IrdriveOpsError,
    TransientError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.evidence import (
    sync_files,
    window_seconds,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
    PgSession,
)

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # PgSession raises MissingLibrary before these are used
    pass

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def argument_spec() -> dict[str, Any]:
    spec = postgres_argument_spec()
    spec.update(
        dest={"type": "path", "required": True},
        queries={
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "sql": {"type": "str", "required": True},
            },
        },
        window={"type": "str", "default": "24h"},
        max_rows={"type": "int", "default": 100000},
    )
    return spec


def plain(value: Any) -> Any:
    """A value as JSON and CSV can hold it (timestamps ISO 8601, inet and numerics as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return value
    return str(value)


def to_csv(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [json.dumps(v) if isinstance(v, dict | list) else v for v in map(plain, row)]
        )
    return buffer.getvalue().encode("utf-8")


def to_json(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    records = [dict(zip(columns, map(plain, row), strict=True)) for row in rows]
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


def run_module(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    seconds = window_seconds(p["window"])
    validate(p["queries"], p["max_rows"])
    conn_params = PgConnParams(**pick(p, POSTGRES_KEYS))
    with PgSession(conn_params, readonly=True) as session:
        files, results, db_now = run_queries(session, p["queries"], seconds, p["max_rows"])
        statements = list(session.queries)
    files["db/queries.json"] = (
        json.dumps(
            {
                "target": conn_params.target,
                "database": conn_params.login_db,
                "user": conn_params.login_user,
                "db_now": db_now,
                "window_seconds": seconds,
                "isolation": "REPEATABLE READ READ ONLY",
                "results": results,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    ).encode("utf-8")
    dest = Path(p["dest"])
    written = sync_files(dest, files, module.check_mode)
    return {
        **written,
        "results": results,
        "queries": statements,
        "db_now": db_now,
        "window_seconds": seconds,
        "dest": str(dest),
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
