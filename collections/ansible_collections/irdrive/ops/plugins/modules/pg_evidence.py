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

import json
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    POSTGRES_KEYS,
    pick,
    postgres_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.evidence import (
    sync_files,
    window_seconds,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.pg_evidence import run_queries, validate
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
    PgSession,
)


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
