# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``host_blocklist``: names the lock's holder, then runs the module on
the host.

The module changes the host (its nftables sets and nginx include), so it runs there, over the
task's connection; with ``lock_key`` it also takes the host's lock file, whose holder must be
the same for every task of the run (as ``host_lock``'s action plugin decides it): from
ansible-playbook's pid, here on the controller.
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
        if args.get("lock_key") and not args.get("lock_holder"):
            # Workers are forked from ansible-playbook: its pid is the same for the whole run.
            args["lock_holder"] = default_holder(task_vars or {}, pid=os.getppid())
        result.update(
            self._execute_module(
                module_name="irdrive.ops.host_blocklist", module_args=args, task_vars=task_vars
            )
        )
        return result
