# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``host_lock``: names the run's holder, then runs the module on the host.

The module must run on the host (the lock file is there), but the holder must be the same for
every task of the run, so it is decided here, on the controller, from ansible-playbook's pid.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import default_holder


class ActionModule(ActionBase):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("holder"):
            # Workers are forked from ansible-playbook: its pid is the same for the whole run.
            args["holder"] = default_holder(task_vars or {}, pid=os.getppid())
        result.update(
            self._execute_module(
                module_name="irdrive.ops.host_lock", module_args=args, task_vars=task_vars
            )
        )
        return result
