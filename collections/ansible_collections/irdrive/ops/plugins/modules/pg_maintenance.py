# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_maintenance
short_description: Terminate stuck idle-in-transaction sessions and refresh stale statistics
version_added: 0.1.0
description:
  - The "Optimize Database" steps of the P2 "Performance Degradation" procedure, made safe to
    repeat.
  - With O(terminate_idle_in_transaction=true), terminates client sessions that have been idle
    in a transaction for at least O(idle_min_seconds), narrowed by O(application_names),
    O(users) and O(databases). It never touches its own session, superusers' sessions,
    sessions named in O(exclude_application_names), or anything that is not a client backend
    (replication, autovacuum, background workers). The filter is evaluated again in the
    statement that terminates, so a session that became active meanwhile is left alone. It
    then waits until the terminated sessions are gone, and fails if they are not.
  - With O(analyze=true), runs C(ANALYZE) on each table of O(analyze_schemas) (or of
    O(analyze_tables)) whose statistics are older than O(analyze_max_age) seconds (manual or
    autovacuum analyze, whichever is newer). A re-run finds fresh statistics and changes
    nothing. O(analyze_max_age=0) analyzes every time, and then every run reports a change.
    When a stale table is not owned by the login user the module fails before analyzing
    anything, naming the owner to connect as.
  - Every statement runs with the session's C(statement_timeout) and C(lock_timeout).
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.postgres
options:
  terminate_idle_in_transaction:
    description: Terminate the matching idle-in-transaction sessions.
    type: bool
    default: false
  idle_min_seconds:
    description: Seconds a session must have been idle in its transaction to be terminated.
    type: int
    default: 300
  application_names:
    description: Only sessions with one of these C(application_name)s. Any when empty.
    type: list
    elements: str
    default: []
  exclude_application_names:
    description: Never sessions with one of these C(application_name)s.
    type: list
    elements: str
    default: [irdrive.ops]
  users:
    description: Only sessions of these roles. Any non-superuser when empty.
    type: list
    elements: str
    default: []
  databases:
    description: Only sessions connected to these databases. The login database when empty.
    type: list
    elements: str
    default: []
  analyze:
    description: Run C(ANALYZE) on the tables whose statistics are stale.
    type: bool
    default: false
  analyze_schemas:
    description: Schemas whose tables are analyzed (when O(analyze_tables) is empty).
    type: list
    elements: str
    default: [public]
  analyze_tables:
    description: Tables to analyze, as C(schema.table) or C(table) (schema C(public)).
    type: list
    elements: str
    default: []
  analyze_max_age:
    description: Seconds after which a table's statistics count as stale.
    type: int
    default: 3600
  wait_timeout:
    description: Seconds to wait for terminated sessions to disappear.
    type: float
    default: 10.0
  query_max_length:
    description: Characters of each session's last query to return.
    type: int
    default: 200
attributes:
  check_mode:
    description: Selects the same sessions and tables and reports them; terminates and analyzes nothing.
    support: full
  diff_mode:
    description: Returns the matching sessions and the tables' last analyze time before and after.
    support: full
"""

EXAMPLES = r"""
- name: Terminate sessions of the API stuck in a transaction for 5 minutes or more
  irdrive.ops.pg_maintenance:
    login_host: "{{ irdrive_pg_host }}"
    login_user: "{{ irdrive_pg_user }}"
    login_password: "{{ irdrive_pg_password }}"
    login_db: platform
    terminate_idle_in_transaction: true
    idle_min_seconds: 300
    application_names: [platform-api]

- name: Refresh planner statistics older than an hour, as the tables' owner
  irdrive.ops.pg_maintenance:
    login_host: "{{ irdrive_pg_host }}"
    login_user: platform_app
    login_password: "{{ platform_app_password }}"
    login_db: platform
    analyze: true
    analyze_max_age: 3600
    lock_timeout: 2000
    statement_timeout: 60000
"""

RETURN = r"""
terminated:
  description: The sessions terminated (in check mode, those that would be).
  returned: always
  type: list
  elements: dict
  sample:
    - pid: 4242
      usename: platform_app
      datname: platform
      application_name: platform-api
      client_addr: 10.0.3.7
      state: idle in transaction
      idle_seconds: 812.4
      query: SELECT count(*) FROM payments WHERE status = 'pending'
analyzed:
  description: The tables analyzed (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [public.payments, public.users]
before:
  description: The sessions and the tables' last analyze time before the task.
  returned: always
  type: dict
  sample:
    sessions: [{"pid": 4242, "state": "idle in transaction"}]
    tables: {"public.payments": "2026-11-27T02:01:00+00:00"}
after:
  description: The same after the task (predicted in check mode).
  returned: always
  type: dict
  sample:
    sessions: []
    tables: {"public.payments": "2026-11-27T03:12:09+00:00"}
queries:
  description: The statements that ran.
  returned: always
  type: list
  elements: str
  sample: ["ANALYZE \"public\".\"payments\""]
"""

from datetime import datetime
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    POSTGRES_KEYS,
    pick,
    postgres_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    DeadlineExceeded,
    InvalidInputError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
    PgSession,
)
from ansible_collections.irdrive.ops.plugins.module_utils.waiter import poll_until

IDLE_STATES = ("idle in transaction", "idle in transaction (aborted)")
# The filter, written once: used to select and again in the statement that terminates.
SESSION_FILTER = (
    "a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() "
    "AND NOT coalesce(r.rolsuper, true) "
    "AND a.state IN ('idle in transaction', 'idle in transaction (aborted)') "
    "AND a.state_change <= clock_timestamp() - make_interval(secs => %(min_idle)s) "
    "AND (%(apps)s::text[] IS NULL OR a.application_name = ANY(%(apps)s::text[])) "
    "AND NOT (a.application_name = ANY(%(exclude)s::text[])) "
    "AND (%(users)s::text[] IS NULL OR a.usename = ANY(%(users)s::text[])) "
    "AND a.datname = ANY(coalesce(%(dbs)s::text[], ARRAY[current_database()::text]))"
)
SESSIONS_SQL = (
    "SELECT a.pid, a.usename, a.datname, a.application_name, host(a.client_addr) AS client_addr, "
    "a.state, round(extract(epoch FROM clock_timestamp() - a.state_change)::numeric, 3)::float "
    "AS idle_seconds, left(a.query, %(length)s) AS query "
    "FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid "
    f"WHERE {SESSION_FILTER} ORDER BY a.state_change"
)
TERMINATE_SQL = (
    "SELECT a.pid, pg_terminate_backend(a.pid) AS terminated "
    "FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid "
    f"WHERE {SESSION_FILTER} AND a.pid = ANY(%(pids)s::int[])"
)
GONE_SQL = "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%(pids)s::int[])"
TABLES_SQL = (
    "SELECT s.schemaname || '.' || s.relname AS name, s.schemaname, s.relname, "
    "greatest(s.last_analyze, s.last_autoanalyze) AS last_analyzed, "
    "greatest(s.last_analyze, s.last_autoanalyze) IS NULL OR "
    "greatest(s.last_analyze, s.last_autoanalyze) < now() - make_interval(secs => %(max_age)s) "
    "AS stale, pg_get_userbyid(c.relowner) AS owner, "
    "(pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE') "
    " OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) AS may_analyze "
    "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "JOIN pg_database d ON d.datname = current_database() "
    "WHERE (%(tables)s::text[] IS NULL AND s.schemaname = ANY(%(schemas)s::text[])) "
    "OR s.schemaname || '.' || s.relname = ANY(%(tables)s::text[]) "
    "ORDER BY 1"
)


def argument_spec() -> dict[str, Any]:
    spec = postgres_argument_spec()
    spec.update(
        terminate_idle_in_transaction={"type": "bool", "default": False},
        idle_min_seconds={"type": "int", "default": 300},
        application_names={"type": "list", "elements": "str", "default": []},
        exclude_application_names={
            "type": "list",
            "elements": "str",
            "default": ["irdrive.ops"],
        },
        users={"type": "list", "elements": "str", "default": []},
        databases={"type": "list", "elements": "str", "default": []},
        analyze={"type": "bool", "default": False},
        analyze_schemas={"type": "list", "elements": "str", "default": ["public"]},
        analyze_tables={"type": "list", "elements": "str", "default": []},
        analyze_max_age={"type": "int", "default": 3600},
        wait_timeout={"type": "float", "default": 10.0},
        query_max_length={"type": "int", "default": 200},
    )
    return spec


def validate(params: dict[str, Any]) -> None:
    """Refuse unusable input before connecting: InvalidInputError names the option."""
    for key in ("idle_min_seconds", "analyze_max_age", "wait_timeout", "query_max_length"):
        if params[key] < 0:
            raise InvalidInputError(f"{key} must not be negative, got {params[key]}")
    for table in params["analyze_tables"]:
        if not table or table.count(".") > 1 or any(not part for part in table.split(".")):
            raise InvalidInputError(f"analyze_tables: {table!r} is not 'schema.table' or 'table'")


def qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


def session_args(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "min_idle": params["idle_min_seconds"],
        "apps": params["application_names"] or None,
        "exclude": list(params["exclude_application_names"]),
        "users": params["users"] or None,
        "dbs": params["databases"] or None,
        "length": params["query_max_length"],
    }


def wait_gone(session: PgSession, pids: list[int], timeout: float) -> None:
    left: list[int] = list(pids)

    def gone() -> bool | None:
        left[:] = [row["pid"] for row in session.query(GONE_SQL, {"pids": pids})]
        return None if left else True

    def still_there() -> DeadlineExceeded:
        return DeadlineExceeded(
            f"sessions {', '.join(map(str, left))} are still there {timeout:g}s after "
            "pg_terminate_backend",
            pids=left,
        )

    poll_until(gone, timeout, 0.1, on_timeout=still_there)


def terminate(session: PgSession, params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    args = session_args(params)
    matching = session.query(SESSIONS_SQL, args)
    if check_mode or not matching:
        return {"before": matching, "after": [], "terminated": matching}
    rows = session.query(TERMINATE_SQL, {**args, "pids": [s["pid"] for s in matching]})
    done = {row["pid"] for row in rows if row["terminated"]}
    wait_gone(session, sorted(done), params["wait_timeout"])
    return {
        "before": matching,
        "after": session.query(SESSIONS_SQL, args),
        "terminated": [s for s in matching if s["pid"] in done],
    }


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def analyze(session: PgSession, params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    tables = session.query(
        TABLES_SQL,
        {
            "max_age": params["analyze_max_age"],
            "tables": [qualified(t) for t in params["analyze_tables"]] or None,
            "schemas": list(params["analyze_schemas"]),
        },
    )
    found = {t["name"] for t in tables}
    missing = [t for t in map(qualified, params["analyze_tables"]) if t not in found]
    if missing:
        raise InvalidInputError(f"analyze_tables: no such table {', '.join(missing)}")
    stale = [t for t in tables if t["stale"]]
    refused = [t for t in stale if not t["may_analyze"]]
    if refused:
        owners = sorted({t["owner"] for t in refused})
        raise InvalidInputError(
            f"user {session.params.login_user} may not ANALYZE "
            f"{', '.join(t['name'] for t in refused)}: only the owner "
            f"({', '.join(owners)}) or a superuser may; connect as the owner",
            tables=[t["name"] for t in refused],
        )
    before = {t["name"]: _stamp(t["last_analyzed"]) for t in tables}
    if check_mode or not stale:
        return {"before": before, "after": before, "analyzed": [t["name"] for t in stale]}
    from psycopg2 import sql

    for table in stale:
        statement = sql.SQL("ANALYZE {}.{}").format(
            sql.Identifier(table["schemaname"]), sql.Identifier(table["relname"])
        )
        session.query(statement.as_string(session.connection))
    if session.connection.server_version >= 150000:
        # Publish this session's statistics now, so the read below sees the new times.
        session.query("SELECT pg_stat_force_next_flush()")
    after_rows = session.query(
        TABLES_SQL,
        {
            "max_age": params["analyze_max_age"],
            "tables": [t["name"] for t in stale],
            "schemas": [],
        },
    )
    after = dict(before)
    after.update({t["name"]: _stamp(t["last_analyzed"]) for t in after_rows})
    return {"before": before, "after": after, "analyzed": [t["name"] for t in stale]}


def run_module(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    validate(params)
    conn = PgConnParams(**pick(params, POSTGRES_KEYS))
    result: dict[str, Any] = {
        "changed": False,
        "terminated": [],
        "analyzed": [],
        "before": {"sessions": [], "tables": {}},
        "after": {"sessions": [], "tables": {}},
        "queries": [],
    }
    with PgSession(conn) as session:
        try:
            if params["terminate_idle_in_transaction"]:
                sessions = terminate(session, params, module.check_mode)
                result["terminated"] = sessions["terminated"]
                result["before"]["sessions"] = sessions["before"]
                result["after"]["sessions"] = sessions["after"]
            if params["analyze"]:
                tables = analyze(session, params, module.check_mode)
                result["analyzed"] = tables["analyzed"]
                result["before"]["tables"] = tables["before"]
                result["after"]["tables"] = tables["after"]
        finally:
            result["queries"] = session.queries
    result["changed"] = bool(result["terminated"] or result["analyzed"])
    if module._diff:
        result["diff"] = {"before": result["before"], "after": result["after"]}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
