"""``--json``'s errors carry why a run failed: the playbook's own errors, then each failed or
unreachable task's whole message (never cut, never cut inside a scrubbed secret), once each;
the summary prints each message once."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from irdrive.events import MSG_LIMIT, EventCollector
from irdrive.redact import REDACTED, Redactor
from irdrive.render import render_summary
from irdrive.report import RunReport, TaskResult

T0, T1 = "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"
SECRET = "hunter2-db-admin-password"
# A rotation's failure: long, with the secret in the middle and the advice at the very end.
ROTATION_MSG = (
    "password authentication failed for user admin with password "
    + SECRET
    + ": "
    + "the keys were rotated but the database login was not; " * 12
    + "run again with the same rotation_id"
)


def task(name: str, final: str, res: dict[str, Any], host: str = "db", **data: Any) -> list[Any]:
    common = {"task": name, "task_uuid": name, "host": host, "task_action": "x.y", **data}
    return [
        {"event": "runner_on_start", "created": T0, "event_data": common},
        {"event": final, "created": T1, "event_data": {**common, "res": res}},
    ]


def run(events: list[dict[str, Any]], secrets: list[Any] | None = None) -> RunReport:
    """As Session.run does: scrub each event, collect it, finish, scrub the errors."""
    report = RunReport(runbook="demo", status="failed", rc=2)
    collector = EventCollector(report)
    redactor = Redactor(secrets or [])
    for event in events:
        redactor.scrub(event)
        collector.handle(event)
    collector.finish()
    redactor.scrub(report.errors)
    return report


def test_a_failed_tasks_whole_message_is_in_errors_with_the_secret_scrubbed() -> None:
    report = run(task("Rotate", "runner_on_failed", {"msg": ROTATION_MSG}), [SECRET])
    assert len(ROTATION_MSG) > MSG_LIMIT  # longer than a verification's message is shown
    assert report.errors == [f"Rotate [db]: {ROTATION_MSG.replace(SECRET, REDACTED)}"]
    assert report.errors[0].endswith("run again with the same rotation_id")
    assert SECRET not in str(report.to_dict())
    assert report.tasks[0].msg is not None
    assert report.tasks[0].msg.endswith("run again with the same rotation_id")  # never cut


def test_playbook_errors_come_first_then_one_entry_per_failed_task() -> None:
    events = [
        {"event": "error", "created": T0, "stdout": "[ERROR]: the inventory is broken"},
        *task("A", "runner_on_failed", {"msg": "first\n  failure"}, host="web"),
        *task("B", "runner_on_unreachable", {"msg": "ssh: connect: no route"}, host="ghost"),
        *task("C", "runner_on_failed", {"msg": "ignored"}, ignore_errors=True),
        *task("D", "runner_on_ok", {"changed": True}),
    ]
    assert run(events).errors == [
        "[ERROR]: the inventory is broken",
        "A [web]: first failure",
        "B [ghost]: ssh: connect: no route",
    ]


def test_a_task_cut_off_by_the_end_of_the_run_is_an_error() -> None:
    events = [
        {"event": "runner_on_start", "created": T0, "event_data": {"task": "Swap", "host": "h"}}
    ]
    report = run(events)
    assert report.errors == ["Swap [h]: did not finish (run failed)"]


def test_a_no_log_failure_says_so_without_its_output() -> None:
    report = run(task("Login", "runner_on_failed", {"censored": "hidden"}))
    assert report.errors == ["Login [db]: failed (output hidden: no_log)"]


def render(report: RunReport) -> str:
    out = io.StringIO()
    render_summary(Console(file=out, width=300, color_system=None), report)
    return out.getvalue()


def test_the_summary_prints_each_failure_once_and_whole() -> None:
    report = run(task("Rotate", "runner_on_failed", {"msg": ROTATION_MSG}), [SECRET])
    text = render(report)
    assert text.count("password authentication failed") == 1
    assert "Failed: Rotate [db]: password authentication failed" in text
    assert "run again with the same rotation_id" in text


def test_a_report_without_error_entries_still_names_its_failed_tasks() -> None:
    report = RunReport(runbook="demo", status="failed", rc=2)
    report.tasks.append(TaskResult(task="T", host="h", status="failed", msg="boom"))
    assert render(report).count("Failed: T [h]: boom") == 1
