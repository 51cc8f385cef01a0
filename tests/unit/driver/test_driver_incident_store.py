"""The incident store on SQLite: every case of tests/incident_store_cases.py (the same cases
run on the lab's PostgreSQL in tests/integration/test_incident_store_pg.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from incident_store_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_incident_store_on_sqlite(case: Callable[[str], None], tmp_path: Path) -> None:
    case(f"sqlite:///{tmp_path / 'history.db'}")
