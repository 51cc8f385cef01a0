"""What every test may use: wait for a condition, require a prerequisite.

``wait_until`` is the one way a test waits: it polls a condition and raises at its deadline,
naming what it waited for, so a condition that never comes fails the test instead of letting
it go on. ``require`` is the one way a test states a prerequisite (a binary, root, a user): under
CI (``CI=true``) a missing one fails the run with one line; elsewhere the test is skipped.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable
from typing import Any

import pytest


class WaitTimeout(AssertionError):
    """The condition a test waited for did not come before the deadline."""


def wait_until[T](
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns a truthy value; return it.

    Raises WaitTimeout after ``timeout`` seconds, naming ``what`` and the last value seen. The
    condition is always checked once more at the deadline. Exceptions from it propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last = repr(value)
            last = last if len(last) <= 200 else last[:197] + "..."
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what} (last: {last})")
        time.sleep(min(interval, remaining))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(condition: Any, missing: str) -> None:
    """Go on only when ``condition`` holds; ``missing`` names the prerequisite that lacks.

    Under CI a missing prerequisite fails the test (a suite that skips is a suite that did not
    test); on a workstation it skips.
    """
    if condition:
        return
    if in_ci():
        pytest.fail(f"missing prerequisite under CI: {missing}", pytrace=False)
    pytest.skip(f"missing prerequisite: {missing}")


def has_user(name: str) -> bool:
    """Whether the machine has the user ``name`` (PostgreSQL runs as ``postgres``)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def requires(condition: Any, missing: str) -> pytest.MarkDecorator:
    """``require`` as a mark, for ``pytestmark`` or a decorator (checked when each test sets up)."""
    return pytest.mark.prerequisite(bool(condition), missing)
