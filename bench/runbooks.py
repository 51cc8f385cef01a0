"""Benchmark: each incident runbook, from its lab fault to verified recovery.

For every runbook of the incident playbook (a catalog entry with a severity), each round:
reset the bench lab, inject the runbook's fault, wait until the fault has taken hold, then
time ``irdrive run NAME --yes --json`` (wall clock, a subprocess) to exit 0 with outcome
SUCCESS; anything else stops the bench with the run's errors. The report's ``tasks`` (built
from ansible-runner's event stream) give the per-step breakdown. Reports, per runbook, the
median over the rounds of the wall time (``recover_s``), of the run's own ``duration`` and of
their difference (the driver's and ansible-runner's start-up), and the five slowest steps:
durations summed per (task, host) within a run, median over the runs a step ran in.
A benchmark, not a test. ``python -m bench.runbooks --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PORT_BASE = 17700  # the demo lab is on 17600, the test labs from 17800
DEFAULT_LAB_DIR = REPO / ".state" / "bench-lab"
SLOWEST = 5
# Seconds a fault may take to show (a bad image's pods to crash) before the clock starts.
FAULT_READY_TIMEOUT = 60.0
RUN_TIMEOUT = 600.0


class BenchError(RuntimeError):
    """A runbook did not reach a verified recovery, or its fault never took hold."""


def backend_crashlooping(state: Mapping[str, Any]) -> bool:
    """A backend pod waits in CrashLoopBackOff: what platform-outage's diagnosis looks for."""
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(config_file=state["kubeconfig"]))
    pods = core.list_namespaced_pod("platform", label_selector="app=backend").items
    statuses = [cs for pod in pods if pod.status for cs in pod.status.container_statuses or []]
    return any(
        cs.state and cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"
        for cs in statuses
    )


@dataclass(frozen=True)
class Case:
    """One incident runbook, the lab fault it remedies and the parameters a responder gives."""

    runbook: str
    fault: str
    fault_params: Mapping[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    # True once the fault shows as the runbook's diagnosis will see it; None: at once.
    ready: Callable[[Mapping[str, Any]], bool] | None = None


# As the integration tests drive each runbook to a verified recovery.
CASES: tuple[Case, ...] = (
    Case("platform-outage", "bad-deploy", ready=backend_crashlooping),
    Case(
        "security-breach",
        "intrusion",
        args=("-e", "incident_id=INC-BENCH", "-e", "ips=203.0.113.45,198.51.100.23"),
    ),
    Case("payments-failover", "processor-down"),
    Case("streaming-outage", "cdn-down"),
    Case("performance-degradation", "resource-pressure", args=("-e", "cache_key=INC-BENCH")),
)


@dataclass(frozen=True)
class Sample:
    """One timed run: its wall clock, the report's own duration, and its tasks."""

    wall_s: float
    run_s: float
    tasks: list[dict[str, Any]]


def select(cases: Sequence[Case], only: Iterable[str] | None) -> list[Case]:
    """The cases named in ``only`` (all when empty); an unknown name is an error."""
    wanted = [n for n in only or () if n]
    known = {c.runbook for c in cases}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise BenchError(
            f"unknown runbook {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return [c for c in cases if not wanted or c.runbook in wanted]


def sample_from(report: Mapping[str, Any], rc: int, wall_s: float, runbook: str) -> Sample:
    """The sample of one run, or BenchError if it did not end in a verified recovery."""
    outcome = report.get("outcome")
    if rc != 0 or outcome != "SUCCESS":
        errors = "\n  ".join(str(e) for e in report.get("errors") or []) or "(no errors reported)"
        raise BenchError(f"{runbook}: exit {rc}, outcome {outcome}:\n  {errors}")
    return Sample(wall_s=wall_s, run_s=float(report.get("duration") or 0.0), tasks=report["tasks"])


def run_irdrive(env: Mapping[str, str], case: Case) -> Sample:
    command = [
        str(Path(sys.executable).parent / "irdrive"),
        "run",
        case.runbook,
        "--yes",
        "--json",
        *case.args,
    ]
    start = time.monotonic()
    done = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    wall = time.monotonic() - start
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise BenchError(
            f"{case.runbook}: no JSON report (exit {done.returncode}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        ) from None
    return sample_from(report, done.returncode, wall, case.runbook)


def wait_ready(case: Case, state: Mapping[str, Any]) -> None:
    if case.ready is None:
        return
    deadline = time.monotonic() + FAULT_READY_TIMEOUT
    while not case.ready(state):
        if time.monotonic() > deadline:
            raise BenchError(f"{case.runbook}: fault {case.fault} did not show in time")
        time.sleep(0.2)


def step_durations(tasks: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """One run's steps: durations summed per (task, host), with the step's action and role."""
    steps: dict[tuple[str, str], dict[str, Any]] = {}
    for task in tasks:
        if task.get("duration") is None:
            continue
        key = (str(task["task"]), str(task["host"]))
        step = steps.setdefault(
            key, {"action": task.get("action"), "role": task.get("role"), "duration": 0.0}
        )
        step["duration"] += float(task["duration"])
    return steps


def slowest_steps(runs: Iterable[Iterable[Mapping[str, Any]]], top: int = SLOWEST) -> list[dict]:
    """The ``top`` slowest steps over several runs of one runbook: per (task, host) the median of
    its summed duration over the runs it ran in, slowest first."""
    per_step: dict[tuple[str, str], list[float]] = {}
    info: dict[tuple[str, str], dict[str, Any]] = {}
    for tasks in runs:
        for key, step in step_durations(tasks).items():
            per_step.setdefault(key, []).append(step["duration"])
            info.setdefault(key, step)
    ranked = sorted(
        (
            {
                "task": task,
                "host": host,
                "action": info[(task, host)]["action"],
                "role": info[(task, host)]["role"],
                "duration_s": round(statistics.median(durations), 3),
                "runs": len(durations),
            }
            for (task, host), durations in per_step.items()
        ),
        key=lambda s: (-s["duration_s"], s["task"], s["host"]),
    )
    return ranked[:top]


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """One runbook's figures from its rounds."""
    if not samples:
        raise ValueError("no samples")
    walls = [s.wall_s for s in samples]
    runs = [s.run_s for s in samples]
    return {
        "recover_s": round(statistics.median(walls), 3),
        "run_s": round(statistics.median(runs), 3),
        "overhead_s": round(
            statistics.median([w - r for w, r in zip(walls, runs, strict=True)]), 3
        ),
        "slowest": slowest_steps(s.tasks for s in samples),
        "rounds": {"wall_s": [round(w, 3) for w in walls], "run_s": [round(r, 3) for r in runs]},
    }


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure(
    rounds: int,
    port_base: int = DEFAULT_PORT_BASE,
    lab_dir: Path = DEFAULT_LAB_DIR,
    only: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Time each selected runbook ``rounds`` times against the bench lab (started if it is not
    up, and then stopped at the end; a lab already up is left up); return
    ``{NAME: summarize(...)}``."""
    from irdrive_lab.control import manager
    from irdrive_lab.control.config import LabConfig
    from irdrive_lab.faults import faults

    cases = select(CASES, only)
    cfg = LabConfig(dir=Path(lab_dir).resolve(), port_base=port_base)
    started = not manager.is_up(cfg)
    if started:
        t0 = time.monotonic()
        manager.up(cfg)
        progress(f"bench lab up in {time.monotonic() - t0:.1f}s ({cfg.dir})")
    samples: dict[str, list[Sample]] = {c.runbook: [] for c in cases}
    # HOME holds what runs leave behind (evidence bundles, run history, ssh control sockets).
    with tempfile.TemporaryDirectory(prefix="irdrive-bench-", dir="/tmp") as home:
        env = dict(
            os.environ,
            HOME=home,
            IRDRIVE_LAB_DIR=str(cfg.dir),
            IRDRIVE_LAB_PORT_BASE=str(cfg.port_base),
            IRDRIVE_STATE_DIR=str(Path(home) / "state"),
        )
        try:
            for rnd in range(rounds):
                for case in cases:
                    manager.reset(cfg)
                    state = manager.require_up(cfg)  # a reset reseeds AWS ids
                    faults.inject(cfg, state, case.fault, dict(case.fault_params))
                    wait_ready(case, state)
                    got = run_irdrive(env, case)
                    samples[case.runbook].append(got)
                    progress(
                        f"round {rnd + 1} {case.runbook}: {got.wall_s:.2f}s (run {got.run_s:.2f}s)"
                    )
        finally:
            if started:
                manager.down(cfg)
    return {name: summarize(runs) for name, runs in samples.items()}


def render(results: Mapping[str, Mapping[str, Any]], rounds: int) -> str:
    lines = [f"incident runbooks, fault -> verified recovery, median of {rounds}:"]
    lines.append(f"  {'runbook':<24} {'recover':>8} {'run':>8} {'start-up':>9}")
    for name, res in results.items():
        lines.append(
            f"  {name:<24} {res['recover_s']:7.2f}s {res['run_s']:7.2f}s {res['overhead_s']:8.2f}s"
        )
    for name, res in results.items():
        lines.append(f"\n  {name}: the {len(res['slowest'])} slowest steps")
        for step in res["slowest"]:
            lines.append(
                f"    {step['duration_s']:6.2f}s  {step['task'][:60]:<60} "
                f"[{step['host']}] {step['action'] or ''}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE)
    parser.add_argument("--lab-dir", type=Path, default=DEFAULT_LAB_DIR)
    parser.add_argument(
        "--only", action="append", default=[], help="a runbook to time (repeatable; default all)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    only = [n.strip() for item in args.only for n in item.split(",")]
    try:
        results = measure(args.rounds, args.port_base, args.lab_dir, only)
    except BenchError as exc:
        raise SystemExit(f"bench failed: {exc}") from None
    if args.json:
        print(json.dumps({"runbooks": results}, indent=2))
    else:
        print(render(results, args.rounds))


if __name__ == "__main__":
    main()
