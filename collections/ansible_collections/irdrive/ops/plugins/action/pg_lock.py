# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``pg_lock``: a run's lock on a PostgreSQL target, as a table row.

Runs on the controller, in-process (one connection, a few statements), like ``target_lock``;
the lock logic is ``module_utils/target_lock.py``, the row ``module_utils/lock_backends.py``.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    POSTGRES_KEYS,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import (
    PG_LOCK_ARG_SPEC,
    PgLockBackend,
    run_controller_lock,
)
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession

ARGUMENT_SPEC = PG_LOCK_ARG_SPEC


def run_pg_lock(
    args: dict[str, Any], task_vars: dict[str, Any], check_mode: bool
) -> dict[str, Any]:
    """The task's result for validated ``args``."""
    sessions: list[PgSession] = []

    def row() -> PgLockBackend:
        sessions.append(PgSession(PgConnParams(**pick(args, POSTGRES_KEYS))))
        return PgLockBackend(sessions[0], args["key"], args["table"])

    try:
        return run_controller_lock(args, task_vars, row, check_mode)
    finally:
        for session in sessions:
            session.close()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(run_pg_lock(args, task_vars or {}, bool(self._task.check_mode)))
        return result
