# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: session_revoke
short_description: Revoke suspicious user sessions and terminate matching database backends
version_added: 0.1.0
description:
  - Sets C(revoked_at) on the rows of the application's sessions table that are not revoked yet
    and match every filter given (O(ips) as addresses or CIDRs, O(user_ids), O(created_since)),
    and records an C(UPDATE) row per revoked session in C(audit_log), its actor naming the
    rotation id.
  - Terminates database backends matching O(terminate) with C(pg_terminate_backend). The filter
    never matches this module's own backend (C(pg_backend_pid())), superuser backends, or
    anything but C(backend_type = 'client backend') (no replication, autovacuum or background
    workers).
  - Idempotent; a re-run finds nothing left to revoke or terminate and reports no change.
  - Runs with C(statement_timeout) and C(lock_timeout) and needs C(UPDATE (revoked_at)) on the
    sessions table and C(pg_signal_backend).
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.postgres
options:
  ips:
    description: Client addresses or CIDRs of the sessions to revoke.
    type: list
    elements: str
    default: []
  user_ids:
    description: User ids whose sessions to revoke.
    type: list
    elements: int
    default: []
  created_since:
    description: Revoke only sessions created at or after this time (an ISO 8601 timestamp).
    type: str
  table:
    description: The sessions table (C(revoked_at), C(ip), C(user_id), C(created_at) columns).
    type: str
    default: sessions
  rotation_id:
    description: Recorded in the audit entry, so the revocation can be traced to the incident.
    type: str
    required: true
  actor:
    description: Recorded as the audit entry's actor.
    type: str
    default: irdrive
  terminate:
    description:
      - Database backends to terminate. A backend must match every filter given; with no filter
        nothing is terminated.
    type: dict
    default: {}
    suboptions:
      client_addrs:
        description: Client addresses or CIDRs.
        type: list
        elements: str
        default: []
      usernames:
        description: Database roles.
        type: list
        elements: str
        default: []
      application_names:
        description: Values of C(application_name).
        type: list
        elements: str
        default: []
attributes:
  check_mode:
    description: Counts what it would revoke and terminate; writes nothing.
    support: full
  diff_mode:
    description: Returns the counts before and after.
    support: full
"""

EXAMPLES = r"""
- name: Revoke the sessions from the attacking addresses and cut their database connections
  irdrive.ops.session_revoke:
    login_host: db.platform.internal
    login_user: irdrive
    login_db: platform
    ips: [203.0.113.45, 203.0.113.0/24]
    created_since: "2026-11-26T00:00:00Z"
    rotation_id: INC-4711
    terminate:
      client_addrs: [203.0.113.0/24]
"""

RETURN = r"""
revoked:
  description: Sessions revoked (that would be, in check mode).
  returned: always
  type: int
  sample: 12
session_ids:
  description: Ids of the revoked sessions (at most 100).
  returned: always
  type: list
  elements: int
  sample: [17, 42]
terminated:
  description: The backends terminated (would be, in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "usename": "platform_app", "client_addr": "203.0.113.45",
            "application_name": "psql"}]
before:
  description: Active matching sessions and matching backends before the task.
  returned: always
  type: dict
  sample: {"active_sessions": 12, "backends": 1}
after:
  description: The same after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {"active_sessions": 0, "backends": 0}
queries:
  description: The statements that ran.
  returned: always
  type: list
  elements: str
  sample: ["UPDATE sessions SET revoked_at = now() WHERE ..."]
"""

import ipaddress
from datetime import datetime
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

#: Never our own backend, never a superuser's, only client backends.
SAFE_BACKENDS = (
    "a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() "
    "AND NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = a.usesysid), true)"
)
TABLE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.")


def argument_spec() -> dict[str, Any]:
    spec = postgres_argument_spec()
    spec.update(
        ips={"type": "list", "elements": "str", "default": []},
        user_ids={"type": "list", "elements": "int", "default": []},
        created_since={"type": "str"},
        table={"type": "str", "default": "sessions"},
        rotation_id={"type": "str", "required": True, "no_log": False},
        actor={"type": "str", "default": "irdrive"},
        terminate={
            "type": "dict",
            "default": {},
            "options": {
                "client_addrs": {"type": "list", "elements": "str", "default": []},
                "usernames": {"type": "list", "elements": "str", "default": []},
                "application_names": {"type": "list", "elements": "str", "default": []},
            },
        },
    )
    return spec


def networks(values: list[str], what: str) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise InvalidInputError(f"{what}: {value!r} is not an IP address or CIDR") from None
    return out


def session_filter(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    clauses, args = ["revoked_at IS NULL"], {}
    if params["ips"]:
        clauses.append("ip <<= ANY(%(ips)s::inet[])")
        args["ips"] = networks(params["ips"], "ips")
    if params["user_ids"]:
        clauses.append("user_id = ANY(%(user_ids)s::bigint[])")
        args["user_ids"] = params["user_ids"]
    if params["created_since"]:
        try:
            datetime.fromisoformat(params["created_since"].replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"created_since: {params['created_since']!r} is not an ISO 8601 timestamp"
            ) from None
        clauses.append("created_at >= %(since)s::timestamptz")
        args["since"] = params["created_since"]
    if len(clauses) == 1:
        return "", {}
    return " AND ".join(clauses), args


def backend_filter(terminate: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    clauses, args = [], {}
    if terminate.get("client_addrs"):
        clauses.append("a.client_addr <<= ANY(%(addrs)s::inet[])")
        args["addrs"] = networks(terminate["client_addrs"], "terminate.client_addrs")
    if terminate.get("usernames"):
        clauses.append("a.usename = ANY(%(users)s::text[])")
        args["users"] = list(terminate["usernames"])
    if terminate.get("application_names"):
        clauses.append("a.application_name = ANY(%(apps)s::text[])")
        args["apps"] = list(terminate["application_names"])
    if not clauses:
        return "", {}
    return " AND ".join([SAFE_BACKENDS, *clauses]), args


def run_module(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    table = p["table"]
    if not set(table) <= TABLE_NAME_CHARS:
        raise InvalidInputError(f"table: {table!r} is not a plain table name")
    where, args = session_filter(p)
    backends_where, backend_args = backend_filter(p["terminate"] or {})
    if not where and not backends_where:
        raise InvalidInputError("give at least one of ips, user_ids, created_since or terminate")
    result: dict[str, Any] = {"revoked": 0, "session_ids": [], "terminated": []}
    with PgSession(PgConnParams(**pick(p, POSTGRES_KEYS))) as session:
        try:
            sessions: list[dict[str, Any]] = []
            if where:
                sessions = session.query(f"SELECT id FROM {table} WHERE {where} ORDER BY id", args)
                if sessions and not module.check_mode:
                    sessions = session.query(
                        f"WITH revoked AS (UPDATE {table} SET revoked_at = now() WHERE {where} "
                        "RETURNING id), audit AS (INSERT INTO audit_log "
                        "(actor, action, table_name, row_id, created_at) "
                        "SELECT %(actor)s, 'UPDATE', %(table)s, id, now() FROM revoked) "
                        "SELECT id FROM revoked",
                        {**args, "actor": f"{p['actor']} ({p['rotation_id']})", "table": table},
                    )
            backends: list[dict[str, Any]] = []
            if backends_where:
                select = (
                    "SELECT a.pid, a.usename, host(a.client_addr) AS client_addr, "
                    "a.application_name FROM pg_stat_activity a WHERE "
                )
                backends = session.query(select + backends_where + " ORDER BY a.pid", backend_args)
                if backends and not module.check_mode:
                    killed = session.query(
                        "SELECT a.pid FROM pg_stat_activity a WHERE "
                        + backends_where
                        + " AND pg_terminate_backend(a.pid)",
                        backend_args,
                    )
                    done = {row["pid"] for row in killed}
                    backends = [b for b in backends if b["pid"] in done]
        finally:
            result["queries"] = session.queries
    ids = sorted(row["id"] for row in sessions)
    result.update(revoked=len(ids), session_ids=ids[:100], terminated=backends)
    result["changed"] = bool(ids or backends)
    result["before"] = {"active_sessions": len(ids), "backends": len(backends)}
    result["after"] = {"active_sessions": 0, "backends": 0}
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
