"""Stopping a run safely: signals forwarded to ansible-playbook, a deadline, no orphans.

The driver does not stop the playbook itself on the first signal. It forwards SIGINT, SIGTERM
or SIGHUP to the ansible-playbook process, whose strategy (``irdrive.ops.safe_linear``) lets the
running task finish and then runs only the roles' rescue and always steps. After a grace
period, or on a second signal, every process of the run gets SIGTERM, then SIGKILL.

Every process of a run carries ``RUN_MARK=<run id>`` in its environment (ansible-playbook, its
workers, their modules and ssh clients, ssh ControlPersist masters too, which detach from the
tree): that is how the run's processes are found, here and in the tests, even once orphaned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

RUN_MARK = "IRDRIVE_RUN_ID"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEADLINE = "deadline exceeded"
GRACE_ENV = "IRDRIVE_STOP_GRACE"
DEFAULT_GRACE = 120.0  # a rollout being waited for, then the restores
KILL_WAIT = 3.0  # between SIGTERM and SIGKILL of what remains


def run_id_for(run_dir: Path, pid: int | None = None) -> str:
    """The mark of the run in ``run_dir`` driven by ``pid`` (this process by default)."""
    return f"{run_dir.name}-{pid if pid is not None else os.getpid()}"


def run_processes(run_id: str) -> list[int]:
    """The pids of the processes whose environment carries the run's mark."""
    needle = f"{RUN_MARK}={run_id}".encode() + b"\0"
    found = []
    me = os.getpid()
    for entry in _proc_pids():
        if entry == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read() + b"\0"
        except OSError:
            continue
        if b"\0" + needle in b"\0" + environ:
            found.append(entry)
    return found


def _proc_pids() -> Iterator[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def terminate(run_id: str, wait: float = KILL_WAIT) -> list[int]:
    """SIGTERM every process of the run, then SIGKILL what is left after ``wait``; returns
    the pids that were signalled, sorted."""
    signalled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for p in run_processes(run_id) if _alive(p)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                continue
            signalled.append(pid)
        end = time.monotonic() + (wait if sig == signal.SIGTERM else 1.0)
        while time.monotonic() < end and any(_alive(p) for p in pids):
            time.sleep(0.05)
    return sorted(set(signalled))


def grace_period() -> float:
    try:
        return max(0.0, float(os.environ.get(GRACE_ENV, DEFAULT_GRACE)))
    except ValueError:
        return DEFAULT_GRACE


@dataclass
class Stopper:
    """The stop of one run: what asked for it (a signal's name, or the deadline), when, and
    whether ansible-playbook was told and the run's processes were terminated."""

    run_id: str
    deadline: float | None = None  # seconds from start
    grace: float = DEFAULT_GRACE
    reason: str | None = None  # SIGINT, SIGTERM, SIGHUP or DEADLINE
    signum: int | None = None
    asked_at: float | None = None
    hard: bool = False
    forwarded: bool = False
    terminated: bool = False

    def __post_init__(self) -> None:
        self._started = time.monotonic()
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        """Take SIGINT, SIGTERM and SIGHUP for the run (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None:
            self.hard = True  # a second signal: stop everything now
            return
        self.ask(signal.Signals(signum).name, signum)

    def ask(self, reason: str, signum: int) -> None:
        self.reason, self.signum, self.asked_at = reason, signum, time.monotonic()

    @property
    def exit_signal(self) -> int | None:
        """The signal that stopped the run (its exit code is 128 + it), not the deadline."""
        return self.signum if self.reason != DEADLINE else None

    def poll(self) -> None:
        """Called while the playbook runs: the deadline, forwarding, escalation."""
        now = time.monotonic()
        if self.reason is None and self.deadline and now - self._started >= self.deadline:
            self.ask(DEADLINE, signal.SIGTERM)
        if self.reason is None or self.terminated:
            return
        if not self.forwarded:
            playbook = self.playbook_pid()
            if playbook is not None:
                # SIGHUP is the driver's terminal gone, not ansible-playbook's (its pty is ours).
                sig = signal.SIGTERM if self.signum in (None, signal.SIGHUP) else self.signum
                with contextlib.suppress(OSError):
                    os.kill(playbook, sig)
                self.forwarded = True
        if self.hard or (self.asked_at is not None and now - self.asked_at >= self.grace):
            self.terminated = True
            terminate(self.run_id)

    def playbook_pid(self) -> int | None:
        """ansible-playbook: the run's process whose parent is this one."""
        me = os.getpid()
        return next((p for p in run_processes(self.run_id) if parent_pid(p) == me), None)
