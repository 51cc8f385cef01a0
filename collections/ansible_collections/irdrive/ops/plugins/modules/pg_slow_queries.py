# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_slow_queries
short_description: Report the slowest statements from pg_stat_statements
version_added: 0.1.0
description:
  - What the incident playbook's C(SELECT query, mean_time, calls FROM pg_stat_statements
    ORDER BY mean_time DESC) asks, on any server version; PostgreSQL 13 renamed
    C(mean_time) and C(total_time) to C(mean_exec_time) and C(total_exec_time), and the module
    reads whichever the installed extension has.
  - Returns the top O(limit) statements by mean (or total) execution time, at or above
    O(min_mean_ms).
  - When C(pg_stat_statements) is not installed in the database it succeeds with
    RV(available=false) and says so in RV(reason), unless O(fail_if_unavailable=true).
  - The session is read-only and carries C(statement_timeout) and C(lock_timeout). Reading the
    text of other roles' statements needs C(pg_read_all_stats) (part of C(pg_monitor)).
  - Read-only; never reports a change.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.read_only
  - irdrive.ops.postgres
options:
  limit:
    description: How many statements to return.
    type: int
    default: 10
  min_mean_ms:
    description: Only statements whose mean execution time is at least this many milliseconds.
    type: float
    default: 0
  order_by:
    description: Rank by mean or by total execution time.
    type: str
    choices: [mean, total]
    default: mean
  exclude_own:
    description: Leave out the statements of the login role (the monitoring's own queries).
    type: bool
    default: true
  query_max_length:
    description: Characters of each statement's text to return.
    type: int
    default: 300
  fail_if_unavailable:
    description: Fail when C(pg_stat_statements) is not installed in the database.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The ten slowest statements on average
  irdrive.ops.pg_slow_queries:
    login_host: "{{ irdrive_pg_host }}"
    login_user: "{{ irdrive_pg_user }}"
    login_password: "{{ irdrive_pg_password }}"
    login_db: platform
  register: slow

- name: Statements slower than a second on average (the playbook's mean_time > 1000)
  irdrive.ops.pg_slow_queries:
    login_db: platform
    min_mean_ms: 1000
    limit: 50
"""

RETURN = r"""
available:
  description: Whether pg_stat_statements could be read.
  returned: always
  type: bool
  sample: true
reason:
  description: Why the statistics are not available; empty when they are.
  returned: always
  type: str
  sample: ""
columns:
  description: The timing columns the extension has (they depend on its version).
  returned: when available
  type: dict
  sample: {"mean": "mean_exec_time", "total": "total_exec_time"}
queries_found:
  description: The slowest statements, slowest first; times in milliseconds.
  returned: always
  type: list
  elements: dict
  sample:
    - query: SELECT p.processor, count(*) FROM payments p JOIN payments q ON ...
      calls: 3
      mean_ms: 812.4
      total_ms: 2437.2
      rows: 6
      username: platform_app
queries:
  description: The statements that ran.
  returned: always
  type: list
  elements: str
  sample: ["SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"]
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    POSTGRES_KEYS,
    pick,
    postgres_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
    PgSession,
)

EXTENSION_SQL = (
    "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'pg_stat_statements'"
)
COLUMNS_SQL = (
    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%(view)s) "
    "AND attnum > 0 AND NOT attisdropped"
)


def argument_spec() -> dict[str, Any]:
    spec = postgres_argument_spec()
    spec.update(
        limit={"type": "int", "default": 10},
        min_mean_ms={"type": "float", "default": 0},
        order_by={"type": "str", "choices": ["mean", "total"], "default": "mean"},
        exclude_own={"type": "bool", "default": True},
        query_max_length={"type": "int", "default": 300},
        fail_if_unavailable={"type": "bool", "default": False},
    )
    return spec


def timing_columns(names: set[str]) -> dict[str, str] | None:
    """The mean/total time columns: ``*_exec_time`` from PostgreSQL 13 on, ``*_time`` before."""
    for mean, total in (("mean_exec_time", "total_exec_time"), ("mean_time", "total_time")):
        if mean in names and total in names:
            return {"mean": mean, "total": total}
    return None


def build_query(schema: str, columns: dict[str, str], order_by: str, exclude_own: bool) -> str:
    """The report statement; identifiers come from the catalog, values are parameters."""
    view = f'"{schema}".pg_stat_statements'
    own = (
        "AND s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        if exclude_own
        else ""
    )
    return (
        f"SELECT left(s.query, %(length)s) AS query, s.calls, "
        f"round(s.{columns['mean']}::numeric, 3)::float AS mean_ms, "
        f"round(s.{columns['total']}::numeric, 3)::float AS total_ms, s.rows, "
        f"pg_get_userbyid(s.userid) AS username "
        f"FROM {view} s JOIN pg_database d ON d.oid = s.dbid AND d.datname = current_database() "
        f"WHERE s.{columns['mean']} >= %(min_mean)s {own}"
        f"ORDER BY s.{columns[order_by]} DESC LIMIT %(limit)s"
    )


def run_module(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    for key in ("limit", "min_mean_ms", "query_max_length"):
        if params[key] < 0:
            raise InvalidInputError(f"{key} must not be negative, got {params[key]}")
    conn = PgConnParams(**pick(params, POSTGRES_KEYS))
    result: dict[str, Any] = {"changed": False, "queries_found": [], "queries": []}
    with PgSession(conn, readonly=True) as session:
        try:
            found = session.query(EXTENSION_SQL)
            if not found:
                result.update(
                    available=False,
                    reason=f"pg_stat_statements is not installed in database {conn.login_db}",
                )
                return result
            schema = found[0]["schema"]
            names = {
                row["attname"]
                for row in session.query(COLUMNS_SQL, {"view": f'"{schema}".pg_stat_statements'})
            }
            columns = timing_columns(names)
            if columns is None:
                result.update(
                    available=False, reason="pg_stat_statements has no mean/total time columns"
                )
                return result
            rows = session.query(
                build_query(schema, columns, params["order_by"], params["exclude_own"]),
                {
                    "length": params["query_max_length"],
                    "min_mean": params["min_mean_ms"],
                    "limit": params["limit"],
                },
            )
        finally:
            result["queries"] = session.queries
    result.update(available=True, reason="", columns=columns, queries_found=rows)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    if not result["available"] and module.params["fail_if_unavailable"]:
        module.fail_json(msg=result["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
