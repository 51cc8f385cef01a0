"""host_blocklist_fleet (action plugin): each host's arguments, the thread pool's results and
the task's result and failure message; and one real ansible-playbook run on hosts reached
over the local connection (done side by side), left to a per-host task (fallback) or not
answering (ssh to a closed port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible_collections.irdrive.ops.plugins.action.host_blocklist_fleet import (
    fleet_result,
    host_params,
    run_jobs,
)

REPO = Path(__file__).resolve().parents[3]
ADDRESS = "203.0.113.45"
OK = {"changed": True, "mismatch": {"nginx": []}}


def test_host_params_take_what_the_host_defines_and_lock_on_its_name() -> None:
    base = {"addresses": [ADDRESS], "nft": False, "lock_directory": "/var/lib/irdrive/locks"}
    host_vars = {"nft": "nft_available", "lock_directory": "irdrive_host_lock_dir",
                 "nginx_deny_path": "nginx_deny_include_path"}  # fmt: skip
    defined = {"nft_available": True, "irdrive_host_lock_dir": "", "nginx_deny_include_path": None}
    params = host_params(base, host_vars, "web-7", True, defined.get)
    # Empty or None is "not set": the task's value stays (as default(omit, true) did per host).
    assert params == {**base, "nft": True, "lock_key": "web-7"}
    assert host_params(base, host_vars, "web-7", False, lambda _v: None)["lock_key"] == ""
    assert base == {
        "addresses": [ADDRESS],
        "nft": False,
        "lock_directory": "/var/lib/irdrive/locks",
    }


def test_run_jobs_runs_forks_at_a_time_and_turns_errors_into_results() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def job(outcome: Any) -> Any:
        def run() -> dict[str, Any]:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1
            if isinstance(outcome, Exception):
                raise outcome
            return dict(outcome)

        return run

    jobs = {f"h{i}": job(OK) for i in range(6)}
    jobs["h2"] = job(AnsibleConnectionFailure("Failed to connect to the host via ssh:\n refused"))
    jobs["h4"] = job(RuntimeError("boom"))
    results = run_jobs(jobs, forks=3)
    assert most == 3
    assert list(results) == list(jobs)  # the given order, not the finishing order
    assert results["h2"] == {"unreachable": True, "changed": False, "error_kind": "unreachable",
                             "msg": "Failed to connect to the host via ssh: refused"}  # fmt: skip
    assert results["h4"] == {"failed": True, "changed": False, "msg": "RuntimeError: boom"}
    assert results["h0"] == OK and run_jobs({}, forks=3) == {}


def test_fleet_result_of_hosts_that_all_succeeded() -> None:
    hosts = {"web": OK, "web-2": {"changed": False, "warnings": ["nginx is not installed"]}}
    result = fleet_result(hosts, ["web-3"], "present")
    assert result == {
        "changed": True,
        "hosts": hosts,
        "failed_hosts": [],
        "unreachable_hosts": [],
        "fallback": ["web-3"],
        "warnings": ["web-2: nginx is not installed"],
        "msg": "Blocking done on 2 host(s); left to a per-host task: web-3",
    }
    quiet = fleet_result({"web": {"changed": False}}, [], "absent")
    assert not quiet["changed"] and quiet["msg"] == "Unblocking done on 1 host(s)"


def test_fleet_result_fails_naming_each_failed_and_unreachable_host() -> None:
    hosts = {
        "web": OK,
        "web-2": {"unreachable": True, "changed": False, "msg": "timed out",
                  "error_kind": "unreachable"},
        "web-3": {"failed": True, "changed": False, "error_kind": "locked",
                  "msg": "lock file web-3:/l/web-3.json is locked by run B"},
        "web-4": {"failed": True, "changed": True, "msg": "nginx -t failed:\n  bad"},
    }  # fmt: skip
    result = fleet_result(hosts, [], "present")
    assert result["failed"] and result["changed"]
    assert result["failed_hosts"] == ["web-3", "web-4"] and result["unreachable_hosts"] == ["web-2"]
    assert result["msg"] == (
        "Blocking failed on 3 of 4 host(s): web-2 (unreachable, was not changed): timed out; "
        "web-3 (failed, was not changed): lock file web-3:/l/web-3.json is locked by run B; "
        "web-4 (failed, was changed): nginx -t failed: bad. The other 1 host(s) keep their "
        "change. Nothing was rolled back: fix the cause and run again."
    )
    assert "error_kind" not in result  # three kinds: none speaks for the task
    only_down = fleet_result({"web": OK, "web-2": hosts["web-2"]}, ["web-5"], "absent")
    assert only_down["error_kind"] == "unreachable"
    assert only_down["msg"].startswith("Unblocking failed on 1 of 2 host(s): web-2 (unreachable")
    # The play that would do the fallback hosts does not run after this failure: said so.
    assert "Not done (left to a per-host task): web-5." in only_down["msg"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One ansible-playbook run: check mode, a real run and a second run, on five hosts."""
    root = tmp_path_factory.mktemp("fleet")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}

    def host(name: str, **extra: Any) -> dict[str, Any]:
        return {**local, "nginx_deny_include_path": str(root / name / "deny.conf"),
                "irdrive_host_lock_dir": str(root / name / "locks"), **extra}  # fmt: skip

    inventory = {"all": {"hosts": {
        "h1": host("h1"),
        "h2": host("h2"),
        "lean-off": host("lean-off", irdrive_host_blocklist_lean=False),
        "become": host("become", ansible_become=True),
        "down": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1",
                 "ansible_port": _closed_port(), "ansible_user": "nobody"},
    }}}  # fmt: skip
    (root / "inventory.json").write_text(json.dumps(inventory))
    task = {"hosts": ["h1", "h2", "lean-off", "become", "down"], "addresses": [ADDRESS],
            "nft": False, "lock_wait": 0}  # fmt: skip
    play = {
        "name": "Fleet",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {"name": "check", "irdrive.ops.host_blocklist_fleet": task, "check_mode": True,
             "diff": True, "ignore_errors": True},
            {"name": "first", "irdrive.ops.host_blocklist_fleet": task, "ignore_errors": True},
            {"name": "again", "irdrive.ops.host_blocklist_fleet": task, "ignore_errors": True},
        ],
    }  # fmt: skip
    (root / "play.yml").write_text(json.dumps([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(root / "cp")}  # fmt: skip
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(root / "inventory.json"),
         str(root / "play.yml")],
        env=env, capture_output=True, text=True, timeout=240, cwd=REPO,
    )  # fmt: skip
    out = json.loads(done.stdout)
    results = {t["task"]["name"]: t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]}
    return root, results


def test_a_real_run_does_each_host_over_its_connection(fleet_run: Any) -> None:
    root, results = fleet_run
    check, first, again = results["check"], results["first"], results["again"]
    for result in (check, first, again):
        assert result["fallback"] == ["lean-off", "become"], result
        assert result["unreachable_hosts"] == ["down"] and result["failed_hosts"] == []
        assert result["failed"] and result["msg"].startswith(
            "Blocking failed on 1 of 3 host(s): down"
        )
        assert sorted(result["hosts"]) == ["down", "h1", "h2"]
    # Check mode: what would change, with its diff, and nothing written, no lock taken.
    assert check["hosts"]["h1"]["host_lock"]["state"] == "would_acquire"
    assert check["hosts"]["h1"]["diff"]["after"] == {"nginx_deny": [f"{ADDRESS}/32"]}
    # The real run: each host changed under its own lock (key: its name), given back.
    for name in ("h1", "h2"):
        one = first["hosts"][name]
        assert one["changed"] and one["after"] == {"nginx_deny": [f"{ADDRESS}/32"]}, one
        assert one["before"] == {"nginx_deny": []}  # check mode wrote nothing
        assert one["host_lock"]["released"] == "released"
        assert (root / name / "deny.conf").read_text().endswith(f"\ndeny {ADDRESS}/32;\n")
        assert json.loads((root / name / "locks" / f"{name}.json").read_text())["holder"] == ""
        assert not again["hosts"][name]["changed"]  # idempotent
    assert not (root / "lean-off").exists() and not (root / "become").exists()
    assert (
        "ssh" in first["hosts"]["down"]["msg"].lower() or "connect" in first["hosts"]["down"]["msg"]
    )
