"""irdrive.runner.close_pty_without_delay: ansible-runner's pty closes without pexpect's 0.1 s
sleep once the child has ended; a child still running at close is still terminated."""

from __future__ import annotations

import time

import pexpect
from ansible_runner import runner as ansible_runner_runner

from irdrive.runner import close_pty_without_delay


def test_the_pty_of_an_ended_child_closes_at_once() -> None:
    close_pty_without_delay()
    close_pty_without_delay()  # once is enough: the second call changes nothing
    quick = ansible_runner_runner.pexpect
    assert quick is not pexpect and quick.EOF is pexpect.EOF
    assert issubclass(quick.spawn, pexpect.spawn)
    child = quick.spawn("true", [], encoding="utf-8")
    while child.isalive():  # as ansible-runner's loop: ends when the child is reaped
        child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=5)
    child.expect(pexpect.EOF, timeout=5)
    started = time.monotonic()
    child.close()
    assert time.monotonic() - started < 0.05
    assert child.exitstatus == 0


def test_a_child_still_running_at_close_is_terminated() -> None:
    close_pty_without_delay()
    child = ansible_runner_runner.pexpect.spawn("sleep", ["30"], encoding="utf-8")
    child.close()
    assert not child.isalive()
    assert child.signalstatus is not None
