# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``preflight``: refuse a run before its first write, as bad input.

Runs on the controller only, in-process. ``ansible.builtin.assert`` and ``ansible.builtin.fail``
cannot say what kind of failure they are; this one returns ``error_kind: invalid_input`` with
the refusal, so the driver reports it as bad input (exit 2) from the result, never from text.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

INVALID_INPUT = "invalid_input"


def preflight_result(problems: Any, summary: str = "") -> dict[str, Any]:
    """The task's result: failed with every problem on one line, or ok with ``summary``."""
    if isinstance(problems, str):
        problems = [problems] if problems else []
    if not isinstance(problems, list):
        raise AnsibleActionFail(
            f"preflight: problems must be a list of strings, got {type(problems).__name__}"
        )
    lines = [str(problem) for problem in problems if str(problem)]
    if lines:
        return {
            "failed": True,
            "changed": False,
            "msg": "; ".join(lines),
            "problems": lines,
            "error_kind": INVALID_INPUT,
        }
    return {"changed": False, "msg": summary, "problems": []}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("problems", "summary"))
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "problems": {"type": "raw", "required": True},
                "summary": {"type": "str", "default": ""},
            }
        )
        result.update(preflight_result(args["problems"], args["summary"]))
        return result
