"""One missing-library path: the clients raise MissingLibrary, module_result reports it.

No module checks ``HAS_*`` itself; the client constructors (PgSession, the PostgreSQL password
backends, AwsConn.client, the kubernetes fallback transport) raise ``MissingLibrary`` before
anything is read or written, and ``result_or_fail`` turns it into Ansible's
``missing_required_lib`` message.
"""

from __future__ import annotations

import re

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients, postgres
from ansible_collections.irdrive.ops.plugins.module_utils.errors import MissingLibrary
from ansible_collections.irdrive.ops.plugins.module_utils.pg_password import (
    AlternatingUsersBackend,
    PostgresPasswordBackend,
)
from ansible_collections.irdrive.ops.plugins.modules import (
    evidence_upload,
    iam_key_rotate,
    pg_evidence,
    pg_health,
    pg_maintenance,
    pg_slow_queries,
    secretsmanager_rotate,
    session_revoke,
)
from collection_fakes import COLLECTIONS

MODULES = COLLECTIONS / "ansible_collections" / "irdrive" / "ops" / "plugins" / "modules"
NO_PSYCOPG2 = "No module named 'psycopg2'"
NO_BOTO3 = "No module named 'boto3'"


@pytest.fixture
def without_psycopg2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "PSYCOPG2_IMPORT_ERROR", NO_PSYCOPG2)


@pytest.fixture
def without_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_clients, "BOTO3_IMPORT_ERROR", NO_BOTO3)


def test_no_module_checks_a_library_itself() -> None:
    offenders = [
        path.name
        for path in sorted(MODULES.glob("*.py"))
        if re.search(r"\bHAS_[A-Z0-9_]+", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.usefixtures("without_psycopg2")
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: postgres.PgSession(postgres.PgConnParams()), id="PgSession"),
        pytest.param(
            lambda: PostgresPasswordBackend(postgres.PgConnParams()), id="PostgresPasswordBackend"
        ),
        pytest.param(
            lambda: AlternatingUsersBackend(
                postgres.PgConnParams(login_user="rotator"), ("app_a", "app_b")
            ),
            id="AlternatingUsersBackend",
        ),
    ],
)
def test_postgres_clients_raise_missing_library(make) -> None:
    with pytest.raises(MissingLibrary) as caught:
        make()
    assert caught.value.library == "psycopg2"
    assert caught.value.import_error == NO_PSYCOPG2
    assert caught.value.kind == "missing_library"


@pytest.mark.usefixtures("without_boto3")
def test_aws_client_raises_missing_library() -> None:
    with pytest.raises(MissingLibrary) as caught:
        aws_clients.AwsConn(region="eu-west-1").client("s3")
    assert caught.value.library == "boto3"
    assert caught.value.import_error == NO_BOTO3


PG_ARGS = {"login_host": "127.0.0.1", "login_port": 1}


@pytest.mark.usefixtures("without_psycopg2")
@pytest.mark.parametrize(
    ("module", "args"),
    [
        pytest.param(pg_health, PG_ARGS, id="pg_health"),
        pytest.param(pg_slow_queries, PG_ARGS, id="pg_slow_queries"),
        pytest.param(pg_maintenance, {**PG_ARGS, "analyze_tables": ["t"]}, id="pg_maintenance"),
        pytest.param(
            session_revoke,
            {**PG_ARGS, "ips": ["203.0.113.7"], "rotation_id": "r"},
            id="session_revoke",
        ),
        pytest.param(
            pg_evidence,
            {**PG_ARGS, "dest": "/nonexistent", "queries": [{"name": "q", "sql": "SELECT 1"}]},
            id="pg_evidence",
        ),
    ],
)
def test_postgres_modules_report_missing_psycopg2(run_module, module, args) -> None:
    result, failed = run_module(module, args)
    assert failed
    assert result["error_kind"] == "missing_library"
    assert "Failed to import the required Python library (psycopg2)" in result["msg"]
    assert result["exception"] == NO_PSYCOPG2


@pytest.mark.usefixtures("without_boto3")
@pytest.mark.parametrize(
    ("module", "args"),
    [
        pytest.param(
            evidence_upload,
            {"path": "/nonexistent", "bucket": "b", "region": "eu-west-1"},
            id="evidence_upload",
        ),
        pytest.param(
            iam_key_rotate,
            {"user_name": "u", "secret_id": "s", "rotation_id": "r", "region": "eu-west-1"},
            id="iam_key_rotate",
        ),
        pytest.param(
            secretsmanager_rotate,
            {"secret_id": "s", "rotation_id": "r", "region": "eu-west-1"},
            id="secretsmanager_rotate",
        ),
    ],
)
def test_aws_modules_report_missing_boto3(run_module, module, args) -> None:
    result, failed = run_module(module, args)
    assert failed
    assert result["error_kind"] == "missing_library"
    assert "Failed to import the required Python library (boto3)" in result["msg"]


@pytest.mark.usefixtures("without_psycopg2")
def test_database_rotation_reports_missing_psycopg2_before_touching_aws(
    run_module, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_aws(*args: object, **kwargs: object) -> object:
        raise AssertionError("AWS was called although psycopg2 is missing")

    monkeypatch.setattr(secretsmanager_rotate, "SecretRotator", no_aws)
    args = {
        "secret_id": "s",
        "rotation_id": "r",
        "region": "eu-west-1",
        "json_key": "password",
        "postgres": {"login_host": "127.0.0.1"},
    }
    result, failed = run_module(secretsmanager_rotate, args)
    assert failed
    assert "(psycopg2)" in result["msg"]
