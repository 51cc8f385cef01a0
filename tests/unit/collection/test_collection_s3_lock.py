"""irdrive.ops.s3_lock: the target lock as an S3 object written with conditional puts (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.action.s3_lock import run_s3_lock
from ansible_collections.irdrive.ops.plugins.module_utils.errors import ConflictError
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import S3LockBackend
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import LockRecord
from moto import mock_aws

REGION = "us-east-1"
OBJECT = "irdrive-locks/waf-payments.json"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="ops-locks")
        yield client


def lock(check: bool = False, **extra: Any) -> dict[str, Any]:
    args = {
        "state": "acquired",
        "key": "WAF payments",
        "bucket": "ops-locks",
        "prefix": "irdrive-locks/",
        "holder": "me",
        "duration": 600,
        "wait": 0.0,
        "endpoint_url": None,
        "region": REGION,
        "access_key": None,
        "secret_key": None,
        "session_token": None,
        "profile": None,
        **extra,
    }
    return run_s3_lock(args, {}, check)


def on_s3(s3: Any) -> dict[str, Any]:
    return dict(json.loads(s3.get_object(Bucket="ops-locks", Key=OBJECT)["Body"].read()))


def test_acquire_reenter_refuse_release_and_check_mode(s3: Any) -> None:
    result = lock(check=True)
    assert result["state"] == "would_acquire" and not result["written"]
    assert s3.list_objects_v2(Bucket="ops-locks").get("KeyCount") == 0

    result = lock()
    assert result["state"] == "acquired" and result["lock"] == f"s3://ops-locks/{OBJECT}"
    assert on_s3(s3)["holder"] == "me" and not result["changed"]
    assert lock()["state"] == "reentered"

    refused = lock(holder="other run")
    assert refused["failed"] and refused["error_kind"] == "locked"
    assert refused["held_by"] == "me" and "locked by me (since " in refused["msg"]
    assert lock(check=True, holder="other run", wait=30.0)["state"] == "would_wait"

    assert lock(holder="other run", state="released")["state"] == "not_held"
    assert lock(state="released")["state"] == "released" and on_s3(s3)["holder"] == ""


def test_a_stale_lock_is_taken_over_and_says_whose(s3: Any) -> None:
    dead = {
        "holder": "dead run",
        "duration": 60,
        "acquire_time": 1.0,
        "renew_time": 2.0,
        "transitions": 2,
    }
    s3.put_object(Bucket="ops-locks", Key=OBJECT, Body=json.dumps(dead).encode())
    result = lock(holder="next run")
    assert result["state"] == "acquired" and result["took_over"]["holder"] == "dead run"
    assert on_s3(s3)["transitions"] == 3 and on_s3(s3)["holder"] == "next run"


def test_writes_at_an_old_etag_or_over_an_existing_lock_are_conflicts(s3: Any) -> None:
    backend = S3LockBackend(s3, "ops-locks", "WAF payments")
    mine = backend.create(LockRecord("me", 600, 1.0, 1.0))
    with pytest.raises(ConflictError):
        backend.create(LockRecord("rival", 600, 1.0, 1.0))  # If-None-Match: *
    s3.put_object(Bucket="ops-locks", Key=OBJECT, Body=json.dumps({"holder": "rival"}).encode())
    with pytest.raises(ConflictError):
        backend.replace(LockRecord("me", 600, 1.0, 2.0, version=mine.version))  # If-Match
    assert on_s3(s3)["holder"] == "rival"
