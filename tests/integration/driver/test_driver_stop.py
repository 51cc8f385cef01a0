"""Stopping a run, without a lab: the strategy under plain ansible-playbook, and irdrive's
deadline and second Ctrl-C, on localhost.

The playbook turns a "switch" (a file) off, waits for a file the test creates (saying it waits
with another file), then would go on; its rescue turns the switch back on. The test stops it
while it waits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / "collections"
BIN = Path(sys.executable).parent
IRDRIVE = str(BIN / "irdrive")
ANSIBLE_PLAYBOOK = str(BIN / "ansible-playbook")

PLAYBOOK = """
- name: Slow change
  hosts: all
  gather_facts: false
  vars:
    irdrive_runbook:
      summary: Turn the switch off, wait, go on; turn it back on if that fails.
      changes: [switch]
    work: "{{ lookup('ansible.builtin.env', 'STOP_TEST_DIR') }}"
  tasks:
    - name: Change
      block:
        - name: Turn the switch off
          ansible.builtin.copy:
            dest: "{{ work }}/switch"
            content: "off"
            mode: "0600"
        - name: Wait for the go file
          ansible.builtin.shell: >-
            touch {{ work }}/waiting;
            for i in $(seq 1200); do [ -e {{ work }}/go ] && exit 0; sleep 0.1; done; exit 1
        - name: Go on
          ansible.builtin.copy:
            dest: "{{ work }}/went-on"
            content: "yes"
            mode: "0600"
      rescue:
        - name: Turn the switch back on
          ansible.builtin.copy:
            dest: "{{ work }}/switch"
            content: "on"
            mode: "0600"
        - name: Fail and say what was restored
          ansible.builtin.fail:
            msg: "stopped at {{ ansible_failed_task.name }}: {{ ansible_failed_result.msg }}"
"""


@pytest.fixture
def work(project_dir: Path, tmp_path: Path) -> Path:
    (project_dir / "playbooks" / "slow-change.yml").write_text(PLAYBOOK)
    cfg = project_dir / "ansible.cfg"
    cfg.write_text(cfg.read_text() + "strategy = irdrive.ops.safe_linear\n")
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def _env(work: Path, project_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STOP_TEST_DIR": str(work),
        "ANSIBLE_CONFIG": str(project_dir / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
    }


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"ended before {path.name} was written"
        assert time.monotonic() < end, f"{path.name} never written"
        time.sleep(0.02)


def _leftovers(work: Path) -> list[str]:
    """Processes (not zombies) whose environment names this test's work folder."""
    needle = f"STOP_TEST_DIR={work}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z" and int(pid) != os.getpid():
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
    return found


def test_plain_ansible_playbook_sigint_lets_the_task_finish_then_runs_rescue(
    work: Path, project_dir: Path
) -> None:
    log = work.parent / "out.txt"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [ANSIBLE_PLAYBOOK, "-i", "inventories/local", "playbooks/slow-change.yml"],
            cwd=project_dir,
            env=_env(work, project_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_for(work / "waiting", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None, "the running task was not allowed to finish"
    (work / "go").write_text("")
    assert proc.wait(timeout=120) == 2
    output = log.read_text()
    assert "stopped at Go on: stopped by SIGINT" in output, output
    assert (work / "switch").read_text() == "on"
    assert not (work / "went-on").exists()
    assert _leftovers(work) == []


def test_deadline_stops_the_run_safely_and_says_so(work: Path, project_dir: Path) -> None:
    env = {**_env(work, project_dir), "IRDRIVE_STOP_GRACE": "60"}
    cmd = [IRDRIVE, "run", "slow-change", "-i", "local", "--yes", "--json", "--deadline", "6"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = time.monotonic()
    # The waiting task is allowed to finish: let it, once the deadline has passed.
    while time.monotonic() - started < 9 and proc.poll() is None:
        time.sleep(0.1)
    (work / "go").write_text("")
    stdout, stderr = proc.communicate(timeout=120)
    report = json.loads(stdout)
    assert proc.returncode == 1, stderr
    assert report["stopped"] == "deadline exceeded"
    assert report["exit_code"] == 1
    assert not (work / "went-on").exists()
    # Off before the deadline, then back on; or never reached: never left off.
    assert (work / "switch").read_text() == "on" if (work / "switch").exists() else True
    assert _leftovers(work) == []


def test_a_second_sigint_stops_at_once_and_leaves_no_process(work: Path, project_dir: Path) -> None:
    env = {**_env(work, project_dir), "IRDRIVE_STOP_GRACE": "300"}
    cmd = [IRDRIVE, "run", "slow-change", "-i", "local", "--yes", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(work / "waiting", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None, "the first SIGINT did not let the running task finish"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - started < 15
    assert proc.returncode == 130, stderr
    report = json.loads(stdout)
    assert (report["stopped"], report["exit_code"]) == ("SIGINT", 130)
    assert [c["task"] for c in report["changes"]] == ["Turn the switch off"]
    assert _leftovers(work) == []
    # The record says so too: a stopped run, not an interrupted one.
    run_dir = Path(report["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"


def test_plain_ansible_playbook_second_sigint_stops_at_once_with_no_worker_left(
    work: Path, project_dir: Path
) -> None:
    proc = subprocess.Popen(
        [ANSIBLE_PLAYBOOK, "-i", "inventories/local", "playbooks/slow-change.yml"],
        cwd=project_dir,
        env=_env(work, project_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(work / "waiting", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None, "the running task was not allowed to finish"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) != 0
    end = time.monotonic() + 10
    while _leftovers(work):
        assert time.monotonic() < end, _leftovers(work)
        time.sleep(0.1)
    assert not (work / "went-on").exists()
