"""irdrive.ops.evidence_upload against an in-memory S3 fake: lock, checksums, idempotency."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.exceptions
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import evidence
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidStateError
from ansible_collections.irdrive.ops.plugins.modules import evidence_upload


class FakeS3:
    def __init__(self, corrupt: bool = False) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.puts: list[str] = []
        self.corrupt = corrupt

    def put_object(self, **kw: Any) -> dict[str, Any]:
        self.puts.append(kw["Key"])
        body = kw["Body"] + (b"!" if self.corrupt else b"")
        self.objects[kw["Key"]] = {
            "ChecksumSHA256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
            "ETag": '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"',
            "VersionId": f"v{len(self.puts)}",
            "ObjectLockMode": kw["ObjectLockMode"],
            "ObjectLockRetainUntilDate": kw["ObjectLockRetainUntilDate"],
        }
        return {"VersionId": f"v{len(self.puts)}"}

    def head_object(self, **kw: Any) -> dict[str, Any]:
        assert kw["ChecksumMode"] == "ENABLED"
        if kw["Key"] not in self.objects:
            raise botocore.exceptions.ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return dict(self.objects[kw["Key"]])


def _bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "INC-9-b"
    evidence.write_file(bundle / "db/auth_logs.csv", "id\n1\n")
    files = evidence.hash_artifacts(bundle)
    data = json.dumps({"incident_id": "INC-9", "files": files}).encode()
    evidence.write_file(bundle / evidence.MANIFEST_JSON, data)
    evidence.write_file(bundle / evidence.MANIFEST_SHA256, evidence.sha256sum_text(files))
    evidence.append_custody(
        bundle, {"event": "sealed", "manifest_sha256": evidence.sha256_bytes(data)}
    )
    return bundle


def _module(bundle: Path, check_mode: bool = False) -> SimpleNamespace:
    params = {
        "path": str(bundle),
        "bucket": "evidence",
        "prefix": "evidence",
        "retention_mode": "COMPLIANCE",
        "retention_days": 30,
        "incident_id": "INC-9",
        "actor": "bob",
    }
    return SimpleNamespace(params=params, check_mode=check_mode)


def test_upload_locks_verifies_and_is_idempotent(tmp_path: Path) -> None:
    bundle, s3 = _bundle(tmp_path), FakeS3()
    result = evidence_upload.run_module(_module(bundle), s3)
    assert result["changed"] and result["uri"] == "s3://evidence/evidence/INC-9-b/"
    assert s3.puts == [
        "evidence/INC-9-b/db/auth_logs.csv",
        "evidence/INC-9-b/MANIFEST.sha256",
        "evidence/INC-9-b/manifest.json",
        "evidence/INC-9-b/custody.jsonl",
    ]
    assert all(o["lock_mode"] == "COMPLIANCE" for o in result["objects"])
    custody = evidence.read_custody(bundle)
    assert [c["event"] for c in custody] == ["sealed", "uploaded"] and custody[1]["actor"] == "bob"
    assert evidence.verify_bundle(bundle)["ok"]

    again = evidence_upload.run_module(_module(bundle), s3)
    assert not again["changed"] and len(s3.puts) == 4 and len(again["before"]["present"]) == 4


def test_check_mode_uploads_nothing(tmp_path: Path) -> None:
    bundle, s3 = _bundle(tmp_path), FakeS3()
    result = evidence_upload.run_module(_module(bundle, check_mode=True), s3)
    assert result["changed"] and len(result["uploaded"]) == 4 and s3.puts == []
    assert len(evidence.read_custody(bundle)) == 1


def test_stored_checksum_mismatch_fails(tmp_path: Path) -> None:
    with pytest.raises(InvalidStateError, match="stored SHA-256"):
        evidence_upload.run_module(_module(_bundle(tmp_path)), FakeS3(corrupt=True))


def test_other_bytes_under_the_key_fail(tmp_path: Path) -> None:
    bundle, s3 = _bundle(tmp_path), FakeS3()
    s3.objects["evidence/INC-9-b/db/auth_logs.csv"] = {"ChecksumSHA256": "AAAA"}
    with pytest.raises(InvalidStateError, match="never change"):
        evidence_upload.run_module(_module(bundle), s3)
    assert s3.puts == []


def test_tampered_bundle_is_not_uploaded(tmp_path: Path) -> None:
    bundle, s3 = _bundle(tmp_path), FakeS3()
    (bundle / "db/auth_logs.csv").write_text("id\n2\n")
    with pytest.raises(InvalidStateError, match="db/auth_logs.csv: altered"):
        evidence_upload.run_module(_module(bundle), s3)
    assert s3.puts == []
