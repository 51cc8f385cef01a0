# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_lock
short_description: One remediation per host, with a lock file on the host
version_added: 0.1.0
description:
  - The host equivalent of M(irdrive.ops.target_lock), with the same semantics (holder,
    duration, acquire and renew time, transitions, wait then fail with C(error_kind=locked),
    takeover of a stale lock, re-entry, check mode, release).
  - The lock is the file C(<directory>/<key>.json) on the host (mode 0600). A new lock is
    written to a temporary file opened with C(O_EXCL) and hard-linked into place, which fails
    if the file exists. Every other write takes C(flock) on C(<key>.json.flock), reads the
    version again, and renames a new file over the old one only if the version is unchanged.
    A lost race makes the module read again and decide again, so two runs can never both hold
    the lock.
  - Stale detection uses the host's own clock, the same for every run that locks the host.
  - An action plugin names the holder on the controller (the same for the whole run) and runs
    this module on the host.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.lock
  - irdrive.ops.lock.backend
options:
  key:
    description: What is locked, for example the service a runbook changes. The file is
      C(<key>.json) (lower case, other characters replaced by C(-)).
    type: str
    required: true
  directory:
    description:
      - Directory of the lock files on the host (created, mode 0700, when missing). The roles
        pass the inventory variable C(irdrive_host_lock_dir) when it is set.
    type: path
    default: /var/lib/irdrive/locks
attributes:
  check_mode:
    description: Reads the file and says what a run would do. Writes nothing and never waits.
    support: full
"""

EXAMPLES = r"""
- name: Lock the host before changing its firewall
  irdrive.ops.host_lock:
    key: blocklist
  register: host_lock

- name: Give the lock up (in the role's always section)
  irdrive.ops.host_lock:
    state: released
    key: blocklist
    holder: "{{ host_lock.holder }}"
  when: host_lock.state | default('') == 'acquired'
"""

RETURN = r"""
# Doc fragment irdrive.ops.lock adds the shared returns and completes lease and error_kind.
extends_documentation_fragment: irdrive.ops.lock
written:
  description: >-
    Whether the task wrote the lock file. The task never reports C(changed): the lock is the run's
    bookkeeping, not a change to the target, and a run with nothing to do reports changed=0.
  returned: success
  type: bool
lock:
  description: The lock file, as C(lock file <host>:<path>).
  returned: success
  type: str
  sample: "lock file web1:/var/lib/irdrive/locks/blocklist.json"
lease:
  description: The lock file after the task (or as read, in check mode).
  returned: success, when the lock file exists
"""

import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.lock_file import (
    HOST_LOCK_DIR,
    FileLockBackend,
)
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    BACKEND_LOCK_ARG_SPEC,
    run_lock,
)

ARGUMENT_SPEC = {
    **BACKEND_LOCK_ARG_SPEC,
    "directory": {"type": "path", "default": HOST_LOCK_DIR},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if not params["holder"]:
        module.fail_json(
            msg="holder is required (the action plugin sets it)", error_kind="invalid_input"
        )

    def lock_file() -> FileLockBackend:
        return FileLockBackend(params["directory"], params["key"], socket.gethostname())

    result = run_lock(params, params["holder"], lock_file, module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
