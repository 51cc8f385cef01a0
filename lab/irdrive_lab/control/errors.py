"""The lab's errors: one readable line for the user, and whether it is the user's to fix."""

from __future__ import annotations


class LabError(Exception):
    """A lab operation failed; the message is one readable line for the user."""

    # True when the user can fix it (wrong arguments, missing prerequisites, lab not up).
    usage = False


class LabUsageError(LabError):
    """A lab operation was asked for wrongly, or the machine lacks what the lab needs."""

    usage = True
