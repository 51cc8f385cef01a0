"""Port bases for the labs a lab test file starts itself, inside this test run's own ports."""

from __future__ import annotations

import os

# Slot 0 is the session lab's (tests/conftest.py); a lab takes 10 ports (PORT_SPAN).
SLOTS = range(1, 10)


def port_base(slot: int) -> int:
    """The port base of ``slot`` (1..9) in this test run's block of 100 ports.

    A test run owns IRDRIVE_TEST_PORT_BASE (default 17800) plus 100 per xdist worker, as the
    session lab does. A test file runs whole on one worker (--dist loadfile) and stops its
    labs when it ends, so files reuse the same slots.
    """
    if slot not in SLOTS:
        raise ValueError(f"slot {slot} is not one of {SLOTS.start}..{SLOTS.stop - 1}")
    base = int(os.environ.get("IRDRIVE_TEST_PORT_BASE", "17800"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        base += 100 * int(worker[2:])
    return base + 10 * slot
