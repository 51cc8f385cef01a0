"""Stopping is safe: SIGINT, SIGTERM and kill -9 of irdrive mid-run of payments-failover.

Each signal comes right after the run turned the payments kill switch off (watched in the lab).
The run then ends by itself: exit 130/143, the kill switch back on, no process of the run
left (ansible-playbook, workers, modules, ssh), and a report that says it was stopped and lists
what had changed. After a kill -9 the playbook still stops safely (its terminal is gone), the
record on disk names the change, and the next run says an earlier run was interrupted. Each is
followed by a re-run that succeeds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from _runbook import IRDRIVE, run_json
from kubernetes import client, config

from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab

RUN_MARK = b"IRDRIVE_RUN_ID="


@pytest.fixture
def core(lab: dict[str, Any]) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


@pytest.fixture
def ccbill_down(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, clean_lab, "processor-down", {"processor": "ccbill"})
    return clean_lab


@pytest.fixture
def env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The lab's environment, with this test's own runs folder."""
    return {**lab_env, "IRDRIVE_STATE_DIR": str(tmp_path / "state")}


def _switch(core: client.CoreV1Api) -> str:
    return str(core.read_namespaced_config_map("kill-switches", "platform").data["payments"])


def _start(env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with open(out / "stdout", "wb") as stdout, open(out / "stderr", "wb") as stderr:
        return subprocess.Popen(
            [IRDRIVE, "run", "payments-failover", "--yes", "--json"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )


def _wait_switch_off(core: client.CoreV1Api, proc: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 120
    while _switch(core) != "disabled":
        assert proc.poll() is None, "the run ended before it turned the kill switch off"
        assert time.monotonic() < end, "the kill switch was never turned off"
        time.sleep(0.02)


def run_processes(state_dir: str) -> list[str]:
    """Processes of a run of this test (its runs folder in their environment): cmdlines."""
    needle = f"IRDRIVE_STATE_DIR={state_dir}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ and any(e.startswith(RUN_MARK) for e in environ):
            found.append(f"{pid}: {cmdline.replace(b'\0', b' ').decode(errors='replace')}")
    return found


def _stopped_by(
    signum: signal.Signals, env: dict[str, str], core: client.CoreV1Api, tmp_path: Path
) -> dict[str, Any]:
    proc = _start(env, tmp_path)
    _wait_switch_off(core, proc)
    proc.send_signal(signum)
    rc = proc.wait(timeout=120)
    stdout = (tmp_path / "stdout").read_text()
    stderr = (tmp_path / "stderr").read_text()
    assert rc == 128 + signum, (rc, stdout[-2000:], stderr[-2000:])
    assert run_processes(env["IRDRIVE_STATE_DIR"]) == []
    report = json.loads(stdout)
    assert report["stopped"] == signum.name
    assert report["exit_code"] == 128 + signum
    befores = {c["task"]: c.get("before") for c in report["changes"]}
    assert befores["Disable payments with the kill switch"] == {"payments": "enabled"}
    assert any(f"stopped by {signum.name}" in e for e in report["errors"]), report["errors"]
    assert any("Kill switch payments: restored to enabled" in e for e in report["errors"])
    assert _switch(core) == "enabled"
    # The record on disk says the same, and its marker that the run was stopped.
    run_dir = Path(report["run_dir"])
    assert json.loads((run_dir / "report.json").read_text())["stopped"] == signum.name
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    return report


def _rerun_succeeds(env: dict[str, str], core: client.CoreV1Api) -> None:
    rc, report = run_json(env, "payments-failover")
    assert rc == 0, report
    assert _switch(core) == "enabled"


def test_sigint_mid_run_restores_the_kill_switch_and_exits_130(
    ccbill_down: dict[str, Any], env: dict[str, str], core: client.CoreV1Api, tmp_path: Path
) -> None:
    _stopped_by(signal.SIGINT, env, core, tmp_path)
    _rerun_succeeds(env, core)


def test_sigterm_mid_run_restores_the_kill_switch_and_exits_143(
    ccbill_down: dict[str, Any], env: dict[str, str], core: client.CoreV1Api, tmp_path: Path
) -> None:
    _stopped_by(signal.SIGTERM, env, core, tmp_path)
    _rerun_succeeds(env, core)


def test_kill_9_leaves_a_record_and_the_next_run_says_it_was_interrupted(
    ccbill_down: dict[str, Any], env: dict[str, str], core: client.CoreV1Api, tmp_path: Path
) -> None:
    proc = _start(env, tmp_path)
    _wait_switch_off(core, proc)
    # Once the driver has the kill switch's result (its record on disk says so), kill -9 it.
    end = time.monotonic() + 60
    while "Disable payments with the kill switch" not in _changes(env):
        assert time.monotonic() < end, "the record never showed the kill switch change"
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=10)
    # Its terminal gone, ansible-playbook stops safely by itself: the kill switch goes back on.
    end = time.monotonic() + 120
    while run_processes(env["IRDRIVE_STATE_DIR"]):
        assert time.monotonic() < end, run_processes(env["IRDRIVE_STATE_DIR"])
        time.sleep(0.1)
    assert _switch(core) == "enabled"
    # The record a kill -9 leaves: the marker still "running", the change with its prior state.
    (run_dir,) = [
        p for p in Path(env["IRDRIVE_STATE_DIR"], "runs").iterdir() if not p.name.startswith(".")
    ]
    marker = json.loads((run_dir / "run.json").read_text())
    assert (marker["status"], marker["pid"]) == ("running", proc.pid)
    assert _changes(env)["Disable payments with the kill switch"] == {"payments": "enabled"}

    res = _run(env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "an earlier run of payments-failover" in res.stderr
    assert "was interrupted" in res.stderr
    assert "Disable payments with the kill switch" in res.stderr
    assert str(run_dir) in res.stderr
    # Said once: the marker now says the interruption was noticed (no later run repeats it).
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert _switch(core) == "enabled"


def _changes(env: dict[str, str]) -> dict[str, Any]:
    """The changes in the record of the (one) run of this test so far, by task."""
    for path in Path(env["IRDRIVE_STATE_DIR"], "runs").glob("*/report.json"):
        return {c["task"]: c.get("before") for c in json.loads(path.read_text())["changes"]}
    return {}


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IRDRIVE, "run", "payments-failover", "--yes", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
