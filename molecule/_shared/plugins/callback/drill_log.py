"""Record each task of a drill's molecule steps as one JSON line, for ``irdrive drill``.

The drill's timing and its failing check come from these structured events, never from
ansible-playbook's screen output: every task's step (prepare, converge, idempotence, verify,
cleanup: the playbook's file name, with molecule's idempotence run told apart by its
``molecule-idempotence-notest`` skip tag), name, tags, status, end time and, for failures, the
message; ``set_stats`` data a task sets is kept too. Enabled from the scenarios' molecule.yml; it
writes nothing unless ``IRDRIVE_DRILL_LOG`` names the file to append to.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: drill_log
type: notification
short_description: Append a drill's task events to the file in IRDRIVE_DRILL_LOG
description:
  - One JSON object a line per playbook start, task result and playbook end.
  - Used by C(irdrive drill) to time a drill and name its failing check.
options: {}
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "drill_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        path = os.environ.get("IRDRIVE_DRILL_LOG", "")
        self._path = Path(path) if path else None
        self._step = ""

    def _write(self, event: dict[str, Any]) -> None:
        if self._path is None:
            return
        event["time"] = time.time()
        event["step"] = self._step
        with self._path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(event, default=str, sort_keys=True) + "\n")

    def v2_playbook_on_start(self, playbook: Any) -> None:
        name = Path(playbook._file_name).stem
        skipped = context.CLIARGS.get("skip_tags") or ()
        if name == "converge" and "molecule-idempotence-notest" in skipped:
            name = "idempotence"
        self._step = name
        self._write({"event": "start"})

    def _result(self, result: Any, status: str, ignored: bool = False) -> None:
        task = result._task
        res = result._result
        event: dict[str, Any] = {
            "event": "task",
            "task": task.get_name(),
            "tags": sorted(task.tags or []),
            "host": result._host.get_name(),
            "status": status,
        }
        if status == "ok" and res.get("changed"):
            event["status"] = "changed"
        if status in ("failed", "unreachable"):
            event["msg"] = str(res.get("msg") or res.get("stderr") or "")[:2000]
            event["ignored"] = ignored
        stats = res.get("ansible_stats") or {}
        if stats.get("data"):
            event["data"] = stats["data"]
        self._write(event)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._result(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result(result, "failed", ignored=ignore_errors)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        totals = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._write({"event": "end", "stats": totals})
