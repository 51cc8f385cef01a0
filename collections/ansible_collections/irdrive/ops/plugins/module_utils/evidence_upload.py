# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Evidence into S3 with Object Lock (module evidence_upload): upload once, read back, verify.

Objects never change: an object that already holds the same SHA-256 is left alone, one that
holds other bytes is an error (only the custody log may grow).  Every upload is read back and
must carry our checksum, our MD5 ETag and the retention asked for.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import call
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidStateError,
    NotFoundError,
)


def head(s3: Any, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        return dict(call(f"head s3://{bucket}/{key}", s3.head_object, **kwargs))
    except NotFoundError:
        return None


def describe(key: str, meta: dict[str, Any], sha256_hex: str, uploaded: bool) -> dict[str, Any]:
    until = meta.get("ObjectLockRetainUntilDate")
    return {
        "key": key,
        "sha256": sha256_hex,
        "checksum_sha256": meta.get("ChecksumSHA256"),
        "etag": meta.get("ETag"),
        "version_id": meta.get("VersionId"),
        "lock_mode": meta.get("ObjectLockMode"),
        "retain_until": until.astimezone(timezone.utc).isoformat() if until else None,
        "uploaded": uploaded,
    }


def check_stored(key: str, meta: dict[str, Any], data: bytes, mode: str, until: datetime) -> None:
    """The object as read back must have our checksum, our MD5 ETag and the retention."""
    problems = []
    want = base64.b64encode(hashlib.sha256(data).digest()).decode()
    if meta.get("ChecksumSHA256") != want:
        problems.append(f"stored SHA-256 {meta.get('ChecksumSHA256')} != {want}")
    etag = str(meta.get("ETag") or "").strip('"')
    if etag and "-" not in etag and meta.get("ServerSideEncryption") != "aws:kms":
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if etag != md5:
            problems.append(f"ETag {etag} != MD5 {md5}")
    if meta.get("ObjectLockMode") != mode:
        problems.append(f"Object Lock mode {meta.get('ObjectLockMode')} != {mode}")
    stored_until = meta.get("ObjectLockRetainUntilDate")
    if not stored_until or stored_until < until - timedelta(seconds=5):
        problems.append(f"retained until {stored_until}, expected {until.isoformat()}")
    if problems:
        raise InvalidStateError(f"s3 object {key} failed verification: " + "; ".join(problems))


class Uploader:
    """Puts a bundle's files under ``<prefix>/<bundle name>/`` in ``bucket``, each locked."""

    def __init__(
        self,
        s3: Any,
        bundle: Path,
        bucket: str,
        prefix: str,
        mode: str,
        retention_days: int,
        check_mode: bool = False,
    ) -> None:
        self.s3 = s3
        self.bundle = bundle
        self.bucket = bucket
        self.base = f"{prefix.strip('/')}/{bundle.name}/".lstrip("/")
        self.mode = mode
        self.until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(
            days=retention_days
        )
        self.check_mode = check_mode
        self.objects: list[dict[str, Any]] = []
        self.uploaded: list[str] = []
        self.present: list[str] = []

    def sync(self, rel: str, may_change: bool = False) -> None:
        """Upload ``rel`` unless the bucket holds it already; ``may_change`` for the custody log."""
        key = self.base + rel
        data = (self.bundle / rel).read_bytes()
        digest = hashlib.sha256(data)
        b64 = base64.b64encode(digest.digest()).decode()
        current = head(self.s3, self.bucket, key)
        if current is not None:
            self.present.append(key)
        if current is not None and current.get("ChecksumSHA256") == b64:
            self.objects.append(describe(key, current, digest.hexdigest(), False))
            return
        if current is not None and not may_change:
            raise InvalidStateError(
                f"s3://{self.bucket}/{key} already holds other bytes (SHA-256 "
                f"{current.get('ChecksumSHA256')}, local {b64}): evidence objects never change",
                key=key,
            )
        self.uploaded.append(key)
        if self.check_mode:
            self.objects.append(describe(key, {}, digest.hexdigest(), True))
            return
        put = call(
            f"put s3://{self.bucket}/{key}",
            self.s3.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64,
            ObjectLockMode=self.mode,
            ObjectLockRetainUntilDate=self.until,
            Metadata={"sha256": digest.hexdigest()},
        )
        stored = head(self.s3, self.bucket, key, put.get("VersionId"))
        if stored is None:
            raise InvalidStateError(f"s3://{self.bucket}/{key} is missing right after upload")
        check_stored(key, stored, data, self.mode, self.until)
        self.objects.append(describe(key, stored, digest.hexdigest(), True))
