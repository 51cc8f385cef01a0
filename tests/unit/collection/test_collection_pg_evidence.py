"""irdrive.ops.pg_evidence: conversions, CSV/JSON, input checks."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import pg_evidence as pg_evidence_utils
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.modules import pg_evidence

ROWS = [
    (
        1,
        ipaddress.ip_address("203.0.113.45"),
        datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
        Decimal("4.99"),
        None,
        {"k": 1},
    )
]
COLUMNS = ["id", "ip", "created_at", "amount", "note", "extra"]


def test_csv_and_json_hold_plain_values() -> None:
    csv_text = pg_evidence_utils.to_csv(COLUMNS, ROWS).decode()
    assert csv_text.splitlines() == [
        "id,ip,created_at,amount,note,extra",
        '1,203.0.113.45,2026-11-27T03:00:00+00:00,4.99,,"{""k"": 1}"',
    ]
    records = json.loads(pg_evidence_utils.to_json(COLUMNS, ROWS))
    assert records == [
        {
            "id": 1,
            "ip": "203.0.113.45",
            "created_at": "2026-11-27T03:00:00+00:00",
            "amount": "4.99",
            "note": None,
            "extra": {"k": 1},
        }
    ]


@pytest.mark.parametrize(
    ("queries", "max_rows", "message"),
    [
        ([{"name": "a b", "sql": "SELECT 1"}], 10, "query name"),
        ([{"name": "a", "sql": "SELECT 1"}, {"name": "a", "sql": "SELECT 2"}], 10, "unique"),
        ([{"name": "a", "sql": "SELECT 1"}], 0, "max_rows"),
    ],
)
def test_bad_queries(queries, max_rows, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        pg_evidence_utils.validate(queries, max_rows)


def test_unreachable_server_fails_cleanly(run_module, tmp_path) -> None:
    args = {
        "dest": str(tmp_path / "b"),
        "login_host": "127.0.0.1",
        "login_port": 9,
        "login_password": "canary-secret-1",
        "connect_timeout": 2,
        "queries": [{"name": "auth_logs", "sql": "SELECT 1"}],
    }
    result, failed = run_module(pg_evidence, args)
    assert failed and result["error_kind"] == "unreachable"
    assert "canary-secret-1" not in json.dumps(result)
    assert not (tmp_path / "b").exists()
