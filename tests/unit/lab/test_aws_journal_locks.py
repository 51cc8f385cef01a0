"""The lab's AWS journal marks the runs' S3 lock objects lock: true, and only those."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from irdrive_lab.aws.aws import LOCK_BUCKET, LOCK_PREFIX
from irdrive_lab.aws.server import JournalMiddleware
from irdrive_lab.control.journal import Journal

S3_AUTH = "AWS4-HMAC-SHA256 Credential=AKIA/20261201/us-east-1/s3/aws4_request, Signature=x"


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b""]


@pytest.mark.parametrize(
    ("method", "path", "lock"),
    [
        ("PUT", f"/{LOCK_BUCKET}/{LOCK_PREFIX}aws-blocklist.json", True),
        ("PUT", f"/{LOCK_BUCKET}/other/aws-blocklist.json", False),
        ("PUT", f"/platform-evidence/{LOCK_PREFIX}x.json", False),
        ("DELETE", f"/{LOCK_BUCKET}/{LOCK_PREFIX}aws-blocklist.json", True),
    ],
)
def test_lock_object_writes_are_marked(tmp_path: Path, method: str, path: str, lock: bool) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_AUTHORIZATION": S3_AUTH,
        "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }
    JournalMiddleware(_app, journal)(environ, lambda *_a: None)
    (entry,) = journal.entries()
    assert entry["source"] == "aws" and entry["service"] == "s3"
    assert entry.get("lock", False) is lock
