# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: target_lock
short_description: One remediation per target, with a Kubernetes Lease as the lock
version_added: 0.1.0
description:
  - Takes (O(state=acquired)) or gives up (O(state=released)) a run's lock on its target, so
    that two runs never change one target at once, whether they run from irdrive, AWX or
    plain ansible-playbook.
  - The lock is a C(coordination.k8s.io/v1) Lease named C(irdrive-lock-<key>) in O(namespace),
    kept the way client-go's leader election keeps one. C(spec.holderIdentity) names the run,
    C(leaseDurationSeconds) is O(duration), and C(acquireTime)/C(renewTime) are MicroTimes.
    C(leaseTransitions) counts the changes of holder.
  - A missing Lease is created with POST; a 409 AlreadyExists means another run created it
    first, and the module reads it again. Every other write is a PUT with the
    C(metadata.resourceVersion) read; a 409 Conflict means another run wrote in between, and
    the module reads again and decides again. Two runs can never both hold the lock.
  - A Lease held by another run waits up to O(wait) seconds, polling once a second. After that
    the task fails with C(error_kind=locked) and one line naming the holder and since when.
  - A Lease whose C(renewTime + leaseDurationSeconds) is past is stale, for example left by a
    killed run. It is taken over (C(leaseTransitions + 1)), and C(took_over) says whose it was.
    Compare O(duration) with the run's deadline. Stale detection compares the lock's
    C(renewTime) with this controller's clock, so controllers need synchronized clocks.
  - Taking a lock that this run already holds renews it and returns C(reentered=true), so a
    composite runbook's roles can take the lock again. A role releases only a lock it took,
    not one it re-entered.
  - Releasing clears the holder (C(leaseDurationSeconds=1)), as client-go does on release. A
    lock that another run now holds is left alone. A release that fails (the API unreachable)
    does not fail the task. It warns and returns C(state=not_released). The lock is then
    taken over once stale.
  - M(irdrive.ops.pg_lock) keeps the same lock as a row in a PostgreSQL database, and
    M(irdrive.ops.host_lock) as a file on a host, M(irdrive.ops.s3_lock) as an S3 object,
    one module per backend, each with only the connection options it needs. The roles take
    them after this Lease and release them before it. See the README, "One remediation per
    target".
  - Runs on the controller (an action plugin), so a lock costs a few API calls and no module
    round trip. This file only documents it.
  - Needs C(get), C(create) and C(update) on C(leases.coordination.k8s.io) in O(namespace).
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
  - irdrive.ops.lock
options:
  key:
    description:
      - What is locked, for example the namespace a runbook changes. The Lease is
        C(irdrive-lock-<key>) (lower case, other characters replaced by C(-)).
    type: str
    required: true
  namespace:
    description: Namespace of the Lease.
    type: str
    required: true
  holder:
    description:
      - Who holds the lock. Defaults to C(irdrive run <irdrive_run_id>) or
        C(AWX job <awx_job_id>) when those variables are set, followed by
        C(user@host:pid) of ansible-playbook.
      - To release, pass the C(holder) that the acquiring task returned.
    type: str
  duration:
    description:
      - Seconds the lock is valid without renewal (C(leaseDurationSeconds)). Set it to the
        run's deadline. A lock left by a killed run is taken over after this long.
    type: int
    default: 600
attributes:
  check_mode:
    description: Reads the Lease and says what a run would do. Writes nothing and never waits.
    support: full
"""

EXAMPLES = r"""
- name: Lock the namespace before the first write
  irdrive.ops.target_lock:
    key: "{{ scale_namespace }}"
    namespace: "{{ scale_namespace }}"
    duration: 600
    wait: 30
  register: scale_lock

- name: Give the lock up (in the role's always section)
  irdrive.ops.target_lock:
    state: released
    key: "{{ scale_namespace }}"
    namespace: "{{ scale_namespace }}"
    holder: "{{ scale_lock.holder }}"
  when: scale_lock.state | default('') == 'acquired'
"""

RETURN = r"""
# Doc fragment irdrive.ops.lock adds the shared returns and completes lease and error_kind.
extends_documentation_fragment: irdrive.ops.lock
written:
  description: >-
    Whether the task wrote the Lease. The task never reports C(changed): the lock is the run's
    bookkeeping, not a change to the target, and a run with nothing to do reports changed=0.
  returned: success
  type: bool
lock:
  description: The Lease, as C(Lease <namespace>/<name>).
  returned: success
  type: str
  sample: Lease platform/irdrive-lock-platform
lease:
  description: The Lease's spec after the task (or as read, in check mode).
  returned: success, when the Lease exists
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    K8S_AUTH_ARG_SPEC,
)
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LOCK_ARG_SPEC,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**LOCK_ARG_SPEC, **K8S_AUTH_ARG_SPEC}, supports_check_mode=True
    )
    module.fail_json(msg="irdrive.ops.target_lock runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
