# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_lock
short_description: One remediation per AWS target, with an S3 object written by conditional puts
version_added: 0.1.0
description:
  - The AWS equivalent of M(irdrive.ops.target_lock), with the same semantics (holder,
    duration, acquire and renew time, transitions, wait then fail with C(error_kind=locked),
    takeover of a stale lock, re-entry, check mode, release).
  - The lock is the JSON object C(<prefix><key>.json) in O(bucket). A new lock is a
    C(PutObject) with C(If-None-Match) set to C(*), and every other write a C(PutObject) with
    C(If-Match) set to the ETag read. A 412 PreconditionFailed or 409
    ConditionalRequestConflict means another run wrote first. The module then reads again and
    decides again, so two runs can never both hold the lock.
  - Stale detection compares C(renew_time) with this controller's clock.
  - Runs on the controller (an action plugin). This file only documents it. Needs
    C(s3:GetObject) and C(s3:PutObject) on the objects under O(prefix).
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.aws_conn
  - irdrive.ops.lock
  - irdrive.ops.lock.backend
options:
  key:
    description: What is locked, for example the account and service a runbook changes.
    type: str
    required: true
  bucket:
    description:
      - The bucket that holds the lock objects (private; versioning not needed). The roles pass
        the inventory variable C(irdrive_lock_bucket) and skip this lock when it is unset.
      - A bucket that does not exist fails with RV(error_kind=invalid_input), in check mode too,
        and is never read as a free lock.
    type: str
    required: true
  prefix:
    description: Prefix of the lock objects' keys.
    type: str
    default: irdrive-locks/
attributes:
  check_mode:
    description: Reads the object and says what a run would do. Writes nothing and never waits.
    support: full
"""

EXAMPLES = r"""
- name: Lock the payments account's WAF before the first write
  irdrive.ops.s3_lock:
    key: waf-payments
    bucket: ops-locks
  register: waf_lock

- name: Give the lock up (in the role's always section)
  irdrive.ops.s3_lock:
    state: released
    key: waf-payments
    bucket: ops-locks
    holder: "{{ waf_lock.holder }}"
  when: waf_lock.state | default('') == 'acquired'
"""

RETURN = r"""
# Doc fragment irdrive.ops.lock adds the shared returns and completes lease and error_kind.
extends_documentation_fragment: irdrive.ops.lock
written:
  description: >-
    Whether the task wrote the object. The task never reports C(changed): the lock is the run's
    bookkeeping, not a change to the target, and a run with nothing to do reports changed=0.
  returned: success
  type: bool
lock:
  description: The object, as C(s3://<bucket>/<key>).
  returned: success
  type: str
  sample: "s3://ops-locks/irdrive-locks/payments.json"
lease:
  description: The object after the task (or as read, in check mode).
  returned: success, when the object exists
error_kind:
  description: >-
    V(locked) when another run held the lock for the whole wait, V(invalid_input) when the
    bucket does not exist.
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import (
    S3_LOCK_ARG_SPEC as ARGUMENT_SPEC,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="irdrive.ops.s3_lock runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
