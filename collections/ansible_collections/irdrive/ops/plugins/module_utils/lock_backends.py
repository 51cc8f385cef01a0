# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The lock of ``target_lock.py`` kept in PostgreSQL (a row) and in S3 (an object).

Both keep the Lease's fields (holder, duration, acquire/renew time, transitions) and a version,
and write only conditioned on the version read, so ``TargetLock`` gives them the Lease's
semantics unchanged:

* ``PgLockBackend``: a row of ``irdrive_locks`` (the one object irdrive creates in a database,
  ``CREATE TABLE IF NOT EXISTS`` on the first write). A new lock is
  ``INSERT ... ON CONFLICT DO NOTHING``, every other write ``UPDATE ... WHERE version = read``;
  no row written means another run won and ``ConflictError`` makes the lock read again.
* ``S3LockBackend``: ``s3://<bucket>/<prefix><key>.json``, created with ``If-None-Match: *``
  and replaced with ``If-Match: <ETag read>`` (S3's conditional writes).

The host's lock file is in ``lock_file.py`` (it runs on the host: no AWS or PostgreSQL code
goes there with it). ``run_controller_lock`` is ``target_lock.run_lock`` in an action plugin,
with the run's holder by default.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_ARG_SPEC,
    POSTGRES_ARG_SPEC,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    BACKEND_LOCK_ARG_SPEC,
    LockBackend,
    LockRecord,
    default_holder,
    lease_name,
    run_lock,
)

PG_TABLE = "irdrive_locks"

# The options of the pg_lock and s3_lock action plugins, here so that their module files (the
# documentation ansible-doc reads) can build an AnsibleModule on a host without action code.
PG_LOCK_ARG_SPEC: dict[str, dict[str, Any]] = {
    **BACKEND_LOCK_ARG_SPEC,
    "table": {"type": "str", "default": PG_TABLE},
    **POSTGRES_ARG_SPEC,
}
S3_LOCK_ARG_SPEC: dict[str, dict[str, Any]] = {
    **BACKEND_LOCK_ARG_SPEC,
    "bucket": {"type": "str", "required": True},
    "prefix": {"type": "str", "default": "irdrive-locks/"},
    **AWS_ARG_SPEC,
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")


def run_controller_lock(
    args: dict[str, Any],
    task_vars: dict[str, Any],
    make_backend: Callable[[], LockBackend],
    check_mode: bool,
) -> dict[str, Any]:
    """``run_lock`` in an action plugin on the controller: the holder is ``args``' or this run's."""
    # Workers are forked from ansible-playbook: its pid is the same for every task of the run.
    holder = args["holder"] or default_holder(task_vars, pid=os.getppid())
    return run_lock(args, holder, make_backend, check_mode)


# ---- PostgreSQL: a row of irdrive_locks ----------------------------------------------------
_COLUMNS = (
    "holder, duration_seconds, extract(epoch FROM acquire_time)::float8 AS acquire_time, "
    "extract(epoch FROM renew_time)::float8 AS renew_time, transitions, version"
)


class PgLockBackend:
    """The lock as the row ``key`` of ``table`` on ``session`` (a ``postgres.PgSession``)."""

    def __init__(self, session: Any, key: str, table: str = PG_TABLE) -> None:
        if not _IDENTIFIER.match(table):
            raise ValueError(f"lock table {table!r} is not a plain [schema.]name")
        if not key:
            raise ValueError("a lock needs a key")
        self.session = session
        self.key = key
        self.table = table
        self.where = f"PostgreSQL {session.params.target} {table} row {key!r}"

    @staticmethod
    def _record(row: dict[str, Any]) -> LockRecord:
        return LockRecord(
            holder=str(row["holder"] or ""),
            duration=int(row["duration_seconds"]),
            acquire_time=row["acquire_time"],
            renew_time=row["renew_time"],
            transitions=int(row["transitions"]),
            version=str(row["version"]),
        )

    @staticmethod
    def _values(record: LockRecord) -> tuple[Any, ...]:
        return (
            record.holder,
            max(int(record.duration), 1),
            record.acquire_time,
            record.renew_time,
            int(record.transitions),
        )

    def read(self) -> LockRecord | None:
        # A missing table is a free lock: check mode must not create it.
        exists = self.session.query("SELECT to_regclass(%s) IS NOT NULL AS e", (self.table,))
        if not exists[0]["e"]:
            return None
        rows = self.session.query(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE key = %s", (self.key,)
        )
        return self._record(rows[0]) if rows else None

    def _create_table(self) -> None:
        """Create the lock table if it is missing (the one object irdrive creates)."""
        exists = self.session.query("SELECT to_regclass(%s) IS NOT NULL AS e", (self.table,))
        if exists[0]["e"]:
            return
        try:
            self.session.query(f"CREATE TABLE IF NOT EXISTS {self.table} ({_TABLE_COLUMNS})")
            self.session.query(f"COMMENT ON TABLE {self.table} IS %s", (_TABLE_COMMENT,))
        except IrdriveOpsError as error:
            again = self.session.query("SELECT to_regclass(%s) IS NOT NULL AS e", (self.table,))
            if again[0]["e"]:  # another run created it at the same moment
                raise ConflictError(f"{self.where}: table created by another run") from error
            raise IrdriveOpsError(
                f"{self.where}: cannot create the lock table ({error}); create it once as its "
                f"owner: CREATE TABLE {self.table} ({_TABLE_COLUMNS}) and grant SELECT, INSERT, "
                "UPDATE on it to the runbooks' user"
            ) from error

    def create(self, record: LockRecord) -> LockRecord:
        self._create_table()
        rows = self.session.query(
            f"INSERT INTO {self.table} (key, holder, duration_seconds, acquire_time, "
            "renew_time, transitions, version) VALUES "
            "(%s, %s, %s, to_timestamp(%s), to_timestamp(%s), %s, 1) "
            f"ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}",
            (self.key, *self._values(record)),
        )
        if not rows:
            raise ConflictError(f"{self.where}: another run created the lock first")
        return self._record(rows[0])

    def replace(self, record: LockRecord) -> LockRecord:
        rows = self.session.query(
            f"UPDATE {self.table} SET holder = %s, duration_seconds = %s, "
            "acquire_time = to_timestamp(%s), renew_time = to_timestamp(%s), "
            "transitions = %s, version = version + 1 "
            f"WHERE key = %s AND version = %s RETURNING {_COLUMNS}",
            (*self._values(record), self.key, int(record.version or 0)),
        )
        if not rows:
            raise ConflictError(f"{self.where}: another run wrote the lock in between")
        return self._record(rows[0])


_TABLE_COLUMNS = (
    "key text PRIMARY KEY, holder text NOT NULL DEFAULT '', duration_seconds integer NOT NULL, "
    "acquire_time timestamptz, renew_time timestamptz, transitions integer NOT NULL DEFAULT 0, "
    "version bigint NOT NULL DEFAULT 1"
)
_TABLE_COMMENT = (
    "irdrive: one row per locked target (holder, duration, acquire/renew time, transitions); "
    "written only with version-conditioned statements. The one object irdrive creates here."
)


# ---- AWS: an S3 object written with conditional puts -----------------------------------------
S3_PRECONDITION_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


class S3LockBackend:
    """The lock as the object ``<prefix><key>.json`` in ``bucket`` (ETag-conditioned PUTs).

    A new lock is ``PutObject`` with ``If-None-Match: *``, every other write ``PutObject`` with
    ``If-Match: <the ETag read>``; 412 PreconditionFailed (or 409 ConditionalRequestConflict)
    means another run wrote first, and ``ConflictError`` makes the lock read again.
    """

    def __init__(self, client: Any, bucket: str, key: str, prefix: str = "irdrive-locks/") -> None:
        if not bucket:
            raise ValueError("an S3 lock needs a bucket")
        slug = lease_name(key)[len("irdrive-lock-") :]
        self.client = client
        self.bucket = bucket
        self.object_key = f"{prefix}{slug}.json"
        self.where = f"s3://{bucket}/{self.object_key}"

    def _call(self, what: str, **kwargs: Any) -> Any:
        # Imported here: aws_clients imports boto3 (0.2 s), which the Lease, row and host locks
        # sharing this file never need.
        from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import (
            call as aws_call,
        )

        try:
            return aws_call(f"{what} {self.where}", getattr(self.client, what), **kwargs)
        except IrdriveOpsError as error:
            if error.details.get("aws_error") in S3_PRECONDITION_CODES:
                raise ConflictError(f"{self.where}: another run wrote the lock first") from error
            raise

    def read(self) -> LockRecord | None:
        try:
            got = self._call("get_object", Bucket=self.bucket, Key=self.object_key)
        except NotFoundError as error:
            if error.details.get("aws_error") == "NoSuchBucket":
                # Never "free": a lock that cannot be written must not look takeable.
                raise InvalidInputError(
                    f"lock bucket {self.bucket!r} does not exist: create it (private, no "
                    "versioning needed) or point irdrive_lock_bucket at an existing one; "
                    "nothing was changed",
                    aws_error="NoSuchBucket",
                ) from error
            return None
        try:
            data = json.loads(got["Body"].read())
        except ValueError as error:
            raise IrdriveOpsError(f"cannot read {self.where}: {error}") from error
        return LockRecord.from_stored(data, str(got["ETag"]))

    def _put(self, record: LockRecord, **condition: str) -> LockRecord:
        body = record.to_stored()
        put = self._call(
            "put_object",
            Bucket=self.bucket,
            Key=self.object_key,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
            **condition,
        )
        return LockRecord(
            holder=record.holder,
            duration=body["duration"],
            acquire_time=record.acquire_time,
            renew_time=record.renew_time,
            transitions=body["transitions"],
            version=str(put["ETag"]),
        )

    def create(self, record: LockRecord) -> LockRecord:
        return self._put(record, IfNoneMatch="*")

    def replace(self, record: LockRecord) -> LockRecord:
        return self._put(record, IfMatch=record.version)
