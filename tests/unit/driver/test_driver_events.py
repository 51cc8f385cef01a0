"""Event stream -> RunReport, from synthetic events shaped like ansible-runner's.

Each fact comes from the event's structure; the three read from text (no_log ``changed``, a
playbook that does not load, a third-party module's unreachable target) each have a test here
that says why no structure carries them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from irdrive.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from irdrive.events import (
    EventCollector,
    censored_changed,
    playbook_error,
    unreachable_in_text,
)
from irdrive.redact import Redactor
from irdrive.report import RunReport, TaskResult

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified"
# A role's tasks file: the verification is declared by its tag, not by its name.
TASKS_YML = """\
- name: Read state
  ansible.builtin.debug: {}

- name: Check payments on the new primary
  ansible.builtin.uri: {url: "http://x"}
  tags: [verify]

- name: Verify in name only
  ansible.builtin.debug: {}
"""
READ_LINE, VERIFY_LINE, NAME_ONLY_LINE = 1, 4, 8


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


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.yml"
    path.write_text(TASKS_YML)
    return path


def success_events(tasks_file: Path) -> list[dict[str, Any]]:
    return [
        ev("playbook_on_start", "2026-01-01T00:00:00+00:00"),
        *task_events(
            "Read state",
            "u1",
            "runner_on_ok",
            "2026-01-01T00:00:01+00:00",
            "2026-01-01T00:00:01.250000+00:00",
            {"changed": False},
            task_path=f"{tasks_file}:{READ_LINE}",
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
            "Check payments on the new primary",
            "u5",
            "runner_on_ok",
            "2026-01-01T00:00:07+00:00",
            "2026-01-01T00:00:08+00:00",
            {"changed": False, "msg": "payments green on segpay"},
            task_path=f"{tasks_file}:{VERIFY_LINE}",
        ),
        *task_events(
            "Verify in name only",
            "u6",
            "runner_on_ok",
            "2026-01-01T00:00:08+00:00",
            "2026-01-01T00:00:08.5+00:00",
            {"changed": False, "msg": "named like a check"},
            task_path=f"{tasks_file}:{NAME_ONLY_LINE}",
        ),
        stats(
            ok={"localhost": 5},
            changed={"localhost": 2},
            skipped={"localhost": 1},
            processed={"localhost": 1},
        ),
    ]


def test_statuses_and_durations_come_from_events(tasks_file: Path) -> None:
    updates: list[str] = []
    report = collect(success_events(tasks_file), updates)
    assert [(t.task, t.status) for t in report.tasks] == [
        ("Read state", "ok"),
        ("Switch processor", "changed"),
        ("Rotate key", "changed"),
        ("Optional step", "skipped"),
        ("Check payments on the new primary", "ok"),
        ("Verify in name only", "ok"),
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
        "running",
        "ok",
    ]
    assert report.hosts == {"localhost": {"ok": 5, "changed": 2, "skipped": 1}}
    assert report.exit_code == EXIT_OK


def test_changes_carry_before_and_diff_but_nothing_of_no_log_results(tasks_file: Path) -> None:
    report = collect(success_events(tasks_file))
    assert report.changes == [
        {
            "task": "Switch processor",
            "host": "localhost",
            "before": {"PRIMARY": "ccbill"},
            "diff": {"before": "ccbill", "after": "segpay"},
        },
        {"task": "Rotate key", "host": "localhost", "censored": True},
    ]


def test_verified_are_the_successful_tasks_tagged_verify_whatever_their_name(
    tasks_file: Path,
) -> None:
    report = collect(success_events(tasks_file))
    assert report.verified == [
        {
            "task": "Check payments on the new primary",
            "host": "localhost",
            "msg": "payments green on segpay",
        }
    ]


def test_a_failed_or_skipped_verification_is_not_verified(tasks_file: Path) -> None:
    path = f"{tasks_file}:{VERIFY_LINE}"
    t0, t1 = "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"
    report = collect(
        [
            *task_events("Check", "u1", "runner_on_failed", t0, t1, {"msg": "red"}, task_path=path),
            *task_events("Check", "u2", "runner_on_skipped", t0, t1, task_path=path),
        ]
    )
    assert report.verified == []


def test_timeline_records_events_in_order(tasks_file: Path) -> None:
    report = collect(success_events(tasks_file))
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
                stdout="[ERROR]: The role 'x' was not found in: /p/roles\nmore",
            ),
            ev("verbose", "2026-01-01T00:00:01+00:00", stdout="Origin: /p/site.yml:3:11"),
        ]
    )
    assert report.errors == ["[ERROR]: The role 'x' was not found in: /p/roles"]


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("ERROR! the role 'x' was not found\nmore", "ERROR! the role 'x' was not found"),
        ("[ERROR]: Syntax Error while loading YAML.", "[ERROR]: Syntax Error while loading YAML."),
        ("ok: [localhost]", None),
    ],
)
def test_a_playbook_that_does_not_load_is_known_only_by_its_message(
    stdout: str, expected: str | None
) -> None:
    """Why text: a playbook that fails to load (bad YAML, a missing role) stops before any
    task starts, so there is no failure event; ansible-runner has only the message."""
    assert playbook_error({"event": "verbose", "stdout": stdout, "event_data": {}}) == expected
    # The same words in a task's result are not a playbook error: that has its failure event.
    assert playbook_error({"event": "runner_on_failed", "stdout": stdout}) is None


def test_redactor_scrubs_nested_values_in_place() -> None:
    redactor = Redactor(["CANARY-1", 12345678, ""])
    event = {"stdout": "token=CANARY-1", "event_data": {"res": {"l": ["a CANARY-1 b", 12345678]}}}
    redactor.scrub(event)
    assert event == {
        "stdout": "token=********",
        "event_data": {"res": {"l": ["a ******** b", 12345678]}},
    }
    assert "12345678" not in str(redactor.scrub({"m": "x 12345678"}))


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


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"stdout": "changed: [localhost]", "event_data": {"res": {"censored": CENSORED}}}, True),
        ({"stdout": "ok: [localhost]", "event_data": {"res": {"censored": CENSORED}}}, False),
        ({"stdout": "\x1b[0;33mchanged: [h] => (item=(censored due to no_log))\x1b[0m"}, True),
        # Should ansible-runner keep the key, the key decides, not the text.
        (
            {"stdout": "ok: [h]", "event_data": {"res": {"censored": CENSORED, "changed": True}}},
            True,
        ),
    ],
)
def test_a_no_log_result_says_changed_only_in_its_outcome_line(
    event: dict[str, Any], expected: bool
) -> None:
    """Why text: ansible-core keeps ``changed`` in a no_log result, but ansible-runner replaces
    a no_log event's whole ``res`` with {"censored": ...}; only the default callback's line,
    written from the uncensored result, still says it (tests/integration/driver shows it
    against a real run)."""
    assert censored_changed(event) is expected


def failed_with(res: dict[str, Any], action: str = "x.y.z") -> RunReport:
    events = task_events(
        "Step",
        "u1",
        "runner_on_failed",
        "2026-01-01T00:00:01+00:00",
        "2026-01-01T00:00:02+00:00",
        res,
    )
    for event in events[1:]:  # runner_on_start and the final event both name the action
        event["event_data"]["resolved_action"] = action
    report = collect(events)
    report.status, report.rc = "failed", 2
    return report


def test_our_modules_say_unreachable_with_error_kind() -> None:
    report = failed_with({"msg": "the cluster did not answer", "error_kind": "unreachable"})
    assert report.tasks[0].error_kind == "unreachable"
    assert report.exit_code == EXIT_UNREACHABLE


@pytest.mark.parametrize(
    "msg",
    [
        "Failed to get client due to HTTPSConnectionPool(host='127.0.0.1', port=9): Max retries "
        "exceeded with url: /version (Caused by NewConnectionError: Failed to establish a new "
        "connection: [Errno 111] Connection refused)",
        "could not connect to server: No route to host",
    ],
)
def test_a_third_party_module_says_unreachable_only_in_its_message(msg: str) -> None:
    """Why text: kubernetes.core and amazon.aws modules return no error kind; a refused or
    unresolvable connection shows only in their message."""
    assert unreachable_in_text({"msg": msg})
    report = failed_with({"msg": msg})
    assert report.tasks[0].error_kind == "unreachable"
    assert report.exit_code == EXIT_UNREACHABLE


def test_any_other_failure_is_exit_1() -> None:
    assert not unreachable_in_text({"msg": "deployment nosuch not found"})
    assert failed_with({"msg": "deployment nosuch not found"}).exit_code == EXIT_FAILED
    # A no_log failure is never read, even if the text would match.
    assert failed_with({"censored": CENSORED}).tasks[0].error_kind is None


@pytest.mark.parametrize(
    ("res", "action"),
    [
        ({"msg": "bad address", "error_kind": "invalid_input"}, "irdrive.ops.block_ips"),
        ({"msg": "Validation of arguments failed"}, "ansible.builtin.validate_argument_spec"),
    ],
)
def test_bad_input_before_any_change_is_exit_2(res: dict[str, Any], action: str) -> None:
    assert failed_with(res, action).exit_code == EXIT_USAGE


def test_a_task_left_running_is_failed_when_the_run_ends() -> None:
    report = RunReport(runbook="demo", status="canceled", rc=-1)
    collector = EventCollector(report)
    collector.handle(ev("runner_on_start", "2026-01-01T00:00:01+00:00", task="Wait", host="h"))
    collector.finish()
    assert [(t.status, t.msg) for t in report.tasks] == [
        ("failed", "did not finish (run canceled)")
    ]


FLEET_TASK = "Update the hosts' nftables sets and nginx deny includes"
T0, T1, T2 = (f"2026-01-01T00:00:0{s}+00:00" for s in (1, 3, 4))


def fleet_res(**extra: Any) -> dict[str, Any]:
    """A fan-out result (irdrive.ops.host_blocklist_fleet): web changed, web-2 already
    blocked, web-3 unreachable; web-4 left to a per-host task (fallback)."""
    return {
        "changed": True,
        "hosts": {
            "web": {"changed": True, "before": {"nginx_deny": []}},
            "web-2": {"changed": False},
            "web-3": {
                "unreachable": True,
                "changed": False,
                "msg": "ssh: timed out",
                "error_kind": "unreachable",
            },
        },  # fmt: skip
        "failed_hosts": [],
        "unreachable_hosts": ["web-3"],
        "fallback": ["web-4"],
        **extra,
    }


def test_a_fan_out_task_reports_each_host_it_did() -> None:
    """The fan-out runs on localhost, so its events name only localhost: each host it did gets
    its own result, change, failure and counts from the task's result, as a task on each host
    would have had; web-4 (fallback) is counted by the hosts play's own events."""
    report = RunReport(runbook="block-ips", status="failed", rc=2)
    collector = EventCollector(report)
    res = fleet_res(failed=True, msg="Blocking failed on 1 of 3 host(s): web-3 (unreachable...")
    events = [
        *task_events(FLEET_TASK, "u1", "runner_on_failed", T0, T1, res=res),
        *task_events("Update the host's nftables sets", "u2", "runner_on_ok", T1, T2,
                     res={"changed": True, "before": {"nginx_deny": ["x"]}}, host="web-4"),
        stats(ok={"localhost": 1, "web-4": 1}, changed={"web-4": 1}, failures={"localhost": 1}),
    ]  # fmt: skip
    for event in events:
        collector.handle(event)
    collector.finish()
    by_host = {(t.host, t.task): t for t in report.tasks}
    assert by_host[("localhost", FLEET_TASK)].status == "failed"
    assert [(t.host, t.status) for t in report.tasks if t.task == FLEET_TASK][1:] == [
        ("web", "changed"),
        ("web-2", "ok"),
        ("web-3", "unreachable"),
    ]
    assert report.hosts == {
        "localhost": {"ok": 1, "failures": 1},
        "web": {"ok": 1, "changed": 1},
        "web-2": {"ok": 1},
        "web-3": {"dark": 1},
        "web-4": {"ok": 1, "changed": 1},
    }
    # Each host's own change (with its prior state), not one change on localhost.
    assert [(c["host"], c.get("before")) for c in report.changes] == [
        ("web", {"nginx_deny": []}),
        ("web-4", {"nginx_deny": ["x"]}),
    ]
    # The failure is told once, by the host that failed; the run is UNREACHABLE (exit 3).
    assert report.errors == [f"{FLEET_TASK} [web-3]: ssh: timed out"]
    assert report.unreachable == ["web-3"] and report.exit_code == EXIT_UNREACHABLE


@pytest.mark.parametrize(
    "res",
    [
        {"changed": True, "hosts": {"web": {}}},  # no failed_hosts/unreachable_hosts/fallback
        {"changed": True, "hosts": ["web"], "failed_hosts": [], "unreachable_hosts": [],
         "fallback": []},
        {"censored": CENSORED, "changed": True},
    ],
)  # fmt: skip
def test_a_result_that_is_not_a_fan_out_names_no_hosts(res: dict[str, Any]) -> None:
    report = collect(
        [
            *task_events("Some task", "u1", "runner_on_ok", T0, T1, res=res),
            stats(ok={"localhost": 1}),
        ]
    )
    assert [t.host for t in report.tasks] == ["localhost"]
    assert set(report.hosts) == {"localhost"}
