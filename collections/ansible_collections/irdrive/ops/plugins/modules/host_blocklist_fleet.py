# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_blocklist_fleet
short_description: Block or unblock addresses on many hosts at once, from the controller
version_added: 0.1.0
description:
  - Does M(irdrive.ops.host_blocklist)'s work on every host of O(hosts) in one task that runs on
    the controller (C(localhost)). Each host gets the same program that
    M(irdrive.ops.host_blocklist)'s lean path sends (its host code, run by the host's
    C(python3 -I -S) from stdin, in one command over the host's own connection), so each host's
    result, lock, check mode and diff are exactly that module's.
  - The hosts are done side by side, at most C(forks) at a time. A task per host costs a worker
    process, its templating and its module setup on the controller for every host; this task
    pays that once for the whole fleet.
  - Each host is reached as its inventory says (C(ansible_connection), C(ansible_host),
    C(ansible_user), C(ansible_port), C(ansible_ssh_*) and the other variables of its
    connection and shell plugins, templated in the host's own context).
  - "Per host, the options named in O(host_vars) are read from the host's variables when the
    host defines them (not empty), else the task's value applies; the lock key is the host's
    inventory name (with O(lock=true))."
  - A host that this task cannot do as C(host_blocklist)'s lean path would is not touched and
    is listed in RV(fallback), to be done by a per-host task - its connection cannot pipe
    stdin to a command (Ansible's pipelining conditions), its shell is not POSIX, it needs
    privilege escalation (C(become)), or its variable C(irdrive_host_blocklist_lean) is false.
  - Fails when any host failed or was unreachable, naming each one with its error; the hosts
    that succeeded keep their change, and every host's result is returned in RV(hosts).
  - Runs on the controller only (an action plugin); this file documents it.
author:
  - irdrive maintainers (@irdrive)
requirements:
  - On each host, what M(irdrive.ops.host_blocklist) requires there.
options:
  hosts:
    description: Inventory names of the hosts to block on.
    type: list
    elements: str
    required: true
  host_vars:
    description:
      - Option name -> the host variable that gives it for that host. A host that does not
        define the variable (or sets it empty) gets the task's value.
    type: dict
    default:
      nft: nft_available
      nginx_deny_path: nginx_deny_include_path
      nginx_conf_path: nginx_conf_path
      lock_directory: irdrive_host_lock_dir
  lock:
    description: Take each host's lock file (key - the host's inventory name) for its change.
    type: bool
    default: true
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
    description: Manage the nftables sets (per host, see O(host_vars)).
    type: bool
    default: true
  nft_table:
    description: Name of the C(inet) table that holds the sets and the drop chain.
    type: str
    default: irdrive
  nginx_deny_path:
    description: Path of the nginx deny include on the hosts. Empty leaves nginx alone.
    type: str
  nginx_conf_path:
    description: nginx configuration checked with C(nginx -t -c) after the include changes.
    type: str
  nginx_binary:
    description: nginx executable on the hosts.
    type: str
    default: nginx
  nginx_reload:
    description: Reload nginx after a change when it is running.
    type: bool
    default: true
  lock_directory:
    description: Directory of the lock files on the hosts.
    type: str
    default: /var/lib/irdrive/locks
  lock_duration:
    description: Seconds a host's lock is valid without renewal.
    type: int
    default: 600
  lock_wait:
    description: Seconds to wait for a host's lock that another run holds before that host fails.
    type: float
    default: 30.0
  lock_holder:
    description: Who holds the locks; default as M(irdrive.ops.host_blocklist) names it.
    type: str
attributes:
  check_mode:
    description: Each host runs in check mode, as M(irdrive.ops.host_blocklist) does; nothing is written.
    support: full
  diff_mode:
    description: Each host's result carries its diff.
    support: full
notes:
  - The hosts' results are not censored one by one; use C(no_log) on the task to hide them all.
seealso:
  - module: irdrive.ops.host_blocklist
"""

EXAMPLES = r"""
- name: Block the intrusion's addresses on every web host from the controller
  irdrive.ops.host_blocklist_fleet:
    hosts: "{{ groups['web_hosts'] }}"
    addresses: [203.0.113.45, 198.51.100.23]
    nft: false
  register: fleet

- name: Block the hosts the controller could not do, one task each
  irdrive.ops.host_blocklist:
    addresses: [203.0.113.45, 198.51.100.23]
    lock_key: "{{ inventory_hostname }}"
  when: inventory_hostname in hostvars['localhost'].fleet.fallback
"""

RETURN = r"""
hosts:
  description:
    - Host -> its result, as M(irdrive.ops.host_blocklist) returns it (C(before), C(after),
      C(nft), C(nginx), C(mismatch), C(host_lock), C(diff), or C(failed) and C(msg)). An
      unreachable host's result has C(unreachable=true) and C(msg).
  returned: always
  type: dict
  sample: {"web": {"changed": true, "before": {"nginx_deny": []},
           "after": {"nginx_deny": ["203.0.113.45/32"]}, "mismatch": {"nginx": []}}}
failed_hosts:
  description: Hosts whose block failed (their result says why).
  returned: always
  type: list
  elements: str
  sample: ["web-3"]
unreachable_hosts:
  description: Hosts that could not be reached.
  returned: always
  type: list
  elements: str
  sample: ["web-7"]
fallback:
  description: Hosts not done here, for a per-host task (see the description).
  returned: always
  type: list
  elements: str
  sample: []
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.lock_file import HOST_LOCK_DIR

#: Option -> the host variable that gives it per host (the roles' inventory names).
HOST_VARS = {
    "nft": "nft_available",
    "nginx_deny_path": "nginx_deny_include_path",
    "nginx_conf_path": "nginx_conf_path",
    "lock_directory": "irdrive_host_lock_dir",
}


def argument_spec() -> dict[str, Any]:
    return {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "host_vars": {"type": "dict", "default": dict(HOST_VARS)},
        "lock": {"type": "bool", "default": True},
        "addresses": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
        "nft": {"type": "bool", "default": True},
        "nft_table": {"type": "str", "default": "irdrive"},
        "nginx_deny_path": {"type": "str"},
        "nginx_conf_path": {"type": "str"},
        "nginx_binary": {"type": "str", "default": "nginx"},
        "nginx_reload": {"type": "bool", "default": True},
        "lock_directory": {"type": "str", "default": HOST_LOCK_DIR},
        "lock_duration": {"type": "int", "default": 600},
        "lock_wait": {"type": "float", "default": 30.0},
        "lock_holder": {"type": "str"},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(
        msg="host_blocklist_fleet runs on the controller, through its action plugin; "
        "run it in a play on localhost (a host of its own should use irdrive.ops.host_blocklist)"
    )


if __name__ == "__main__":
    main()
