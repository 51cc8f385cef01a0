"""Alternating-users rotation of a database login: moto for Secrets Manager, a real PostgreSQL.

The server is the throw-away one of test_collection_postgres (its prerequisites apply).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest
from ansible_collections.irdrive.ops.plugins.modules import secretsmanager_rotate
from moto import mock_aws

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
SECRET = "platform/db-password"
USERS = ["platform_app_a", "platform_app_b"]
PASSWORDS = {"platform_app_a": "seed-a-7c41f0", "platform_app_b": "seed-b-93d2aa"}
ROTATOR = ("platform_rotator", "rotator-5e8b21")


def admin(server: dict[str, Any]) -> Any:
    conn = psycopg2.connect(host=server["socket"], port=server["login_port"], user="postgres")
    conn.autocommit = True
    return conn


@pytest.fixture
def roles(pg: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The group, the two alternating logins (a live), and the CREATEROLE rotator."""
    conn = admin(pg)
    with conn.cursor() as cur:
        cur.execute("CREATE ROLE platform_app NOLOGIN")
        cur.execute("CREATE TABLE IF NOT EXISTS payments (id int)")
        cur.execute("ALTER TABLE payments OWNER TO platform_app")
        for user, password in PASSWORDS.items():
            cur.execute(f"CREATE ROLE {user} LOGIN PASSWORD %s IN ROLE platform_app", (password,))
        cur.execute(f"CREATE ROLE {ROTATOR[0]} LOGIN CREATEROLE PASSWORD %s", (ROTATOR[1],))
    try:
        yield pg
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS payments")
            for role in (*PASSWORDS, ROTATOR[0], "platform_app"):
                cur.execute(f"DROP ROLE IF EXISTS {role}")
        conn.close()


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        live = {"username": USERS[0], "password": PASSWORDS[USERS[0]]}
        client.create_secret(Name=SECRET, SecretString=json.dumps(live))
        yield client


def works(server: dict[str, Any], user: str, password: str) -> bool:
    try:
        psycopg2.connect(
            host="127.0.0.1",
            port=server["login_port"],
            user=user,
            password=password,
            dbname="postgres",
        ).close()
    except psycopg2.OperationalError:
        return False
    return True


def current(sm: Any) -> dict[str, str]:
    value = sm.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")["SecretString"]
    return dict(json.loads(value))


def args(server: dict[str, Any], rotation_id: str, **postgres: Any) -> dict[str, Any]:
    options = {
        "login_host": "127.0.0.1",
        "login_port": server["login_port"],
        "alternate_users": USERS,
        "group_role": "platform_app",
        "login_user": ROTATOR[0],
        "login_password": ROTATOR[1],
        **postgres,
    }
    return {
        **AWS,
        "secret_id": SECRET,
        "rotation_id": rotation_id,
        "json_key": "password",
        "postgres": options,
    }


def test_rotations_alternate_and_never_touch_the_live_login(run_module, roles, sm) -> None:
    server = roles
    staged, failed = run_module(secretsmanager_rotate, {**args(server, "INC-1"), "step": "set"})
    assert not failed, staged
    pending = json.loads(
        sm.get_secret_value(SecretId=SECRET, VersionStage="AWSPENDING")["SecretString"]
    )
    # Mid-rotation: the idle role has its new password, the live one still works, and the
    # secret still names the live one.
    assert pending["username"] == "platform_app_b"
    assert works(server, "platform_app_b", pending["password"])
    assert works(server, "platform_app_a", PASSWORDS["platform_app_a"])
    assert current(sm)["username"] == "platform_app_a"

    done, failed = run_module(secretsmanager_rotate, args(server, "INC-1"))
    assert not failed and done["changed"] and done["verified"] and done["status"] == "resume"
    assert current(sm) == pending
    database = done["database"]
    assert database["strategy"] == "alternating-users"
    assert database["checks"]["idle_role"] == "platform_app_b"
    assert database["checks"]["live_role"] == "platform_app_a"
    assert database["checks"]["live_login_works"] and database["checks"]["idle_role_in_group"]
    # No statement carries a password: the verifier is masked in what the module returns.
    text = json.dumps(done)
    assert pending["password"] not in text and "SCRAM-SHA-256$" not in text

    second, failed = run_module(secretsmanager_rotate, args(server, "INC-2"))
    assert not failed and second["changed"]
    now = current(sm)
    assert now["username"] == "platform_app_a" and works(server, "platform_app_a", now["password"])
    assert works(server, "platform_app_b", pending["password"])  # INC-1's login is untouched
    assert not works(server, "platform_app_a", PASSWORDS["platform_app_a"])

    again, failed = run_module(secretsmanager_rotate, args(server, "INC-2"))
    assert not failed and not again["changed"] and again["status"] == "done"


def test_check_mode_inspects_and_writes_nothing(run_module, roles, sm) -> None:
    server = roles
    before = sm.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    result, failed = run_module(secretsmanager_rotate, args(server, "INC-C"), check_mode=True)
    assert (
        not failed and result["changed"] and result["steps"] == ["create", "set", "test", "finish"]
    )
    assert result["database"]["checks"]["idle_role"] == "platform_app_b"
    assert sm.describe_secret(SecretId=SECRET)["VersionIdsToStages"] == before
    assert works(server, "platform_app_b", PASSWORDS["platform_app_b"])


@pytest.mark.parametrize(
    ("setup", "overrides", "message"),
    [
        ("DROP ROLE platform_app_b", {}, "role platform_app_b does not exist"),
        ("REVOKE platform_app FROM platform_app_b", {}, "not a member of platform_app"),
        ("ALTER ROLE platform_app_b NOLOGIN", {}, "must be a LOGIN role"),
        ("ALTER ROLE platform_rotator NOCREATEROLE", {}, "permission denied"),
        (None, {"login_user": "platform_app_a"}, "must not be one of the alternating roles"),
        (None, {"alternate_users": ["platform_app_a"]}, "two different roles"),
        (None, {"login_password": None}, "needs postgres.login_user and postgres.login_password"),
    ],
)
def test_bad_setups_fail_clearly_and_keep_the_live_login(
    run_module, roles, sm, setup: str | None, overrides: dict[str, Any], message: str
) -> None:
    server = roles
    if setup:
        conn = admin(server)
        with conn.cursor() as cur:
            cur.execute(setup)
        conn.close()
    before = current(sm)
    result, failed = run_module(secretsmanager_rotate, args(server, "INC-BAD", **overrides))
    assert failed and message in result["msg"], result["msg"]
    assert current(sm) == before
    assert works(server, "platform_app_a", PASSWORDS["platform_app_a"])
    assert ROTATOR[1] not in json.dumps(result)


def test_pending_that_names_the_live_login_is_refused(run_module, roles, sm) -> None:
    server = roles
    single = args(server, "INC-3")
    single["postgres"] = {"login_host": "127.0.0.1", "login_port": server["login_port"]}
    staged, failed = run_module(secretsmanager_rotate, {**single, "step": "create"})
    assert not failed  # a single-user rotation staged a new password for the live login
    result, failed = run_module(secretsmanager_rotate, args(server, "INC-3"))
    assert failed and "the login AWSCURRENT uses" in result["msg"]
    assert current(sm)["username"] == "platform_app_a"
    assert works(server, "platform_app_a", PASSWORDS["platform_app_a"])
    # A rotation with a new id drops that stale AWSPENDING and alternates.
    result, failed = run_module(secretsmanager_rotate, args(server, "INC-4"))
    assert not failed and result["stale_pending_removed"] == staged["version_id"]
    assert current(sm)["username"] == "platform_app_b"
    assert works(server, "platform_app_a", PASSWORDS["platform_app_a"])


def test_statement_log_never_holds_a_cleartext_password(run_module, roles, sm) -> None:
    server = roles
    conn = admin(server)
    with conn.cursor() as cur:
        cur.execute("SHOW data_directory")
        (data_dir,) = cur.fetchone()
        cur.execute("ALTER SYSTEM SET log_statement = 'all'")
        cur.execute("SELECT pg_reload_conf()")
    try:
        result, failed = run_module(secretsmanager_rotate, args(server, "INC-LOG"))
        assert not failed
        password = current(sm)["password"]
    finally:
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM RESET log_statement")
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
    log = Path(data_dir).parent / "postgres.log"
    text = log.read_text(errors="replace")
    assert 'ALTER ROLE "platform_app_b" PASSWORD' in text
    assert password not in text
