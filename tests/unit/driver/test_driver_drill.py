"""irdrive.drill: a drill's timing, breach, failing check and outcome from its task events, with
a frozen clock; the command's report and its record, through an in-memory history store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from irdrive import drill
from irdrive.cli import cli
from irdrive.errors import UsageError
from irdrive.paths import Project

T0 = 1_800_000_000.0
TARGETS = {"P0": (900, 3600), "P1": (1800, 14400), "P2": (7200, 86400)}
PAY = drill.Scenario("payments-failover", "payments-failover", "processor-down")
PAY_FLAKY = drill.Scenario(
    "payments-failover-flaky", "payments-failover", "processor-down", "api-flaky"
)


def start(step: str, at: float) -> dict[str, Any]:
    return {"event": "start", "step": step, "time": T0 + at}


def end(step: str, at: float) -> dict[str, Any]:
    return {"event": "end", "step": step, "time": T0 + at, "stats": {}}


def task(
    step: str, at: float, name: str, status: str = "ok", tags: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    return {
        "event": "task",
        "step": step,
        "time": T0 + at,
        "task": name,
        "status": status,
        "tags": list(tags),
        "host": "localhost",
        **extra,
    }


def passing_drill(detect_at: float = 7.0, recovered_at: float = 60.0) -> list[dict[str, Any]]:
    """Fault at t=5; alert at detect_at; converge 10-30; idempotence 31-41; verify 45-recovered."""
    return [
        start("prepare", 0),
        task("prepare", 1, "Reset the lab", "changed"),
        task("prepare", 5, "Inject the fault", "changed", ("drill_fault",)),
        task("prepare", detect_at, "Wait for the fault's alert: firing", "ok", ("drill_detected",)),
        task(
            "prepare",
            detect_at + 0.1,
            "Record the alert",
            data={"drill_alert": {"severity": "P1", "fault": "processor-down"}},
        ),
        end("prepare", detect_at + 0.2),
        start("converge", 10),
        task("converge", 20, "Make the backup processor the primary", "changed"),
        end("converge", 30),
        start("idempotence", 31),
        task("idempotence", 35, "Make the backup processor the primary", "skipped"),
        end("idempotence", 41),
        start("verify", 45),
        task("verify", 46, "Check: payments are healthy"),
        task(
            "verify",
            recovered_at,
            "Wait for the fault's alert: resolved",
            "ok",
            ("drill_recovered",),
        ),
        end("verify", recovered_at + 0.1),
        start("cleanup", recovered_at + 1),
        task("cleanup", recovered_at + 2, "Clear the faults", "changed"),
        end("cleanup", recovered_at + 2.1),
    ]


def judged(
    events: list[dict[str, Any]], rc: int = 0, scenario: drill.Scenario = PAY
) -> drill.DrillResult:
    return drill.judge(
        scenario,
        events,
        rc,
        started_at=datetime.fromtimestamp(T0, UTC),
        duration_s=70.0,
        runbook_severity="P1",
        targets=TARGETS,
    )


def test_detect_is_fault_to_firing_and_recover_leaves_out_the_idempotence_step() -> None:
    result = judged(passing_drill(detect_at=7.0, recovered_at=60.0))
    assert result.passed and result.outcome == "recovered" and result.failed_check is None
    assert result.timing.detect_s == 2.0
    # 60 - 5 (fault) - 10 (molecule's second converge, no part of an incident)
    assert result.timing.recover_s == 45.0
    assert result.severity == "P1" and (result.respond_target_s, result.resolve_target_s) == (
        1800,
        14400,
    )
    assert not result.breached
    assert result.steps == {
        "prepare": pytest.approx(7.2),
        "converge": 20.0,
        "idempotence": 10.0,
        "verify": pytest.approx(15.1),
        "cleanup": pytest.approx(1.1),
    }


@pytest.mark.parametrize(
    ("detect_s", "recover_s", "breached"),
    [
        (1800.0, 14400.0, False),  # at the targets: kept
        (1800.5, 100.0, True),  # responded late
        (10.0, 14400.5, True),  # resolved late
        (None, 14401.0, True),
        (None, None, False),  # unknown times breach nothing
    ],
)
def test_breach_against_the_severity_targets(
    detect_s: float | None, recover_s: float | None, breached: bool
) -> None:
    assert drill.breached(detect_s, recover_s, 1800, 14400) is breached


def test_a_slow_detection_is_marked_breached_in_the_result() -> None:
    result = judged(passing_drill(detect_at=5 + 1801.0, recovered_at=5 + 1801.0 + 60))
    assert result.passed and result.breached and result.timing.detect_s == 1801.0


def test_without_the_alert_wait_detection_is_unknown_and_verify_marks_recovery() -> None:
    events = [
        {**e, "status": "skipped"} if "drill_detected" in e.get("tags", ()) else e
        for e in passing_drill()
        if not e.get("data")
    ]
    events = [
        {**e, "status": "skipped"} if "drill_recovered" in e.get("tags", ()) else e for e in events
    ]
    result = judged(events)
    assert result.passed and result.timing.detect_s is None and result.timing.recover_s == 45.0
    assert result.severity == "P1" and result.alert == {}  # the runbook's own severity


def test_the_alert_label_severity_wins_over_the_runbook() -> None:
    events = passing_drill()
    events[4]["data"]["drill_alert"]["severity"] = "P0"
    result = judged(events)
    assert result.severity == "P0" and result.respond_target_s == 900


def test_a_failed_verify_check_is_named_by_step_and_task() -> None:
    events = passing_drill()
    events[13] = task("verify", 46, "Check: payments are healthy", "failed", msg="Status 503")
    del events[14:16]
    result = judged(events, rc=1)
    assert not result.passed and result.outcome == "failed"
    assert result.failed_check == "verify: Check: payments are healthy"
    assert result.timing.recover_s is None and result.timing.detect_s == 2.0


def test_a_non_idempotent_runbook_names_the_tasks_that_changed() -> None:
    events = passing_drill()
    events[10] = task("idempotence", 35, "Make the backup processor the primary", "changed")
    result = judged(events[:12], rc=1)
    assert result.failed_check == (
        "idempotence: changed on the second run: Make the backup processor the primary"
    )


def test_a_molecule_failure_without_a_failed_task_names_the_last_step() -> None:
    assert drill.failing_check([], 1).startswith("syntax:")
    assert drill.failing_check(passing_drill()[:6], 2) == "prepare: molecule exited 2"


def chaos_events(safe_status: str) -> list[dict[str, Any]]:
    events = passing_drill()[:8]
    events[7] = task("converge", 20, "Make the backup processor the primary", "failed", msg="500")
    events += [
        end("converge", 21),
        start("cleanup", 22),
        task("cleanup", 23, "Read the platform's ConfigMaps and Leases", "ok", ("drill_safe",)),
        task(
            "cleanup",
            24,
            "Safe: no kill switch is left disabled",
            safe_status,
            ("drill_safe",),
            ignored=True,
            msg="kill switches left disabled: payments" if safe_status == "failed" else "",
        ),
        task("cleanup", 25, "Clear the faults", "changed"),
        end("cleanup", 26),
    ]
    return events


def test_a_chaos_variant_that_fails_cleanly_and_safe_is_failed_safe_and_passes() -> None:
    result = judged(chaos_events("ok"), rc=1, scenario=PAY_FLAKY)
    assert result.outcome == "failed-safe" and result.passed
    assert result.failed_check == "converge: Make the backup processor the primary"


def test_a_chaos_variant_that_leaves_a_kill_switch_off_failed() -> None:
    result = judged(chaos_events("failed"), rc=1, scenario=PAY_FLAKY)
    assert result.outcome == "failed" and not result.passed
    assert result.safe_failures == [
        "Safe: no kill switch is left disabled: kill switches left disabled: payments"
    ]
    # the ignored safe check is not the failing check: the converge failure is
    assert result.failed_check == "converge: Make the backup processor the primary"


def test_a_chaos_variant_that_recovered_but_left_a_lock_held_failed() -> None:
    """The cleanup's last task fails when a safe check failed: a recovery that left the
    platform unsafe is no pass."""
    events = passing_drill()[:-3]
    events += [
        start("cleanup", 70),
        task(
            "cleanup",
            71,
            "Safe: no irdrive lock is left held",
            "failed",
            ("drill_safe",),
            ignored=True,
            msg="locks still held: payments-failover",
        ),
        task("cleanup", 72, "Clear the faults", "changed"),
        task("cleanup", 73, "Fail when the platform was not left safe", "failed", msg="not safe"),
        end("cleanup", 74),
    ]
    result = judged(events, rc=2, scenario=PAY_FLAKY)
    assert result.outcome == "failed" and not result.passed
    assert result.failed_check == "cleanup: Fail when the platform was not left safe"
    assert result.safe_failures == [
        "Safe: no irdrive lock is left held: locks still held: payments-failover"
    ]


def test_failed_safe_is_no_pass_for_a_drill_without_chaos() -> None:
    assert judged(chaos_events("ok"), rc=1).outcome == "failed"


def test_events_file_skips_a_line_cut_short(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps(start("prepare", 0)) + "\n" + '{"event": "ta')
    assert drill.read_events(log) == [start("prepare", 0)]
    assert drill.read_events(tmp_path / "missing") == []


def test_scenarios_are_the_project_molecule_drills(repo_root: Path) -> None:
    found = {s.name: s for s in drill.scenarios(Project(repo_root))}
    assert set(found) == {
        "platform-outage",
        "security-breach",
        "payments-failover",
        "streaming-outage",
        "performance-degradation",
        "payments-failover-flaky",
        "platform-outage-flaky",
    }
    assert found["platform-outage-flaky"] == drill.Scenario(
        "platform-outage-flaky", "platform-outage", "bad-deploy", "api-flaky"
    )
    with pytest.raises(UsageError, match="unknown drill nope"):
        drill.select(list(found.values()), ["nope"])


# ---- the command, with molecule and the store replaced ----


@dataclass
class FakeStore:
    """The HISTORY contract's Store, in memory."""

    records: list[Any] = field(default_factory=list)
    closed: bool = False

    def record_drill(self, rec: Any) -> int:
        self.records.append(rec)
        return len(self.records)

    def drills(self, runbook: str | None = None, limit: int = 50) -> list[Any]:
        found = [r for r in reversed(self.records) if runbook in (None, r.runbook)]
        return found[:limit]

    def last_passing(self, runbook: str) -> Any:
        return next((r for r in self.drills(runbook) if r.passed), None)

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class DrillRecord:
    runbook: str
    scenario: str
    variant: str
    started_at: datetime
    passed: bool
    failed_check: str | None
    outcome: str
    detect_s: float | None
    recover_s: float | None
    severity: str
    respond_target_s: int
    resolve_target_s: int
    breached: bool
    commit: str | None
    files_digest: str
    details: dict[str, Any]
    id: int | None = None


@pytest.fixture
def fake_history(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    store = FakeStore()
    history = types.ModuleType("irdrive.history")
    history.DrillRecord = DrillRecord  # type: ignore[attr-defined]
    history.open_store = lambda url=None: store  # type: ignore[attr-defined]
    freshness = types.ModuleType("irdrive.freshness")
    freshness.SEVERITY_TARGETS = TARGETS  # type: ignore[attr-defined]
    freshness.runbook_commit = lambda project: "abc123"  # type: ignore[attr-defined]
    freshness.files_digest = lambda project, runbook: f"digest-{runbook}"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "irdrive.history", history)
    monkeypatch.setitem(sys.modules, "irdrive.freshness", freshness)
    monkeypatch.setattr("irdrive.labsite.is_up", lambda lab=None: True)
    monkeypatch.setenv("IRDRIVE_STATE_DIR", "/nonexistent-drill-state")
    return store


def fake_molecule(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, events: list[dict[str, Any]], rc: int
) -> list[dict[str, str]]:
    """molecule replaced: it 'writes' the events to the log the drill names, exits rc."""
    calls: list[dict[str, str]] = []

    def run(cmd: list[str], *, env: dict[str, str], **kwargs: Any) -> Any:
        calls.append(env)
        Path(env[drill.ENV_LOG]).write_text("".join(json.dumps(e) + "\n" for e in events))
        return types.SimpleNamespace(returncode=rc)

    monkeypatch.setattr(drill.subprocess, "run", run)
    monkeypatch.setenv("IRDRIVE_STATE_DIR", str(tmp_path / "state"))
    clock = iter([T0, T0 + 70.0])
    monkeypatch.setattr(drill.time, "time", lambda: next(clock))
    return calls


def test_drill_command_reports_and_records_a_pass(
    fake_history: FakeStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo_root: Path
) -> None:
    calls = fake_molecule(monkeypatch, tmp_path, passing_drill(), 0)
    res = CliRunner().invoke(cli, ["drill", "payments-failover", "--lab-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "PASS payments-failover: recovered" in res.output
    assert "detect 2.0s (target 1800s), recover 45.0s (target 14400s), severity P1" in res.output
    assert calls[0][drill.ENV_WAIT_ALERT] == "true"
    assert calls[0]["IRDRIVE_LAB_DIR"] == str(tmp_path)
    # molecule's folder is the drill's own, in the state folder, guarded by the scenario's lock
    ephemeral = Path(calls[0]["MOLECULE_EPHEMERAL_DIRECTORY"])
    assert ephemeral.parent == tmp_path / "state" / "drills" / "molecule"
    lock = drill.lock_path(tmp_path / "state", Project(repo_root), PAY)
    assert ephemeral.name == lock.stem and ephemeral.name.startswith("payments-failover-")
    (rec,) = fake_history.records
    assert (rec.runbook, rec.scenario, rec.variant, rec.passed, rec.outcome) == (
        "payments-failover",
        "payments-failover",
        "",
        True,
        "recovered",
    )
    assert (rec.detect_s, rec.recover_s, rec.breached) == (2.0, 45.0, False)
    assert (rec.commit, rec.files_digest) == ("abc123", "digest-payments-failover")
    assert rec.started_at == datetime.fromtimestamp(T0, UTC)
    assert fake_history.closed


def test_drill_command_exits_1_naming_the_failing_check_and_records_it(
    fake_history: FakeStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events = passing_drill()[:14]
    events[13] = task("verify", 46, "Check: payments are healthy", "failed", msg="Status 503")
    fake_molecule(monkeypatch, tmp_path, events, 2)
    res = CliRunner().invoke(
        cli, ["drill", "payments-failover", "--json", "--no-alerts", "--lab-dir", str(tmp_path)]
    )
    assert res.exit_code == 1, res.output
    (shown,) = json.loads(res.output)
    assert shown["failed_check"] == "verify: Check: payments are healthy"
    assert shown["passed"] is False and shown["id"] == 1
    (rec,) = fake_history.records
    assert not rec.passed and rec.failed_check == "verify: Check: payments are healthy"


def test_drill_command_needs_names_or_all(fake_history: FakeStore) -> None:
    res = CliRunner().invoke(cli, ["drill"])
    assert res.exit_code == 2 and "name one or more drills, or give --all" in res.output
    res = CliRunner().invoke(cli, ["drill", "--all", "payments-failover"])
    assert res.exit_code == 2
    res = CliRunner().invoke(cli, ["drill", "nope"])
    assert res.exit_code == 2 and "unknown drill nope" in res.output
    assert fake_history.records == []


def test_molecule_finds_the_ansible_tools_installed_beside_irdrive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo_root: Path
) -> None:
    """`.venv/bin/irdrive drill` with no virtualenv activated: molecule runs ansible-config by
    name, so the interpreter's bin folder leads the PATH it gets (once)."""
    bindir = str(Path(sys.executable).parent)
    seen: dict[str, str] = {}

    def run(cmd: list[str], **kwargs: Any) -> Any:
        seen.update(kwargs["env"])
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(drill.subprocess, "run", run)
    project = Project(repo_root)
    drill.run(
        project,
        drill.scenarios(project)[0],
        wait_alert=False,
        output=tmp_path / "out.log",
        runbook_severity="P1",
        targets={"P1": (1800, 14400)},
        env={"PATH": f"/usr/bin:{bindir}:/bin"},
    )
    assert seen["PATH"].split(os.pathsep) == [bindir, "/usr/bin", "/bin"]
    assert drill.tools_path(None).split(os.pathsep)[0] == bindir


# ---- one drill of a scenario at a time ----


def test_a_second_drill_of_the_same_scenario_refuses_while_the_first_runs(
    tmp_path: Path, repo_root: Path
) -> None:
    """The lock is held by another process (a real flock, as a second `irdrive drill` would
    meet it); another scenario, or the same one from another project, is free; when the
    holder dies, the kernel frees the lock (no stale lock after a kill)."""
    project = Project(repo_root)
    other = Project(tmp_path / "other-project")
    path = drill.lock_path(tmp_path, project, PAY)
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid %d' % os.getpid()); "
            "print('held', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with (
            pytest.raises(drill.DrillBusyError) as busy,
            drill.scenario_lock(tmp_path, project, PAY),
        ):
            pass
        assert str(busy.value) == (
            f"drill payments-failover is already running from {repo_root} "
            f"(pid {holder.pid}): wait for it to end"
        )
        assert busy.value.exit_code == 2
        with drill.scenario_lock(tmp_path, project, PAY_FLAKY):
            pass
        with drill.scenario_lock(tmp_path, other, PAY) as other_path:
            assert other_path != path
    finally:
        holder.kill()
        holder.wait()
    with drill.scenario_lock(tmp_path, project, PAY) as held:
        assert held == path and path.read_text().startswith(f"pid {os.getpid()}, since ")


def test_drill_command_refuses_a_busy_scenario_before_running_anything(
    fake_history: FakeStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo_root: Path
) -> None:
    calls = fake_molecule(monkeypatch, tmp_path, passing_drill(), 0)
    busy = drill.Scenario("security-breach", "security-breach", "intrusion")
    with drill.scenario_lock(tmp_path / "state", Project(repo_root), busy):
        res = CliRunner().invoke(cli, ["drill", "--all", "--lab-dir", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: drill security-breach is already running from ")
    assert res.output.count("\n") == 1
    assert calls == [] and fake_history.records == []
    assert not list((tmp_path / "state" / "drills").glob("2*"))  # no drill folder made


def test_drill_command_gives_the_chaos_parameters_to_the_scenario(
    fake_history: FakeStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = fake_molecule(monkeypatch, tmp_path, passing_drill(), 0)
    monkeypatch.delenv(drill.ENV_CHAOS, raising=False)
    args = ["drill", "payments-failover-flaky", "--lab-dir", str(tmp_path)]
    res = CliRunner().invoke(cli, [*args, "--chaos", "count=400", "--chaos", 'modes=["500"]'])
    assert res.exit_code == 0, res.output
    assert calls[0][drill.ENV_CHAOS] == 'count=400 modes=["500"]'
    res = CliRunner().invoke(cli, [*args, "--chaos", "count 400"])
    assert res.exit_code == 2
    assert res.output == "Error: --chaos takes KEY=VALUE without spaces, not 'count 400'\n"
    assert len(calls) == 1
