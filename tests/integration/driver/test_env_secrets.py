"""Secrets that arrive as environment variables stay off disk and out of every output.

ansible-playbook inherits the driver's environment, and ansible-runner writes all of it into
the run folder (``artifacts/<ident>/command``; our own variables in ``env/envvars``). Real runs
of the fixture runbook on localhost (no lab) with canaries exported as the credentials the
README tells production users to set; one of them also echoed by a task, as a module might in
an error message. Every file the run leaves, and the CLI's output, is searched for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from irdrive.cli import cli

CANARIES = {
    "AWS_SECRET_ACCESS_KEY": "CANARY-aws-5e21c0",
    "PGPASSWORD": "CANARY-pg-93b7aa",
    "K8S_AUTH_API_KEY": "CANARY-k8s-d41f08",
}
# Templated by Ansible when the task renders it: the event carries the value, the parameters
# as given do not.
ECHO_PG = "{{ lookup('env', 'PGPASSWORD') }}"


def hits(folder: Path) -> list[str]:
    """``file: canary name`` for every canary found in any file under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n, v in CANARIES.items() if v.encode() in data]
    return found


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict, str]:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        cli, ["run", "demo-failover", "--json", "-i", "local", "--yes", "-vvvv", *args]
    )
    output = result.stdout + result.stderr
    assert not [n for n, v in CANARIES.items() if v in output], output
    return result.exit_code, json.loads(result.stdout), output


def check_run_folder(run_dir: Path, state_dir: Path) -> None:
    assert run_dir.is_relative_to(state_dir)
    command = json.loads((run_dir / "artifacts" / "ansible" / "command").read_text())
    # The variables are named, with the marker for a value; what debugging needs is kept.
    assert {n: command["env"][n] for n in CANARIES} == dict.fromkeys(CANARIES, "********")
    assert command["env"]["ANSIBLE_CONFIG"].endswith("ansible.cfg")
    assert command["command"][0].endswith("ansible-playbook")
    envvars = json.loads((run_dir / "env" / "envvars").read_text())
    assert "ANSIBLE_CONFIG" in envvars
    assert (run_dir / "report.json").exists()
    assert list((run_dir / "artifacts" / "ansible" / "job_events").glob("*.json"))
    assert hits(state_dir) == []  # the run folder, report.json, history: everything kept


def test_successful_run_keeps_no_environment_secret(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, report, _ = run(monkeypatch, "-e", f"reason=pg {ECHO_PG}")
    assert code == 0 and report["status"] == "successful"
    run_dir = Path(report["run_dir"])
    check_run_folder(run_dir, state_dir)
    # The echo happened, and was scrubbed before ansible-runner wrote the event.
    events = (run_dir / "artifacts" / "ansible" / "job_events").glob("*.json")
    assert any("reason=pg ********" in e.read_text() for e in events)


def test_failed_run_keeps_no_environment_secret(
    project_dir: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, report, _ = run(monkeypatch, "-e", f"reason=pg {ECHO_PG}", "-e", "fail_now=true")
    assert code == 1 and report["status"] == "failed"
    assert report["errors"] == ["Fail on request [localhost]: requested failure"]
    check_run_folder(Path(report["run_dir"]), state_dir)


def test_command_file_is_scrubbed_before_the_first_event(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only at the end: while the playbook runs, the artifacts already hold no secret."""
    from irdrive import runner
    from irdrive.paths import find_project

    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    project = find_project()
    request = runner.RunRequest(
        runbook="demo-failover",
        playbook=project.playbooks_dir / "demo-failover.yml",
        project=project,
        inventories=[project.inventories_dir / "local"],
        extravars={"reason": "x"},
    )
    run_dir = runner.make_run_dir("demo-failover")
    command = run_dir / "artifacts" / "ansible" / "command"
    seen: list[tuple[bool, list[str]]] = []  # at the first event: command written? canaries?

    def on_event(event: dict) -> None:
        if not seen:
            seen.append((command.exists(), hits(run_dir)))

    outcome = runner.run(request, run_dir, on_event)
    assert outcome.status == "successful"
    assert seen == [(True, [])]
    assert hits(run_dir) == []


def test_driver_killed_mid_run_leaves_no_environment_secret(
    project_dir: Path, state_dir: Path
) -> None:
    """``kill -9`` of the driver once the playbook runs: no finally runs, nothing is on disk."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ, **CANARIES)
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "irdrive.cli",
            "run",
            "demo-failover",
            "-i",
            "local",
            "-e",
            "reason=x",
            "--yes",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group, so the test can end the playbook with it
    )
    runs = state_dir / "runs"
    deadline = time.monotonic() + 60
    try:
        while not list(runs.glob("*/artifacts/ansible/job_events/*.json")):
            assert driver.poll() is None and time.monotonic() < deadline, "no event seen"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL  # killed mid-run, not finished
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    # ansible-playbook runs in a session of its own (a pty): end it here, it outlives the kill.
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(run_dir).encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
    assert (run_dir / "artifacts" / "ansible" / "command").exists()
    assert hits(state_dir) == []
