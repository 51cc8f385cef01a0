# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The one wait loop of irdrive.ops: poll a condition until it holds or a deadline passes.

``poll_until(probe, timeout, interval)`` calls ``probe()`` until it returns something other
than None, sleeping ``interval`` seconds between calls, on a monotonic clock.  With
``first_interval`` the gaps start there and grow by ``GROWTH`` up to ``interval``: a state that
settles in a second is seen within a tenth of one, and a long wait still reads at most once per
``interval``.  The last call
happens at the deadline at the latest (the final sleep is shortened), and when the condition
still does not hold the wait raises what ``on_timeout()`` returns (``DeadlineExceeded`` by
default).  The clock and the sleep are parameters, so tests run on a fake clock.

A wait is not a retry: ``retry.retry`` repeats a call that failed with a transient error; a
wait repeats a read that succeeded until the state it reads is the state wanted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ansible_collections.irdrive.ops.plugins.module_utils.errors import DeadlineExceeded

#: Factor the gap between two probes grows by when ``first_interval`` is given.
GROWTH = 1.25

# TypeVar and Generic, not PEP 695 brackets: hosts run modules on Python 3.9 and later.
T = TypeVar("T")


@dataclass(frozen=True)
class Waited(Generic[T]):
    """What a wait ended with: the probe's answer, the seconds it took, how many probes ran."""

    value: T
    elapsed: float
    probes: int


def poll_until(
    probe: Callable[[], T | None],
    timeout: float,
    interval: float,
    on_timeout: Callable[[], BaseException] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    first_interval: float | None = None,
) -> Waited[T]:
    """Call ``probe()`` until it returns a value (not None); raise ``on_timeout()`` at the deadline.

    ``probe`` may keep what it saw in its closure for ``on_timeout`` to describe.  Exceptions
    from ``probe`` propagate at once; a probe that wants to ride out an error catches it and
    returns None.
    """
    if timeout < 0:
        raise ValueError("timeout must not be negative")
    if interval <= 0:
        raise ValueError("interval must be positive")
    if first_interval is not None and first_interval <= 0:
        raise ValueError("first_interval must be positive")
    gap = min(first_interval or interval, interval)
    started = clock()
    deadline = started + timeout
    probes = 0
    while True:
        probes += 1
        value = probe()
        now = clock()
        if value is not None:
            return Waited(value, round(now - started, 2), probes)
        if now >= deadline:
            if on_timeout is not None:
                raise on_timeout()
            raise DeadlineExceeded(f"not done after {timeout:g}s ({probes} checks)")
        sleep(min(gap, deadline - now))
        gap = min(gap * GROWTH, interval)
