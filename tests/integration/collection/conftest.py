"""The collection against real services it starts itself (PostgreSQL), outside the lab.

Puts ``collections/`` and the unit tests' helpers on sys.path; ``run_module`` is the unit tests'
in-process module runner (module_harness).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
for path in (REPO / "collections", REPO / "tests" / "unit" / "collection"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from module_harness import kube, run_module  # noqa: E402,F401 - the fixtures
from pg_server import pg  # noqa: E402,F401 - the module-scoped PostgreSQL fixture
