"""Deadlines against the lab's hosts: an ssh host that stops answering on an open connection
fails its task as unreachable, with one line saying why, within a bound (ansible.cfg's
keepalives, connect timeout and retries), instead of hanging for as long as TCP keeps the
connection open."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from _runbook import ANSIBLE_PLAYBOOK, IRDRIVE

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parents[2]
# Keepalives (3 x 5 s), then one retry whose banner wait is the connect timeout (10 s), then
# ssh's own fallback connection: about 35 s; the rest is a loaded machine's slack.
BOUND = 75


def _netns_pids(netns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _signal_host(netns: str, sig: signal.Signals) -> None:
    for pid in _netns_pids(netns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@pytest.fixture
def web(lab: dict[str, Any]) -> Any:
    """The lab's host web; whatever the test froze is thawed afterwards."""
    host = lab["parts"]["hosts"]["web"]
    try:
        yield host
    finally:
        _signal_host(host["netns"], signal.SIGCONT)


def _env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **lab_env,
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"),  # this test's own ssh masters
    }


def test_a_host_that_freezes_on_an_open_connection_fails_within_the_bound(
    lab_env: dict[str, str], web: dict[str, Any], tmp_path: Path
) -> None:
    frozen_at = tmp_path / "frozen_at"
    playbook = tmp_path / "freeze.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "name": "Reach web, freeze it, reach it again",
                    "hosts": "web",
                    "gather_facts": False,
                    "tasks": [
                        {"name": "Open the connection", "ansible.builtin.ping": {}},
                        {
                            "name": "Freeze every process of the host",
                            "delegate_to": "localhost",
                            "ansible.builtin.shell": (
                                f"ip netns pids {web['netns']} | xargs kill -STOP;"
                                f" date +%s.%N > {frozen_at}"
                            ),
                        },
                        {"name": "Reach the frozen host", "ansible.builtin.ping": {}},
                    ],
                }
            ]
        )
    )
    inventory = str(PROJECT / "inventories" / "lab")
    res = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", inventory, str(playbook)],
        env=_env(lab_env, tmp_path),
        capture_output=True,
        text=True,
        timeout=BOUND + 120,  # on a connection without keepalives this never returns
        cwd=PROJECT,
    )
    waited = time.time() - float(frozen_at.read_text())
    assert res.returncode == 4, res.stdout + res.stderr  # 4: a host unreachable
    assert waited < BOUND, f"the frozen host was given up on after {waited:.0f} s"
    assert "UNREACHABLE!" in res.stdout
    assert "timed out" in res.stdout


def test_block_ips_absent_on_a_frozen_host_is_unreachable_in_one_line_within_the_bound(
    lab_env: dict[str, str], web: dict[str, Any], tmp_path: Path
) -> None:
    _signal_host(web["netns"], signal.SIGSTOP)
    res = subprocess.run(
        [IRDRIVE, "run", "block-ips", "--yes", "--json", "-e", "addresses=203.0.113.77"]
        + ["-e", "state=absent", "-e", "targets=hosts"],
        env=_env(lab_env, tmp_path),
        capture_output=True,
        text=True,
        timeout=BOUND + 180,
    )
    report = json.loads(res.stdout)
    assert res.returncode == 3, report["errors"]
    assert report["unreachable"] == ["web"]
    [stuck] = [t for t in report["tasks"] if t["status"] == "unreachable"]
    assert stuck["host"] == "web"
    assert stuck["duration"] < BOUND, f"the frozen host was given up on after {stuck['duration']} s"
    web_errors = [e for e in report["errors"] if "[web]" in e]
    assert len(web_errors) == 1 and "timed out" in web_errors[0], report["errors"]
    assert "\n" not in web_errors[0]
