# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""One remediation per target: a lease-style lock, as client-go's leader election keeps one.

A lock record has a holder, a duration, an acquire time, a renew time and a transition count.
It is free when it has no holder, ours when we hold it (acquiring again renews it and says it
was re-entered), stale when ``renewTime + leaseDurationSeconds`` is past (it is taken over:
``leaseTransitions + 1``, and the result says whose stale lock it took), and held otherwise:
``acquire`` waits up to ``wait`` seconds, re-reading, then raises ``LockedError`` naming the
holder and since when.

Every write is conditioned on what was read (a resourceVersion on Kubernetes, a version column
on PostgreSQL), and a lost race (409 Conflict, 0 rows updated, AlreadyExists) re-reads and
decides again, so two runs can never both hold it. Check mode reads only and says what a run
would do. The backends implement ``read``/``create``/``replace`` on a ``LockRecord``.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    IrdriveOpsError,
    NotFoundError,
)

#: A Kubernetes MicroTime (``metav1.MicroTime``: RFC 3339 with exactly six fraction digits).
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
LEASES = "/apis/coordination.k8s.io/v1"
LEASE_PREFIX = "irdrive-lock-"


#: The options of ``irdrive.ops.target_lock`` (with the k8s_auth ones).
LOCK_ARG_SPEC: dict[str, dict[str, Any]] = {
    "state": {"type": "str", "default": "acquired", "choices": ["acquired", "released"]},
    "key": {"type": "str", "required": True, "no_log": False},
    "namespace": {"type": "str", "required": True},
    "holder": {"type": "str"},
    "duration": {"type": "int", "default": 600},
    "wait": {"type": "float", "default": 30.0},
}
#: The options every other lock backend shares: the same, without the Lease's ``namespace``.
BACKEND_LOCK_ARG_SPEC = {name: spec for name, spec in LOCK_ARG_SPEC.items() if name != "namespace"}


class LockedError(IrdriveOpsError):
    """Another run holds the target's lock and did not release it within the wait."""

    kind = "locked"


def micro_time(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime(MICRO_TIME)


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (with or without fraction), else None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def default_holder(task_vars: dict[str, Any] | None = None, pid: int | None = None) -> str:
    """Who is running: the irdrive run id or AWX job id when known, and always user@host:pid."""
    task_vars = task_vars or {}
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    who = f"{user}@{socket.gethostname()}:{pid if pid is not None else os.getpid()}"
    for var, label in (
        ("irdrive_run_id", "irdrive run"),
        ("awx_job_id", "AWX job"),
        ("tower_job_id", "AWX job"),
    ):
        value = task_vars.get(var)
        if value not in (None, ""):
            return f"{label} {value} ({who})"
    return who


def lease_name(key: str) -> str:
    """The Lease (DNS-1123 subdomain) that locks ``key``: ``irdrive-lock-<key>``."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", str(key).lower()).strip("-.")
    if not slug:
        raise ValueError(f"lock key {key!r} has no usable characters")
    return (LEASE_PREFIX + slug)[:253].rstrip("-.")


@dataclass
class LockRecord:
    """A lock as the backends store it (the fields of a Lease's spec) and its version."""

    holder: str = ""
    duration: int = 0
    acquire_time: float | None = None
    renew_time: float | None = None
    transitions: int = 0
    version: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_stored(cls, data: dict[str, Any], version: str) -> LockRecord:
        """The lock as a file or an object stores it (its JSON body), at ``version``."""
        return cls(
            holder=str(data.get("holder") or ""),
            duration=int(data.get("duration") or 0),
            acquire_time=data.get("acquire_time"),
            renew_time=data.get("renew_time"),
            transitions=int(data.get("transitions") or 0),
            version=version,
        )

    def to_stored(self, **extra: Any) -> dict[str, Any]:
        """The JSON body a file or an object stores (``from_stored`` reads it back)."""
        return {
            "holder": self.holder,
            "duration": max(int(self.duration), 1),
            "acquire_time": self.acquire_time,
            "renew_time": self.renew_time,
            "transitions": int(self.transitions),
            **extra,
            "managed_by": "irdrive",
        }

    def expires(self) -> float | None:
        if self.renew_time is None:
            return None
        return self.renew_time + self.duration

    def describe(self) -> str:
        since = micro_time(self.acquire_time) if self.acquire_time is not None else "unknown"
        return f"{self.holder} (since {since})"


class LockBackend(Protocol):
    where: str

    def read(self) -> LockRecord | None: ...

    def create(self, record: LockRecord) -> LockRecord: ...

    def replace(self, record: LockRecord) -> LockRecord: ...


@dataclass
class LockOutcome:
    """What ``acquire`` or ``release`` did."""

    state: str  # acquired, reentered, would_acquire, would_wait, released, not_held
    record: LockRecord | None
    changed: bool = False
    taken_over: LockRecord | None = None
    waited: float = 0.0
    conflicts: int = 0
    msg: str = ""

    def to_result(self, holder: str, where: str) -> dict[str, Any]:
        record = self.record
        # The lock is the run's bookkeeping, not a change to the target: never "changed", so
        # that a run with nothing to do still reports changed=0. ``written`` says it wrote.
        result: dict[str, Any] = {
            "changed": False,
            "written": self.changed,
            "state": self.state,
            "holder": holder,
            "lock": where,
            "waited": round(self.waited, 3),
            "conflicts": self.conflicts,
            "msg": self.msg,
            "reentered": self.state == "reentered",
        }
        if record is not None:
            result["lease"] = record_view(record)
        if self.taken_over is not None:
            result["took_over"] = record_view(self.taken_over)
        if self.taken_over is not None or self.state == "would_wait":
            # A dead run's lock may guard a half-done change: say so wherever the run is read.
            result["warnings"] = [f"{where}: {self.msg}"]
        return result


def record_view(record: LockRecord) -> dict[str, Any]:
    return {
        "holder": record.holder,
        "duration": record.duration,
        "acquire_time": micro_time(record.acquire_time) if record.acquire_time else None,
        "renew_time": micro_time(record.renew_time) if record.renew_time else None,
        "transitions": record.transitions,
    }


class TargetLock:
    """Acquire and release one lock for ``holder`` on ``backend``."""

    def __init__(
        self,
        backend: LockBackend,
        holder: str,
        duration: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = 1.0,
    ) -> None:
        if not holder:
            raise ValueError("a lock needs a holder identity")
        self.backend = backend
        self.holder = holder
        self.duration = int(duration)
        self.clock = clock
        self.sleep = sleep
        self.poll = poll

    # ---- acquire ----
    def _attempt(self, check_mode: bool) -> tuple[LockOutcome | None, LockRecord | None]:
        """One read-decide-write. (outcome, None) when decided, (None, holder's record) when held."""
        now = self.clock()
        current = self.backend.read()
        mine = LockRecord(self.holder, self.duration, acquire_time=now, renew_time=now)
        if current is None:
            if check_mode:
                return LockOutcome("would_acquire", None, msg="would create the lock"), None
            return LockOutcome("acquired", self.backend.create(mine), True, msg="acquired"), None
        if current.holder == self.holder:
            renewed = replace(current, duration=self.duration, renew_time=now)
            if check_mode:
                return LockOutcome("reentered", current, msg="already held by this run"), None
            written = self.backend.replace(renewed)
            return LockOutcome("reentered", written, True, msg="already held; renewed"), None
        expires = current.expires()
        stale = bool(current.holder) and (expires is None or expires < now)
        if current.holder and not stale:
            return None, current
        mine = replace(
            mine,
            version=current.version,
            raw=current.raw,
            transitions=current.transitions + (1 if current.holder else 0),
        )
        taken = current if stale else None
        verb = f"took over the stale lock of {current.describe()}" if stale else "acquired"
        if check_mode:
            return LockOutcome(
                "would_acquire", current, taken_over=taken, msg=f"would {verb}"
            ), None
        written = self.backend.replace(mine)
        return LockOutcome("acquired", written, True, taken_over=taken, msg=verb), None

    def acquire(self, wait: float, check_mode: bool = False) -> LockOutcome:
        """Take the lock, waiting up to ``wait`` seconds for a live holder; LockedError after."""
        start = self.clock()
        conflicts = 0
        while True:
            try:
                outcome, held = self._attempt(check_mode)
            except ConflictError:  # lost a race for the same version: re-read and decide again
                conflicts += 1
                if self.clock() - start > max(wait, 0) + 30:
                    raise
                continue
            waited = self.clock() - start
            if outcome is not None:
                outcome.waited, outcome.conflicts = waited, conflicts
                return outcome
            assert held is not None
            if check_mode:
                return LockOutcome(
                    "would_wait",
                    held,
                    waited=waited,
                    msg=f"held by {held.describe()}: a run would wait up to {wait:g}s for it",
                )
            remaining = wait - waited
            if remaining <= 0:
                raise LockedError(
                    f"{self.backend.where} is locked by {held.describe()}; waited {waited:.0f}s "
                    f"(lock wait {wait:g}s); it is taken over once stale at "
                    f"{micro_time(held.expires() or 0)}",
                    held_by=held.holder,
                    since=micro_time(held.acquire_time) if held.acquire_time else None,
                )
            self.sleep(min(self.poll, remaining))

    # ---- release ----
    def release(self, check_mode: bool = False) -> LockOutcome:
        """Give the lock up if we hold it (as client-go does: no holder, duration 1s)."""
        for conflicts in range(5):
            current = self.backend.read()
            if current is None or current.holder != self.holder:
                other = f"held by {current.describe()}" if current and current.holder else "free"
                return LockOutcome("not_held", current, msg=f"not ours ({other}); left alone")
            if check_mode:
                return LockOutcome("released", current, msg="would release")
            now = self.clock()
            freed = replace(current, holder="", duration=1, renew_time=now, acquire_time=now)
            try:
                written = self.backend.replace(freed)
            except ConflictError:
                continue
            return LockOutcome("released", written, True, conflicts=conflicts, msg="released")
        raise ConflictError(f"{self.backend.where}: could not release the lock: kept changing")


BAD_INPUT = {"error_kind": "invalid_input"}


def run_lock(
    args: dict[str, Any],
    holder: str,
    make_backend: Callable[[], LockBackend],
    check_mode: bool,
) -> dict[str, Any]:
    """The task result of ``args`` (state, duration, wait) on the backend ``make_backend`` makes."""
    if args["duration"] < 1:
        return {"failed": True, "msg": "duration must be at least 1 second", **BAD_INPUT}
    if args["wait"] < 0:
        return {"failed": True, "msg": "wait must not be negative", **BAD_INPUT}
    try:
        backend = make_backend()
        lock = TargetLock(backend, holder, args["duration"])
        if args["state"] == "released":
            outcome = lock.release(check_mode)
        else:
            outcome = lock.acquire(args["wait"], check_mode)
    except IrdriveOpsError as error:
        if args["state"] == "released":
            # The work is done (or has failed on its own): a release that cannot write must not
            # turn it into a failure. The lock is taken over once stale; say so.
            return {
                "changed": False,
                "state": "not_released",
                "holder": holder,
                "msg": f"could not release the lock: {error}",
                "warnings": [
                    f"could not release the lock of {holder} ({error}); another run takes it "
                    f"over {args['duration']}s after this run's last renewal"
                ],
            }
        return {"failed": True, "msg": str(error), "holder": holder, **error.to_result()}
    except ValueError as error:
        return {"failed": True, "msg": str(error), **BAD_INPUT}
    return outcome.to_result(holder, backend.where)


# ---- Kubernetes: a coordination.k8s.io/v1 Lease ------------------------------------------
class LeaseBackend:
    """The lock as a Lease ``irdrive-lock-<key>`` in ``namespace`` (get, POST, conditioned PUT)."""

    def __init__(self, client: Any, namespace: str, key: str) -> None:
        self.client = client
        self.namespace = namespace
        self.name = lease_name(key)
        self.where = f"Lease {namespace}/{self.name}"
        self.collection = f"{LEASES}/namespaces/{namespace}/leases"

    @staticmethod
    def _record(lease: dict[str, Any]) -> LockRecord:
        spec = lease.get("spec") or {}
        return LockRecord(
            holder=str(spec.get("holderIdentity") or ""),
            duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
            version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
            raw=lease,
        )

    def _body(self, record: LockRecord) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {"app.kubernetes.io/managed-by": "irdrive"},
        }
        if record.version:
            old = dict(record.raw.get("metadata") or {})
            meta = {**old, **meta, "resourceVersion": record.version}
        spec: dict[str, Any] = {
            "leaseDurationSeconds": max(int(record.duration), 1),
            "leaseTransitions": int(record.transitions),
        }
        if record.holder:
            spec["holderIdentity"] = record.holder
        if record.acquire_time is not None:
            spec["acquireTime"] = micro_time(record.acquire_time)
        if record.renew_time is not None:
            spec["renewTime"] = micro_time(record.renew_time)
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }

    def read(self) -> LockRecord | None:
        try:
            lease = self.client.request(
                "GET", f"{self.collection}/{self.name}", what=f"get {self.where}"
            )
        except NotFoundError:
            return None
        return self._record(lease)

    def create(self, record: LockRecord) -> LockRecord:
        """POST; a 409 AlreadyExists is a ConflictError: the caller re-reads."""
        lease = self.client.request(
            "POST", self.collection, body=self._body(record), what=f"create {self.where}"
        )
        return self._record(lease)

    def replace(self, record: LockRecord) -> LockRecord:
        """PUT with the resourceVersion read: a 409 Conflict means someone wrote in between."""
        lease = self.client.request(
            "PUT",
            f"{self.collection}/{self.name}",
            body=self._body(record),
            what=f"update {self.where}",
        )
        return self._record(lease)
