"""Disaster-recovery drills: run a runbook's molecule scenario and judge it.

A drill is a molecule scenario in ``molecule/<name>/`` (an ansible-native one: the lab is the
target). Its prepare step resets the lab, injects the runbook's fault and waits for the fault's
alert in Alertmanager; converge runs the runbook; molecule's idempotence step runs it again;
verify checks the recovery from the outside and waits for the alert to resolve; cleanup clears
the fault (and, for a chaos variant, checks the platform was left safe).

The scenarios' callback (``molecule/_shared/plugins/callback/drill_log.py``) writes each task as
one JSON line to ``$IRDRIVE_DRILL_LOG``. Everything here is read from those events, through the
tags the scenario's tasks carry (never their names):

- ``drill_fault``: the fault is injected (the drill's clock starts when this task ends);
- ``drill_detected``: the alert fired (time to detect: fault -> firing);
- ``drill_recovered``: verify saw the alert resolved, after every check passed (time to
  recover: fault -> verified recovery and alert resolved, less molecule's idempotence step,
  which no incident has);
- ``drill_safe``: the chaos variants' "left safe" checks in cleanup.

The first failed task names the failing check (``step: task``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irdrive.errors import UsageError
from irdrive.paths import Project

SCENARIOS_DIR = "molecule"
ENV_LOG = "IRDRIVE_DRILL_LOG"
ENV_WAIT_ALERT = "IRDRIVE_DRILL_WAIT_ALERT"
# The chaos variants' fault parameters, space-separated KEY=VALUE (the scenarios' default: 10).
ENV_CHAOS = "IRDRIVE_DRILL_CHAOS"
# One scenario may take this long before molecule is stopped.
SCENARIO_TIMEOUT = 1200.0
STEPS = ("syntax", "prepare", "converge", "idempotence", "verify", "cleanup")


class UnknownDrillError(UsageError):
    """No scenario of that name in molecule/."""


class DrillBusyError(UsageError):
    """A drill of the same scenario from the same project is already running."""


@dataclass(frozen=True)
class Scenario:
    """One drill: a molecule scenario, the runbook it drills, its fault and chaos variant."""

    name: str
    runbook: str
    fault: str
    variant: str = ""


@dataclass(frozen=True)
class Timing:
    """Seconds since the epoch of the drill's marks (None: not reached)."""

    fault_at: float | None = None
    detected_at: float | None = None
    recovered_at: float | None = None
    idempotence_s: float = 0.0

    @property
    def detect_s(self) -> float | None:
        if self.fault_at is None or self.detected_at is None:
            return None
        return round(self.detected_at - self.fault_at, 3)

    @property
    def recover_s(self) -> float | None:
        if self.fault_at is None or self.recovered_at is None:
            return None
        return round(self.recovered_at - self.fault_at - self.idempotence_s, 3)


@dataclass
class DrillResult:
    """What a drill found, before it is recorded."""

    scenario: Scenario
    started_at: datetime
    passed: bool
    outcome: str  # recovered | failed-safe | failed
    failed_check: str | None
    timing: Timing
    severity: str
    respond_target_s: int
    resolve_target_s: int
    breached: bool
    molecule_rc: int
    duration_s: float
    steps: dict[str, float] = field(default_factory=dict)
    alert: dict[str, Any] = field(default_factory=dict)
    safe_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "runbook": self.scenario.runbook,
            "variant": self.scenario.variant,
            "fault": self.scenario.fault,
            "started_at": self.started_at.isoformat(),
            "passed": self.passed,
            "outcome": self.outcome,
            "failed_check": self.failed_check,
            "detect_s": self.timing.detect_s,
            "recover_s": self.timing.recover_s,
            "severity": self.severity,
            "respond_target_s": self.respond_target_s,
            "resolve_target_s": self.resolve_target_s,
            "breached": self.breached,
            "molecule_rc": self.molecule_rc,
            "duration_s": round(self.duration_s, 3),
            "steps": {k: round(v, 3) for k, v in self.steps.items()},
            "alert": self.alert,
            "safe_failures": self.safe_failures,
        }


# ---- scenarios ----


def scenarios(project: Project) -> list[Scenario]:
    """Every drill scenario of the project, by name."""
    import yaml

    found = []
    for path in sorted((project.root / SCENARIOS_DIR).glob("*/molecule.yml")):
        spec = path.parent / "drill.yml"
        if not spec.is_file():
            continue
        drill = (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("drill") or {}
        found.append(
            Scenario(
                name=path.parent.name,
                runbook=str(drill["runbook"]),
                fault=str(drill["fault"]),
                variant=str(drill.get("variant") or ""),
            )
        )
    return found


def select(available: Sequence[Scenario], names: Iterable[str]) -> list[Scenario]:
    """The scenarios named (every one when none is); an unknown name is a usage error."""
    wanted = list(names)
    by_name = {s.name: s for s in available}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise UnknownDrillError(
            f"unknown drill {', '.join(unknown)} (drills: {', '.join(sorted(by_name))})"
        )
    return [by_name[n] for n in wanted] if wanted else list(available)


# ---- one drill of a scenario at a time ----


def _key(project: Project, scenario: Scenario) -> str:
    digest = hashlib.sha256(str(project.root.resolve()).encode()).hexdigest()[:12]
    return f"{scenario.name}-{digest}"


def lock_path(state: Path, project: Project, scenario: Scenario) -> Path:
    """The scenario's lock file, per project and scenario: it guards the drill's molecule
    folder (``ephemeral_path``)."""
    return state / "drills" / "locks" / f"{_key(project, scenario)}.lock"


def ephemeral_path(state: Path, project: Project, scenario: Scenario) -> Path:
    """molecule's working folder for the drill (its state, the drill's evidence), in the state
    folder beside the lock. molecule's own default is keyed by the project folder's *name*
    only: drills of two state folders, or of two projects of one name, would share it."""
    return state / "drills" / "molecule" / _key(project, scenario)


@contextlib.contextmanager
def scenario_lock(state: Path, project: Project, scenario: Scenario) -> Iterator[Path]:
    """Hold the scenario's lock (``flock``: the kernel releases it when the holder dies, so a
    killed drill leaves no stale lock); a second drill of it refuses with one line."""
    path = lock_path(state, project, scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise DrillBusyError(
                f"drill {scenario.name} is already running from {project.root} ({holder}): "
                "wait for it to end"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {datetime.now(UTC):%H:%M:%S} UTC".encode(), 0)
        yield path
    finally:
        os.close(fd)


# ---- reading the events ----


def read_events(path: Path) -> list[dict[str, Any]]:
    """The callback's events; a line cut short by a killed run is left out."""
    events = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def _tagged(events: Sequence[Mapping[str, Any]], tag: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("event") == "task" and tag in (e.get("tags") or ())]


def step_durations(events: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds each step's playbook ran (start to end), summed when a step ran twice."""
    durations: dict[str, float] = {}
    started: dict[str, float] = {}
    for e in events:
        step = str(e.get("step") or "")
        if e.get("event") == "start":
            started[step] = float(e["time"])
        elif e.get("event") == "end" and step in started:
            durations[step] = durations.get(step, 0.0) + float(e["time"]) - started.pop(step)
    return durations


def timing(events: Sequence[Mapping[str, Any]]) -> Timing:
    """The drill's marks. A mark counts only when its task succeeded: a skipped
    ``drill_detected`` (no alert wait) leaves detection unknown; a skipped ``drill_recovered``
    (no alert wait) marks recovery when verify's checks passed."""
    fault = [e for e in _tagged(events, "drill_fault") if e["status"] in ("ok", "changed")]
    detected = [
        e
        for e in _tagged(events, "drill_detected")
        if e["status"] in ("ok", "changed") and e.get("step") == "prepare"
    ]
    recovered = [
        e
        for e in _tagged(events, "drill_recovered")
        if e["status"] in ("ok", "changed", "skipped") and e.get("step") == "verify"
    ]
    return Timing(
        fault_at=float(fault[-1]["time"]) if fault else None,
        detected_at=float(detected[-1]["time"]) if detected else None,
        recovered_at=float(recovered[-1]["time"]) if recovered else None,
        idempotence_s=round(step_durations(events).get("idempotence", 0.0), 3),
    )


def failing_check(events: Sequence[Mapping[str, Any]], rc: int) -> str | None:
    """``step: task`` of the first failed task (ignored safe checks aside); for a failed
    idempotence step, the tasks that changed; None when the drill's molecule run passed."""
    for e in events:
        if e.get("event") != "task" or e.get("ignored"):
            continue
        if e["status"] in ("failed", "unreachable"):
            return f"{e.get('step')}: {e.get('task')}"
    changed = [
        str(e.get("task"))
        for e in events
        if e.get("event") == "task" and e.get("step") == "idempotence" and e["status"] == "changed"
    ]
    if changed:
        return "idempotence: changed on the second run: " + ", ".join(changed)
    if rc == 0:
        return None
    ran = [str(e.get("step")) for e in events if e.get("event") == "start"]
    if not ran:
        return "syntax: molecule stopped before the first step (see its output)"
    return f"{ran[-1]}: molecule exited {rc}"


def safe_failures(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The chaos variants' "left safe" checks that failed, each ``task: message``."""
    return [
        f"{e.get('task')}: {e.get('msg') or ''}".strip()
        for e in _tagged(events, "drill_safe")
        if e["status"] in ("failed", "unreachable")
    ]


def outcome(scenario: Scenario, events: Sequence[Mapping[str, Any]], rc: int) -> str:
    """recovered: molecule passed (recovered, idempotent, verified). For a chaos variant whose
    runbook failed in converge: failed-safe when the cleanup's safe checks ran and all passed,
    else failed."""
    if rc == 0 and failing_check(events, rc) is None:
        return "recovered"
    check = failing_check(events, rc) or ""
    if scenario.variant and check.startswith("converge:"):
        ran_safe = [e for e in _tagged(events, "drill_safe") if e["status"] != "skipped"]
        if ran_safe and not safe_failures(events):
            return "failed-safe"
    return "failed"


def alert_labels(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The labels of the alert prepare waited for (its ``set_stats`` data)."""
    for e in events:
        data = e.get("data") or {}
        if isinstance(data.get("drill_alert"), dict):
            return dict(data["drill_alert"])
    return {}


def breached(
    detect_s: float | None, recover_s: float | None, respond_s: int, resolve_s: int
) -> bool:
    """A drill breaches its severity when detection took longer than the response target or
    recovery longer than the resolution target. An unknown time breaches nothing."""
    return (detect_s is not None and detect_s > respond_s) or (
        recover_s is not None and recover_s > resolve_s
    )


def judge(
    scenario: Scenario,
    events: Sequence[Mapping[str, Any]],
    rc: int,
    *,
    started_at: datetime,
    duration_s: float,
    runbook_severity: str,
    targets: Mapping[str, tuple[int, int]],
) -> DrillResult:
    """The drill's result from its events and molecule's exit code. The severity is the
    alert's ``severity`` label, else the runbook's own."""
    alert = alert_labels(events)
    severity = str(alert.get("severity") or runbook_severity)
    if severity not in targets:
        raise UsageError(f"{scenario.name}: severity {severity!r} has no targets")
    respond_s, resolve_s = targets[severity]
    when = timing(events)
    verdict = outcome(scenario, events, rc)
    passed = verdict == "recovered" or (bool(scenario.variant) and verdict == "failed-safe")
    return DrillResult(
        scenario=scenario,
        started_at=started_at,
        passed=passed,
        outcome=verdict,
        failed_check=failing_check(events, rc),
        timing=when,
        severity=severity,
        respond_target_s=respond_s,
        resolve_target_s=resolve_s,
        breached=breached(when.detect_s, when.recover_s, respond_s, resolve_s),
        molecule_rc=rc,
        duration_s=duration_s,
        steps=step_durations(events),
        alert=alert,
        safe_failures=safe_failures(events),
    )


# ---- running ----


def molecule_command(scenario: Scenario) -> list[str]:
    exe = Path(sys.executable).parent / "molecule"
    return [str(exe) if exe.exists() else "molecule", "test", "-s", scenario.name]


def tools_path(path: str | None) -> str:
    """PATH for molecule: this interpreter's bin folder first. molecule runs ``ansible-config``,
    ``ansible-playbook`` and ``ansible-galaxy`` by name, and they are installed beside irdrive,
    which may be started as ``.venv/bin/irdrive`` with no virtualenv activated."""
    bindir = str(Path(sys.executable).parent)
    rest = [p for p in (path or os.defpath).split(os.pathsep) if p and p != bindir]
    return os.pathsep.join([bindir, *rest])


def run(
    project: Project,
    scenario: Scenario,
    *,
    wait_alert: bool,
    output: Path,
    runbook_severity: str,
    targets: Mapping[str, tuple[int, int]],
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] | None = None,
    ephemeral: Path | None = None,
) -> DrillResult:
    """Run one scenario with ``molecule test`` from the project root; molecule's output goes to
    ``output`` and the callback's events beside it (``<output>.events.jsonl``)."""
    clock = clock or time.time
    base = dict(os.environ if env is None else env)
    log = output.with_suffix(".events.jsonl")
    log.unlink(missing_ok=True)
    run_env = {
        **base,
        ENV_LOG: str(log),
        ENV_WAIT_ALERT: "true" if wait_alert else "false",
        "MOLECULE_PROJECT_DIRECTORY": str(project.root),
        "PATH": tools_path(base.get("PATH")),
        "ANSIBLE_FORCE_COLOR": "false",
        "NO_COLOR": "1",
    }
    if ephemeral is not None:
        run_env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(ephemeral)
    started = clock()
    with output.open("w", encoding="utf-8") as out:
        try:
            done = subprocess.run(
                molecule_command(scenario),
                cwd=project.root,
                env=run_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=SCENARIO_TIMEOUT,
                check=False,
            )
            rc = done.returncode
        except subprocess.TimeoutExpired:
            out.write(f"\nirdrive drill: molecule stopped after {SCENARIO_TIMEOUT:.0f} s\n")
            rc = 124
    events = read_events(log)
    return judge(
        scenario,
        events,
        rc,
        started_at=datetime.fromtimestamp(started, UTC),
        duration_s=clock() - started,
        runbook_severity=runbook_severity,
        targets=targets,
    )


def to_record(result: DrillResult, commit: str | None, files_digest: str, output: Path) -> Any:
    """The history's DrillRecord of ``result`` (irdrive.history is imported here, lazily)."""
    from irdrive.history import DrillRecord

    details = result.to_dict()
    details["output"] = str(output)
    return DrillRecord(
        runbook=result.scenario.runbook,
        scenario=result.scenario.name,
        variant=result.scenario.variant,
        started_at=result.started_at,
        passed=result.passed,
        failed_check=result.failed_check,
        outcome=result.outcome,
        detect_s=result.timing.detect_s,
        recover_s=result.timing.recover_s,
        severity=result.severity,
        respond_target_s=result.respond_target_s,
        resolve_target_s=result.resolve_target_s,
        breached=result.breached,
        commit=commit,
        files_digest=files_digest,
        details=details,
    )
