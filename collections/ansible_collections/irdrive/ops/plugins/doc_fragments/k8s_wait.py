# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# Matches WAIT_ARG_SPEC in plugins/module_utils/args_common.py.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until the rollouts are complete and verify them.
      - Complete is what C(kubectl rollout status) says; the wait fails naming each Deployment
        that is not done, its state and its pods' reasons.
      - Check mode never waits.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for all rollouts together; must be positive.
    type: int
    default: 180
  wait_sleep:
    description:
      - Longest gap, in seconds, between two reads of the rollout status.
      - The reads start 0.05 s apart and the gap grows by a quarter after each read up to
        this, so a rollout that completes in a second is seen within a quarter of a second and a
        long one is read at most this often.
    type: float
    default: 1.0
"""
