# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: secretsmanager_rotate
short_description: Rotate an AWS Secrets Manager secret through AWSPENDING to AWSCURRENT, once per rotation id
version_added: 0.1.0
description:
  - Runs the four steps of Secrets Manager's rotation protocol itself, the way a rotation Lambda
    does. C(createSecret) stages a new value with the stage C(AWSPENDING) and a
    C(ClientRequestToken) derived from O(rotation_id); C(setSecret) and C(testSecret) make the
    service use the new value and prove it works (for a database secret, O(postgres));
    C(finishSecret) moves C(AWSCURRENT) to the new version, Secrets Manager labels the old one
    C(AWSPREVIOUS), and C(AWSPENDING) is removed.
  - The new value is generated inside the module (or given in O(value)) and is never returned.
  - Idempotent by O(rotation_id). When the rotation's version is already C(AWSCURRENT) nothing is
    written. When it exists but is not current, an earlier run was interrupted; the run finishes
    it with the value already staged. An C(AWSPENDING) label left on a version of another
    rotation is removed first and reported in RV(stale_pending_removed).
  - When C(testSecret) fails, the database password is set back to the one that worked before,
    C(AWSCURRENT) stays where it was, and the task fails; a re-run with the same O(rotation_id)
    resumes.
  - With O(postgres), the secret is a JSON object with C(username) and C(password). Passwords
    are set with C(ALTER ROLE ... PASSWORD) and a SCRAM-SHA-256 verifier computed on the client,
    so the cleartext password reaches neither the server nor its statement log.
  - "Alternating users (O(postgres.alternate_users), the default of the C(rotate_secrets) role):
    the application has two login roles, members of one group role that owns its privileges.
    Each rotation gives a new password to the role C(AWSCURRENT) does not name, logging in as
    O(postgres.login_user) (a role with C(CREATEROLE)), tests it, and switches the secret to it.
    The live login is never changed, so a working credential exists at every moment; consumers
    move over when they restart, and the next rotation changes the other role. testSecret also
    proves the new role has the group's privileges and the live login still works."
  - "Single user (without O(postgres.alternate_users)): the module logs in as the secret's role
    with the first password that works (C(AWSPENDING) when an earlier run set it,
    C(AWSCURRENT), C(AWSPREVIOUS), then O(postgres.current_password)) and changes the role's own
    password. Clients holding the old password cannot log in until they have the new one."
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.aws_conn
options:
  secret_id:
    description: Name or ARN of the secret.
    type: str
    required: true
  rotation_id:
    description:
      - Identifies this rotation, for example the incident id. The secret rotates once per id;
        the version id is derived from it.
    type: str
    required: true
  value:
    description:
      - The new value. Without it a random value of O(length) characters is generated.
    type: str
  length:
    description: Length of a generated value.
    type: int
    default: 40
  json_key:
    description:
      - Rotate only this key of a JSON secret (keeping the other keys); V(password) for a
        database secret. Without it the whole value is replaced.
    type: str
  step:
    description:
      - Run the steps up to and including this one, as a rotation Lambda is invoked per step.
        The default runs the whole rotation.
    type: str
    choices: [create, set, test, finish]
    default: finish
  postgres:
    description:
      - The PostgreSQL server whose role the secret holds; setSecret and testSecret act on it.
      - Without it setSecret and testSecret do nothing (a key issued by an external service).
    type: dict
    suboptions:
      login_host:
        description: Host name or address of the server.
        type: str
      login_port:
        description: Port of the server.
        type: int
        default: 5432
      login_db:
        description: Database to log in to.
        type: str
        default: postgres
      login_unix_socket:
        description: Directory of the server's unix socket; takes precedence over O(postgres.login_host).
        type: path
      ssl_mode:
        description: libpq C(sslmode).
        type: str
        default: prefer
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate that verifies the server.
        type: path
      connect_timeout:
        description: Seconds to wait for a connection.
        type: int
        default: 5
      statement_timeout:
        description: C(statement_timeout) of each session, in milliseconds.
        type: int
        default: 30000
      lock_timeout:
        description: C(lock_timeout) of each session, in milliseconds.
        type: int
        default: 5000
      current_password:
        description:
          - Single user only. The role's password now, tried after the secret's C(AWSCURRENT)
            and C(AWSPREVIOUS) values, for a secret that has drifted from the database.
        type: str
      alternate_users:
        description:
          - The two login roles the secret alternates between. Turns on the alternating-users
            strategy; requires O(postgres.login_user) and O(postgres.login_password), and
            O(json_key=password).
        type: list
        elements: str
      group_role:
        description:
          - With O(postgres.alternate_users), the group role both must be members of; the new
            login is tested for its privileges.
        type: str
      login_user:
        description:
          - With O(postgres.alternate_users), the role that sets the idle role's password
            (C(CREATEROLE) on PostgreSQL 15; on 16 and later also C(ADMIN OPTION) on both roles).
            It must not be one of the alternating roles.
        type: str
      login_password:
        description: Password of O(postgres.login_user).
        type: str
attributes:
  check_mode:
    description:
      - Reads the secret and reports the steps it would run and the stages after them; for a
        database secret it also logs in with the current password. Writes nothing.
    support: full
  diff_mode:
    description: Returns the version stages before and after (never values).
    support: full
notes:
  - Secret values are never returned, and the statements in RV(database.queries) have the
    SCRAM verifier masked.
"""

EXAMPLES = r"""
- name: Rotate the platform database login, alternating between two roles, once per incident
  irdrive.ops.secretsmanager_rotate:
    secret_id: platform/db-password
    rotation_id: INC-4711
    json_key: password
    postgres:
      login_host: db.platform.internal
      login_db: platform
      alternate_users: [platform_app_a, platform_app_b]
      group_role: platform_app
      login_user: platform_rotator
      login_password: "{{ vault_pg_rotator_password }}"
  no_log: true

- name: Rotate a single role's own password (consumers must reconnect with the new value)
  irdrive.ops.secretsmanager_rotate:
    secret_id: reporting/db-password
    rotation_id: INC-4711
    json_key: password
    postgres:
      login_host: db.platform.internal
      login_db: reporting

- name: Rotate a processor API key
  irdrive.ops.secretsmanager_rotate:
    secret_id: platform/ccbill-api-key
    rotation_id: INC-4711
    length: 48
  no_log: true

- name: Stage a new value only (createSecret), as a Lambda's first step
  irdrive.ops.secretsmanager_rotate:
    secret_id: platform/segpay-api-key
    rotation_id: INC-4711
    step: create
"""

RETURN = r"""
secret:
  description: Name and ARN of the secret.
  returned: always
  type: dict
  sample: {"name": "platform/db-password", "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:platform/db-password-HZDoPr"}
version_id:
  description: The version id (ClientRequestToken) of this rotation.
  returned: always
  type: str
  sample: 8f9e2c1a-55b6-5d0e-9a43-0c2b7d6e1f00
status:
  description:
    - What the run found; V(done) (already rotated), V(resume) (an interrupted rotation) or
      V(new).
  returned: always
  type: str
  sample: new
steps:
  description: The rotation steps that ran (would run in check mode).
  returned: always
  type: list
  elements: str
  sample: [create, set, test, finish]
stale_pending_removed:
  description: Version id of another rotation whose AWSPENDING label was removed, or null.
  returned: always
  type: str
  sample: null
before:
  description: Versions carrying AWSCURRENT, AWSPENDING and AWSPREVIOUS, and all stages, before.
  returned: always
  type: dict
  sample: {"current_version": "e2a9...", "pending_version": null, "previous_version": null,
           "stages": {"e2a9...": ["AWSCURRENT"]}}
after:
  description: The same after the run (predicted in check mode).
  returned: always
  type: dict
  sample: {"current_version": "8f9e...", "pending_version": null, "previous_version": "e2a9...",
           "stages": {"8f9e...": ["AWSCURRENT"], "e2a9...": ["AWSPREVIOUS"]}}
verified:
  description: True when testSecret proved the new value works in this run or an earlier one.
  returned: always
  type: bool
  sample: true
database:
  description: For O(postgres), where it connected, which credentials logged in, and the statements (verifier masked).
  returned: when O(postgres) is set
  type: dict
  sample: {"target": "10.213.0.6:5432", "strategy": "alternating-users",
           "logins": ["AWSCURRENT", "admin", "AWSPENDING"],
           "checks": {"idle_role": "platform_app_b", "idle_role_sessions": 0,
                      "idle_role_in_group": true, "live_role": "platform_app_a",
                      "live_login_works": true},
           "queries": ["SELECT 1", "ALTER ROLE \"platform_app_b\" PASSWORD '********'"]}
  contains:
    queries:
      description: The statements that ran, in order, the SCRAM verifier masked.
      returned: always
      type: list
      elements: str
      sample: ["SELECT 1", "ALTER ROLE \"platform_app_b\" PASSWORD '********'"]
"""

from dataclasses import replace
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    aws_argument_spec,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    IrdriveOpsError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.pg_password import (
    AlternatingUsersBackend,
    PostgresPasswordBackend,
)
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import (
    PgConnParams,
)
from ansible_collections.irdrive.ops.plugins.module_utils.secret_rotation import (
    STEPS,
    NoBackend,
    SecretRotator,
    ValueSpec,
)

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("secretsmanager",)

POSTGRES_OPTIONS: dict[str, dict[str, Any]] = {
    "login_host": {"type": "str"},
    "login_port": {"type": "int", "default": 5432},
    "login_db": {"type": "str", "default": "postgres"},
    "login_unix_socket": {"type": "path"},
    "ssl_mode": {
        "type": "str",
        "default": "prefer",
        "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
    },
    "ca_cert": {"type": "path"},
    "connect_timeout": {"type": "int", "default": 5},
    "statement_timeout": {"type": "int", "default": 30000},
    "lock_timeout": {"type": "int", "default": 5000},
    "current_password": {"type": "str", "no_log": True},
    "alternate_users": {"type": "list", "elements": "str"},
    "group_role": {"type": "str"},
    "login_user": {"type": "str"},
    "login_password": {"type": "str", "no_log": True},
}
_STRATEGY_KEYS = (
    "current_password",
    "alternate_users",
    "group_role",
    "login_user",
    "login_password",
)


def argument_spec() -> dict[str, Any]:
    spec = aws_argument_spec()
    spec.update(
        secret_id={"type": "str", "required": True},
        rotation_id={"type": "str", "required": True, "no_log": False},
        value={"type": "str", "no_log": True},
        length={"type": "int", "default": 40, "no_log": False},
        json_key={"type": "str", "no_log": False},
        step={"type": "str", "choices": list(STEPS), "default": "finish"},
        postgres={"type": "dict", "options": POSTGRES_OPTIONS},
    )
    return spec


def postgres_backend(
    options: dict[str, Any], json_key: str | None
) -> PostgresPasswordBackend | AlternatingUsersBackend:
    conn = PgConnParams(**{k: v for k, v in options.items() if k not in _STRATEGY_KEYS})
    users = options.get("alternate_users")
    if not users:
        return PostgresPasswordBackend(conn, fallback_password=options.get("current_password"))
    if len(users) != 2 or users[0] == users[1]:
        raise InvalidInputError("postgres.alternate_users must name two different roles")
    if not options.get("login_user") or not options.get("login_password"):
        raise InvalidInputError(
            "postgres.alternate_users needs postgres.login_user and postgres.login_password: "
            "a role allowed to set the alternating roles' passwords"
        )
    if json_key != "password":
        raise InvalidInputError("postgres.alternate_users needs json_key=password")
    conn = replace(conn, login_user=options["login_user"], login_password=options["login_password"])
    return AlternatingUsersBackend(conn, (users[0], users[1]), group_role=options.get("group_role"))


def run_module(module: AnsibleModule, client: Any) -> dict[str, Any]:
    p = module.params
    backend = postgres_backend(p["postgres"], p["json_key"]) if p["postgres"] else NoBackend()
    spec = ValueSpec(value=p["value"], length=p["length"], json_key=p["json_key"])
    if isinstance(backend, AlternatingUsersBackend):
        spec.alternate_users = backend.users
    rotator = SecretRotator(client, p["secret_id"])
    try:
        rotation = rotator.rotate(
            p["rotation_id"], spec, backend, until=p["step"], check_mode=module.check_mode
        )
    except IrdriveOpsError as error:
        if not isinstance(backend, NoBackend):
            error.details["database"] = backend.report()
        raise
    result: dict[str, Any] = {
        "changed": rotation.changed,
        "secret": {"name": rotation.name, "arn": rotation.arn},
        "version_id": rotation.version_id,
        "status": rotation.status,
        "steps": rotation.steps,
        "stale_pending_removed": rotation.stale_pending_removed,
        "before": rotation.before,
        "after": rotation.after,
        "verified": rotation.status == "done" or "test" in rotation.steps and not module.check_mode,
    }
    if not isinstance(backend, NoBackend):
        result["database"] = backend.report()
    if module._diff:
        result["diff"] = {"before": rotation.before["stages"], "after": rotation.after["stages"]}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not module.params["rotation_id"].strip():
        module.fail_json(msg="rotation_id must not be empty")
    if module.params["value"] is None and module.params["length"] < 16:
        module.fail_json(msg="length must be at least 16")

    def work() -> dict[str, Any]:
        client = AwsConn(**pick(module.params, AWS_KEYS)).client("secretsmanager")
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
