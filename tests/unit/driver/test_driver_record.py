"""The record a run leaves as it goes (run.json, report.json), the interrupted-run notice,
the exit codes of a stopped run, and the sweep of a run's processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from irdrive import record, render, stopping
from irdrive.report import RunReport, write_report


def _run_dir(base: Path, name: str, pid: int, started: int | None, status: str) -> Path:
    folder = base / name
    folder.mkdir(parents=True)
    record.write_marker(
        folder,
        {
            "pid": pid,
            "pid_started": started,
            "runbook": "payments-failover",
            "started": "2026-12-01T03:00:00.000+00:00",
            "status": status,
        },
    )
    report = RunReport(runbook="payments-failover", status="running")
    report.changes.append(
        {"task": "Disable payments", "host": "localhost", "before": {"payments": "enabled"}}
    )
    write_report(report, folder)
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_whose_driver_is_gone_is_interrupted_and_said_once(tmp_path: Path) -> None:
    me = os.getpid()
    dead = _run_dir(tmp_path, "1-dead", _dead_pid(), None, "running")
    _run_dir(tmp_path, "2-alive", me, record.process_start(me), "running")
    _run_dir(tmp_path, "3-recycled", me, 1, "running")  # our pid, another process's start
    _run_dir(tmp_path, "4-ended", _dead_pid(), None, "finished")

    runs = record.interrupted_runs(tmp_path)
    assert [r.run_dir.name for r in runs] == ["1-dead", "3-recycled"]
    assert runs[0].changes[0]["before"] == {"payments": "enabled"}

    console = Console(record=True, width=60)
    render.interrupted_runs(console, runs[:1])
    text = console.export_text()
    assert "an earlier run of payments-failover (started 2026-12-01T03:00:00" in text
    assert 'Disable payments [localhost] (before: {"payments": "enabled"})' in text
    assert str(dead) in text.replace("\n", "")

    record.mark_interrupted(runs[0])
    assert record.read_marker(dead)["status"] == "interrupted"  # type: ignore[index]
    assert [r.run_dir.name for r in record.interrupted_runs(tmp_path)] == ["3-recycled"]


def test_report_json_is_replaced_whole(tmp_path: Path) -> None:
    report = RunReport(runbook="x", status="running")
    write_report(report, tmp_path)
    report.changes.append({"task": "t", "host": "h"})
    write_report(report, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["changes"] == [
        {"task": "t", "host": "h"}
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_stopped_run_exits_128_plus_the_signal_and_a_deadline_exits_1() -> None:
    sigint = RunReport(runbook="x", status="failed", rc=2, stopped="SIGINT", stop_signal=2)
    sigterm = RunReport(runbook="x", status="failed", rc=2, stopped="SIGTERM", stop_signal=15)
    late = RunReport(runbook="x", status="successful", rc=0, stopped=stopping.DEADLINE)
    assert (sigint.exit_code, sigterm.exit_code, late.exit_code) == (130, 143, 1)

    console = Console(record=True, width=100)
    render.render_summary(console, sigint)
    text = console.export_text()
    assert "STOPPED by SIGINT (failed, exit 130)" in text
    assert "Changed before the stop: nothing" in text


def test_terminate_ends_every_process_carrying_the_run_mark_even_one_ignoring_sigterm() -> None:
    run_id = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, stopping.RUN_MARK: run_id}
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", stubborn],
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(["sleep", "60"], env=env, start_new_session=True),
    ]
    assert procs[0].stdout is not None and procs[0].stdout.readline() == "ready\n"
    other = subprocess.Popen(["sleep", "60"])  # not of the run: left alone
    try:
        end = time.monotonic() + 10
        while len(stopping.run_processes(run_id)) < 2:
            assert time.monotonic() < end
            time.sleep(0.02)
        assert stopping.terminate(run_id, wait=0.5) == sorted(p.pid for p in procs)
        codes = [p.wait(timeout=10) for p in procs]
        assert codes == [-signal.SIGKILL, -signal.SIGTERM]
        assert stopping.run_processes(run_id) == []
        assert other.poll() is None
    finally:
        procs[0].stdout.close()
        other.kill()
        other.wait()


def test_an_interrupted_run_whose_playbook_still_runs_says_so(tmp_path: Path) -> None:
    dead = _dead_pid()
    folder = _run_dir(tmp_path, "1-dead", dead, None, "running")
    env = {**os.environ, stopping.RUN_MARK: stopping.run_id_for(folder, dead)}
    left = subprocess.Popen(["sleep", "60"], env=env)
    try:
        end = time.monotonic() + 10
        while not (runs := record.interrupted_runs(tmp_path))[0].left:
            assert time.monotonic() < end
            time.sleep(0.02)
        assert runs[0].left == [left.pid]
        console = Console(record=True, width=200)
        render.interrupted_runs(console, runs)
        assert f"Its playbook is still running (pids {left.pid})" in console.export_text()
    finally:
        left.kill()
        left.wait()
    assert record.interrupted_runs(tmp_path)[0].left == []


def test_only_runs_marked_running_are_read_again(tmp_path: Path) -> None:
    dead = _run_dir(tmp_path, "1-dead", _dead_pid(), None, "running")
    ended = _run_dir(tmp_path, "2-ended", _dead_pid(), None, "running")
    record.write_marker(ended, {**(record.read_marker(ended) or {}), "status": "finished"})
    assert sorted(p.name for p in (tmp_path / record.RUNNING_INDEX).iterdir()) == ["1-dead"]
    # A run that ended between its marker write and its index entry's removal is tidied up.
    (tmp_path / record.RUNNING_INDEX / "2-ended").touch()
    assert [r.run_dir for r in record.interrupted_runs(tmp_path)] == [dead]
    assert sorted(p.name for p in (tmp_path / record.RUNNING_INDEX).iterdir()) == ["1-dead"]
    # Runs kept from before are not read at all: a marker with no index entry is not looked at.
    (tmp_path / record.RUNNING_INDEX / "1-dead").unlink()
    assert record.interrupted_runs(tmp_path) == []
