#!/usr/bin/env python3
"""The lab as lab.json records it: an inventory script (Ansible's ``script`` plugin).

hosts.yml lists the hosts every lab has (web, db, streaming). A lab started with
``irdrive lab up --web-hosts N`` has N web hosts (web, web-2 .. web-N); this script lists every
lab host in ``lab_hosts`` (so the extra ones are in ``platform_hosts`` too, with
group_vars/lab_hosts.yml) and every web host in ``web_hosts``.

It also gives the inventory the lab's values as plain data, read once here:
  - ``all``: ``irdrive_lab`` (lab.json) and ``irdrive_lab_dir``, from which group_vars/all.yml
    names the generic variables the roles use (irdrive_kubeconfig, irdrive_aws_*, ...);
  - each lab host: its lab.json record (``irdrive_host``), how to reach it (ansible_host,
    ansible_user, ...) and where its files are (access_log_path, nginx_conf_path, ...).
They used to be templates over a ``lookup('file', 'lab.json') | from_json``, which every task's
worker process read, parsed and compiled again: about 0.05 s of CPU per task that used them.

The lab folder is $IRDRIVE_LAB_DIR, else $XDG_STATE_HOME/irdrive/lab, else
~/.local/state/irdrive/lab (irdrive_lab.control.config.default_lab_dir()). Only Python's
standard library is used, so plain ansible-playbook and AWX see the same inventory as irdrive.
No lab.json (the lab is down): no extra hosts and no lab values. A lab.json that is not JSON
fails the inventory, naming the file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

STATIC_HOSTS = ("web", "db", "streaming")  # hosts.yml lists these


def lab_dir() -> Path:
    env = os.environ.get("IRDRIVE_LAB_DIR")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "irdrive" / "lab"


def _order(item: tuple[str, Any]) -> tuple[int, int]:
    name = item[0]
    if name in STATIC_HOSTS:
        return 0, STATIC_HOSTS.index(name)
    number = name.rpartition("-")[2]
    return 1, int(number) if number.isdigit() else 0


# A host's variables from its lab.json record: name -> (key path in the record, default).
# A key that is missing (and has no default) leaves the variable undefined, as before.
HOST_VARS: dict[str, tuple[tuple[str, ...], Any]] = {
    "ansible_connection": (("connection",), None),
    "ansible_host": (("address",), None),
    "ansible_port": (("port",), 22),
    "ansible_user": (("user",), None),
    "ansible_ssh_private_key_file": (("ssh_key",), ""),
    "ansible_ssh_common_args": (("ssh_args",), None),
    "host_root": (("root",), None),
    "access_log_path": (("paths", "access_log"), None),
    "storage_path": (("paths", "storage"), None),
    "video_storage_path": (("paths", "video_storage"), ""),
    "nginx_conf_path": (("paths", "nginx_conf"), None),
    "nginx_conf_dir": (("paths", "nginx_conf_dir"), None),
    "nginx_deny_include_path": (("paths", "nginx_deny_include"), None),
    "nft_available": (("nft",), None),
}


def host_vars(record: dict[str, Any]) -> dict[str, Any]:
    """A lab host's inventory variables: its record, and what HOST_VARS takes from it."""
    found: dict[str, Any] = {"irdrive_host": record}
    for var, (path, default) in HOST_VARS.items():
        value: Any = record
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value in (None, "") and default is not None:
            value = default  # the record leaves it out or empty: the default
        if value is not None:
            found[var] = value
    # irdrive.ops.host_lock's lock files (a production host keeps /var/lib/irdrive/locks).
    locks = (record.get("paths") or {}).get("locks")
    if locks or record.get("root"):
        found["irdrive_host_lock_dir"] = locks or f"{record['root']}/var/lib/irdrive/locks"
    return found


def inventory(state: dict[str, Any] | None, folder: Path | None = None) -> dict[str, Any]:
    """The script's --list answer for a lab.json (None: no lab) in ``folder``."""
    records = ((state or {}).get("hosts") or {}).items()
    # lab.json keeps its keys sorted; list web, db, streaming, then web-2 .. web-N in order.
    hosts = dict(sorted(((n, r) for n, r in records if isinstance(r, dict)), key=_order))
    web = [name for name, rec in hosts.items() if rec.get("kind", name) == "web"]
    answer: dict[str, Any] = {
        # Every lab host, hosts.yml's too: Ansible's script plugin gives _meta.hostvars only to
        # the hosts the script itself lists in a group.
        "lab_hosts": {"hosts": list(hosts)},
        "web_hosts": {"hosts": web},
        "_meta": {"hostvars": {name: host_vars(rec) for name, rec in hosts.items()}},
    }
    if state is not None:
        lab_vars = {"irdrive_lab": state, "irdrive_lab_dir": str(folder or lab_dir())}
        answer["all"] = {"vars": lab_vars}
    return answer


def main(argv: list[str]) -> int:
    if "--host" in argv:
        print("{}")
        return 0
    path = lab_dir() / "lab.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        state = None
    except (OSError, ValueError) as exc:
        print(f"the lab's state file {path} cannot be read: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(inventory(state, path.parent)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
