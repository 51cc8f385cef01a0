# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_blocklist
short_description: Block or unblock addresses on a host with an nftables drop set and an nginx deny include
version_added: 0.1.0
description:
  - Runs on the host. Adds (O(state=present)) or removes (O(state=absent)) addresses in the
    host's own blocklist; O(state=query) only reads it and reports what is missing.
  - "nftables: table C(inet irdrive) holds interval sets C(blocked_v4) and C(blocked_v6) and a
    chain hooked on input (priority -10) that drops traffic from either set. Overlapping
    networks are merged (an interval set cannot hold overlaps), so unblocking a network that
    is only covered by a wider blocked one leaves it blocked. Each change is one C(nft -f)
    transaction."
  - "nginx: O(nginx_deny_path) holds sorted C(deny <cidr>;) lines, owned by irdrive (include it
    in the server's configuration). After a write the configuration O(nginx_conf_path) is
    checked with C(nginx -t); if the check fails the previous file is put back and the task
    fails. nginx is reloaded only when it is running (its pid file names a live process): a
    stopped nginx reads the file when it starts, so nothing is reloaded."
  - Every address is validated first; one invalid address fails the task, naming it, with
    nothing changed.
  - "One remediation per host: with O(lock_key) the module takes the host's lock file, the one
    M(irdrive.ops.host_lock) keeps (C(<lock_directory>/<lock_key>.json), same semantics: a live
    holder is waited for O(lock_wait) seconds and then the task fails with
    RV(error_kind=locked) naming it, changing nothing; a stale lock is taken over with a
    warning), makes the change, and gives the lock back whether the change succeeded or failed
    (unless this run already held it). Lock, change and release are one module run on the
    host: a third of the cost of a M(irdrive.ops.host_lock) task on each side of the change."
  - An action plugin names the lock's holder on the controller (the same for the whole run, as
    for M(irdrive.ops.host_lock)) and validates the arguments and addresses there, before the
    host is contacted.
  - "Lean path: when the connection can pipe stdin to a command (Ansible's pipelining
    conditions) and the host's shell is POSIX, the action plugin sends this module's host code
    (module_utils C(host_blocklist_run) and what it imports, standard library only) to the
    host's Python (C(ansible_python_interpreter), else C(/usr/bin/python3), else C(python3))
    run with C(-I -S), in one command, and parses the one JSON line it prints: the same code,
    so the same return values, check mode, diff, lock and errors, without the AnsiballZ payload
    and C(ansible.module_utils.basic). Otherwise, or with the host variable
    C(irdrive_host_blocklist_lean=false), this module runs as a module."
author:
  - irdrive maintainers (@irdrive)
requirements:
  - Python 3.9 or later on the host
  - nft (nftables), when O(nft=true)
options:
  addresses:
    description: IPv4 or IPv6 addresses or CIDRs; host addresses become C(/32) or C(/128).
    type: list
    elements: str
    default: []
  state:
    description: V(present) blocks, V(absent) unblocks, V(query) only reads.
    type: str
    choices: [present, absent, query]
    default: present
  nft:
    description:
      - Manage the nftables sets. Set V(false) where nft must not be used (no nftables, or a
        host whose firewall is not ours to change).
    type: bool
    default: true
  nft_table:
    description: Name of the C(inet) table that holds the sets and the drop chain.
    type: str
    default: irdrive
  nginx_deny_path:
    description: Path of the nginx deny include. Empty leaves nginx alone.
    type: path
  nginx_conf_path:
    description:
      - nginx configuration checked with C(nginx -t -c) after the deny include changes. Empty
        skips the check (and the reload).
    type: path
  nginx_binary:
    description: nginx executable; when it is not installed the check is skipped with a warning.
    type: str
    default: nginx
  nginx_reload:
    description: Reload nginx after a change when it is running.
    type: bool
    default: true
  lock_key:
    description:
      - Take the host's lock file C(<lock_directory>/<lock_key>.json) for the change (the roles
        pass the host's name, as for M(irdrive.ops.host_lock)). Empty takes no lock.
    type: str
    default: ""
  lock_directory:
    description:
      - Directory of the lock files on the host (created, mode 0700, when missing). The roles
        pass the inventory variable C(irdrive_host_lock_dir) when it is set.
    type: path
    default: /var/lib/irdrive/locks
  lock_duration:
    description:
      - Seconds the lock is valid without renewal. A lock left by a killed run is taken over
        after this long.
    type: int
    default: 600
  lock_wait:
    description:
      - Seconds to wait for a lock that another run holds before failing. V(0) refuses at once.
    type: float
    default: 30.0
  lock_holder:
    description:
      - Who holds the lock. The action plugin defaults it as M(irdrive.ops.host_lock) does (the
        irdrive run or AWX job, then C(user@host:pid) of ansible-playbook).
    type: str
attributes:
  check_mode:
    description: >-
      Reads the sets, the include and the lock file and computes the same result, changing
      nothing (the lock is not taken and not waited for).
    support: full
  diff_mode:
    description: Returns the blocked networks before and after.
    support: full
"""

EXAMPLES = r"""
- name: Block the intrusion's addresses on the web hosts
  irdrive.ops.host_blocklist:
    addresses: [203.0.113.45, 198.51.100.23]
    nft: "{{ nft_available | bool }}"
    nginx_deny_path: "{{ nginx_deny_include_path }}"
    nginx_conf_path: "{{ nginx_conf_path }}"

- name: Block on each host under its own lock file (one remediation per host)
  irdrive.ops.host_blocklist:
    addresses: [203.0.113.45]
    nginx_deny_path: "{{ nginx_deny_include_path }}"
    nginx_conf_path: "{{ nginx_conf_path }}"
    lock_key: "{{ inventory_hostname }}"

- name: What is still missing?
  irdrive.ops.host_blocklist:
    addresses: [203.0.113.45]
    state: query
    nginx_deny_path: /etc/nginx/conf.d/irdrive-deny.conf
  register: host_block
"""

RETURN = r"""
before:
  description: Blocked networks before the task (nft sets and deny include), for an undo.
  returned: always
  type: dict
  sample: {"nft": {"v4": ["203.0.113.66/32"], "v6": []}, "nginx_deny": ["203.0.113.66/32"]}
after:
  description:
    - Blocked networks after the task, read back from the host after a change (what they
      would be, in check mode).
  returned: always
  type: dict
  sample: {"nft": {"v4": ["203.0.113.45/32", "203.0.113.66/32"], "v6": []},
           "nginx_deny": ["203.0.113.45/32", "203.0.113.66/32"]}
nft:
  description:
    - The nftables part. C(added), C(removed), C(already) list given networks; C(missing) (query)
      those not covered by the sets; C(rules) whether the drop rules were in place.
  returned: when O(nft=true)
  type: dict
  sample: {"table": "inet irdrive", "added": ["203.0.113.45/32"], "removed": [],
           "already": [], "rules": true, "changed": true}
nginx:
  description:
    - The nginx part. C(checked) says whether C(nginx -t) ran, C(reloaded) whether nginx was
      reloaded (only when running); C(missing) (query) lists networks without a deny line.
  returned: when O(nginx_deny_path) is set
  type: dict
  sample: {"path": "/etc/nginx/conf.d/irdrive-deny.conf", "added": ["203.0.113.45/32"],
           "removed": [], "already": [], "changed": true, "checked": true, "reloaded": false}
missing:
  description: Given networks not blocked by every managed part (O(state=query)).
  returned: always
  type: list
  elements: str
  sample: []
mismatch:
  description:
    - Per part (C(nft), C(nginx)), given networks whose state read back after the change is
      not the wanted one (not blocked for V(present), still blocked for V(absent)). All empty
      means verified. Empty with O(state=query).
  returned: always
  type: dict
  sample: {"nft": [], "nginx": []}
host_lock:
  description:
    - The host's lock, as M(irdrive.ops.host_lock) returns it (C(state) V(acquired),
      V(reentered), or in check mode V(would_acquire) or V(would_wait); C(holder), C(lock),
      C(took_over) of a stale lock), and C(released) (V(released), V(not_taken) when this run
      held it already or in check mode, V(not_released) when giving it back failed).
  returned: when O(lock_key) is set and the lock was taken or read
  type: dict
  sample: {"state": "acquired", "holder": "irdrive run 20261202T014500-block-ips (root@ops1:4182)",
           "lock": "lock file web1:/var/lib/irdrive/locks/web1.json", "released": "released"}
diff:
  description: The blocked networks before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"nginx_deny": []}, "after": {"nginx_deny": ["203.0.113.45/32"]}}
error_kind:
  description: >-
    The kind of failure that ended the task, for example V(locked) when another run held the
    host's lock for the whole O(lock_wait).
  returned: failure
  type: str
  sample: locked
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.host_blocklist_run import host_result
from ansible_collections.irdrive.ops.plugins.module_utils.lock_file import HOST_LOCK_OPTIONS
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail


def argument_spec() -> dict[str, Any]:
    return {
        "addresses": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
        "nft": {"type": "bool", "default": True},
        "nft_table": {"type": "str", "default": "irdrive"},
        "nginx_deny_path": {"type": "path"},
        "nginx_conf_path": {"type": "path"},
        "nginx_binary": {"type": "str", "default": "nginx"},
        "nginx_reload": {"type": "bool", "default": True},
        **HOST_LOCK_OPTIONS,
    }


def run_module(module: AnsibleModule) -> dict[str, Any]:
    def run(argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        return module.run_command(argv, data=data, binary_data=data is not None)

    result, warnings = host_result(
        module.params, module.check_mode, module._diff, run, module.get_bin_path
    )
    for warning in warnings:
        module.warn(warning)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
