# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_lock
short_description: One remediation per database, with a lock row in the database itself
version_added: 0.1.0
description:
  - The PostgreSQL equivalent of M(irdrive.ops.target_lock), with the same semantics (holder,
    duration, acquire and renew time, transitions, wait then fail with C(error_kind=locked),
    takeover of a stale lock, re-entry, check mode, release).
  - The lock is the row O(key) of the table O(table) (C(irdrive_locks)). It is the one object
    irdrive creates in a database. It is created with C(CREATE TABLE IF NOT EXISTS) on the
    first lock, and never in check mode. A user that may not create it needs it created once
    by its owner. The failure message gives the statement.
  - A new lock is an C(INSERT ... ON CONFLICT (key) DO NOTHING), and every other write an
    C(UPDATE ... WHERE version = <the version read>) that increments C(version). When no row
    is written, another run won the race. The module then reads the row again and decides
    again, so two runs can never both hold the lock.
  - Stale detection compares C(renew_time) with this controller's clock.
  - Runs on the controller (an action plugin), over one connection. This file only documents
    it. Needs C(SELECT), C(INSERT) and C(UPDATE) on the table.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.postgres
  - irdrive.ops.lock
  - irdrive.ops.lock.backend
options:
  key:
    description: What is locked, for example the database's name. The primary key of the row.
    type: str
    required: true
  table:
    description: The lock table, as C(name) or C(schema.name).
    type: str
    default: irdrive_locks
attributes:
  check_mode:
    description: Reads the row and says what a run would do. Writes nothing (not even the table) and never waits.
    support: full
"""

EXAMPLES = r"""
- name: Lock the database before the first write
  irdrive.ops.pg_lock:
    key: "{{ db_login_host }}:{{ db_login_port }}/{{ db_login_db }}"
    login_host: "{{ db_login_host }}"
    login_user: "{{ db_login_user }}"
    login_password: "{{ db_login_password }}"
  register: db_pg_lock

- name: Give the lock up (in the role's always section)
  irdrive.ops.pg_lock:
    state: released
    key: "{{ db_login_host }}:{{ db_login_port }}/{{ db_login_db }}"
    holder: "{{ db_pg_lock.holder }}"
    login_host: "{{ db_login_host }}"
    login_user: "{{ db_login_user }}"
    login_password: "{{ db_login_password }}"
  when: db_pg_lock.state | default('') == 'acquired'
"""

RETURN = r"""
# Doc fragment irdrive.ops.lock adds the shared returns and completes lease and error_kind.
extends_documentation_fragment: irdrive.ops.lock
written:
  description: >-
    Whether the task wrote the row. The task never reports C(changed): the lock is the run's
    bookkeeping, not a change to the target, and a run with nothing to do reports changed=0.
  returned: success
  type: bool
lock:
  description: The row, as C(PostgreSQL <host:port> <table> row <key>).
  returned: success
  type: str
  sample: "PostgreSQL 10.0.0.5:5432 irdrive_locks row db1"
lease:
  description: The row after the task (or as read, in check mode).
  returned: success, when the row exists
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import (
    PG_LOCK_ARG_SPEC as ARGUMENT_SPEC,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="irdrive.ops.pg_lock runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
