# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_health
short_description: Check a PostgreSQL server's health
version_added: 0.1.0
description:
  - Connects, runs C(SELECT 1), and reports the server version, client connections against
    C(max_connections) by state, sessions idle in a transaction and the longest-running
    queries.
  - The session is read-only and carries C(statement_timeout) and C(lock_timeout).
  - When the server cannot be reached the task fails naming C(host:port), with
    RV(error_kind=unreachable); with O(fail_on_unhealthy=false) it succeeds and reports
    RV(reachable=false) instead.
  - Read-only; never reports a change.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.read_only
  - irdrive.ops.postgres
options:
  top_queries:
    description: How many of the longest-running queries to return.
    type: int
    default: 5
  query_max_length:
    description: Characters of each query's text to return.
    type: int
    default: 200
  max_connections_ratio:
    description: Share of C(max_connections) in use above which the server counts as unhealthy.
    type: float
    default: 0.9
  max_idle_in_transaction:
    description: Sessions idle in a transaction above which the server counts as unhealthy.
    type: int
    default: 5
  max_query_seconds:
    description: Running time of the longest active query above which the server counts as unhealthy.
    type: float
    default: 300.0
  fail_on_unhealthy:
    description:
      - Fail the task when the server is unreachable or unhealthy. With V(false) the task
        succeeds and reports RV(healthy=false). Refused credentials always fail.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the platform database
  irdrive.ops.pg_health:
    login_host: 10.200.0.3
    login_user: irdrive
    login_password: "{{ platform_db_password }}"
    login_db: platform

- name: Look for slow queries without failing
  irdrive.ops.pg_health:
    login_unix_socket: /var/run/postgresql
    login_db: platform
    top_queries: 10
    fail_on_unhealthy: false
  register: db_health

- name: Say what is wrong
  ansible.builtin.debug:
    msg: "{{ db_health.problems }}"
  when: not db_health.healthy
"""

RETURN = r"""
healthy:
  description: True when the server answers and no threshold is crossed.
  returned: always
  type: bool
  sample: true
reachable:
  description: Whether a connection could be made.
  returned: always
  type: bool
  sample: true
target:
  description: Where the module connected, as C(host:port) or the unix socket.
  returned: always
  type: str
  sample: 10.200.0.3:5432
error_kind:
  description: V(unreachable) when no connection could be made; empty otherwise.
  returned: always
  type: str
  sample: ""
problems:
  description: The thresholds crossed, or why the server could not be checked.
  returned: always
  type: list
  elements: str
  sample: ["2 sessions idle in transaction (max 1)"]
latency_ms:
  description: Milliseconds from connecting to the answer of C(SELECT 1).
  returned: when reachable
  type: float
  sample: 4.2
server_version:
  description: The server's version.
  returned: when reachable
  type: dict
  sample: {"full": "15.8", "major": 15, "minor": 8, "num": 150008}
connections:
  description: Client connections, C(max_connections), the share in use and the count per state.
  returned: when reachable
  type: dict
  sample:
    total: 12
    max: 100
    ratio: 0.12
    by_state: {"active": 2, "idle": 9, "idle in transaction": 1}
idle_in_transaction:
  description: Sessions idle in a transaction (aborted ones included).
  returned: when reachable
  type: int
  sample: 1
longest_queries:
  description: The longest-running non-idle queries, longest first.
  returned: when reachable
  type: list
  elements: dict
  sample:
    - pid: 4242
      state: active
      duration_s: 73.4
      wait_event_type: Lock
      wait_event: relation
      application_name: payments-api
      usename: app
      datname: platform
      query: UPDATE payments SET status = 'settled' WHERE id = $1
queries:
  description: The statements that ran.
  returned: always
  type: list
  elements: str
  sample: ["SELECT 1", "SHOW server_version"]
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    POSTGRES_KEYS,
    pick,
    postgres_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
    PgSession,
)

CLIENT_BACKENDS = "backend_type = 'client backend' AND pid <> pg_backend_pid()"
STATES_SQL = (
    "SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity "
    f"WHERE {CLIENT_BACKENDS} GROUP BY 1 ORDER BY 1"
)
LONGEST_SQL = (
    "SELECT pid, state, usename, datname, application_name, wait_event_type, wait_event, "
    "round(extract(epoch FROM clock_timestamp() - query_start)::numeric, 3)::float AS duration_s, "
    "left(query, %(length)s) AS query FROM pg_stat_activity "
    f"WHERE {CLIENT_BACKENDS} AND state IS DISTINCT FROM 'idle' AND query_start IS NOT NULL "
    "ORDER BY query_start LIMIT %(limit)s"
)


def argument_spec() -> dict[str, Any]:
    spec = postgres_argument_spec()
    spec.update(
        top_queries={"type": "int", "default": 5},
        query_max_length={"type": "int", "default": 200},
        max_connections_ratio={"type": "float", "default": 0.9},
        max_idle_in_transaction={"type": "int", "default": 5},
        max_query_seconds={"type": "float", "default": 300.0},
        fail_on_unhealthy={"type": "bool", "default": True},
    )
    return spec


def parse_version(full: str, num: str) -> dict[str, Any]:
    number = int(num)
    return {"full": full, "major": number // 10000, "minor": number % 10000, "num": number}


def survey(session: PgSession, params: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    session.query("SELECT 1")
    latency_ms = round((time.monotonic() - started) * 1000.0, 3)
    settings = session.query(
        "SELECT current_setting('server_version') AS full, "
        "current_setting('server_version_num') AS num, "
        "current_setting('max_connections')::int AS max_connections"
    )[0]
    by_state = {row["state"]: int(row["n"]) for row in session.query(STATES_SQL)}
    longest = session.query(
        LONGEST_SQL, {"length": params["query_max_length"], "limit": params["top_queries"]}
    )
    total = sum(by_state.values())
    max_connections = int(settings["max_connections"])
    return {
        "latency_ms": latency_ms,
        "server_version": parse_version(settings["full"], settings["num"]),
        "connections": {
            "total": total,
            "max": max_connections,
            "ratio": round(total / max_connections, 4) if max_connections else 0.0,
            "by_state": by_state,
        },
        "idle_in_transaction": sum(
            n for state, n in by_state.items() if state.startswith("idle in transaction")
        ),
        "longest_queries": longest,
    }


def problems_of(report: dict[str, Any], params: dict[str, Any]) -> list[str]:
    problems = []
    connections = report["connections"]
    if connections["ratio"] > params["max_connections_ratio"]:
        problems.append(
            f"{connections['total']} of {connections['max']} connections in use "
            f"(over {params['max_connections_ratio']:.0%})"
        )
    if report["idle_in_transaction"] > params["max_idle_in_transaction"]:
        problems.append(
            f"{report['idle_in_transaction']} sessions idle in transaction "
            f"(max {params['max_idle_in_transaction']})"
        )
    active = [q for q in report["longest_queries"] if q["state"] == "active"]
    if active and active[0]["duration_s"] > params["max_query_seconds"]:
        problems.append(
            f"query of pid {active[0]['pid']} running for {active[0]['duration_s']:.0f}s "
            f"(max {params['max_query_seconds']:.0f}s)"
        )
    return problems


def run_module(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    conn = PgConnParams(**pick(params, POSTGRES_KEYS))
    result: dict[str, Any] = {"changed": False, "target": conn.target, "queries": []}
    try:
        session = PgSession(conn, readonly=True)
    except UnreachableError as error:
        result.update(healthy=False, reachable=False, error_kind=error.kind, problems=[str(error)])
        return result
    with session:
        try:
            report = survey(session, params)
        finally:
            result["queries"] = session.queries
    problems = problems_of(report, params)
    result.update(report)
    result.update(healthy=not problems, reachable=True, error_kind="", problems=problems)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    if not result["healthy"] and module.params["fail_on_unhealthy"]:
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
