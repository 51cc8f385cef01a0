"""Rich rendering of a run: a live line per task as events arrive, then the summary.

Everything shown here comes from ``irdrive.report.TaskResult``/``RunReport``, which
``irdrive.events`` builds from ansible-runner's events; nothing is read from ansible's stdout.
The catalog table of ``irdrive list`` is here too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from irdrive.errors import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

if TYPE_CHECKING:
    from datetime import datetime

    from rich.status import Status

    from irdrive.catalog import Runbook
    from irdrive.freshness import Freshness
    from irdrive.report import RunReport, TaskResult

STATUS_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "skipped": "cyan",
    "unreachable": "bold magenta",
    "running": "dim",
}
SEVERITY_STYLE = {"P0": "bold red", "P1": "red", "P2": "yellow", "P3": "cyan"}
STATUS_MARK = {
    "ok": "✓",
    "changed": "~",
    "failed": "✗",
    "skipped": "-",
    "unreachable": "!",
}


def _status_text(result: TaskResult) -> str:
    label = result.status
    if result.ignored:
        label = "failed (ignored)"
    style = STATUS_STYLE.get(result.status, "")
    return f"[{style}]{escape(label)}[/]" if style else escape(label)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}m{seconds:04.1f}s"


class LiveProgress:
    """Prints one line per finished task and keeps a spinner on the running one."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._running: dict[tuple[str, str], str] = {}

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            self._status = self.console.status("starting ansible-playbook…")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def update(self, result: TaskResult) -> None:
        key = (result.task, result.host)
        if result.status == "running":
            self._running[key] = f"{result.task} [{result.host}]"
        else:
            self._running.pop(key, None)
            mark = STATUS_MARK.get(result.status, "?")
            style = STATUS_STYLE.get(result.status, "")
            line = (
                f"[{style}]{mark} {result.status:<11}[/] {escape(result.task)} "
                f"[dim]{escape(result.host)} {_seconds(result.duration)}[/]"
            )
            if result.ignored:
                line += " [dim](ignored)[/]"
            # A failure's message is told once, whole, in the summary (render_summary).
            self.console.print(line, highlight=False, soft_wrap=True)
        if self._status is not None:
            running = ", ".join(self._running.values())
            self._status.update(f"running: {escape(running)}" if running else "…")


def banner(console: Console, target: str, detail: str, check: bool) -> None:
    """The target, named before anything runs (and before the confirmation prompt)."""
    console.print(
        f"[bold]Target:[/] {escape(target)} ({escape(detail)})", highlight=False, soft_wrap=True
    )
    if check:
        console.print("[bold cyan]Check mode:[/] nothing will be changed.", highlight=False)


def render_summary(console: Console, report: RunReport) -> None:
    """The table of tasks, the total time, what changed, what was verified, the outcome."""
    table = Table(title=f"Runbook {report.runbook}", title_justify="left", show_lines=False)
    table.add_column("Task")
    table.add_column("Host")
    table.add_column("Status")
    table.add_column("Duration", justify="right")
    for task in report.tasks:
        table.add_row(
            escape(task.task), escape(task.host), _status_text(task), _seconds(task.duration)
        )
    if report.tasks:
        console.print(table)
    changed_word = "Would change" if report.check else "Changed"
    if report.stopped:
        changed_word += " before the stop"
    if report.changes:
        console.print(f"[bold]{changed_word}:[/]")
        for change in report.changes:
            console.print(f"  ~ {escape(_describe_change(change))}", highlight=False)
    else:
        console.print(f"[bold]{changed_word}:[/] nothing")
    recorded = report.recorded.get("irdrive_changes") or []
    if recorded:
        console.print("[bold]Prior state recorded (for undo):[/]")
        for item in recorded:
            if isinstance(item, dict):
                console.print(
                    f"  {escape(str(item.get('target')))}: {escape(_brief(item.get('before')))}"
                    f" -> {escape(_brief(item.get('after')))}",
                    highlight=False,
                )
    if report.verified:
        console.print("[bold]Verified:[/]")
        for item in report.verified:
            extra = f": {item['msg']}" if item.get("msg") else ""
            console.print(
                f"  ✓ {escape(item['task'])} \\[{escape(item['host'])}]{escape(extra)}",
                highlight=False,
            )
    # Each message once and whole: a failed task's is its entry in errors (report.task_error),
    # or another entry that tells the same words; a report without either (not built by the
    # collector) still names its failed tasks.
    from irdrive.report import task_error

    prefixes = {task_error(task, ""): task for task in report.failed}
    for error in report.errors:
        label = "[bold red]Failed:[/] " if error.startswith(tuple(prefixes)) else ""
        console.print(f"{label}[red]{escape(error)}[/]", highlight=False, soft_wrap=True)
    for prefix, task in prefixes.items():
        told = (e.startswith(prefix) or bool(task.msg and task.msg in e) for e in report.errors)
        if not any(told):
            line = escape(prefix + (task.msg or "failed"))
            console.print(f"[bold red]Failed:[/] {line}", highlight=False, soft_wrap=True)
    render_findings(console, report)
    for bundle in report.evidence:
        console.print(
            f"[bold]Evidence bundle:[/] {escape(bundle)}", highlight=False, soft_wrap=True
        )
    console.print(f"[bold]Total time:[/] {_seconds(report.duration)}")
    if report.run_dir:
        console.print(
            f"[dim]Artifacts: {escape(report.run_dir)}[/]", highlight=False, soft_wrap=True
        )
    code = report.exit_code
    if report.stopped:
        how = f"by {report.stopped}" if report.stop_signal else report.stopped
        console.print(f"[bold red]STOPPED[/] {escape(how)} ({report.status}, exit {code})")
        return
    word = report.outcome
    if code == EXIT_OK:
        console.print(f"[bold green]{word}[/] ({report.status}, exit {code})")
    elif code == EXIT_UNREACHABLE:
        hosts = ", ".join(report.unreachable)
        console.print(f"[bold magenta]{word}[/] {escape(hosts)} (exit {code})")
    elif code == EXIT_USAGE:
        console.print(f"[bold red]{word}[/] (nothing was changed, exit {code})")
    elif report.unresolved:
        nxt = ", ".join(
            sorted({str(f.get("runbook")) for f in report.unresolved if f.get("runbook")})
        )
        hint = f"; next: irdrive run {nxt}" if nxt else ""
        console.print(f"[bold red]{word}[/] ({report.status}{escape(hint)}, exit {code})")
    else:
        console.print(f"[bold red]{word}[/] ({report.status}, rc {report.rc}, exit {code})")


def render_findings(console: Console, report: RunReport) -> None:
    """A diagnosis's findings, each with the runbook that remedies it, and the symptoms the
    runbook found and left unremedied (both from set_stats, see RunReport)."""
    told = [f for f in report.findings if f not in report.unresolved]  # each finding once
    if told:
        console.print("[bold]Findings:[/]")
        for finding in told:
            console.print(f"  {escape(_finding(finding))}", highlight=False, soft_wrap=True)
    elif "irdrive_diagnosis" in report.recorded and not report.findings:
        console.print("[bold]Findings:[/] none")
    if report.unresolved:
        console.print("[bold red]Not remedied by this runbook:[/]")
        for finding in report.unresolved:
            console.print(f"  {escape(_finding(finding))}", highlight=False, soft_wrap=True)


def _finding(finding: dict[str, Any]) -> str:
    severity = f"[{finding['severity']}] " if finding.get("severity") else ""
    text = f"{severity}{finding.get('summary') or finding.get('id') or '?'}"
    if finding.get("target"):
        text += f" ({finding['target']})"
    if finding.get("runbook"):
        text += f" -> irdrive run {finding['runbook']}"
    return text


def interrupted_runs(console: Console, runs: list[Any]) -> None:
    """Earlier runs whose driver died mid-run (``irdrive.record.Interrupted``): when, what they
    had changed, where their record is."""
    for run in runs:
        pid = f", pid {run.pid}" if run.pid else ""
        console.print(
            f"[bold yellow]Warning:[/] an earlier run of {escape(run.runbook)} (started "
            f"{escape(run.started)}{pid}) was interrupted before it ended.",
            highlight=False,
            soft_wrap=True,
        )
        changes = [_describe_change(c) for c in run.changes if isinstance(c, dict)]
        if changes:
            console.print("  It had changed:", highlight=False, soft_wrap=True)
            for line in changes:
                console.print(f"    ~ {escape(line)}", highlight=False, soft_wrap=True)
        else:
            console.print(
                "  It had changed nothing that its record shows.", highlight=False, soft_wrap=True
            )
        for task in run.running:
            console.print(
                f"  It was running (outcome unknown): {escape(task)}",
                highlight=False,
                soft_wrap=True,
            )
        if run.left:
            pids = " ".join(str(p) for p in run.left)
            console.print(
                f"  Its playbook is still running (pids {pids}): it stops safely by itself; "
                f"let it finish, or end it with `kill {pids}`.",
                highlight=False,
                soft_wrap=True,
            )
        console.print(f"  Its record: {escape(str(run.run_dir))}", highlight=False, soft_wrap=True)


def _describe_change(change: dict[str, Any]) -> str:
    text = f"{change['task']} [{change['host']}]"
    if change.get("censored"):
        return text + " (details hidden: no_log)"
    before = change.get("before")
    diff = change.get("diff")
    if isinstance(diff, dict) and ("before" in diff or "after" in diff):
        return text + f": {_brief(diff.get('before'))} -> {_brief(diff.get('after'))}"
    if before is not None:
        return text + f" (before: {_brief(before)})"
    if change.get("msg"):
        return text + f": {_brief(change['msg'])}"
    return text


def _brief(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_catalog(
    console: Console,
    runbooks: list[Runbook],
    drills: dict[str, Freshness] | None = None,
    now: datetime | None = None,
) -> None:
    """``irdrive list``: one row per runbook: name, severity, procedure, one sentence, and
    with ``drills`` (freshness at ``now``) when its last passing drill was."""
    table = Table(title="Runbooks", title_justify="left", show_lines=False, expand=False)
    table.add_column("Runbook", no_wrap=True, style="bold")
    table.add_column("Sev", no_wrap=True)
    table.add_column("Incident playbook procedure")
    table.add_column("What it does")
    if drills is not None:
        table.add_column("Drill", no_wrap=True)
    # The incident procedures first, by severity; then the building blocks they are made of.
    ordered = sorted(runbooks, key=lambda rb: (rb.severity or "~", rb.name))
    for i, runbook in enumerate(ordered):
        if i and bool(runbook.severity) != bool(ordered[i - 1].severity):
            table.add_section()
        if runbook.error:
            what = f"[red]cannot be read: {escape(runbook.error)}[/]"
        else:
            what = escape(runbook.summary or _first_sentence(runbook.description))
        severity = runbook.severity
        style = SEVERITY_STYLE.get(severity, "")
        row = [
            escape(runbook.name),
            f"[{style}]{escape(severity)}[/]" if style else escape(severity or "-"),
            escape(runbook.procedure or "-"),
            what,
        ]
        if drills is not None and now is not None:
            row.append(drill_cell(drills.get(runbook.name), bool(severity), now))
        table.add_row(*row)
    console.print(table)
    console.print(
        "[dim]irdrive show NAME for its description, parameters and what it changes.[/]",
        highlight=False,
    )


def drill_cell(fresh: Freshness | None, incident: bool, now: datetime) -> str:
    """ "3d ago" (fresh), "3d ago, stale", or "never" (marked for an incident runbook)."""
    from irdrive.freshness import STALE, ago

    if fresh is None or fresh.last is None:
        return "[yellow]never[/]" if incident else "[dim]never[/]"
    when = ago(fresh.last.started_at, now)
    if fresh.status == STALE:
        return f"[yellow]{when}, stale[/]"
    return f"[green]{when}[/]"


def _first_sentence(text: str) -> str:
    """The description's first sentence, for a runbook that declares no summary."""
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
