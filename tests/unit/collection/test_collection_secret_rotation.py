"""irdrive.ops.secretsmanager_rotate and iam_key_rotate against moto, scram and the rotation steps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import scram, secret_rotation
from ansible_collections.irdrive.ops.plugins.module_utils.errors import AuthError, IrdriveOpsError
from ansible_collections.irdrive.ops.plugins.module_utils.pg_password import masked
from ansible_collections.irdrive.ops.plugins.modules import iam_key_rotate, secretsmanager_rotate
from moto import mock_aws

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="platform/ccbill-api-key", SecretString="old-key-value")
        yield client


def stages(sm: Any, name: str) -> dict[str, list[str]]:
    return {v: s for v, s in sm.describe_secret(SecretId=name)["VersionIdsToStages"].items() if s}


def test_scram_verifier_matches_rfc_7677_shape_and_math() -> None:
    salt = b"0123456789abcdef"
    verifier = scram.scram_sha256_verifier("pencil", salt=salt, iterations=4096)
    head, keys = verifier.split("$", 1)[1].split("$")
    iterations, salt_b64 = head.split(":")
    stored, server = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert iterations == "4096" and base64.b64decode(salt_b64) == salt
    assert base64.b64decode(stored) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert "pencil" not in verifier
    assert scram.scram_sha256_verifier("pencil") != scram.scram_sha256_verifier("pencil")


def test_generated_passwords_are_long_and_distinct() -> None:
    values = {scram.generate_password(24) for _ in range(50)}
    assert len(values) == 50 and all(len(v) == 24 for v in values)
    with pytest.raises(ValueError):
        scram.generate_password(8)


def test_queries_have_the_verifier_masked() -> None:
    verifier = scram.scram_sha256_verifier("x" * 20)
    assert masked([f"ALTER ROLE \"a\" PASSWORD '{verifier}'"]) == [
        "ALTER ROLE \"a\" PASSWORD '********'"
    ]


def test_rotation_token_is_stable_per_secret_and_id() -> None:
    a = secret_rotation.rotation_token("s", "INC-1")
    assert a == secret_rotation.rotation_token("s", "INC-1")
    assert a != secret_rotation.rotation_token("s", "INC-2")
    assert a != secret_rotation.rotation_token("t", "INC-1")
    with pytest.raises(IrdriveOpsError):
        secret_rotation.rotation_token("s", " ")


def test_rotate_stages_then_finishes_and_rerun_writes_nothing(run_module, sm) -> None:
    args = {**AWS, "secret_id": "platform/ccbill-api-key", "rotation_id": "INC-1"}
    result, failed = run_module(secretsmanager_rotate, args, diff=True)
    assert not failed and result["changed"], result
    token = secret_rotation.rotation_token("platform/ccbill-api-key", "INC-1")
    assert result["version_id"] == token and result["steps"] == ["create", "set", "test", "finish"]
    now = stages(sm, "platform/ccbill-api-key")
    assert now[token] == ["AWSCURRENT"] and ["AWSPREVIOUS"] in now.values()
    new = sm.get_secret_value(SecretId="platform/ccbill-api-key", VersionStage="AWSCURRENT")
    assert len(new["SecretString"]) == 40 and new["SecretString"] not in json.dumps(result)

    again, failed = run_module(secretsmanager_rotate, args)
    assert not failed and not again["changed"] and again["status"] == "done"
    assert stages(sm, "platform/ccbill-api-key") == now


def test_check_mode_predicts_and_writes_nothing(run_module, sm) -> None:
    before = stages(sm, "platform/ccbill-api-key")
    args = {**AWS, "secret_id": "platform/ccbill-api-key", "rotation_id": "INC-1"}
    result, failed = run_module(secretsmanager_rotate, args, check_mode=True)
    assert not failed and result["changed"]
    assert result["after"]["current_version"] == result["version_id"]
    assert stages(sm, "platform/ccbill-api-key") == before


def test_interrupted_rotation_resumes_and_stale_pending_is_removed(run_module, sm) -> None:
    name = "platform/ccbill-api-key"
    base = {**AWS, "secret_id": name}
    run_module(secretsmanager_rotate, {**base, "rotation_id": "OTHER", "step": "create"})
    other = secret_rotation.rotation_token(name, "OTHER")
    assert stages(sm, name)[other] == ["AWSPENDING"]
    # A run of INC-1 interrupted after createSecret ...
    first, _ = run_module(secretsmanager_rotate, {**base, "rotation_id": "INC-1", "step": "create"})
    assert first["stale_pending_removed"] == other
    staged = sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")["SecretString"]
    # ... is finished by the next run with the same value.
    done, failed = run_module(secretsmanager_rotate, {**base, "rotation_id": "INC-1"})
    assert not failed and done["status"] == "resume" and done["changed"]
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"] == staged
    assert "AWSPENDING" not in {s for v in stages(sm, name).values() for s in v}


class FailingTest(secret_rotation.NoBackend):
    def __init__(self) -> None:
        self.undone = False

    def set(self, pending: str, current: str | None, previous: str | None) -> bool:
        return True

    def test(self, pending: str) -> None:
        raise AuthError("password authentication failed")

    def undo(self) -> str | None:
        self.undone = True
        return "the service was set back to its old value"


def test_failed_test_undoes_set_and_keeps_awscurrent(sm) -> None:
    name = "platform/ccbill-api-key"
    before = stages(sm, name)
    backend = FailingTest()
    rotator = secret_rotation.SecretRotator(sm, name)
    with pytest.raises(IrdriveOpsError, match="testSecret failed.*set back.*AWSPENDING"):
        rotator.rotate("INC-1", secret_rotation.ValueSpec(), backend)
    assert backend.undone
    after = stages(sm, name)
    current = [v for v, s in after.items() if "AWSCURRENT" in s]
    assert current == [v for v, s in before.items() if "AWSCURRENT" in s]
    assert after[secret_rotation.rotation_token(name, "INC-1")] == ["AWSPENDING"]


def test_json_key_keeps_the_other_keys() -> None:
    spec = secret_rotation.ValueSpec(json_key="password", length=20)
    new = json.loads(spec.new_value(json.dumps({"username": "app", "password": "old"})))
    assert new["username"] == "app" and len(new["password"]) == 20


def test_iam_key_rotation_stores_verifies_and_deletes_the_old_key(run_module) -> None:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="platform-deployer")
        old = iam.create_access_key(UserName="platform-deployer")["AccessKey"]["AccessKeyId"]
        args = {
            **AWS,
            "user_name": "platform-deployer",
            "secret_id": "platform/deployer-access-key",
            "rotation_id": "INC-1",
        }
        check, failed = run_module(iam_key_rotate, args, check_mode=True)
        assert not failed and check["changed"] and check["deleted"] == [old]
        assert len(iam.list_access_keys(UserName="platform-deployer")["AccessKeyMetadata"]) == 1

        result, failed = run_module(iam_key_rotate, args)
        assert not failed and result["changed"] and result["verified"], result
        keys = iam.list_access_keys(UserName="platform-deployer")["AccessKeyMetadata"]
        assert [k["AccessKeyId"] for k in keys] == [result["new_key_id"]] != [old]
        assert result["deactivated"] == [old] and result["deleted"] == [old]
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        stored = json.loads(
            sm.get_secret_value(SecretId="platform/deployer-access-key", VersionStage="AWSCURRENT")[
                "SecretString"
            ]
        )
        assert stored["AccessKeyId"] == result["new_key_id"]
        assert stored["SecretAccessKey"] not in json.dumps(result)

        again, failed = run_module(iam_key_rotate, args)
        assert not failed and not again["changed"]


def test_iam_refuses_when_two_keys_are_active(run_module) -> None:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="u")
        iam.create_access_key(UserName="u")
        iam.create_access_key(UserName="u")
        args = {**AWS, "user_name": "u", "secret_id": "s", "rotation_id": "INC-1"}
        result, failed = run_module(iam_key_rotate, args)
        assert failed and "2 active access keys" in result["msg"]
        assert len(iam.list_access_keys(UserName="u")["AccessKeyMetadata"]) == 2
