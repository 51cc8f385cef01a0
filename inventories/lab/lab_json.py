#!/usr/bin/env python3
"""The lab's hosts as lab.json records them: an inventory script (Ansible's ``script`` plugin).

hosts.yml lists the hosts every lab has (web, db, streaming). A lab started with
``irdrive lab up --web-hosts N`` has N web hosts (web, web-2 .. web-N); this script adds the
extra ones to ``lab_hosts`` (so they are in ``platform_hosts``, with group_vars/lab_hosts.yml),
puts every web host in ``web_hosts``, and gives each host its lab.json record as
``irdrive_host``, read once here instead of once per variable and task. It reads the lab folder
as group_vars/all.yml does ($IRDRIVE_LAB_DIR, else $XDG_STATE_HOME/irdrive/lab, else
~/.local/state/irdrive/lab) and needs nothing but Python's standard library, so plain
ansible-playbook and AWX see the same hosts as irdrive. No lab.json (the lab is down): no
extra hosts. A lab.json that is not JSON fails the inventory, naming the file.
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


def inventory(state: dict[str, Any] | None) -> dict[str, Any]:
    """The script's --list answer for a lab.json (None: no lab)."""
    records = ((state or {}).get("hosts") or {}).items()
    # lab.json keeps its keys sorted; list web, db, streaming, then web-2 .. web-N in order.
    hosts = dict(sorted(((n, r) for n, r in records if isinstance(r, dict)), key=_order))
    extra = [name for name in hosts if name not in STATIC_HOSTS]
    web = [name for name, rec in hosts.items() if rec.get("kind", name) == "web"]
    return {
        "lab_hosts": {"hosts": extra},
        "web_hosts": {"hosts": web},
        "_meta": {"hostvars": {name: {"irdrive_host": rec} for name, rec in hosts.items()}},
    }


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
    print(json.dumps(inventory(state)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
