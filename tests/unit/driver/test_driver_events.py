"""Event stream -> RunReport, secret scrubbing, and the rich summary, from synthetic events."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from irdrive.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from irdrive.report import LiveProgress, render_summary
from irdrive.runner import EventCollector, Redactor, RunReport, TaskResult

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified"


def ev(event: str, created: str, stdout: str = "", **data: Any) -> dict[str, Any]:
    return {"event": event, "created": created, "stdout": stdout, "event_data": data}


def task_events(
    name: str,
    uuid: str,
    final: str,
    t0: str,
    t1: str,
    res: dict[str, Any] | None = None,
    host: str = "localhost",
    stdout: str = "",
    **extra: Any,
) -> list[dict[str, Any]]:
    common = {"task": name, "task_uuid": uuid, "host": host, "task_action": "x.y.z"}
    return [
        ev("playbook_on_task_start", t0, task=name, task_uuid=uuid),
        ev("runner_on_start", t0, **common),
        ev(final, t1, stdout=stdout, res=res or {}, **common, **extra),
    ]


def stats(**counts: Any) -> dict[str, Any]:
    return ev("playbook_on_stats", "2026-01-01T00:00:09+00:00", **counts)


def collect(events: list[dict[str, Any]], updates: list[str] | None = None) -> RunReport:
    """Feed ``events`` to a collector; ``updates`` receives each progress status."""
    report = RunReport(runbook="demo", status="successful", rc=0)

    def on_update(result: TaskResult) -> None:
        if updates is not None:
            updates.append(result.status)

    collector = EventCollector(report, on_update=on_update)
    for event in events:
        collector.handle(event)
    return report


SUCCESS_EVENTS = [
    ev("playbook_on_start", "2026-01-01T00:00:00+00:00"),
    *task_events(
        "Read state",
        "u1",
        "runner_on_ok",
        "2026-01-01T00:00:01+00:00",
        "2026-01-01T00:00:01.250000+00:00",
        {"changed": False},
    ),
    *task_events(
        "Switch processor",
        "u2",
        "runner_on_ok",
        "2026-01-01T00:00:02+00:00",
        "2026-01-01T00:00:04+00:00",
        {
            "changed": True,
            "before": {"PRIMARY": "ccbill"},
            "diff": {"before": "ccbill", "after": "segpay"},
        },
        duration=2.0,
    ),
    *task_events(
        "Rotate key",
        "u3",
        "runner_on_ok",
        "2026-01-01T00:00:05+00:00",
        "2026-01-01T00:00:05.5+00:00",
        {"censored": CENSORED},
        stdout="changed: [localhost]",
    ),
    *task_events(
        "Optional step",
        "u4",
        "runner_on_skipped",
        "2026-01-01T00:00:06+00:00",
        "2026-01-01T00:00:06.1+00:00",
        {"skip_reason": "Conditional result was False"},
    ),
    *task_events(
        "Verify payments health",
        "u5",
        "runner_on_ok",
        "2026-01-01T00:00:07+00:00",
        "2026-01-01T00:00:08+00:00",
        {"changed": False, "msg": "payments green on segpay"},
    ),
    stats(
        ok={"localhost": 4},
        changed={"localhost": 2},
        skipped={"localhost": 1},
        processed={"localhost": 1},
    ),
]


def test_statuses_and_durations_come_from_events() -> None:
    updates: list[str] = []
    report = collect(SUCCESS_EVENTS, updates)
    assert [(t.task, t.status) for t in report.tasks] == [
        ("Read state", "ok"),
        ("Switch processor", "changed"),
        ("Rotate key", "changed"),
        ("Optional step", "skipped"),
        ("Verify payments health", "ok"),
    ]
    assert report.tasks[0].duration == 0.25  # from created timestamps
    assert report.tasks[1].duration == 2.0  # from event_data.duration
    assert updates == [
        "running",
        "ok",
        "running",
        "changed",
        "running",
        "changed",
        "running",
        "skipped",
        "running",
        "ok",
    ]
    assert report.hosts == {"localhost": {"ok": 4, "changed": 2, "skipped": 1}}
    assert report.exit_code == EXIT_OK


def test_changes_carry_before_and_diff_but_nothing_of_no_log_results() -> None:
    report = collect(SUCCESS_EVENTS)
    assert report.changes == [
        {
            "task": "Switch processor",
            "host": "localhost",
            "before": {"PRIMARY": "ccbill"},
            "diff": {"before": "ccbill", "after": "segpay"},
        },
        {"task": "Rotate key", "host": "localhost", "censored": True},
    ]


def test_verified_lists_successful_verify_tasks() -> None:
    report = collect(SUCCESS_EVENTS)
    assert report.verified == [
        {"task": "Verify payments health", "host": "localhost", "msg": "payments green on segpay"}
    ]


def test_timeline_records_events_in_order() -> None:
    report = collect(SUCCESS_EVENTS)
    assert report.timeline[0]["event"] == "playbook_on_start"
    assert report.timeline[-1]["event"] == "playbook_on_stats"
    assert {
        "event": "runner_on_ok",
        "time": "2026-01-01T00:00:04+00:00",
        "task": "Switch processor",
        "host": "localhost",
    } in report.timeline


def test_failed_task_gives_exit_1_with_its_message() -> None:
    events = task_events(
        "Restart rollout",
        "u9",
        "runner_on_failed",
        "2026-01-01T00:00:01+00:00",
        "2026-01-01T00:00:03+00:00",
        {"msg": "timed out waiting for rollout"},
    )
    report = collect(events)
    report.status, report.rc = "failed", 2
    assert report.tasks[0].status == "failed"
    assert report.failed[0].msg == "timed out waiting for rollout"
    assert report.exit_code == EXIT_FAILED


def test_ignored_failure_is_not_a_failure() -> None:
    events = task_events(
        "Probe",
        "u1",
        "runner_on_failed",
        "2026-01-01T00:00:01+00:00",
        "2026-01-01T00:00:02+00:00",
        {"msg": "nope"},
        ignore_errors=True,
    )
    report = collect(events)
    assert report.tasks[0].ignored and report.failed == []


def test_unreachable_host_gives_exit_3_even_if_other_hosts_failed() -> None:
    events = [
        *task_events(
            "Ping",
            "u1",
            "runner_on_unreachable",
            "2026-01-01T00:00:01+00:00",
            "2026-01-01T00:00:04+00:00",
            {"unreachable": True, "msg": "Connection refused"},
            host="db",
        ),
        stats(dark={"db": 1}, failures={"web": 1}, processed={"db": 1, "web": 1}),
    ]
    report = collect(events)
    report.status, report.rc = "failed", 4
    assert report.unreachable == ["db"]
    assert report.tasks[0].msg == "Connection refused"
    assert report.exit_code == EXIT_UNREACHABLE


def test_a_final_event_without_start_still_counts() -> None:
    report = collect(
        [
            ev(
                "runner_on_failed",
                "2026-01-01T00:00:01+00:00",
                task="T",
                task_uuid="u",
                host="h",
                res={"msg": "template error"},
            )
        ]
    )
    assert [(t.task, t.status, t.msg) for t in report.tasks] == [("T", "failed", "template error")]


def test_playbook_errors_are_kept() -> None:
    report = collect(
        [
            ev(
                "verbose",
                "2026-01-01T00:00:01+00:00",
                stdout="ERROR! the role 'x' was not found\nmore",
            )
        ]
    )
    assert report.errors == ["ERROR! the role 'x' was not found"]


def test_redactor_scrubs_nested_values_in_place() -> None:
    redactor = Redactor(["CANARY-1", 12345678, ""])
    event = {"stdout": "token=CANARY-1", "event_data": {"res": {"l": ["a CANARY-1 b", 12345678]}}}
    redactor.scrub(event)
    assert event == {
        "stdout": "token=********",
        "event_data": {"res": {"l": ["a ******** b", 12345678]}},
    }
    assert "12345678" not in str(redactor.scrub({"m": "x 12345678"}))


def render(report: RunReport) -> str:
    out = io.StringIO()
    render_summary(Console(file=out, width=120, no_color=True), report)
    return out.getvalue()


def test_summary_shows_tasks_changes_verified_and_total_time() -> None:
    report = collect(SUCCESS_EVENTS)
    report.duration = 9.5
    text = render(report)
    assert "Switch processor" in text and "changed" in text and "2.00s" in text
    assert "Switch processor [localhost]: ccbill -> segpay" in text
    assert "Rotate key [localhost] (details hidden: no_log)" in text
    assert "✓ Verify payments health [localhost]: payments green on segpay" in text
    assert "Total time: 9.50s" in text
    assert "SUCCESS" in text


@pytest.mark.parametrize(
    ("status", "rc", "word"), [("failed", 2, "FAILED"), ("successful", 0, "CHECKED")]
)
def test_summary_outcome_line(status: str, rc: int, word: str) -> None:
    report = RunReport(runbook="demo", status=status, rc=rc, check=True, duration=1.0)
    assert word in render(report)
    assert "Would change: nothing" in render(report)


def test_live_progress_prints_finished_tasks() -> None:
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, width=120, no_color=True))
    with progress:
        progress.update(TaskResult(task="Restart", host="k8s"))
        progress.update(
            TaskResult(
                task="Restart", host="k8s", status="failed", duration=1.5, msg="rollout stuck"
            )
        )
    text = out.getvalue()
    assert "✗ failed      Restart k8s 1.50s" in text
    assert "rollout stuck" in text


def test_a_looped_no_log_task_is_changed_when_an_item_changed() -> None:
    common = {"task": "Rotate keys", "task_uuid": "u9", "host": "localhost", "task_action": "x"}
    item = {"censored": CENSORED}
    events = [
        ev("runner_on_start", "2026-01-01T00:00:01+00:00", **common),
        ev(
            "runner_item_on_ok",
            "2026-01-01T00:00:02+00:00",
            "ok: [localhost] => (item=x)",
            res=item,
            **common,
        ),
        ev(
            "runner_item_on_ok",
            "2026-01-01T00:00:03+00:00",
            "\x1b[0;33mchanged: [localhost] => (item=(censored due to no_log))\x1b[0m",
            res=item,
            **common,
        ),
        ev("runner_on_ok", "2026-01-01T00:00:04+00:00", res={"censored": CENSORED}, **common),
        ev("runner_on_start", "2026-01-01T00:00:05+00:00", **{**common, "task_uuid": "u10"}),
        ev(
            "runner_item_on_ok",
            "2026-01-01T00:00:06+00:00",
            "ok: [localhost] => (item=y)",
            res=item,
            **{**common, "task_uuid": "u10"},
        ),
        ev(
            "runner_on_ok",
            "2026-01-01T00:00:07+00:00",
            res={"censored": CENSORED},
            **{**common, "task_uuid": "u10"},
        ),
    ]
    report = collect(events)
    assert [(t.status, t.changed) for t in report.tasks] == [("changed", True), ("ok", False)]
    assert [c["task"] for c in report.changes] == ["Rotate keys"]
