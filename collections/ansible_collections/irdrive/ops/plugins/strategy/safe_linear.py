# Copyright: irdrive contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The linear strategy, with a safe stop on SIGINT, SIGTERM and SIGHUP."""

from __future__ import annotations

DOCUMENTATION = r"""
name: safe_linear
short_description: The linear strategy, with a safe stop on SIGINT, SIGTERM and SIGHUP
description:
  - Runs tasks exactly as C(ansible.builtin.linear) does.
  - On SIGINT, SIGTERM or SIGHUP to the ansible-playbook process the run does not die. The
    tasks already running are allowed to finish (their worker processes are not signalled).
    Every further task that is not in a C(rescue) or C(always) section of its block then fails
    with C(stopped by SIGINT) (or the signal received) instead of running, so each role's
    rescue and always steps run (a kill switch turned off for a change is turned back on, or
    the run says it is still off), and the play ends failed.
  - A second signal stops at once, as ansible-core does without this strategy (running
    workers and their process groups are signalled).
  - On SIGHUP the controlling terminal is gone; further output goes to /dev/null.
  - Before it queues a task of one of the collection's API modules it imports the module in
    the ansible-playbook process, so the task's worker (forked from it) inherits the module and
    its libraries instead of importing them on every task; not for a task whose C(when) is
    already false there (a skipped step imports nothing). Before the first task it loads the
    Jinja filter and test plugins (the legacy ones and the collection's) and the common lookups
    there too, so that no worker loads them again.
  - Works the same under AWX, ansible-runner and plain ansible-playbook. Select it in
    ansible.cfg (C(strategy = irdrive.ops.safe_linear)) or with C(strategy:) on a play.
version_added: "1.0.0"
author: irdrive contributors (@irdrive)
notes:
  - The stop applies to every later play of the same ansible-playbook run.
"""

import contextlib
import os
import signal
from typing import Any

from ansible.executor.play_iterator import IteratingStates
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.template import Templar
from ansible.utils.display import Display
from ansible_collections.irdrive.ops.plugins.plugin_utils.in_process import preload
from ansible_collections.irdrive.ops.plugins.plugin_utils.warm import warm

display = Display()

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CLEANUP_STATES = (IteratingStates.RESCUE, IteratingStates.ALWAYS)


class _Stop:
    """The process-wide stop flag: the signal received, and the run's task queue manager."""

    signum: int | None = None
    tqm: Any = None
    installed = False


def stop_signal_name() -> str | None:
    """The name of the signal that stopped the run (SIGINT...), or None."""
    return signal.Signals(_Stop.signum).name if _Stop.signum is not None else None


def _on_signal(signum: int, frame: Any) -> None:
    if _Stop.signum is not None:
        _hard_stop(signum, frame)
        return
    _Stop.signum = signum
    if signum == signal.SIGHUP:
        _detach_output()
    name = signal.Signals(signum).name
    display.warning(
        f"{name} received: the running task finishes, then only rescue and always steps run "
        f"and the play ends failed. Send {name} again to stop at once."
    )


def _hard_stop(signum: int, frame: Any) -> None:
    """A second signal: what ansible-core does on its first (signal the workers, then die)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    tqm = _Stop.tqm
    forwarded = signal.SIGTERM if signum == signal.SIGHUP else signum
    handler = getattr(tqm, "_signal_handler", None)
    if handler is not None:
        handler(forwarded, frame)  # signals every worker; raises KeyboardInterrupt on SIGINT
    os.kill(os.getpid(), forwarded)


def _detach_output() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def _install(tqm: Any) -> None:
    _Stop.tqm = tqm
    if _Stop.installed:
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    _Stop.installed = True


def in_cleanup(state: Any) -> bool:
    """Whether the host's next task comes from a rescue or always section, at any depth."""
    while state is not None:
        if state.run_state in CLEANUP_STATES:
            return True
        if state.run_state != IteratingStates.TASKS:
            return False
        state = state.tasks_child_state
    return False


def stopped_task(task: Any, reason: str) -> Any:
    """A copy of ``task`` (same uuid, name, block and register) that fails with ``reason``."""
    new = task.copy()
    new.action = "ansible.builtin.fail"
    new._resolved_action = "ansible.builtin.fail"
    new.args = {"msg": reason}
    new.loop = None
    new.loop_with = None
    new.when = []
    new.failed_when = []
    new.changed_when = []
    new.until = []
    new.ignore_errors = False
    new.delegate_to = None
    new.async_val = 0
    return new


def may_run(task: Any, task_vars: Any, loader: Any) -> bool:
    """False when the task's ``when`` (its blocks' and imports' included) is already false
    with the host's variables, so its module is not preloaded for nothing (boto3 alone takes
    0.4 s to import); the worker still decides. True when a condition cannot be decided here
    (a loop's ``item``, an error): then the module is preloaded, as before."""
    conditions = task.when or []
    if not conditions:
        return True
    try:
        templar = Templar(loader=loader, variables=task_vars)
        return all(templar.evaluate_conditional(condition) for condition in conditions)
    except Exception:  # noqa: BLE001 - undecided here: the worker evaluates it and reports
        return True


class StrategyModule(LinearStrategyModule):
    """Linear, with a safe stop: see DOCUMENTATION."""

    def __init__(self, tqm: Any) -> None:
        super().__init__(tqm)
        _install(tqm)

    def _queue_task(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> None:
        name = stop_signal_name()
        if name is not None and not in_cleanup(self._iterator_state(host)):
            task = stopped_task(task, f"stopped by {name}")
        if may_run(task, task_vars, self._loader):
            preload(getattr(task, "resolved_action", None))
        super()._queue_task(host, task, task_vars, play_context)

    def run(self, iterator: Any, play_context: Any) -> Any:
        self._safe_iterator = iterator
        warm()
        return super().run(iterator, play_context)

    def _iterator_state(self, host: Any) -> Any:
        iterator = getattr(self, "_safe_iterator", None)
        return iterator.get_state_for_host(host.name) if iterator is not None else None
