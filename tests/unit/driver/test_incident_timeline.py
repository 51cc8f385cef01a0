"""A run's events -> its report -> the incident timeline's entries (irdrive.incidents.timeline).

The events are shaped like ansible-runner's (as in test_driver_events.py) and folded by the
real EventCollector, so the entries come from the same report a run prints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from irdrive.events import EventCollector
from irdrive.incidents.timeline import (
    VALUE_LIMIT,
    RunStart,
    command_line,
    crash_entry,
    parse_time,
    run_entries,
    start_entry,
)
from irdrive.redact import Redactor
from irdrive.report import RunReport

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified"
SECRET = "s3cr3t-token-4b1d"


def ev(event: str, created: str, stdout: str = "", **data: Any) -> dict[str, Any]:
    return {"event": event, "created": created, "stdout": stdout, "event_data": data}


def task(name: str, uuid: str, final: str, t0: str, t1: str, res: dict[str, Any], **extra: Any):
    common = {"task": name, "task_uuid": uuid, "host": "lab-k8s", "task_action": "x.y"}
    return [
        ev("playbook_on_task_start", f"2026-12-02T03:{t0}", task=name, task_uuid=uuid),
        ev("runner_on_start", f"2026-12-02T03:{t0}", **common, role="processor_failover"),
        ev(final, f"2026-12-02T03:{t1}", res=res, **common, **extra),
    ]


CM_BEFORE = {"PRIMARY_PROCESSOR": "ccbill", "BACKUP_PROCESSOR": "segpay"}
CM_AFTER = {"PRIMARY_PROCESSOR": "segpay", "BACKUP_PROCESSOR": "ccbill"}


def failover_events(fail: bool = False) -> list[dict[str, Any]]:
    events = [
        ev("playbook_on_start", "2026-12-02T03:15:00"),
        *task("Read the payment ConfigMap", "u1", "runner_on_ok", "15:01", "15:02", {}),
        *task(
            "Disable payments with the kill switch",
            "u2",
            "runner_on_ok",
            "15:03",
            "15:04",
            {"changed": True, "before": {"payments": "enabled"}, "msg": "payments disabled"},
        ),
        *task(
            "Make the backup processor the primary",
            "u3",
            "runner_on_ok",
            "15:05",
            "15:07",
            {"changed": True, "diff": {"before": CM_BEFORE, "after": CM_AFTER}},
        ),
        *task(
            "Call the processor API",
            "u4",
            "runner_on_ok",
            "15:08",
            "15:09",
            {"censored": CENSORED},
            stdout="changed: [lab-k8s]",
        ),  # fmt: skip
        *task("Only on a second region", "u5", "runner_on_skipped", "15:10", "15:10", {}),
    ]
    if fail:
        events += task(
            "Verify payments are healthy on the new primary",
            "u6",
            "runner_on_failed",
            "15:11",
            "15:41",
            {"msg": f"health endpoint 503 after 30 tries (token {SECRET})", "failed": True},
        )
    else:
        events += task(
            "Verify payments are healthy on the new primary",
            "u6",
            "runner_on_ok",
            "15:11",
            "15:12",
            {"msg": "200 processor=segpay"},
        )
    stats = {
        "changed": {"lab-k8s": 3},
        "ok": {"lab-k8s": 5},
        "artifact_data": {
            "irdrive_changes": [
                {
                    "target": "configmap/platform/payment-config",
                    "before": CM_BEFORE,
                    "after": CM_AFTER,
                }
            ]
        },
    }
    events.append(ev("playbook_on_stats", "2026-12-02T03:15:13", **stats))
    return events


def collected(check: bool = False, fail: bool = False) -> RunReport:
    events = failover_events(fail)
    report = RunReport(
        runbook="payments-failover",
        status="failed" if fail else "successful",
        rc=2 if fail else 0,
        check=check,
        started="2026-12-02T03:15:00.000+00:00",
        ended="2026-12-02T03:15:45.000+00:00" if fail else "2026-12-02T03:15:13.000+00:00",
        duration=45.0 if fail else 13.0,
    )

    class Tags:
        def is_verification(self, path: Any) -> bool:
            return path == "verify"

    collector = EventCollector(report, tags=Tags())  # type: ignore[arg-type]
    for event in events:
        if str(event["event_data"].get("task", "")).startswith("Verify"):
            event["event_data"]["task_path"] = "verify"
        collector.handle(event)
    collector.finish()
    return report


def test_a_successful_run_gives_task_ends_changes_with_prior_state_verifications_and_end() -> None:
    entries = run_entries(collected(), "RUN1")
    assert [(e.kind, e.data.get("task") or e.data.get("target")) for e in entries] == [
        ("task.end", "Read the payment ConfigMap"),
        ("task.end", "Disable payments with the kill switch"),
        ("change", "Disable payments with the kill switch"),
        ("task.end", "Make the backup processor the primary"),
        ("change", "Make the backup processor the primary"),
        ("task.end", "Call the processor API"),
        ("change", "Call the processor API"),
        ("task.end", "Verify payments are healthy on the new primary"),
        ("verify", "Verify payments are healthy on the new primary"),
        ("change", "configmap/platform/payment-config"),
        ("run.end", None),
    ]
    assert {e.actor for e in entries} == {"run:RUN1"}
    # Each entry at the time its task ended (ansible-runner's zone-less times are UTC).
    assert entries[1].at == datetime(2026, 12, 2, 3, 15, 4, tzinfo=UTC)
    assert entries[2].at == entries[1].at
    assert entries[-1].at == datetime(2026, 12, 2, 3, 15, 13, tzinfo=UTC)

    switch, cm_task, censored = entries[2], entries[4], entries[6]
    assert switch.data["before"] == {"payments": "enabled"}
    assert switch.summary == "changed Disable payments with the kill switch [lab-k8s], was " + (
        '{"payments": "enabled"}'
    )
    assert cm_task.data["before"] == CM_BEFORE and cm_task.data["after"] == CM_AFTER
    assert "PRIMARY_PROCESSOR ccbill -> segpay" in cm_task.summary
    assert "BACKUP_PROCESSOR segpay -> ccbill" in cm_task.summary
    assert censored.data == {
        "task": "Call the processor API",
        "host": "lab-k8s",
        "check": False,
        "censored": True,
    }
    assert "no_log" in censored.summary
    recorded = entries[-2]
    assert recorded.data["before"]["PRIMARY_PROCESSOR"] == "ccbill"
    assert recorded.data["after"]["PRIMARY_PROCESSOR"] == "segpay"
    assert recorded.summary.startswith("changed configmap/platform/payment-config: ")

    task_end = entries[3]
    assert task_end.data["status"] == "changed" and task_end.data["changed"] is True
    assert task_end.data["duration"] == 2.0 and task_end.data["role"] == "processor_failover"
    assert task_end.summary == "changed Make the backup processor the primary [lab-k8s] 2.0s"
    assert entries[8].summary.endswith(": 200 processor=segpay")

    end = entries[-1]
    assert end.summary == (
        "payments-failover SUCCESS (exit 0) in 13s: 3 changed, 1 verified, 0 failed"
    )
    # Skipped tasks are folded into run.end: counted and named, no entry of their own.
    assert end.data["counts"] == {
        "ok": 2,
        "changed": 3,
        "failed": 0,
        "skipped": 1,
        "unreachable": 0,
    }
    assert end.data["skipped_tasks"] == ["Only on a second region"]
    assert end.data["exit_code"] == 0 and end.data["outcome"] == "SUCCESS"


def test_a_check_run_is_recorded_as_one() -> None:
    entries = run_entries(collected(check=True), "RUN2")
    assert all(e.data["check"] is True for e in entries)
    changes = [e for e in entries if e.kind == "change"]
    assert len(changes) == 4 and all(e.summary.startswith("would change ") for e in changes)
    assert entries[-1].data["outcome"] == "CHECKED"
    assert "3 would change" in entries[-1].summary


def test_a_failed_run_says_which_task_failed_and_why_without_the_secret() -> None:
    report = collected(fail=True)
    redactor = Redactor([SECRET])
    redactor.scrub(report.errors)  # as the session does after the run
    for item in report.tasks:
        item.msg = redactor.text(item.msg) if item.msg else item.msg
    entries = run_entries(report, "RUN3", redactor)
    failed = [e for e in entries if e.kind == "task.end" and e.data["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0].summary.startswith("FAILED Verify payments are healthy on the new primary")
    assert "health endpoint 503 after 30 tries" in failed[0].data["msg"]
    assert not [e for e in entries if e.kind == "verify"]
    end = entries[-1]
    assert end.data["exit_code"] == 1 and end.data["outcome"] == "FAILED"
    assert end.data["errors"][0].startswith("Verify payments are healthy on the new primary")
    assert "1 failed" in end.summary
    assert SECRET not in json.dumps([(e.summary, e.data) for e in entries])


def test_every_entry_is_scrubbed_of_the_run_secrets_again() -> None:
    report = collected()
    report.changes[0]["before"] = {"token": SECRET}  # as if a module had echoed it
    report.tasks[0].task = f"Read with {SECRET}"
    entries = run_entries(report, "RUN4", Redactor([SECRET]))
    text = json.dumps([(e.summary, e.data) for e in entries])
    assert SECRET not in text and "********" in text
    assert report.changes[0]["before"] == {"token": SECRET}  # the report itself is untouched


def test_a_big_prior_state_is_capped_and_marked_truncated() -> None:
    report = collected()
    big = {f"key{i}": "x" * 100 for i in range(100)}
    report.changes[0]["before"] = big
    entries = run_entries(report, "RUN5")
    change = next(e for e in entries if e.kind == "change")
    assert change.data["truncated"] == ["before"]
    assert isinstance(change.data["before"], str) and len(change.data["before"]) == VALUE_LIMIT
    assert json.dumps(big, sort_keys=True).startswith(change.data["before"])
    small = next(e for e in entries if e.kind == "change" and e is not change)
    assert "truncated" not in small.data


def test_run_start_names_the_run_and_hides_secret_values() -> None:
    start = RunStart(
        runbook="payments-failover",
        run_id="20261202T031500.000000Z-payments-failover",
        user="alice",
        target="lab",
        target_detail="/var/lab; Kubernetes API https://127.0.0.1:18443",
        check=True,
        parameters={"reason": "INC-1", "api_key": "********"},
        command=command_line("payments-failover", ["-e", "x"], ["api_key"]),
        at=datetime(2026, 12, 2, 3, 15, tzinfo=UTC),
    )
    entry = start_entry(start, Redactor([SECRET]))
    assert entry.kind == "run.start" and entry.actor == "alice"
    assert entry.summary == "alice ran payments-failover against lab (check mode: nothing changed)"
    assert entry.data["check"] is True and entry.data["parameters"]["api_key"] == "********"
    assert entry.at == start.at


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["reason=INC 1", "@/tmp/s.yml"], "-e 'reason=INC 1' -e @/tmp/s.yml"),
        ([f"api_key={SECRET}"], "-e 'api_key=********'"),
        ([f"key={SECRET}"], "-e 'key=********'"),  # an alias of a secret parameter
        ([f"reason=uses {SECRET} inside"], "-e 'reason=uses ******** inside'"),
    ],
)
def test_the_command_line_repeats_the_run_without_secret_values(
    extra: list[str], expected: str
) -> None:
    line = command_line(
        "payments-failover",
        extra,
        {"api_key", "key"},
        inventory=["prod"],
        check=True,
        deadline=600,
        incident="INC-20261202-031500",
        redactor=Redactor([SECRET]),
    )
    assert line == (
        f"irdrive run payments-failover {expected} -i prod --check --deadline 600 "
        "--incident INC-20261202-031500"
    )


def test_a_run_the_driver_could_not_finish_ends_with_its_error() -> None:
    entry = crash_entry("payments-failover", "RUN6", "OSError: disk full\nmore", check=False)
    assert entry.kind == "run.end" and entry.actor == "run:RUN6"
    assert entry.summary == "payments-failover ERROR: OSError: disk full more"
    assert entry.data["outcome"] == "ERROR" and entry.data["exit_code"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-02T03:15:00", datetime(2026, 12, 2, 3, 15, tzinfo=UTC)),
        ("2026-12-02T04:15:00+01:00", datetime(2026, 12, 2, 3, 15, tzinfo=UTC)),
        ("2026-12-02T03:15:00.250000+00:00", datetime(2026, 12, 2, 3, 15, 0, 250000, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_event_times_are_read_as_utc(text: str | None, expected: datetime | None) -> None:
    assert parse_time(text) == expected
