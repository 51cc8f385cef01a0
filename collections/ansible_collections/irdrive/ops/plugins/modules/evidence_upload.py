# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: evidence_upload
short_description: Upload a sealed evidence bundle to S3 with Object Lock and SHA-256 checksums
version_added: 0.1.0
description:
  - Verifies the sealed bundle O(path) (see M(irdrive.ops.evidence_manifest)) and uploads each
    of its files to C(s3://<bucket>/<prefix>/<bundle name>/<file>) with an Object Lock
    retention (O(retention_mode) until O(retention_days) from now) and C(ChecksumAlgorithm=SHA256)
    carrying the SHA-256 computed locally, so S3 checks the bytes it stored.
  - After each upload it reads the object back (C(HeadObject) with C(ChecksumMode=ENABLED)) and
    verifies the stored SHA-256 checksum, the ETag (the MD5 of a single-part upload) and the
    retention; otherwise the task fails naming the object.
  - Idempotent - an object already stored with the same SHA-256 is not uploaded again; one
    stored with a different checksum fails the task (evidence objects never change), except
    the custody log, which gains a new version. When anything was uploaded an C(uploaded)
    entry is appended to the custody log and the log is uploaded last.
  - amazon.aws.s3_object does not set Object Lock retention nor SHA-256 checksums, hence this
    module.
author:
  - irdrive maintainers (@irdrive)
options:
  path:
    description: The sealed bundle folder.
    type: path
    required: true
  bucket:
    description: The evidence bucket; it must have Object Lock enabled.
    type: str
    required: true
  prefix:
    description: Key prefix; objects go under C(<prefix>/<bundle name>/).
    type: str
    default: evidence
  retention_mode:
    description: Object Lock mode of every uploaded object.
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
    default: GOVERNANCE
  retention_days:
    description: Days from now the objects stay locked.
    type: int
    default: 365
  incident_id:
    description: When set, the bundle must belong to this incident.
    type: str
  actor:
    description: Who uploads, for the custody log. Default C($USER).
    type: str
  endpoint_url:
    description: S3 endpoint URL (for S3-compatible services and tests).
    type: str
    aliases: [aws_endpoint_url]
  region:
    description: AWS region. Can also be set with E(AWS_REGION).
    type: str
    aliases: [aws_region]
  access_key:
    description: AWS access key id; otherwise the standard credential chain.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description: AWS secret access key.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description: AWS session token.
    type: str
    aliases: [aws_session_token]
  profile:
    description: AWS profile name.
    type: str
    aliases: [aws_profile]
attributes:
  check_mode:
    description: Verifies the bundle, reads what the bucket holds and reports what it would upload; writes nothing.
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
requirements:
  - boto3 (Python library)
notes:
  - boto3 retries throttling and server errors in its C(standard) retry mode (5 attempts);
    other errors fail at once.
"""

EXAMPLES = r"""
- name: Upload the bundle to the evidence bucket, locked for a year
  irdrive.ops.evidence_upload:
    path: /srv/evidence/INC-1042-20261127T031200Z
    bucket: platform-evidence
    retention_mode: COMPLIANCE
    retention_days: 365
"""

RETURN = r"""
uri:
  description: Where the bundle is stored.
  returned: always
  type: str
  sample: s3://platform-evidence/evidence/INC-1042-20261127T031200Z/
uploaded:
  description: Keys uploaded (or that would be) by this task.
  returned: always
  type: list
  elements: str
  sample: ["evidence/INC-1042-20261127T031200Z/db/auth_logs.csv"]
before:
  description: Keys of the bundle the bucket already held.
  returned: always
  type: dict
  sample: {"present": []}
objects:
  description: Every object of the bundle as the bucket holds it after the task.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "evidence/INC-1042-20261127T031200Z/manifest.json", "sha256": "4e1f...",
            "checksum_sha256": "Th8M...=", "etag": "\"512a...\"", "version_id": "9d51...",
            "lock_mode": "GOVERNANCE", "retain_until": "2027-11-27T03:12:40+00:00",
            "uploaded": true}]
"""

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    InvalidStateError,
    IrdriveOpsError,
    NotFoundError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.evidence import (
    CUSTODY_LOG,
    MANIFEST_JSON,
    MANIFEST_SHA256,
    actor,
    append_custody,
    read_manifest,
    tool_record,
    utc_now,
    verify_bundle,
)

try:
    import boto3
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR: str | None = None
except ImportError as _import_error:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = str(_import_error)

_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


def argument_spec() -> dict[str, Any]:
    return {
        "path": {"type": "path", "required": True},
        "bucket": {"type": "str", "required": True},
        "prefix": {"type": "str", "default": "evidence"},
        "retention_mode": {
            "type": "str",
            "choices": ["GOVERNANCE", "COMPLIANCE"],
            "default": "GOVERNANCE",
        },
        "retention_days": {"type": "int", "default": 365},
        "incident_id": {"type": "str"},
        "actor": {"type": "str"},
        "endpoint_url": {
            "type": "str",
            "aliases": ["aws_endpoint_url"],
            "fallback": (env_fallback, ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]),
        },
        "region": {
            "type": "str",
            "aliases": ["aws_region"],
            "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]),
        },
        "access_key": {"type": "str", "aliases": ["aws_access_key_id"], "no_log": False},
        "secret_key": {"type": "str", "aliases": ["aws_secret_access_key"], "no_log": True},
        "session_token": {"type": "str", "aliases": ["aws_session_token"], "no_log": True},
        "profile": {"type": "str", "aliases": ["aws_profile"]},
    }


def s3_client(p: dict[str, Any]) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=p["access_key"],
        aws_secret_access_key=p["secret_key"],
        aws_session_token=p["session_token"],
        profile_name=p["profile"],
        region_name=p["region"],
    )
    config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5})
    return session.client("s3", endpoint_url=p["endpoint_url"], config=config)


def connect(p: dict[str, Any]) -> Any:
    try:
        return s3_client(p)
    except botocore.exceptions.BotoCoreError as error:
        raise IrdriveOpsError(f"cannot set up the S3 client: {error}") from error


def translate(error: Exception, what: str) -> IrdriveOpsError:
    if isinstance(error, botocore.exceptions.ClientError):
        err = error.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = f"{what}: {code}: {err.get('Message', '')}".rstrip(": ")
        if code in _AUTH_CODES:
            return AuthError(message, aws_error=code)
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            return NotFoundError(message, aws_error=code)
        return IrdriveOpsError(message, aws_error=code)
    if isinstance(error, botocore.exceptions.EndpointConnectionError | ConnectionError):
        return UnreachableError(f"{what}: cannot reach S3: {error}")
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return AuthError(f"{what}: no AWS credentials found")
    return IrdriveOpsError(f"{what}: {error}")


def head(s3: Any, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        return s3.head_object(**kwargs)
    except botocore.exceptions.ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise translate(error, f"head s3://{bucket}/{key}") from error
    except Exception as error:  # botocore raises many types; translate sorts them
        raise translate(error, f"head s3://{bucket}/{key}") from error


def describe(key: str, meta: dict[str, Any], sha256_hex: str, uploaded: bool) -> dict[str, Any]:
    until = meta.get("ObjectLockRetainUntilDate")
    return {
        "key": key,
        "sha256": sha256_hex,
        "checksum_sha256": meta.get("ChecksumSHA256"),
        "etag": meta.get("ETag"),
        "version_id": meta.get("VersionId"),
        "lock_mode": meta.get("ObjectLockMode"),
        "retain_until": until.astimezone(UTC).isoformat() if until else None,
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
    def __init__(self, module: AnsibleModule, s3: Any, bundle: Path) -> None:
        p = module.params
        self.module = module
        self.s3 = s3
        self.bundle = bundle
        self.bucket = p["bucket"]
        self.base = f"{p['prefix'].strip('/')}/{bundle.name}/".lstrip("/")
        self.mode = p["retention_mode"]
        self.until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=p["retention_days"])
        self.objects: list[dict[str, Any]] = []
        self.uploaded: list[str] = []
        self.present: list[str] = []

    def sync(self, rel: str, may_change: bool = False) -> None:
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
        if self.module.check_mode:
            self.objects.append(describe(key, {}, digest.hexdigest(), True))
            return
        try:
            put = self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=b64,
                ObjectLockMode=self.mode,
                ObjectLockRetainUntilDate=self.until,
                Metadata={"sha256": digest.hexdigest()},
            )
        except Exception as error:  # botocore raises many types; translate sorts them
            raise translate(error, f"put s3://{self.bucket}/{key}") from error
        stored = head(self.s3, self.bucket, key, put.get("VersionId"))
        if stored is None:
            raise InvalidStateError(f"s3://{self.bucket}/{key} is missing right after upload")
        check_stored(key, stored, data, self.mode, self.until)
        self.objects.append(describe(key, stored, digest.hexdigest(), True))


def run_module(module: AnsibleModule, s3: Any) -> dict[str, Any]:
    p = module.params
    bundle = Path(p["path"])
    report = verify_bundle(bundle, p["incident_id"])
    if not report["ok"]:
        raise InvalidStateError(
            f"evidence bundle {bundle} failed verification, not uploading: "
            + "; ".join(report["problems"]),
            verification=report,
        )
    if p["retention_days"] < 1:
        raise IrdriveOpsError("retention_days must be at least 1")
    manifest = read_manifest(bundle)
    uploader = Uploader(module, s3, bundle)
    for rel in [f["path"] for f in manifest["files"]] + [MANIFEST_SHA256, MANIFEST_JSON]:
        uploader.sync(rel)
    if uploader.uploaded and not module.check_mode:
        append_custody(
            bundle,
            {
                "event": "uploaded",
                "incident_id": manifest.get("incident_id"),
                "bundle": bundle.name,
                "actor": actor(p["actor"]),
                "at": utc_now(),
                **tool_record("evidence_upload"),
                "uri": f"s3://{uploader.bucket}/{uploader.base}",
                "objects": len(uploader.uploaded),
                "retention": {"mode": uploader.mode, "until": uploader.until.isoformat()},
                "manifest_sha256": report["manifest_sha256"],
            },
        )
    if (bundle / CUSTODY_LOG).is_file():
        uploader.sync(CUSTODY_LOG, may_change=True)
    return {
        "changed": bool(uploader.uploaded),
        "before": {"present": uploader.present},
        "uri": f"s3://{uploader.bucket}/{uploader.base}",
        "uploaded": uploader.uploaded,
        "objects": uploader.objects,
        "retention": {"mode": uploader.mode, "until": uploader.until.isoformat()},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    try:
        result = run_module(module, connect(module.params))
    except IrdriveOpsError as error:
        module.fail_json(msg=str(error), **error.to_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
