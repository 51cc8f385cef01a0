# Copyright: irdrive contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the Jinja plugins a play's templates use once, in the ansible-playbook process.

Each task runs in a worker process forked from ansible-playbook. A worker that templates a
filter the parent never loaded loads it itself: ansible-core then imports every legacy filter
and test plugin (to map their short names) and every filter file of the collection it searches,
again in every worker, and the work dies with the worker. Measured on a payments failover, that
was about a tenth of the run's CPU. Loaded here, before the first worker forks, the workers
inherit the loaded plugins.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

COLLECTION = "irdrive.ops"
FILTER_DIR = Path(__file__).resolve().parent.parent / "filter"
# One legacy name per Jinja plugin type loads all of that type's legacy plugins.
LEGACY = {"filter": "default", "test": "failed"}
LOOKUPS = ("ansible.builtin.env", "ansible.builtin.file", "ansible.builtin.template")

_done = False


def collection_filters() -> list[str]:
    """The collection's filter names, from their documentation files (one ``<name>.yml`` each)."""
    return sorted(f"{COLLECTION}.{p.stem}" for p in FILTER_DIR.glob("*.yml"))


def warm() -> list[str]:
    """Load the legacy filters and tests, the collection's filters and the common lookups in
    this process, once. Never fails the run: what fails to load here loads (and fails, with
    its real error) in the worker. Returns the names loaded."""
    global _done
    if _done:
        return []
    _done = True
    from ansible.plugins.loader import filter_loader, lookup_loader, test_loader

    loaded = []
    wanted = [
        (filter_loader, LEGACY["filter"]),
        (test_loader, LEGACY["test"]),
        *((filter_loader, name) for name in collection_filters()),
        *((lookup_loader, name) for name in LOOKUPS),
    ]
    for loader, name in wanted:
        with contextlib.suppress(Exception):
            if loader.get(name) is not None:
                loaded.append(name)
    return loaded
