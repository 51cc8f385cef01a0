"""The incident store on the lab's PostgreSQL, as a team shares it: every case of
tests/incident_store_cases.py (also run on SQLite) in a fresh database, migrated from empty,
dropped after. The concurrency case is the one that matters most here: writers on their own
connections append to one timeline, and the row lock keeps the chain whole."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from incident_store_cases import CASES

pytestmark = pytest.mark.lab


@pytest.fixture
def pg_url(pg_database: tuple[str, str]) -> str:
    return pg_database[0]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_incident_store_on_postgresql(case: Callable[[str], None], pg_url: str) -> None:
    case(pg_url)
