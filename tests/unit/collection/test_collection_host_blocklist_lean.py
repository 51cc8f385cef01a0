"""host_blocklist's lean path (action plugin): the program it sends to the host, run here by a
real ``python3 -I -S -``, returns what the module returns; its output parsing; the checks made
on the controller before the host is contacted."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.action.host_blocklist import (
    host_command,
    host_program,
    parse_host_output,
    validate,
)
from ansible_collections.irdrive.ops.plugins.modules import host_blocklist

ADDRESS = "203.0.113.45"


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Any]:
    """A host's files and a fake nginx on PATH whose ``-t`` fails while ``nginx.bad`` exists."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "bin").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\n")
    nginx = tmp_path / "bin" / "nginx"
    nginx.write_text(
        f'#!/bin/sh\nif [ -e {tmp_path}/nginx.bad ]; then echo "nginx: [emerg] bad" >&2; exit 1; fi\n'
    )
    nginx.chmod(nginx.stat().st_mode | stat.S_IXUSR)
    return {
        "root": tmp_path,
        "env": {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
        "args": {
            "addresses": [ADDRESS],
            "nft": False,
            "nginx_deny_path": str(tmp_path / "conf.d/irdrive-deny.conf"),
            "nginx_conf_path": str(conf),
            "lock_key": "web1",
            "lock_directory": str(tmp_path / "locks"),
            "lock_holder": "run A",
            "lock_wait": 0,
        },
    }


def lean(host: dict[str, Any], check_mode: bool = False, diff: bool = False, **extra: Any):
    """The lean path's result: validated here, the program run by the host's python3 on stdin."""
    params, failure = validate({**host["args"], **extra})
    assert failure is None, failure
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-"],
        input=host_program(params, check_mode, diff),
        capture_output=True,
        env=host["env"],
        check=False,
    )
    return parse_host_output(done.returncode, done.stdout.decode(), done.stderr.decode())


def lock_file(host: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads((host["root"] / "locks/web1.json").read_text()))


def comparable(result: dict[str, Any], root: Path) -> dict[str, Any]:
    """The result without what differs between two runs (folder, lock times, waits)."""
    text = json.dumps(result).replace(str(root), "<root>")
    out = json.loads(text)
    lock = out.get("host_lock", {})
    for key in ("waited", "lease"):
        lock.pop(key, None)
    return dict(out)


def test_lean_returns_what_the_module_returns(
    run_module, host: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, monkeypatch
) -> None:
    first = lean(host, diff=True)
    assert first["changed"] and not first.get("failed"), first
    assert first["after"] == {"nginx_deny": [f"{ADDRESS}/32"]} and first["nginx"]["checked"]
    assert (
        first["host_lock"]["state"] == "acquired" and first["host_lock"]["released"] == "released"
    )
    assert lock_file(host)["holder"] == "" and lock_file(host)["version"] == 2
    assert first["diff"] == {"before": {"nginx_deny": []}, "after": first["after"]}
    again = lean(host)
    assert not again["changed"] and again["nginx"]["already"] == [f"{ADDRESS}/32"]

    # The module, on a host of its own in the same state as the lean path's first run.
    other = tmp_path_factory.mktemp("module-host")
    args = json.loads(json.dumps(host["args"]).replace(str(host["root"]), str(other)))
    (other / "conf.d").mkdir()
    (other / "nginx.conf").write_text(f"pid {other}/nginx.pid;\nevents {{}}\n")
    monkeypatch.setenv("PATH", host["env"]["PATH"])
    module_result, failed = run_module(host_blocklist, args, diff=True)
    assert not failed, module_result
    assert comparable(module_result, other) == comparable(first, host["root"])


def test_check_mode_writes_nothing_and_takes_no_lock(host: dict[str, Any]) -> None:
    result = lean(host, check_mode=True, diff=True)
    assert result["changed"] and result["host_lock"]["state"] == "would_acquire", result
    assert result["diff"]["after"] == {"nginx_deny": [f"{ADDRESS}/32"]}
    assert not (host["root"] / "locks").exists()
    assert not Path(host["args"]["nginx_deny_path"]).exists()


def test_another_runs_lock_refuses_naming_it_and_changes_nothing(host: dict[str, Any]) -> None:
    held = lean(host, addresses=[], lock_holder="run B", state="query")
    assert held["host_lock"]["released"] == "released"
    # Run B holds the lock now (a live holder: renewed just now, for 600 s).
    (host["root"] / "locks/web1.json").write_text(
        json.dumps({**lock_file(host), "holder": "run B", "renew_time": 4e9, "version": 3})
    )
    result = lean(host)
    assert result["failed"] and result["error_kind"] == "locked", result
    assert result["held_by"] == "run B" and "is locked by run B" in result["msg"]
    assert not Path(host["args"]["nginx_deny_path"]).exists()
    assert lock_file(host)["holder"] == "run B"


def test_a_failed_nginx_check_puts_the_file_back_and_gives_the_lock_back(
    host: dict[str, Any],
) -> None:
    assert lean(host)["changed"]
    before = Path(host["args"]["nginx_deny_path"]).read_text()
    (host["root"] / "nginx.bad").touch()
    result = lean(host, addresses=["198.51.100.23"])
    assert result["failed"] and result["error_kind"] == "invalid_state", result
    assert "nginx -t" in result["msg"] and "[emerg] bad" in result["msg"]
    assert Path(host["args"]["nginx_deny_path"]).read_text() == before
    assert lock_file(host)["holder"] == "" and lock_file(host)["version"] == 4


def test_bad_input_fails_on_the_controller_before_the_host() -> None:
    params, failure = validate({"addresses": [ADDRESS, "203.0.113.300", "::1"], "nft": False})
    assert params == {} and failure is not None
    assert failure["error_kind"] == "invalid_input" and "203.0.113.300" in failure["msg"]
    assert failure["failed"] and not failure["changed"]
    _, failure = validate({"addresses": [ADDRESS], "lock_wait": "soon"})
    assert failure is not None and failure["error_kind"] == "invalid_input"
    assert "lock_wait" in failure["msg"]
    _, failure = validate({"addresses": [ADDRESS], "nginx_dney_path": "/x"})
    assert failure is not None and "nginx_dney_path" in failure["msg"]
    params, failure = validate({"addresses": [ADDRESS], "nginx_deny_path": "~/deny.conf"})
    assert failure is None and params["nginx_deny_path"] == "~/deny.conf"  # the host expands it
    assert params["lock_directory"] == "/var/lib/irdrive/locks" and params["state"] == "present"


def test_the_output_is_the_last_json_line_after_any_banner() -> None:
    out = 'Welcome to web1\n{"not": "this"}\n{"changed": true, "missing": []}\n'
    assert parse_host_output(0, out, "") == {"changed": True, "missing": []}
    assert parse_host_output(0, '{"changed": false}\nbye\n', "")["changed"] is False


@pytest.mark.parametrize(
    ("rc", "stdout", "stderr", "words"),
    [
        (127, "", "sh: 1: exec: python3: not found\n", "python3 could not be run on the host"),
        (1, "", "Traceback ...\nSyntaxError: invalid syntax\n", "SyntaxError: invalid syntax"),
        (0, "{broken\n", "", "printed no result on the host (rc 0): {broken"),
        (137, "", "", "(rc 137): no output"),
    ],
)
def test_no_result_is_a_failure_saying_why(rc: int, stdout: str, stderr: str, words: str) -> None:
    result = parse_host_output(rc, stdout, stderr)
    assert result["failed"] and not result["changed"] and result["rc"] == rc
    assert words in result["msg"], result["msg"]
    assert result["module_stderr"] == stderr


def test_the_command_runs_the_inventorys_python_else_finds_python3(tmp_path: Path) -> None:
    assert host_command("", "/opt/py/bin/python3") == "exec /opt/py/bin/python3 -I -S -"
    assert host_command("LANG=C ", "/usr/bin/env python3") == (
        "LANG=C  exec /usr/bin/env python3 -I -S -"
    )
    found = host_command("A=1 ", "auto_silent")
    assert found.startswith("p=/usr/bin/python3;") and found.endswith('A=1  exec "$p" -I -S -')
    assert host_command("", "") == host_command("", "auto")
    # The task's environment reaches the program; the found python runs stdin.
    done = subprocess.run(
        ["/bin/sh", "-c", host_command("IRDRIVE_T=seen ", "")],
        input=b"import os; print(os.environ['IRDRIVE_T'])",
        capture_output=True,
        check=True,
    )
    assert done.stdout == b"seen\n"


def test_an_unexpected_error_on_the_host_fails_naming_it(host: dict[str, Any]) -> None:
    result = lean(host, nginx_deny_path=str(host["root"] / "conf.d"))  # a folder, not a file
    assert result["failed"] and not result["changed"], result
    assert result["msg"].startswith("host_blocklist failed on the host: IsADirectoryError")
    assert "Traceback" in result["exception"]
    assert lock_file(host)["holder"] == ""  # the lock was given back
