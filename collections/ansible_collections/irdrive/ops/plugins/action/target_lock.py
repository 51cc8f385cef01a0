# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``target_lock``: take or give up a run's lock on its target.

Runs on the controller, in-process (a few API calls, no module shipped to a host), so a lock
costs a tenth of a module task. The lock logic is ``module_utils/target_lock.py``.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import K8S_AUTH_ARG_SPEC
from ansible_collections.irdrive.ops.plugins.module_utils.errors import IrdriveOpsError
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LOCK_ARG_SPEC,
    LeaseBackend,
    TargetLock,
    default_holder,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {**LOCK_ARG_SPEC, **K8S_AUTH_ARG_SPEC}

BAD_INPUT = {"error_kind": "invalid_input"}


def run_lock(args: dict[str, Any], task_vars: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The task's result for validated ``args``."""
    if args["duration"] < 1:
        return {"failed": True, "msg": "duration must be at least 1 second", **BAD_INPUT}
    if args["wait"] < 0:
        return {"failed": True, "msg": "wait must not be negative", **BAD_INPUT}
    # Workers are forked from ansible-playbook: its pid is the same for every task of the run.
    holder = args["holder"] or default_holder(task_vars, pid=os.getppid())
    try:
        client = K8sClient.from_auth(K8sAuth.from_params(args))
        backend = LeaseBackend(client, args["namespace"], args["key"])
        lock = TargetLock(backend, holder, args["duration"])
        if args["state"] == "released":
            outcome = lock.release(check_mode)
        else:
            outcome = lock.acquire(args["wait"], check_mode)
    except IrdriveOpsError as error:
        if args["state"] == "released":
            # The work is done (or has failed on its own): a release that cannot write must not
            # turn it into a failure. The lock is taken over once stale; say so.
            return {
                "changed": False,
                "state": "not_released",
                "holder": holder,
                "msg": f"could not release the lock: {error}",
                "warnings": [
                    f"could not release the lock of {holder} ({error}); another run takes it "
                    f"over {args['duration']}s after this run's last renewal"
                ],
            }
        return {"failed": True, "msg": str(error), "holder": holder, **error.to_result()}
    except ValueError as error:
        return {"failed": True, "msg": str(error), **BAD_INPUT}
    return outcome.to_result(holder, backend.where)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(run_lock(args, task_vars or {}, bool(self._task.check_mode)))
        return result
