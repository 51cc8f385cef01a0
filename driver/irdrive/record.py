"""The run marker: which runs are going on, and which ended without saying so.

Each run folder holds ``run.json``: the driver's pid, the runbook, when it started, and its
status (``running`` until the run ends, then ``finished`` or ``stopped``). With report.json,
rewritten as each change lands (``irdrive.session``), it is the record a ``kill -9`` of the
driver leaves. A marker still ``running`` whose driver is gone is an interrupted run: the
next ``irdrive run`` says so, once, with when it started and what it had changed, and marks it
``interrupted``.

A marker that says ``running`` has an entry of the same name in the runs folder's ``.running/``
(written before the marker, removed after it stops saying so), so the next run looks at the
runs that may be interrupted, not at every run ever kept.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irdrive.report import write_atomic
from irdrive.stopping import run_id_for, run_processes

MARKER = "run.json"
RUNNING_INDEX = ".running"
RUNNING = "running"
INTERRUPTED = "interrupted"


def start(run_dir: Path, runbook: str, target: str) -> str:
    """Mark the run in ``run_dir`` as running, by this process; returns when it started."""
    started = _now()
    write_marker(
        run_dir,
        {
            "pid": os.getpid(),
            "pid_started": process_start(os.getpid()),
            "runbook": runbook,
            "target": target,
            "started": started,
            "status": RUNNING,
        },
    )
    return started


def finish(run_dir: Path, status: str, exit_code: int, stopped: str | None) -> None:
    data = read_marker(run_dir) or {}
    data.update(status=status, exit_code=exit_code, stopped=stopped, ended=_now())
    write_marker(run_dir, data)


def write_marker(run_dir: Path, data: dict[str, Any]) -> None:
    entry = run_dir.parent / RUNNING_INDEX / run_dir.name
    if data.get("status") == RUNNING:
        entry.parent.mkdir(exist_ok=True)
        entry.touch()
        write_atomic(run_dir / MARKER, json.dumps(data, indent=2))
    else:
        write_atomic(run_dir / MARKER, json.dumps(data, indent=2))
        entry.unlink(missing_ok=True)


def read_marker(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Interrupted:
    """An earlier run whose driver died before it ended (kill -9, a crash, a reboot)."""

    run_dir: Path
    runbook: str
    started: str
    pid: int | None
    changes: list[dict[str, Any]] = field(default_factory=list)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # tasks started, not known to have ended
    # Processes of the run still there (its playbook, stopping by itself once its terminal
    # went away): a new run would act alongside them.
    left: list[int] = field(default_factory=list)


def interrupted_runs(base: Path) -> list[Interrupted]:
    """Runs under ``base`` still marked running whose driver process is gone, oldest first."""
    found = []
    index = base / RUNNING_INDEX
    try:
        folders = sorted(base / entry.name for entry in index.iterdir())
    except OSError:
        return []
    for folder in folders:
        data = read_marker(folder)
        if not data or data.get("status") != RUNNING:
            (index / folder.name).unlink(missing_ok=True)  # ended between the two writes
            continue
        pid = data.get("pid")
        if isinstance(pid, int) and _alive(pid, data.get("pid_started")):
            continue
        report = _read_report(folder)
        stats = report.get("recorded") or {}
        found.append(
            Interrupted(
                run_dir=folder,
                runbook=str(data.get("runbook") or "?"),
                started=str(data.get("started") or "?"),
                pid=pid if isinstance(pid, int) else None,
                changes=list(report.get("changes") or []),
                recorded=list(stats.get("irdrive_changes") or []),
                running=[
                    f"{t.get('task')} [{t.get('host')}]"
                    for t in report.get("tasks") or []
                    if isinstance(t, dict) and t.get("status") == "running"
                ],
                left=run_processes(run_id_for(folder, pid)) if isinstance(pid, int) else [],
            )
        )
    return found


def mark_interrupted(run: Interrupted) -> None:
    """Say it once: the marker becomes ``interrupted``, with when that was noticed."""
    data = read_marker(run.run_dir) or {}
    data.update(status=INTERRUPTED, noticed=_now())
    write_marker(run.run_dir, data)


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot): with the pid, names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        return int(stat.rsplit(")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, started: object) -> bool:
    """Whether the driver that wrote the marker still runs (not another process on its pid)."""
    now = process_start(pid)
    return now is not None and (started is None or now == started)


def _read_report(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
