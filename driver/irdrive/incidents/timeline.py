"""A run's account in an incident's timeline: its report (``irdrive.report.RunReport``, built
from ansible-runner's events, the single source of progress, report and timeline) becomes
timeline entries (``NewEntry``) for ``irdrive run ... --incident``.

What a run writes, in order:

- ``run.start``: who ran which runbook against which target, check/diff, the parameters
  (secret ones as ``********``) and the command line that repeats the run (secret values
  replaced). Written when the run starts, so a driver that dies leaves a trace.
- ``task.end``: one entry per task and host that ran, with its outcome, ``changed``, start
  and end times, duration, role and, when it failed, the first line of its message. Its
  ``at`` is when the task ended. One entry per task (not a start and an end) keeps the
  timeline readable; the start time is in the entry's data.
- ``change``: after the task that made it, what changed with the prior state it replaced
  (the result's ``before`` and ``diff``); then the role-level records (set_stats
  ``irdrive_changes``: target, before, after). A no_log task's change says only that it was
  censored.
- ``verify``: after its task, each verification that passed.
- ``run.end``: status, exit code, outcome, duration, counts, the first lines of the errors,
  and the runbook to run next when the run left a symptom unresolved.

Skipped tasks get no entry of their own: they are counted (and named) in ``run.end``.
Check-mode runs are recorded as such: every entry's data says ``check``, and changes read
"would change".

Secrets: the report's events were scrubbed of every secret value before they reached it,
and no_log results are censored by Ansible; every entry passes the same ``Redactor`` again
before it is written. A ``before``/``after`` larger than ``VALUE_LIMIT`` bytes of JSON is
kept as its first ``VALUE_LIMIT`` characters and marked truncated.

No database access here: plain data in, ``NewEntry`` out (``irdrive.incidents.runlink``
writes them). Imported only for a run with an incident, never by a plain ``irdrive run``.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from irdrive.incidents.common import fmt_duration
from irdrive.incidents.store import NewEntry
from irdrive.redact import REDACTED, Redactor
from irdrive.report import RunReport, TaskResult

VALUE_LIMIT = 4096  # bytes of JSON kept of one before/after
MSG_LIMIT = 300  # characters of a failure message in a task.end or run.end
MAX_ERRORS = 5  # errors named in run.end
MAX_SKIPPED_NAMED = 50
RUN_ACTOR_PREFIX = "run:"


@dataclass(frozen=True)
class RunStart:
    """What is known of a run when it starts."""

    runbook: str
    run_id: str
    user: str
    target: str  # "lab" or "inventory"
    target_detail: str
    inventory: Sequence[str] = ()
    check: bool = False
    diff: bool = False
    parameters: Mapping[str, Any] | None = None  # secret values already replaced
    command: str = ""  # the command line, secrets replaced (``command_line``)
    run_dir: str | None = None
    at: datetime | None = None


def run_actor(run_id: str) -> str:
    return f"{RUN_ACTOR_PREFIX}{run_id}"


def command_line(
    runbook: str,
    extra: Iterable[str] = (),
    secret_names: Iterable[str] = (),
    *,
    inventory: Iterable[str] = (),
    check: bool = False,
    diff: bool = False,
    force: bool = False,
    deadline: float | None = None,
    incident: str | None = None,
    redactor: Redactor | None = None,
) -> str:
    """The ``irdrive run`` command line that repeats a run: ``-e KEY=VALUE`` of a secret
    parameter (or its alias) shows ``KEY=********``; ``-e @FILE`` names the file; any secret
    value left anywhere is replaced by ``redactor``."""
    secret = set(secret_names)
    args = ["irdrive", "run", runbook]
    for item in extra:
        if not item.startswith("@"):
            key, sep, _value = item.partition("=")
            if sep and key.strip() in secret:
                item = f"{key}={REDACTED}"
        args += ["-e", item]
    for inv in inventory:
        args += ["-i", inv]
    args += [flag for flag, on in (("--check", check), ("--diff", diff), ("--force", force)) if on]
    if deadline is not None:
        args += ["--deadline", f"{deadline:g}"]
    if incident:
        args += ["--incident", incident]
    text = shlex.join(args)
    return redactor.text(text) if redactor else text


def start_entry(start: RunStart, redactor: Redactor | None = None) -> NewEntry:
    mode = " (check mode: nothing changed)" if start.check else ""
    data = {
        "runbook": start.runbook,
        "run_id": start.run_id,
        "user": start.user,
        "target": start.target,
        "target_detail": start.target_detail,
        "inventory": list(start.inventory),
        "check": start.check,
        "diff": start.diff,
        "parameters": dict(start.parameters or {}),
        "command": start.command,
        "run_dir": start.run_dir,
    }
    summary = f"{start.user} ran {start.runbook} against {start.target}{mode}"
    return _scrubbed(NewEntry("run.start", summary, start.user, data, start.at), redactor)


def run_entries(report: RunReport, run_id: str, redactor: Redactor | None = None) -> list[NewEntry]:
    """The entries of a finished run after its ``run.start``: each task's end with its
    changes and verifications after it, the role-level change records, then ``run.end``."""
    actor = run_actor(run_id)
    check = report.check
    changes = _by_task(report.changes)
    verified = _by_task(report.verified)
    entries: list[NewEntry] = []
    skipped: list[str] = []
    last_at = parse_time(report.started)
    for task in report.tasks:
        if task.status == "skipped":
            skipped.append(task.task)
            continue
        at = parse_time(task.ended) or parse_time(task.started) or last_at
        last_at = at or last_at
        entries.append(
            NewEntry("task.end", _task_summary(task), actor, _task_data(task, check), at)
        )
        for change in changes.pop((task.task, task.host), []):
            entries.append(
                NewEntry(
                    "change", _change_summary(change, check), actor, _change_data(change, check), at
                )
            )
        for item in verified.pop((task.task, task.host), []):
            summary = f"verified: {task.task} [{task.host}]"
            if item.get("msg"):
                summary += f": {_line(item['msg'], 120)}"
            data = {"task": task.task, "host": task.host, "msg": item.get("msg"), "check": check}
            entries.append(NewEntry("verify", summary, actor, data, at))
    end_at = parse_time(report.ended) or last_at
    for record in _recorded_changes(report):
        entries.append(
            NewEntry(
                "change", _record_summary(record, check), actor, _record_data(record, check), end_at
            )
        )
    entries.append(
        NewEntry("run.end", _end_summary(report), actor, _end_data(report, skipped), end_at)
    )
    return [_scrubbed(entry, redactor) for entry in entries]


def crash_entry(runbook: str, run_id: str, problem: str, check: bool = False) -> NewEntry:
    """``run.end`` of a run the driver could not finish (an error outside the playbook)."""
    text = _line(problem, MSG_LIMIT)
    data = {"status": "error", "exit_code": None, "outcome": "ERROR", "error": text, "check": check}
    return NewEntry("run.end", f"{runbook} ERROR: {text}", run_actor(run_id), data)


# ---- times ------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """An event's or report's ISO time as tz-aware UTC (ansible-runner's ``created`` has no
    zone: it is UTC); None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# ---- one entry each -------------------------------------------------------------------

_STATUS_WORD = {
    "ok": "ok",
    "changed": "changed",
    "failed": "FAILED",
    "unreachable": "UNREACHABLE",
    "running": "did not finish",
}


def _task_summary(task: TaskResult) -> str:
    word = _STATUS_WORD.get(task.status, task.status)
    if task.ignored:
        word = "failed (ignored)"
    text = f"{word} {task.task} [{task.host}]"
    if task.duration is not None:
        text += f" {_took(task.duration)}"
    if task.status in ("failed", "unreachable") and task.msg:
        text += f": {_line(task.msg, 120)}"
    return text


def _took(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else fmt_duration(seconds)


def _task_data(task: TaskResult, check: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task": task.task,
        "host": task.host,
        "role": task.role,
        "action": task.action,
        "status": task.status,
        "changed": task.changed,
        "started": task.started,
        "ended": task.ended,
        "duration": task.duration,
        "check": check,
    }
    if task.status in ("failed", "unreachable"):
        data["msg"] = _line(task.msg or task.status, MSG_LIMIT)
        data["error_kind"] = task.error_kind
        data["ignored"] = task.ignored
    return data


def _change_summary(change: Mapping[str, Any], check: bool) -> str:
    verb = "would change" if check else "changed"
    where = f"{change.get('task')} [{change.get('host')}]"
    if change.get("censored"):
        return f"{verb} {where} (details hidden: no_log)"
    before, after = _before_after(change)
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = [k for k in after if before.get(k) != after.get(k)]
        if keys:
            shown = ", ".join(
                f"{k} {_short(before.get(k))} -> {_short(after.get(k))}" for k in keys[:3]
            )
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            return f"{verb} {where}: {shown}{more}"
    if before is not None:
        return f"{verb} {where}, was {_short(before, 80)}"
    return f"{verb} {where}"


def _change_data(change: Mapping[str, Any], check: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"task": change.get("task"), "host": change.get("host"), "check": check}
    if change.get("censored"):
        data["censored"] = True
        return data
    before, after = _before_after(change)
    truncated: list[str] = []
    for key, value in (("before", before), ("after", after)):
        if value is not None:
            data[key], cut = capped(value)
            if cut:
                truncated.append(key)
    if change.get("msg"):
        data["msg"] = _line(change["msg"], MSG_LIMIT)
    if truncated:
        data["truncated"] = truncated
    return data


def _before_after(change: Mapping[str, Any]) -> tuple[Any, Any]:
    """The prior state and the new one: the result's ``before``, else its diff's; the diff's
    ``after`` (a list of diffs: the first)."""
    diff = change.get("diff")
    if isinstance(diff, list):
        diff = next((d for d in diff if isinstance(d, Mapping)), None)
    diff = diff if isinstance(diff, Mapping) else {}
    before = change.get("before")
    if before is None:
        before = diff.get("before")
    return before, diff.get("after")


def _recorded_changes(report: RunReport) -> list[Mapping[str, Any]]:
    found = report.recorded.get("irdrive_changes")
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def _record_summary(record: Mapping[str, Any], check: bool) -> str:
    verb = "would change" if check else "changed"
    target = record.get("target") or "?"
    before, after = record.get("before"), record.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = [k for k in after if before.get(k) != after.get(k)]
        if keys:
            shown = ", ".join(
                f"{k} {_short(before.get(k))} -> {_short(after.get(k))}" for k in keys[:3]
            )
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            return f"{verb} {target}: {shown}{more}"
    return f"{verb} {target}"


def _record_data(record: Mapping[str, Any], check: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"target": record.get("target"), "recorded": True, "check": check}
    truncated: list[str] = []
    for key in ("before", "after"):
        if key in record:
            data[key], cut = capped(record[key])
            if cut:
                truncated.append(key)
    extra = {k: v for k, v in record.items() if k not in ("target", "before", "after")}
    if extra:
        data["detail"], cut = capped(extra)
        if cut:
            truncated.append("detail")
    if truncated:
        data["truncated"] = truncated
    return data


def _end_summary(report: RunReport) -> str:
    counts = _counts(report)
    what = (
        f"{counts['changed']} {'would change' if report.check else 'changed'}, "
        f"{len(report.verified)} verified, {counts['failed']} failed"
    )
    took = f" in {fmt_duration(report.duration)}" if report.duration is not None else ""
    text = f"{report.runbook} {report.outcome} (exit {report.exit_code}){took}: {what}"
    if report.stopped:
        text += f"; stopped by {report.stopped}"
    nxt = _next_runbooks(report)
    if nxt:
        text += f"; run next: {', '.join(nxt)}"
    return text


def _end_data(report: RunReport, skipped: list[str]) -> dict[str, Any]:
    return {
        "runbook": report.runbook,
        "status": report.status,
        "rc": report.rc,
        "exit_code": report.exit_code,
        "outcome": report.outcome,
        "check": report.check,
        "started": report.started,
        "ended": report.ended,
        "duration": report.duration,
        "stopped": report.stopped,
        "counts": _counts(report),
        "verified": len(report.verified),
        "skipped_tasks": list(dict.fromkeys(skipped))[:MAX_SKIPPED_NAMED],
        "hosts": report.hosts,
        "errors": [_line(e, MSG_LIMIT) for e in report.errors[:MAX_ERRORS]],
        "unreachable": report.unreachable,
        "unresolved": [
            {k: u.get(k) for k in ("id", "summary", "runbook") if k in u} for u in report.unresolved
        ],
        "evidence": report.evidence,
        "run_dir": report.run_dir,
    }


def _counts(report: RunReport) -> dict[str, int]:
    counts = dict.fromkeys(("ok", "changed", "failed", "skipped", "unreachable"), 0)
    for task in report.tasks:
        if task.status == "failed" and task.ignored:
            counts["ok"] += 1
        elif task.status in counts:
            counts[task.status] += 1
        elif task.status == "running":
            counts["failed"] += 1
    return counts


def _next_runbooks(report: RunReport) -> list[str]:
    names = [str(u["runbook"]) for u in report.unresolved if u.get("runbook")]
    return list(dict.fromkeys(names))


# ---- helpers ----------------------------------------------------------------------------


def capped(value: Any, limit: int = VALUE_LIMIT) -> tuple[Any, bool]:
    """``value`` if its JSON fits in ``limit`` bytes, else its JSON's first ``limit``
    characters (a string) and True."""
    text = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    if len(text.encode()) <= limit:
        return value, False
    return text[:limit], True


def _by_task(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    found: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item in items:
        found.setdefault((str(item.get("task")), str(item.get("host"))), []).append(item)
    return found


def _line(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: Any, limit: int = 40) -> str:
    if value is None:
        return "-"
    return _line(value, limit)


def _scrubbed(entry: NewEntry, redactor: Redactor | None) -> NewEntry:
    """The entry with every secret value replaced, its data a fresh copy."""
    if not redactor:
        return entry
    data = redactor.scrub(copy.deepcopy(entry.data))
    return NewEntry(entry.kind, redactor.text(entry.summary), entry.actor, data, entry.at)
