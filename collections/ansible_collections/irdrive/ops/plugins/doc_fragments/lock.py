# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# What the four lock modules (target_lock, pg_lock, s3_lock, host_lock) share, in options and
# returns. Matches LOCK_ARG_SPEC in plugins/module_utils/target_lock.py.
# BACKEND is the holder and duration of the three backends that refer to target_lock's own.
# ansible-doc merges entries by name, a module's fields over the fragment's: a module gives
# its lease's description, and s3_lock its own error_kind description.
# The RETURN values of the irdrive.ops.lock doc fragment (holder, state, error_kind...) are named
# with C(), not RV(): validate-modules checks RV() before it merges RETURN fragments.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  state:
    description: V(acquired) takes the lock (waiting for it), V(released) gives it up.
    type: str
    choices: [acquired, released]
    default: acquired
  wait:
    description: Seconds to wait for a lock that another run holds before failing. Use V(0) to refuse at once.
    type: float
    default: 30.0
attributes:
  diff_mode:
    description: No diff.
    support: none
"""

    BACKEND = r"""
options:
  holder:
    description:
      - Who holds the lock. Defaults as in M(irdrive.ops.target_lock) (the irdrive run or AWX
        job, then C(user@host:pid) of ansible-playbook).
      - To release, pass the C(holder) that the acquiring task returned.
    type: str
  duration:
    description:
      - Seconds the lock is valid without renewal. Set it to the run's deadline. A lock left
        by a killed run is taken over after this long.
    type: int
    default: 600
"""

    RETURN = r"""
state:
  description: >-
    V(acquired), V(reentered) (already held by this run; renewed), V(released), V(not_held)
    (release of a lock this run does not hold), V(not_released) (the release failed), and in
    check mode V(would_acquire) or
    V(would_wait).
  returned: success
  type: str
  sample: acquired
holder:
  description: The holder identity this task used.
  returned: always
  type: str
  sample: "root@ops1:41822"
reentered:
  description: Whether this run already held the lock.
  returned: success
  type: bool
took_over:
  description: The stale lock that was taken over, or would be taken over in check mode.
  returned: when a stale lock was taken over
  type: dict
waited:
  description: Seconds spent waiting for the lock.
  returned: success
  type: float
conflicts:
  description: How many conditioned writes lost a race and were decided again.
  returned: success
  type: int
held_by:
  description: The holder that kept the lock for the whole wait.
  returned: failure, when locked
  type: str
since:
  description: When the holder that kept the lock took it.
  returned: failure, when locked
  type: str
error_kind:
  description: V(locked) when another run held the lock for the whole wait.
  returned: failure
  type: str
  sample: locked
# Each module describes its lease (description, returned).
lease:
  type: dict
  sample:
    holder: "root@ops1:41822"
    duration: 600
    acquire_time: "2026-12-01T20:01:02.000123Z"
    renew_time: "2026-12-01T20:01:02.000123Z"
    transitions: 3
"""
