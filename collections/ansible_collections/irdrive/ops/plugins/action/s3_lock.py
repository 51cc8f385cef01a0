# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``s3_lock``: a run's lock on an AWS target, as an S3 object.

Runs on the controller, in-process, like ``target_lock``; the lock logic is
``module_utils/target_lock.py``, the object ``module_utils/lock_backends.py``.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import (
    S3_LOCK_ARG_SPEC,
    S3LockBackend,
    run_controller_lock,
)

ARGUMENT_SPEC = S3_LOCK_ARG_SPEC


def run_s3_lock(
    args: dict[str, Any], task_vars: dict[str, Any], check_mode: bool
) -> dict[str, Any]:
    """The task's result for validated ``args``."""

    def s3_object() -> S3LockBackend:
        # Imported here, not with the plugin: the strategy loads this class for every s3_lock
        # task, skipped ones too, and boto3 takes about 0.4 s to import.
        from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn

        client = AwsConn(**pick(args, AWS_KEYS)).client("s3")
        return S3LockBackend(client, args["bucket"], args["key"], args["prefix"])

    return run_controller_lock(args, task_vars, s3_object, check_mode)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(run_s3_lock(args, task_vars or {}, bool(self._task.check_mode)))
        return result
