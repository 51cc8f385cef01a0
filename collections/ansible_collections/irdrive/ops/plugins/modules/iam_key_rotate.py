# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_key_rotate
short_description: Rotate an IAM user's access key through Secrets Manager, once per rotation id
version_added: 0.1.0
description:
  - Creates a new access key for O(user_name), stores it in the Secrets Manager secret
    O(secret_id) as C(AWSPENDING) (a JSON object with C(AccessKeyId) and C(SecretAccessKey),
    version id derived from O(rotation_id)), proves that the new key authenticates as the user
    (STS C(GetCallerIdentity)), makes it C(AWSCURRENT), then deactivates and deletes the user's
    other keys.
  - IAM allows two access keys per user. When the user already has two and neither is this
    rotation's, an inactive one is deleted first; when both are active the task refuses, since
    deleting an active key could cut off whoever uses it.
  - Idempotent by O(rotation_id); a re-run after an interruption finishes the rotation with the
    key already stored, and a finished rotation writes nothing. The secret is created when it
    does not exist. The secret access key is never returned.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.aws_conn
options:
  user_name:
    description: The IAM user whose key rotates.
    type: str
    required: true
  secret_id:
    description: Name or ARN of the Secrets Manager secret that holds the user's current key.
    type: str
    required: true
  rotation_id:
    description: Identifies this rotation; the key rotates once per id.
    type: str
    required: true
  delete_old:
    description: Delete the old keys after deactivating them (otherwise leave them inactive).
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads the user's keys and the secret and reports what it would do; writes nothing.
    support: full
  diff_mode:
    description: Returns the user's key ids and statuses before and after.
    support: full
"""

EXAMPLES = r"""
- name: Rotate the deployer's access key
  irdrive.ops.iam_key_rotate:
    user_name: platform-deployer
    secret_id: platform/deployer-access-key
    rotation_id: INC-4711
  no_log: true
"""

RETURN = r"""
before:
  description: The user's access keys (id and status) before the task.
  returned: always
  type: dict
  sample: {"keys": [{"id": "AKIARZPUZDIKBYQ2OPAM", "status": "Active"}]}
after:
  description: The user's access keys after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {"keys": [{"id": "AKIA5NEWKEY0000000001", "status": "Active"}]}
new_key_id:
  description: Id of this rotation's key (null in check mode before it exists).
  returned: always
  type: str
  sample: AKIA5NEWKEY0000000001
deactivated:
  description: Key ids set to Inactive.
  returned: always
  type: list
  elements: str
  sample: [AKIARZPUZDIKBYQ2OPAM]
deleted:
  description: Key ids deleted.
  returned: always
  type: list
  elements: str
  sample: [AKIARZPUZDIKBYQ2OPAM]
verified:
  description: True when the new key authenticated as the user.
  returned: always
  type: bool
  sample: true
secret:
  description: The secret's name and the rotation's version id.
  returned: always
  type: dict
  sample: {"name": "platform/deployer-access-key", "version_id": "0b6e..."}
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    aws_argument_spec,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn, call
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.iam_key_rotate import KeyRotation
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.secret_rotation import (
    CURRENT,
    PENDING,
    rotation_token,
)

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("iam", "secretsmanager")

MAX_KEYS = 2


def argument_spec() -> dict[str, Any]:
    spec = aws_argument_spec()
    spec.update(
        user_name={"type": "str", "required": True},
        secret_id={"type": "str", "required": True},
        rotation_id={"type": "str", "required": True, "no_log": False},
        delete_old={"type": "bool", "default": True},
    )
    return spec


def run_module(module: AnsibleModule, rotation: KeyRotation) -> dict[str, Any]:
    p = module.params
    check = module.check_mode
    keys = rotation.keys()
    before = {"keys": keys}
    found = rotation.secret()
    name = found[0] if found else p["secret_id"]
    stages = found[1] if found else {}
    token = rotation_token(name, p["rotation_id"])
    result: dict[str, Any] = {
        "changed": False,
        "before": before,
        "new_key_id": None,
        "deactivated": [],
        "deleted": [],
        "verified": False,
        "secret": {"name": name, "version_id": token},
    }
    new_key_id = rotation.stored_key_id(token) if token in stages else None
    if new_key_id and new_key_id not in {k["id"] for k in keys}:
        raise ConflictError(
            f"secret {name} version {token} names key {new_key_id}, which user {p['user_name']} "
            "no longer has; rotate with a new rotation id"
        )
    secret_key = None
    if new_key_id is None:
        others = list(keys)
        if len(others) >= MAX_KEYS:
            inactive = [k for k in others if k["status"] == "Inactive"]
            if not inactive:
                raise ConflictError(
                    f"user {p['user_name']} already has {MAX_KEYS} active access keys "
                    f"({', '.join(k['id'] for k in others)}); deactivate the one not in use first"
                )
            result["deleted"].append(inactive[0]["id"])
            if not check:
                call(
                    "delete an inactive access key",
                    rotation.iam.delete_access_key,
                    UserName=p["user_name"],
                    AccessKeyId=inactive[0]["id"],
                )
        result["changed"] = True
        if not check:
            created = call(
                f"create an access key for {p['user_name']}",
                rotation.iam.create_access_key,
                UserName=p["user_name"],
            )["AccessKey"]
            new_key_id, secret_key = created["AccessKeyId"], created["SecretAccessKey"]
            value = json.dumps({"AccessKeyId": new_key_id, "SecretAccessKey": secret_key})
            if found is None:
                call(
                    f"create secret {name}",
                    rotation.sm.create_secret,
                    Name=p["secret_id"],
                    ClientRequestToken=token,
                    SecretString=value,
                )
            else:
                call(
                    f"stage the new key in secret {name}",
                    rotation.sm.put_secret_value,
                    SecretId=p["secret_id"],
                    ClientRequestToken=token,
                    SecretString=value,
                    VersionStages=[PENDING],
                )
            stages = rotation.secret()[1]  # type: ignore[index]
    result["new_key_id"] = new_key_id
    is_current = CURRENT in stages.get(token, [])
    if not check and (secret_key is not None or not is_current):
        result["changed"] = True
        if secret_key is None:
            stored = call(
                f"read secret {name}",
                rotation.sm.get_secret_value,
                SecretId=p["secret_id"],
                VersionId=token,
            )
            secret_key = json.loads(stored["SecretString"])["SecretAccessKey"]
        rotation.verify(str(new_key_id), str(secret_key))
        result["verified"] = True
    if not check and not is_current:
        old = next((v for v, s in stages.items() if CURRENT in s), None)
        call(
            f"make the new key AWSCURRENT in secret {name}",
            rotation.sm.update_secret_version_stage,
            SecretId=p["secret_id"],
            VersionStage=CURRENT,
            MoveToVersionId=token,
            **({"RemoveFromVersionId": old} if old else {}),
        )
        if PENDING in stages.get(token, []):
            call(
                f"remove AWSPENDING in secret {name}",
                rotation.sm.update_secret_version_stage,
                SecretId=p["secret_id"],
                VersionStage=PENDING,
                RemoveFromVersionId=token,
            )
    if is_current and secret_key is None:
        result["verified"] = True  # verified by the run that made it current
    for key in keys:
        if key["id"] == new_key_id or key["id"] in result["deleted"]:
            continue
        if key["status"] == "Active":
            result["deactivated"].append(key["id"])
            if not check:
                call(
                    "deactivate an old access key",
                    rotation.iam.update_access_key,
                    UserName=p["user_name"],
                    AccessKeyId=key["id"],
                    Status="Inactive",
                )
        if p["delete_old"]:
            result["deleted"].append(key["id"])
            if not check:
                call(
                    "delete an old access key",
                    rotation.iam.delete_access_key,
                    UserName=p["user_name"],
                    AccessKeyId=key["id"],
                )
    if result["deactivated"] or result["deleted"]:
        result["changed"] = True
    if check:
        gone = set(result["deleted"])
        after_keys = [
            {
                "id": k["id"],
                "status": "Inactive" if k["id"] in result["deactivated"] else k["status"],
            }
            for k in keys
            if k["id"] not in gone
        ]
        if new_key_id is None:
            after_keys.append({"id": "(new)", "status": "Active"})
        result["after"] = {"keys": after_keys}
    else:
        result["after"] = {"keys": rotation.keys() if result["changed"] else keys}
    if module._diff:
        result["diff"] = {"before": before, "after": result["after"]}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not p["rotation_id"].strip():
        module.fail_json(msg="rotation_id must not be empty")

    def work() -> dict[str, Any]:
        rotation = KeyRotation(
            AwsConn(**pick(p, AWS_KEYS)), p["user_name"], p["secret_id"], p["rotation_id"]
        )
        return run_module(module, rotation)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
