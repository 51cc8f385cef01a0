"""ansible-runner events become TaskResults, changes, verifications and a timeline.

Each fact comes from the event's structure: the event name gives the status, the result
(``res``) gives ``changed``, ``msg``, ``before``/``diff`` and our modules' ``error_kind``, the
task's tags (read from its ``task_path``, see ``irdrive.tasktags``) say whether it is a
verification, and ``playbook_on_stats`` gives the per-host counts and ``set_stats`` data.

Three facts have no structured source; each is read from text in exactly one function below,
with the reason in its docstring and a test that shows it:
``censored_changed`` (no_log results), ``playbook_error`` (a playbook that does not load) and
``unreachable_in_text`` (modules that are not ours).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from irdrive.report import BAD_INPUT_KIND, UNREACHABLE_KIND, RunReport, TaskResult, task_error
from irdrive.tasktags import TagReader

MSG_LIMIT = 500
MAX_ERRORS = 5
# A failure message at least this long, found whole inside another's, is not told twice.
QUOTED_MIN = 20
# Task events that end a task on a host, and the status each gives.
FINAL_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
TIMELINE_EVENTS = {
    "playbook_on_start",
    "playbook_on_play_start",
    "playbook_on_task_start",
    "runner_on_start",
    "playbook_on_stats",
    *FINAL_EVENTS,
}
# The action a role checks its input and preconditions with, before it changes anything.
CHECK_ACTIONS = frozenset({"ansible.builtin.assert", "assert"})
STATS_KEYS = ("ok", "changed", "failures", "skipped", "dark", "ignored", "rescued")


class EventCollector:
    """Folds ansible-runner events into a RunReport; calls ``on_update`` as tasks progress."""

    def __init__(
        self,
        report: RunReport,
        on_update: Callable[[TaskResult], None] | None = None,
        tags: TagReader | None = None,
    ) -> None:
        self.report = report
        self.on_update = on_update
        self.tags = tags or TagReader()
        self._open: dict[tuple[str, str], TaskResult] = {}
        self._starts: dict[tuple[str, str], float] = {}
        # Loops of a no_log task with an item that changed (see censored_changed).
        self._items_changed: set[tuple[str, str]] = set()
        # Each failed or unreachable task's whole message, for the report's errors.
        self._failures: list[tuple[TaskResult, str]] = []
        # Play-stats-like counts of the hosts a fan-out task did from the controller.
        self._fanout_counts: dict[str, dict[str, int]] = {}

    def handle(self, event: Mapping[str, Any]) -> None:
        name = str(event.get("event", ""))
        data: Mapping[str, Any] = event.get("event_data") or {}
        created = str(event.get("created") or "")
        if name in TIMELINE_EVENTS:
            self.report.timeline.append(
                {"event": name, "time": created, "task": data.get("task"), "host": data.get("host")}
            )
        if name == "runner_on_start":
            self._start(data, created)
        elif name in FINAL_EVENTS:
            self._finish(event, name, data, created)
        elif name == "runner_item_on_ok":
            if _is_censored(data.get("res")) and censored_changed(event):
                self._items_changed.add(self._key(data))
        elif name == "playbook_on_stats":
            self._stats(data)
        else:
            error = playbook_error(event)
            if error and len(self.report.errors) < MAX_ERRORS:
                self.report.errors.append(" ".join(error.split()))

    def finish(self) -> None:
        """After the run: a task still "running" never finished (cancel, crash); each task
        that failed (not ignored) or found its host unreachable adds its whole message to the
        report's errors, after the playbook's own, once: a message repeated by a later task
        (a rescue that fails with the same words) or quoted whole in another task's (a rescue
        that says what state the failure left) is not told again."""
        for task in self.report.tasks:
            if task.status == "running":
                task.status = "failed"
                task.msg = task.msg or f"did not finish (run {self.report.status})"
                self._failures.append((task, task.msg))
        failures = [(task, msg) for task, msg in self._failures if not task.ignored]
        for i, (task, msg) in enumerate(failures):
            if not _told_elsewhere(msg, i, [m for _, m in failures]):
                self.report.errors.append(task_error(task, msg))

    def _key(self, data: Mapping[str, Any]) -> tuple[str, str]:
        return (str(data.get("task_uuid") or data.get("task")), str(data.get("host") or ""))

    def _start(self, data: Mapping[str, Any], created: str) -> None:
        result = TaskResult(
            task=str(data.get("task") or data.get("task_action") or "?"),
            host=str(data.get("host") or ""),
            role=data.get("role") or None,
            action=data.get("resolved_action") or data.get("task_action") or None,
            started=str(data.get("start") or created) or None,
        )
        key = self._key(data)
        self._open[key] = result
        self._starts[key] = _parse_time(created) or time.time()
        self.report.tasks.append(result)
        self._notify(result)

    def _finish(
        self, event: Mapping[str, Any], name: str, data: Mapping[str, Any], created: str
    ) -> None:
        key = self._key(data)
        result = self._open.pop(key, None)
        if result is None:  # no start event (e.g. the task failed to template): add it now
            self._start(data, created)
            result = self._open.pop(key)
        raw_res = data.get("res")
        res: Mapping[str, Any] = raw_res if isinstance(raw_res, dict) else {}
        status = FINAL_EVENTS[name]
        changed = bool(res.get("changed")) and status in ("ok", "failed")
        item_changed = key in self._items_changed
        self._items_changed.discard(key)
        if _is_censored(res) and status == "ok":
            changed = censored_changed(event) or item_changed
        if status == "ok" and changed:
            status = "changed"
        result.status = status
        result.changed = changed
        result.ignored = bool(data.get("ignore_errors")) and status == "failed"
        result.ended = str(data.get("end") or created) or None
        result.duration = self._duration(key, data, created)
        verification = self.tags.is_verification(data.get("task_path"))
        fanned = fanout_hosts(res) if status in ("ok", "changed", "failed") else None
        if status in ("failed", "unreachable"):
            full = _failure_msg(res) or status
            result.msg = full
            result.error_kind = _error_kind(res)
            if status == "failed" and result.action in CHECK_ACTIONS and not verification:
                # A role's own check of its input and preconditions (not a verification):
                # failing it is bad input, like the argument spec (exit 2 before any change).
                result.error_kind = result.error_kind or BAD_INPUT_KIND
            if not fanned:  # a fan-out's hosts tell its failure, each its own
                self._failures.append((result, full))
        if changed and not fanned:
            self.report.changes.append(_change(result, res))
        if fanned:
            self._fan_out(result, fanned)
        if status in ("ok", "changed") and verification:
            entry = {"task": result.task, "host": result.host}
            if res.get("msg") and not _is_censored(res):
                entry["msg"] = _short(res["msg"])
            self.report.verified.append(entry)
        self._notify(result)

    def _fan_out(self, task: TaskResult, hosts: Mapping[str, Mapping[str, Any]]) -> None:
        """A task on the controller that did many hosts (``fanout_hosts``): one TaskResult
        per host, as if the task had run on each, with its change, failure and play-stats-like
        counts (merged into ``report.hosts`` with the play stats)."""
        for host, res in hosts.items():
            one = TaskResult(task=task.task, host=host, role=task.role, action=task.action,
                             started=task.started, ended=task.ended, duration=task.duration)  # fmt: skip
            counts = self._fanout_counts.setdefault(host, {})
            if res.get("unreachable"):
                one.status, key = "unreachable", "dark"
            elif res.get("failed"):
                one.status, key = "failed", "failures"
            else:
                one.status, key = ("changed" if res.get("changed") else "ok"), "ok"
            one.changed = bool(res.get("changed"))
            counts[key] = counts.get(key, 0) + 1
            if one.changed:
                counts["changed"] = counts.get("changed", 0) + 1
                self.report.changes.append(_change(one, res))
            if one.status in ("failed", "unreachable"):
                one.msg = _failure_msg(res) or one.status
                one.error_kind = _error_kind(res)
                self._failures.append((one, one.msg))
            self.report.tasks.append(one)
            self._notify(one)

    def _duration(
        self, key: tuple[str, str], data: Mapping[str, Any], created: str
    ) -> float | None:
        begin = self._starts.pop(key, None)
        duration = data.get("duration")
        if duration is None:
            end = _parse_time(created)
            duration = (end - begin) if end is not None and begin is not None else None
        return round(float(duration), 3) if duration is not None else None

    def _stats(self, data: Mapping[str, Any]) -> None:
        hosts: dict[str, dict[str, int]] = {}
        for key in STATS_KEYS:
            for host, count in (data.get(key) or {}).items():
                hosts.setdefault(host, {})[key] = int(count)
        for host in data.get("processed") or {}:
            hosts.setdefault(host, {})
        for host, counts in self._fanout_counts.items():
            merged = hosts.setdefault(host, {})
            for key, count in counts.items():
                merged[key] = merged.get(key, 0) + count
        self.report.hosts = hosts
        artifacts = data.get("artifact_data")
        if isinstance(artifacts, dict):
            self.report.recorded = dict(artifacts)

    def _notify(self, result: TaskResult) -> None:
        if self.on_update is not None:
            self.on_update(result)


# ---- the three facts read from text -----------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# How modules that are not ours (kubernetes.core, amazon.aws) say a target did not answer.
_UNREACHABLE_TEXT = re.compile(
    r"Connection refused|Failed to establish a new connection|Max retries exceeded"
    r"|Name or service not known|No route to host|could not connect to server",
    re.IGNORECASE,
)


def censored_changed(event: Mapping[str, Any]) -> bool:
    """Whether a no_log task (or one loop item of it) changed.

    ansible-core keeps ``changed`` in a censored result, but ansible-runner (2.4) replaces
    the whole ``res`` of a no_log event with ``{"censored": ...}``, looped or not, so the
    event data no longer says it. The event's own one-line outcome, written by ansible-core's
    default callback from the uncensored flag, still does: ``changed: [host]``. Should
    ansible-runner ever keep the key, it is used instead of the text.
    """
    data = event.get("event_data") or {}
    res = data.get("res") if isinstance(data, Mapping) else None
    if isinstance(res, Mapping) and "changed" in res:
        return bool(res["changed"])
    return _ANSI.sub("", str(event.get("stdout") or "")).lstrip().startswith("changed:")


def playbook_error(event: Mapping[str, Any]) -> str | None:
    """The first line of an ``ERROR!``/``[ERROR]:`` message in a ``verbose``/``error`` event.

    A playbook that does not load (a YAML error, a role that is not found) fails before any
    task starts, so no failure event exists; ansible-playbook's message on its output is the
    only account of what went wrong.
    """
    if event.get("event") not in ("verbose", "error"):
        return None
    line = str(event.get("stdout") or "").strip()
    if not line.startswith(("ERROR!", "[ERROR]")):
        return None
    return line.splitlines()[0]


def unreachable_in_text(res: Mapping[str, Any]) -> bool:
    """Whether a failed result of a module that is not ours says its target did not answer.

    Our modules return ``error_kind: unreachable``. kubernetes.core and amazon.aws modules
    return no such key; a refused or unresolvable connection shows only in their message.
    """
    return any(
        isinstance(res.get(key), str) and _UNREACHABLE_TEXT.search(res[key])
        for key in ("msg", "stderr", "reason", "exception")
    )


# ---- helpers ----------------------------------------------------------------------------
def fanout_hosts(res: Mapping[str, Any]) -> dict[str, Mapping[str, Any]] | None:
    """The per-host results of a task that did many hosts from the controller, or None.

    A fan-out action (irdrive.ops.host_blocklist_fleet) returns ``hosts`` (host -> that host's
    result) with the lists ``failed_hosts``, ``unreachable_hosts`` and ``fallback``; its events
    name only the controller, so the hosts are read from this structure.
    """
    hosts = res.get("hosts")
    if not isinstance(hosts, Mapping) or not all(
        isinstance(res.get(key), list) for key in ("failed_hosts", "unreachable_hosts", "fallback")
    ):
        return None
    return {str(h): r for h, r in hosts.items() if isinstance(r, Mapping)} or None


def _told_elsewhere(msg: str, index: int, messages: list[str]) -> bool:
    """Whether failure ``index``'s message is told by another: the same words earlier, or
    quoted whole in a longer message."""
    for other_index, other in enumerate(messages):
        if other_index == index:
            continue
        if other == msg and other_index < index:
            return True
        if other != msg and len(msg) >= QUOTED_MIN and msg in other:
            return True
    return False


def _is_censored(res: Any) -> bool:
    return isinstance(res, Mapping) and "censored" in res


def _error_kind(res: Mapping[str, Any]) -> str | None:
    kind = res.get("error_kind")
    if isinstance(kind, str) and kind:
        return kind
    if not _is_censored(res) and unreachable_in_text(res):
        return UNREACHABLE_KIND
    return None


def _change(result: TaskResult, res: Mapping[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {"task": result.task, "host": result.host}
    if _is_censored(res):  # a no_log result: nothing of it goes into the report
        change["censored"] = True
        return change
    for key in ("before", "diff", "msg"):
        if res.get(key) not in (None, "", {}, []):
            change[key] = res[key]
    return change


def _failure_msg(res: Mapping[str, Any]) -> str | None:
    if _is_censored(res):
        return "failed (output hidden: no_log)"
    for key in ("msg", "stderr", "reason", "exception"):
        value = res.get(key)
        if value:
            return " ".join(str(value).split())
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= MSG_LIMIT else text[: MSG_LIMIT - 1] + "…"


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
