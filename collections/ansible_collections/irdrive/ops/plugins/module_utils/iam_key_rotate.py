# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The IAM and Secrets Manager calls of an access-key rotation (module iam_key_rotate)."""

from __future__ import annotations

import json

from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn, call
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    IrdriveOpsError,
    NotFoundError,
    UnhealthyError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.waiter import poll_until


class KeyRotation:
    def __init__(self, conn: AwsConn, user: str, secret_id: str, rotation_id: str) -> None:
        self.conn = conn
        self.iam = conn.client("iam")
        self.sm = conn.client("secretsmanager")
        self.user = user
        self.secret_id = secret_id
        self.rotation_id = rotation_id

    def keys(self) -> list[dict[str, str]]:
        listed = call(
            f"list access keys of {self.user}", self.iam.list_access_keys, UserName=self.user
        )
        return [
            {"id": k["AccessKeyId"], "status": k["Status"]}
            for k in sorted(listed["AccessKeyMetadata"], key=lambda k: k["CreateDate"])
        ]

    def secret(self) -> tuple[str, dict[str, list[str]]] | None:
        try:
            described = call(
                f"describe secret {self.secret_id}",
                self.sm.describe_secret,
                SecretId=self.secret_id,
            )
        except NotFoundError:
            return None
        return described["Name"], dict(described.get("VersionIdsToStages") or {})

    def stored_key_id(self, version: str) -> str:
        value = call(
            f"read secret {self.secret_id}",
            self.sm.get_secret_value,
            SecretId=self.secret_id,
            VersionId=version,
        )
        return str(json.loads(value["SecretString"])["AccessKeyId"])

    def verify(self, key_id: str, secret_key: str, deadline: float = 30.0) -> None:
        """New keys take a few seconds to work in IAM: ask STS until it says who we are."""
        sts = self.conn.client(
            "sts",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret_key,
            aws_session_token=None,
        )
        last: dict[str, IrdriveOpsError] = {}

        def authenticates() -> bool | None:
            try:
                arn = call("verify the new access key", sts.get_caller_identity)["Arn"]
            except IrdriveOpsError as failed:
                last["error"] = failed
                return None
            if arn.endswith(f":user/{self.user}") or arn.endswith(f"/{self.user}"):
                return True
            last["error"] = UnhealthyError(
                f"the new access key {key_id} authenticates as {arn}, not user {self.user}"
            )
            return None

        poll_until(authenticates, deadline, 1.0, on_timeout=lambda: last["error"])
