# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The one backoff helper of irdrive.ops.

``retry(call, transient=(...))`` runs ``call()`` until it returns, retrying only the exception
classes named in ``transient``: bounded attempts, "full jitter" exponential delays, and a total
deadline measured on a monotonic clock.  Anything not listed fails at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    IrdriveOpsError,
    TransientError,
)

#: What the module_utils clients retry unless told otherwise.
DEFAULT_TRANSIENT: tuple[type[BaseException], ...] = (TransientError,)

# A TypeVar, not ``def retry[T]``: hosts run modules on Python 3.9 and later.
T = TypeVar("T")


def backoff_delays(
    base_delay: float = 0.2,
    factor: float = 2.0,
    max_delay: float = 5.0,
    rand: Callable[[], float] = random.random,
    jitter: bool = True,
) -> Iterator[float]:
    """Endless full-jitter delays: uniform in [0, min(max_delay, base_delay * factor**n)].

    Without ``jitter`` each delay is the cap itself: probes that confirm a state (is the
    processor really down?) are then evenly apart, never two at the same instant.
    """
    ceiling = base_delay
    while True:
        cap = min(max_delay, ceiling)
        yield rand() * cap if jitter else cap
        ceiling *= factor


def retry(
    call: Callable[[], T],
    transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT,
    attempts: int = 5,
    deadline: float | None = 30.0,
    base_delay: float = 0.2,
    factor: float = 2.0,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    jitter: bool = True,
) -> T:
    """Return ``call()``, retrying exceptions in ``transient``.

    Gives up (re-raising the last exception) after ``attempts`` calls, or earlier when the next
    sleep would end past ``deadline`` seconds from the start.  ``on_retry(attempt, error, delay)``
    is told about each retry.  When the error is an ``IrdriveOpsError`` its ``attempts`` attribute
    records how many calls were made.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    started = clock()
    delays = backoff_delays(base_delay, factor, max_delay, rand, jitter)
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except transient as error:
            delay = next(delays)
            out_of_attempts = attempt >= attempts
            out_of_time = deadline is not None and clock() - started + delay > deadline
            if out_of_attempts or out_of_time:
                if isinstance(error, IrdriveOpsError):
                    error.attempts = attempt
                raise
            if on_retry is not None:
                on_retry(attempt, error, delay)
            sleep(delay)
