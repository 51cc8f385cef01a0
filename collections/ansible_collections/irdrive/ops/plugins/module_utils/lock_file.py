# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The host's lock file, and a change made under it (modules that run on the host use these).

``FileLockBackend`` keeps ``target_lock``'s lock as ``<directory>/<key>.json`` on the host. A new
lock is written to a temporary file made with ``O_EXCL`` and hard-linked into place (``link``
fails when the file exists, and the file is never seen half written); a takeover, renewal or
release re-reads the version under ``flock`` on ``<key>.json.flock`` and renames a new file over
the old one. ``irdrive.ops.host_lock`` takes it as a task of its own; ``under_host_lock`` lets a
module that changes the host take it around its own change, in the same module run (one
interpreter start per host instead of three), with the same file and the same semantics.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LockRecord,
    TargetLock,
    lease_name,
)

HOST_LOCK_DIR = "/var/lib/irdrive/locks"

#: The options of a module that changes a host under its lock file (``lock_key`` empty: none).
HOST_LOCK_OPTIONS: dict[str, dict[str, Any]] = {
    "lock_key": {"type": "str", "default": "", "no_log": False},
    "lock_directory": {"type": "path", "default": HOST_LOCK_DIR},
    "lock_duration": {"type": "int", "default": 600},
    "lock_wait": {"type": "float", "default": 30.0},
    "lock_holder": {"type": "str"},
}


def under_host_lock(
    params: dict[str, Any], check_mode: bool, work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """``work()``'s result, run while holding the host's lock file ``params["lock_key"]``.

    The lock is taken as ``irdrive.ops.host_lock`` takes it (a live holder is waited for up to
    ``lock_wait`` seconds, then ``LockedError`` names it and nothing is changed; a stale lock is
    taken over, with a warning) and given back after the work, whether the work succeeded or
    raised, unless this run already held it (re-entry: its first taker gives it back). In check
    mode the lock is only read. The result gets ``host_lock``: the lock's task result (as
    ``host_lock`` returns it) with ``released``. An empty ``lock_key`` runs ``work`` unlocked.
    """
    key = params.get("lock_key") or ""
    if not key:
        return work()
    holder = params.get("lock_holder") or ""
    if not holder:
        raise InvalidInputError("lock_holder is required with lock_key (the action plugin sets it)")
    if params["lock_duration"] < 1:
        raise InvalidInputError("lock_duration must be at least 1 second")
    if params["lock_wait"] < 0:
        raise InvalidInputError("lock_wait must not be negative")
    try:
        backend = FileLockBackend(params["lock_directory"], key, socket.gethostname())
        lock = TargetLock(backend, holder, params["lock_duration"])
    except ValueError as error:
        raise InvalidInputError(str(error)) from error
    outcome = lock.acquire(params["lock_wait"], check_mode)  # LockedError: nothing was changed
    taken = outcome.to_result(holder, backend.where)
    taken["released"] = "not_taken"
    try:
        result = work()
    finally:
        if outcome.state == "acquired":
            try:
                taken["released"] = lock.release().state
            except IrdriveOpsError as error:
                # The change is made (or failed on its own): a release that cannot write must
                # not hide it. The lock is taken over once stale; say so.
                taken["released"] = "not_released"
                taken.setdefault("warnings", []).append(
                    f"could not release {backend.where} ({error}); another run takes it over "
                    f"{params['lock_duration']}s after this run took it"
                )
    result["host_lock"] = taken
    return result


# ---- a host: a JSON file under /var/lib/irdrive/locks ---------------------------------------
class FileLockBackend:
    """The lock as ``<directory>/<key>.json`` (made with O_EXCL + link, replaced under flock)."""

    def __init__(self, directory: str, key: str, host: str = "") -> None:
        if not os.path.isabs(directory):
            raise ValueError(f"lock directory {directory!r} must be an absolute path")
        slug = lease_name(key)[len("irdrive-lock-") :]
        self.directory = directory
        self.path = os.path.join(directory, f"{slug}.json")
        self.where = f"lock file {host + ':' if host else ''}{self.path}"

    def read(self) -> LockRecord | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise IrdriveOpsError(f"cannot read {self.where}: {error}") from error
        return LockRecord.from_stored(data, str(data.get("version") or 0))

    def _write_temp(self, record: LockRecord, version: int) -> str:
        """A complete new lock file under a fresh O_EXCL name; the caller links or renames it."""
        body = record.to_stored(version=version)
        temp = f"{self.path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def _flock(self) -> int:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd = os.open(f"{self.path}.flock", os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as error:
            raise IrdriveOpsError(f"cannot write {self.where}: {error}") from error
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _store(self, record: LockRecord, expect: str | None) -> LockRecord:
        """Write ``record`` if the file is still at version ``expect`` (None: must not exist)."""
        fd = self._flock()
        temp = ""
        try:
            current = self.read()
            if expect is None and current is not None:
                raise ConflictError(f"{self.where}: another run created the lock first")
            if expect is not None and (current is None or current.version != expect):
                raise ConflictError(f"{self.where}: another run wrote the lock in between")
            version = int(expect or 0) + 1
            temp = self._write_temp(record, version)
            if expect is None:
                os.link(temp, self.path)  # EEXIST if a writer without the flock got there
            else:
                os.replace(temp, self.path)
                temp = ""
        except FileExistsError as error:
            raise ConflictError(f"{self.where}: another run created the lock first") from error
        except OSError as error:
            if error.errno == errno.EEXIST:
                raise ConflictError(f"{self.where}: created by another run") from error
            raise IrdriveOpsError(f"cannot write {self.where}: {error}") from error
        finally:
            if temp:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            os.close(fd)  # closing drops the flock
        written = self.read()
        if written is None:
            raise ConflictError(f"{self.where}: removed while being written")
        return written

    def create(self, record: LockRecord) -> LockRecord:
        return self._store(record, None)

    def replace(self, record: LockRecord) -> LockRecord:
        return self._store(record, record.version or "0")
