# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``target_lock``: take or give up a run's lock on its target.

Runs on the controller, in-process (a few API calls, no module shipped to a host), so a lock
costs a tenth of a module task. The lock logic is ``module_utils/target_lock.py``.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import K8S_AUTH_ARG_SPEC
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import run_controller_lock
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LOCK_ARG_SPEC,
    LeaseBackend,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {**LOCK_ARG_SPEC, **K8S_AUTH_ARG_SPEC}


def run_lock(args: dict[str, Any], task_vars: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The task's result for validated ``args``."""

    def lease() -> LeaseBackend:
        client = K8sClient.from_auth(K8sAuth.from_params(args))
        return LeaseBackend(client, args["namespace"], args["key"])

    return run_controller_lock(args, task_vars, lease, check_mode)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(run_lock(args, task_vars or {}, bool(self._task.check_mode)))
        return result
