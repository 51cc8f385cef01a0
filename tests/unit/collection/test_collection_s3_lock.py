"""irdrive.ops.s3_lock: the target lock as an S3 object written with conditional puts (moto)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from unittest import mock

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.action.s3_lock import run_s3_lock
from ansible_collections.irdrive.ops.plugins.module_utils.errors import ConflictError
from ansible_collections.irdrive.ops.plugins.module_utils.lock_backends import S3LockBackend
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import LockRecord

REGION = "us-east-1"
OBJECT = "irdrive-locks/waf-payments.json"


@pytest.fixture
def s3(mocked_aws: str) -> Iterator[Any]:
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


def test_a_missing_bucket_is_bad_input_naming_it_never_a_free_lock(s3: Any) -> None:
    for check in (True, False):
        result = lock(check=check, bucket="no-such-bucket")
        assert result["failed"] and result["error_kind"] == "invalid_input", result
        assert "lock bucket 'no-such-bucket' does not exist" in result["msg"]
    assert s3.list_objects_v2(Bucket="ops-locks").get("KeyCount") == 0


def test_a_create_race_rereads_and_refuses_the_winner_naming_it_and_since_when(s3: Any) -> None:
    """Another run creates the object between this run's read and its If-None-Match put."""
    real_read = S3LockBackend.read
    reads: list[int] = []

    def read_then_rival_wins(self: S3LockBackend) -> LockRecord | None:
        got = real_read(self)
        if not reads:
            rival = {"holder": "AWX job 7", "duration": 600, "transitions": 0}
            now = time.time()
            rival.update(acquire_time=now, renew_time=now)
            s3.put_object(Bucket="ops-locks", Key=OBJECT, Body=json.dumps(rival).encode())
        reads.append(1)
        return got

    with mock.patch.object(S3LockBackend, "read", read_then_rival_wins):
        refused = lock(holder="this run")
    assert len(reads) == 2  # the lost If-None-Match: * made it read again
    assert refused["failed"] and refused["error_kind"] == "locked"
    assert refused["held_by"] == "AWX job 7"
    since = datetime.fromisoformat(refused["since"].replace("Z", "+00:00")).timestamp()
    assert abs(since - time.time()) < 60 and f"(since {refused['since']})" in refused["msg"]
    assert on_s3(s3)["holder"] == "AWX job 7"
