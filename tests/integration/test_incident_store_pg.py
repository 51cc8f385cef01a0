"""The incident store on the lab's PostgreSQL, as a team shares it: every case of
tests/incident_store_cases.py (also run on SQLite) in a fresh database, migrated from empty,
dropped after. The concurrency case is the one that matters most here: writers on their own
connections append to one timeline, and the row lock keeps the chain whole."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import psycopg2
import pytest
from incident_store_cases import CASES

pytestmark = pytest.mark.lab


@pytest.fixture
def pg_url(lab: dict[str, Any]) -> Iterator[str]:
    """A new, empty database owned by the lab's responder role."""
    pg = lab["parts"]["postgres"]
    name = f"irdrive_incidents_{secrets.token_hex(4)}"
    admin = psycopg2.connect(
        host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="postgres"
    )
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE {name} OWNER "{pg["user"]}"')
        user, password = quote(pg["user"], safe=""), quote(pg["password"], safe="")
        yield f"postgresql://{user}:{password}@{pg['host']}:{pg['port']}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_incident_store_on_postgresql(case: Callable[[str], None], pg_url: str) -> None:
    case(pg_url)
