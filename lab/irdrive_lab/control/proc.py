"""Start and stop the lab's background processes, by PID, safely.

Every process the lab starts is recorded with its PID and the start time the kernel reports
for it, so ``down`` never signals a PID that has since been reused by something else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def proc_start_time(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


def is_alive(record: Mapping[str, Any]) -> bool:
    pid = record.get("pid")
    if not pid:
        return False
    started = proc_start_time(int(pid))
    if started is None:
        return False
    if record.get("start_time") is not None and started != record["start_time"]:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def spawn(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Start ``argv`` in its own session, output to ``log_dir/<name>.log``; return its record."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            close_fds=True,
        )
    return {
        "name": name,
        "pid": proc.pid,
        "start_time": proc_start_time(proc.pid),
        "argv0": argv[0],
        "log": str(log_path),
    }


def stop(record: Mapping[str, Any], timeout: float = 5.0) -> bool:
    """SIGTERM the process group of ``record``, then SIGKILL after ``timeout``. True if it ran."""
    if not is_alive(record):
        return False
    pid = int(record["pid"])
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    target_group = pgid == pid
    try:
        if target_group:
            os.killpg(pgid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_alive(record):
            return True
        time.sleep(0.05)
    try:
        if target_group:
            os.killpg(pgid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(40):
        _reap(pid)
        if not is_alive(record):
            break
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
        os.waitpid(pid, os.WNOHANG)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
