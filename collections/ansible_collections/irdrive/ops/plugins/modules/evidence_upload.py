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
extends_documentation_fragment:
  - irdrive.ops.aws_conn
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
attributes:
  check_mode:
    description: Verifies the bundle, reads what the bucket holds and reports what it would upload; writes nothing.
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
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

from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    aws_argument_spec,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidStateError,
    IrdriveOpsError,
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
from ansible_collections.irdrive.ops.plugins.module_utils.evidence_upload import Uploader
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("s3",)


def argument_spec() -> dict[str, Any]:
    spec = aws_argument_spec()
    spec.update(
        path={"type": "path", "required": True},
        bucket={"type": "str", "required": True},
        prefix={"type": "str", "default": "evidence"},
        retention_mode={
            "type": "str",
            "choices": ["GOVERNANCE", "COMPLIANCE"],
            "default": "GOVERNANCE",
        },
        retention_days={"type": "int", "default": 365},
        incident_id={"type": "str"},
        actor={"type": "str"},
    )
    return spec


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
    uploader = Uploader(
        s3,
        bundle,
        p["bucket"],
        p["prefix"],
        p["retention_mode"],
        p["retention_days"],
        check_mode=module.check_mode,
    )
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

    def work() -> dict[str, Any]:
        return run_module(module, AwsConn(**pick(module.params, AWS_KEYS)).client("s3"))

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
