"""Incident records in the history store (``irdrive.history``): open, read, update, move
through the playbook's statuses, append to the hash-chained timeline, verify it, keep action
items and the alert keys that attach repeat alerts to an open incident.

Every write is one transaction: an incident and its ``opened`` entry land together, a status
change and its timeline entry land together, and a refused change writes nothing. Timeline
appends lock the incident's row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite takes its write
lock at the first write) and the ``(incident_id, seq)`` unique constraint turns any race that
slips through into a retry, so two writers never fork the chain.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from irdrive.errors import IrdriveError, UsageError
from irdrive.history import open_store
from irdrive.history.schema import (
    incident_actions,
    incident_alert_keys,
    incident_timeline,
    incidents,
)
from irdrive.history.store import Store
from irdrive.incidents.model import (
    ACTION_PRIORITIES,
    ACTION_STATUSES,
    CLOSED,
    ENTRY_KINDS,
    GENESIS,
    IDENTIFIED,
    INVESTIGATING,
    MONITORING,
    OPEN_STATUSES,
    REOPEN_FROM,
    RESOLVED,
    ROLES,
    TEXT_FIELDS,
    TIME_FIELDS,
    ActionItem,
    Incident,
    TimelineEntry,
    canonical,
    check_incident_id,
    check_severity,
    check_status,
    check_transition,
    incident_id_for,
)

APPEND_ATTEMPTS = 5


class _Conflict(IrdriveError):
    """Another writer took the same incident id or timeline number first: the callers that
    can (``open``, ``append``) try again; anywhere else it is one line, exit 1."""


def _now() -> datetime:
    return datetime.now(UTC)


def incident_from_row(row: Mapping[Any, Any]) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        severity=row["severity"],
        status=row["status"],
        commander=row["commander"],
        scribe=row["scribe"],
        comms_lead=row["comms_lead"],
        services=list(row["services"] or []),
        runbook=row["runbook"],
        summary=row["summary"] or "",
        impact=row["impact"] or "",
        users_affected=row["users_affected"] or "",
        root_cause=row["root_cause"] or "",
        public_summary=row["public_summary"] or "",
        source=row["source"] or "cli",
        escalation_level=int(row["escalation_level"] or 1),
        details=dict(row["details"] or {}),
        **{name: row[name] for name in TIME_FIELDS},
    )


def entry_from_row(row: Mapping[Any, Any]) -> TimelineEntry:
    return TimelineEntry(
        incident_id=row["incident_id"],
        seq=int(row["seq"]),
        at=row["at"],
        kind=row["kind"],
        summary=row["summary"],
        actor=row["actor"] or "",
        data=dict(row["data"] or {}),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def action_from_row(row: Mapping[Any, Any]) -> ActionItem:
    return ActionItem(
        id=int(row["id"]),
        incident_id=row["incident_id"],
        action=row["action"],
        owner=row["owner"],
        priority=row["priority"],
        due=row["due"],
        status=row["status"],
        created_at=row["created_at"],
        done_at=row["done_at"],
    )


@dataclass(frozen=True)
class NewEntry:
    """A timeline entry to append: the store numbers and chains it."""

    kind: str
    summary: str
    actor: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # default: now


@dataclass
class Verification:
    """What ``verify`` found: ``ok`` when the chain is whole, else one line per problem."""

    incident_id: str
    entries: int
    head: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class _Draft:
    """A new incident's row and ``opened`` entry, checked, before it has an id."""

    row: dict[str, Any]
    actor: str
    now: datetime
    base: str
    opened_data: dict[str, Any]

    @classmethod
    def make(
        cls,
        *,
        title: str,
        severity: str,
        actor: str,
        commander: str | None = None,
        scribe: str | None = None,
        comms_lead: str | None = None,
        services: Sequence[str] = (),
        runbook: str | None = None,
        summary: str = "",
        impact: str = "",
        public_summary: str = "",
        source: str = "cli",
        started_at: datetime | None = None,
        now: datetime | None = None,
        details: Mapping[str, Any] | None = None,
        opened_data: Mapping[str, Any] | None = None,
    ) -> _Draft:
        severity = check_severity(severity)
        title = title.strip()
        if not title:
            raise UsageError("an incident needs a title (--title)")
        now = _micro(now or _now())
        started = _micro(started_at) if started_at else now
        if started > now:
            started = now
        row: dict[str, Any] = {
            "title": title,
            "severity": severity,
            "status": INVESTIGATING,
            "commander": commander or None,
            "scribe": scribe or None,
            "comms_lead": comms_lead or None,
            "services": [s for s in dict.fromkeys(str(s).strip() for s in services) if s],
            "runbook": runbook or None,
            "summary": summary,
            "impact": impact,
            "users_affected": "",
            "root_cause": "",
            "public_summary": public_summary,
            "source": source,
            "started_at": started,
            "detected_at": now,
            "acknowledged_at": now if commander else None,
            "escalation_level": 1,
            "details": dict(details or {}),
            "timeline_count": 0,
            "timeline_head": GENESIS,
        }
        data = {
            "severity": severity,
            "title": title,
            "services": row["services"],
            "commander": commander,
            "source": source,
            **dict(opened_data or {}),
        }
        return cls(row, actor, now, incident_id_for(now), data)


def _micro(value: datetime) -> datetime:
    """UTC, microseconds: what every backend stores and gives back (the hash is over it)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timeline times must be timezone-aware")
    return value.astimezone(UTC)


class IncidentStore:
    """Incidents in one history store. Use as a context manager, or call ``close()``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.url = store.url

    def __enter__(self) -> IncidentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @contextlib.contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction; a unique-key clash (a race for an id or a timeline number) comes out
        as ``_Conflict`` for the caller to retry, any other database error as one line."""
        with self.store._errors():
            try:
                with self.store.engine.begin() as conn:
                    yield conn
            except sa_exc.IntegrityError:
                # Not the driver's text: its DETAIL line repeats the clashing values.
                raise _Conflict(
                    f"history store {self.url}: a concurrent change to the same incident; try again"
                ) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.store._errors(), self.store.engine.connect() as conn:
            yield conn

    # -- incidents -----------------------------------------------------------------------

    def open(self, *, alert_key: str | None = None, **fields: Any) -> Incident:
        """A new incident, INVESTIGATING, with its ``opened`` timeline entry (one transaction);
        ``fields`` are ``_Draft.make``'s (title, severity, actor, people, services...).
        Its id is ``INC-YYYYMMDD-HHMMSS`` of ``now``, with ``-2``, ``-3``... on a clash. A
        commander named at opening acknowledges it."""
        draft = _Draft.make(**fields)
        for attempt in range(1, 100):
            ident = draft.base if attempt == 1 else f"{draft.base}-{attempt}"
            try:
                with self._begin() as conn:
                    self._insert(conn, ident, draft, alert_key)
                return self.get(ident)
            except _Conflict:
                continue
        raise UsageError(f"could not find a free incident id after {draft.base}-99")

    def open_or_attach(
        self,
        alert_key: str,
        *,
        actor: str,
        summary: str | Callable[[Incident], str],
        data: Mapping[str, Any] | None = None,
        incident_summary: str = "",
        **fields: Any,
    ) -> tuple[Incident, TimelineEntry, bool]:
        """An alert's incident, atomically: the open incident that already has ``alert_key``
        gets an ``alert`` entry (a repeat), else a new incident is opened with the key
        (``fields`` as for ``open``). Returns (incident, the entry written, opened?).
        ``summary`` is the repeat's entry text, or a function of the incident it attaches to
        (read under the lock) giving it; ``incident_summary`` is a new incident's ``summary``.

        The check and the write are one transaction under a lock on the key (PostgreSQL: a
        transaction-level advisory lock; SQLite: the database's write lock, taken first), so
        two copies of an alert arriving together open one incident, never two."""
        draft = _Draft.make(actor=actor, summary=incident_summary, **fields)
        key = incident_alert_keys.c
        for _attempt in range(APPEND_ATTEMPTS):
            try:
                with self._begin() as conn:
                    self._lock_alert_key(conn, alert_key)
                    found = conn.execute(
                        sa.select(incidents)
                        .join(incident_alert_keys, key.incident_id == incidents.c.id)
                        .where(
                            key.alert_key == alert_key,
                            incidents.c.status.in_(sorted(OPEN_STATUSES)),
                        )
                        .order_by(incidents.c.detected_at.desc())
                        .limit(1)
                    ).first()
                    if found is not None:
                        text = (
                            summary(incident_from_row(found._mapping))
                            if callable(summary)
                            else summary
                        )
                        entry = self._attach(
                            conn, found.id, alert_key, actor, text, data, draft.now
                        )
                        opened = False
                        ident = found.id
                    else:
                        taken = set(
                            conn.execute(
                                sa.select(incidents.c.id).where(
                                    incidents.c.id.like(f"{draft.base}%")
                                )
                            ).scalars()
                        )
                        ident, n = draft.base, 1
                        while ident in taken:
                            n += 1
                            ident = f"{draft.base}-{n}"
                        entry = self._insert(conn, ident, draft, alert_key)
                        opened = True
                return self.get(ident), entry, opened
            except _Conflict:
                continue  # an incident opened by hand took the id first: look again
        raise IrdriveError(
            f"history store {self.url}: alert {alert_key!r} kept racing other writers"
        )

    def _lock_alert_key(self, conn: sa.Connection, alert_key: str) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(sa.func.hashtext("irdrive-alert:" + alert_key))
                )
            )
        else:  # SQLite: a write statement takes the database's write lock for the transaction
            conn.execute(incidents.update().where(sa.false()).values(id=incidents.c.id))

    def _insert(
        self, conn: sa.Connection, ident: str, draft: _Draft, alert_key: str | None
    ) -> TimelineEntry:
        conn.execute(incidents.insert().values(id=ident, **draft.row))
        (entry,) = self._append(
            conn,
            ident,
            [
                NewEntry(
                    "opened",
                    f"{draft.row['severity']} opened: {draft.row['title']}",
                    draft.actor,
                    draft.opened_data,
                    draft.now,
                )
            ],
        )
        if alert_key:
            conn.execute(
                incident_alert_keys.insert().values(
                    alert_key=alert_key,
                    incident_id=ident,
                    first_seen=draft.now,
                    last_seen=draft.now,
                    count=1,
                )
            )
        return entry

    def get(self, ident: str) -> Incident:
        ident = check_incident_id(ident)
        with self._read() as conn:
            row = conn.execute(sa.select(incidents).where(incidents.c.id == ident)).first()
        if row is None:
            raise UsageError(f"no incident {ident} in the history store {self.url}")
        return incident_from_row(row._mapping)

    def incidents(
        self,
        *,
        open_only: bool = False,
        since: datetime | None = None,
        severity: str | None = None,
        limit: int | None = 100,
        active_since: datetime | None = None,
    ) -> list[Incident]:
        """Incidents, newest first: the open ones only, or those detected since ``since``, or
        active since ``active_since`` (open, or detected, resolved or closed since then)."""
        query = sa.select(incidents)
        if open_only:
            query = query.where(incidents.c.status.in_(sorted(OPEN_STATUSES)))
        if since is not None:
            query = query.where(incidents.c.detected_at >= _micro(since))
        if active_since is not None:
            when = _micro(active_since)
            query = query.where(
                sa.or_(
                    incidents.c.status.in_(sorted(OPEN_STATUSES)),
                    incidents.c.detected_at >= when,
                    incidents.c.resolved_at >= when,
                    incidents.c.closed_at >= when,
                )
            )
        if severity is not None:
            query = query.where(incidents.c.severity == check_severity(severity))
        query = query.order_by(incidents.c.detected_at.desc(), incidents.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [incident_from_row(row._mapping) for row in conn.execute(query)]

    def update(
        self,
        ident: str,
        *,
        actor: str,
        now: datetime | None = None,
        **changes: Any,
    ) -> tuple[Incident, list[TimelineEntry]]:
        """Change fields (``TEXT_FIELDS``, ``ROLES``, ``severity``, ``services``,
        ``escalation_level``, ``last_update_at``, ``details``) with one timeline entry per
        changed field giving the value it replaced. Unchanged values record nothing."""
        allowed = {
            *TEXT_FIELDS,
            *ROLES,
            "severity",
            "services",
            "escalation_level",
            "last_update_at",
            "details",
        }
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise UsageError(f"cannot update {', '.join(unknown)} of an incident")
        if "severity" in changes:
            changes["severity"] = check_severity(changes["severity"])
        if "services" in changes:
            changes["services"] = [
                s for s in dict.fromkeys(str(s).strip() for s in changes["services"]) if s
            ]
        if changes.get("title") is not None and not str(changes["title"]).strip():
            raise UsageError("an incident's title cannot be empty")
        now = _micro(now or _now())
        with self._begin() as conn:
            current = self._locked(conn, ident)
            values: dict[str, Any] = {}
            entries: list[NewEntry] = []
            for name, value in changes.items():
                before = getattr(current, name)
                if value == before:
                    continue
                values[name] = value
                if name == "last_update_at":
                    continue  # the notify entry says it
                kind = "role" if name in ROLES else "field"
                if name == "escalation_level":
                    kind = "escalation"
                shown_before = before.isoformat() if isinstance(before, datetime) else before
                entries.append(
                    NewEntry(
                        kind,
                        f"{name}: {_short(shown_before)} -> {_short(value)}",
                        actor,
                        {"field": name, "before": shown_before, "after": value},
                        now,
                    )
                )
            if any(name in ROLES and changes[name] for name in changes) and (
                current.acknowledged_at is None
            ):
                values["acknowledged_at"] = now
            if not values:
                return current, []
            conn.execute(incidents.update().where(incidents.c.id == current.id).values(**values))
            written = self._append(conn, current.id, entries)
        return self.get(current.id), written

    def set_status(
        self,
        ident: str,
        status: str,
        *,
        actor: str,
        note: str = "",
        now: datetime | None = None,
        reopen: bool = False,
    ) -> tuple[Incident, TimelineEntry]:
        """Move the incident to ``status`` along the playbook's transitions (``reopen``: from
        RESOLVED or CLOSED back to INVESTIGATING), stamping the phase times it reaches first."""
        now = _micro(now or _now())
        with self._begin() as conn:
            current = self._locked(conn, ident)
            if reopen:
                if current.status not in REOPEN_FROM:
                    raise UsageError(
                        f"{current.id} is {current.status}: only a RESOLVED or CLOSED incident "
                        "is reopened"
                    )
                status = INVESTIGATING
            else:
                status = check_status(status)
                check_transition(current.status, status)
            values: dict[str, Any] = {"status": status}
            if current.acknowledged_at is None:
                values["acknowledged_at"] = now
            stamp = {
                IDENTIFIED: "identified_at",
                MONITORING: "mitigated_at",
                RESOLVED: "resolved_at",
                CLOSED: "closed_at",
            }.get(status)
            if stamp and (getattr(current, stamp) is None or status in (RESOLVED, CLOSED)):
                values[stamp] = now
            if reopen:
                values["resolved_at"] = None
                values["closed_at"] = None
            conn.execute(incidents.update().where(incidents.c.id == current.id).values(**values))
            verb = "reopened" if reopen else "status"
            summary = f"{current.status} -> {status}" + (f": {note}" if note else "")
            (entry,) = self._append(
                conn,
                current.id,
                [
                    NewEntry(
                        "status",
                        f"{verb} {summary}" if reopen else summary,
                        actor,
                        {"from": current.status, "to": status, "note": note, "reopen": reopen},
                        now,
                    )
                ],
            )
        return self.get(current.id), entry

    def escalate(
        self,
        ident: str,
        level: int,
        *,
        why: str,
        engage: str,
        actor: str,
        reached_at: datetime | None = None,
        now: datetime | None = None,
    ) -> tuple[Incident, TimelineEntry | None]:
        """Raise the incident's escalation level to ``level`` with an ``escalation`` entry
        saying why and whom to engage. Under the row's lock, so two commands computing the
        same raise record it once; a level at or below the recorded one writes nothing.
        ``reached_at``: when a clock called for the level (kept in the entry's data; the
        entry itself is dated ``now``, when it was recorded)."""
        if level not in (1, 2, 3, 4):
            raise UsageError(f"invalid escalation level {level!r}: 1 to 4")
        now = _micro(now or _now())
        with self._begin() as conn:
            current = self._locked(conn, ident)
            if level <= current.escalation_level:
                return current, None
            conn.execute(
                incidents.update()
                .where(incidents.c.id == current.id)
                .values(escalation_level=level)
            )
            (entry,) = self._append(
                conn,
                current.id,
                [
                    NewEntry(
                        "escalation",
                        f"escalated L{current.escalation_level} -> L{level}: {why}",
                        actor,
                        {
                            "from": current.escalation_level,
                            "to": level,
                            # the shape of update()'s entries too: readers of either find it
                            "field": "escalation_level",
                            "before": current.escalation_level,
                            "after": level,
                            "why": why,
                            "engage": engage,
                            "reached_at": _micro(reached_at).isoformat() if reached_at else None,
                        },
                        now,
                    )
                ],
            )
        return self.get(current.id), entry

    # -- timeline ------------------------------------------------------------------------

    def append(self, ident: str, entries: Iterable[NewEntry]) -> list[TimelineEntry]:
        """Append ``entries`` in order to the incident's timeline, chained (one transaction)."""
        items = list(entries)
        for entry in items:
            if entry.kind not in ENTRY_KINDS:
                raise ValueError(f"unknown timeline entry kind {entry.kind!r}")
        for attempt in range(APPEND_ATTEMPTS):
            try:
                with self._begin() as conn:
                    current = self._locked(conn, ident)
                    return self._append(conn, current.id, items)
            except _Conflict:
                if attempt == APPEND_ATTEMPTS - 1:
                    raise IrdriveError(
                        f"history store {self.url}: the timeline of {ident} kept changing "
                        f"under {APPEND_ATTEMPTS} attempts to append to it"
                    ) from None
        return []  # pragma: no cover

    def note(self, ident: str, text: str, *, actor: str, kind: str = "note") -> TimelineEntry:
        text = text.strip()
        if not text:
            raise UsageError("an empty note adds nothing to the timeline")
        (entry,) = self.append(ident, [NewEntry(kind, text, actor, {})])
        return entry

    def timeline(self, ident: str) -> list[TimelineEntry]:
        ident = self.get(ident).id
        query = (
            sa.select(incident_timeline)
            .where(incident_timeline.c.incident_id == ident)
            .order_by(incident_timeline.c.seq, incident_timeline.c.id)
        )
        with self._read() as conn:
            return [entry_from_row(row._mapping) for row in conn.execute(query)]

    def verify(self, ident: str) -> Verification:
        """Walk the chain: every entry's hash recomputed, its ``prev_hash`` the one before,
        the numbering without gaps, and the incident's recorded head and count at the end."""
        ident, count, head, rows = self._chain(ident)
        result = Verification(ident, len(rows), head)
        prev = GENESIS
        expected_seq = 1
        for entry in rows:
            if entry.seq != expected_seq:
                if entry.seq > expected_seq:
                    missing = ", ".join(str(n) for n in range(expected_seq, entry.seq))
                    result.problems.append(f"entry {missing} missing: deleted")
                else:
                    result.problems.append(
                        f"entry {entry.seq} out of order (after entry {expected_seq - 1})"
                    )
            if entry.compute_hash() != entry.hash:
                result.problems.append(f"entry {entry.seq} ({entry.kind}) was altered")
            elif entry.prev_hash != prev:
                result.problems.append(
                    f"entry {entry.seq} does not follow the entry before it: reordered or "
                    "an entry removed"
                )
            prev = entry.hash
            expected_seq = max(expected_seq, entry.seq) + 1
        if len(rows) < count:
            result.problems.append(
                f"the timeline has {len(rows)} entries, the incident recorded {count}: "
                f"{count - len(rows)} deleted"
            )
        elif len(rows) > count:
            result.problems.append(
                f"the timeline has {len(rows)} entries, the incident recorded {count}: "
                "entries inserted"
            )
        if rows and prev != head and len(rows) == count:
            result.problems.append("the last entry is not the one the incident recorded")
        return result

    def public_window(self, cutoff: datetime, limit: int | None = None) -> list[Incident]:
        """The open incidents and those resolved (or closed; else detected) since ``cutoff``:
        the open ones first, then newest detected first; at most ``limit`` (None: all).
        What a status page shows."""
        table = incidents
        open_now = table.c.status.in_(sorted(OPEN_STATUSES))
        ended = sa.func.coalesce(table.c.resolved_at, table.c.closed_at, table.c.detected_at)
        query = (
            sa.select(table)
            .where(sa.or_(open_now, ended >= _micro(cutoff)))
            .order_by(sa.case((open_now, 0), else_=1), table.c.detected_at.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [incident_from_row(row._mapping) for row in conn.execute(query)]

    def run_starts(self, idents: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """incident id -> the data of each ``run.start`` entry on its timeline, in timeline
        order (one query for all of ``idents``; every id given has a list, maybe empty)."""
        found: dict[str, list[dict[str, Any]]] = {ident: [] for ident in idents}
        if not found:
            return found
        t = incident_timeline.c
        query = (
            sa.select(t.incident_id, t.data)
            .where(t.kind == "run.start", t.incident_id.in_(list(found)))
            .order_by(t.incident_id, t.seq)
        )
        with self._read() as conn:
            for row in conn.execute(query):
                found[row.incident_id].append(dict(row.data or {}))
        return found

    # -- alerts --------------------------------------------------------------------------

    def open_for_alert(self, alert_key: str) -> Incident | None:
        """The open incident an alert with ``alert_key`` already opened or attached to."""
        query = (
            sa.select(incidents)
            .join(incident_alert_keys, incident_alert_keys.c.incident_id == incidents.c.id)
            .where(
                incident_alert_keys.c.alert_key == alert_key,
                incidents.c.status.in_(sorted(OPEN_STATUSES)),
            )
            .order_by(incidents.c.detected_at.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return incident_from_row(row._mapping) if row is not None else None

    def attach_alert(
        self,
        ident: str,
        alert_key: str,
        *,
        actor: str,
        summary: str,
        data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> TimelineEntry:
        """Record a repeat of an alert on the incident (and remember its key)."""
        now = _micro(now or _now())
        with self._begin() as conn:
            current = self._locked(conn, ident)
            entry = self._attach(conn, current.id, alert_key, actor, summary, data, now)
        return entry

    def _attach(
        self,
        conn: sa.Connection,
        ident: str,
        alert_key: str,
        actor: str,
        summary: str,
        data: Mapping[str, Any] | None,
        now: datetime,
    ) -> TimelineEntry:
        key = incident_alert_keys.c
        found = conn.execute(
            sa.select(key.id, key.count).where(key.alert_key == alert_key, key.incident_id == ident)
        ).first()
        if found is None:
            conn.execute(
                incident_alert_keys.insert().values(
                    alert_key=alert_key, incident_id=ident, first_seen=now, last_seen=now, count=1
                )
            )
            count = 1
        else:
            count = int(found._mapping["count"]) + 1
            conn.execute(
                incident_alert_keys.update()
                .where(key.id == found.id)
                .values(last_seen=now, count=count)
            )
        (entry,) = self._append(
            conn,
            ident,
            [
                NewEntry(
                    "alert",
                    summary,
                    actor,
                    {"alert_key": alert_key, "count": count, **dict(data or {})},
                    now,
                )
            ],
        )
        return entry

    # -- action items --------------------------------------------------------------------

    def add_action(
        self,
        ident: str,
        *,
        action: str,
        owner: str,
        priority: str,
        due: str | None,
        actor: str,
        now: datetime | None = None,
    ) -> ActionItem:
        action, owner = action.strip(), owner.strip()
        if not action or not owner:
            raise UsageError("an action item needs an action and an owner")
        if priority.strip().upper() not in ACTION_PRIORITIES:
            raise UsageError(
                f"invalid priority {priority!r}: one of {', '.join(ACTION_PRIORITIES)}"
            )
        priority = priority.strip().upper()
        if due is not None:
            try:
                due = datetime.strptime(due, "%Y-%m-%d").date().isoformat()
            except ValueError:
                raise UsageError(f"invalid due date {due!r}: YYYY-MM-DD") from None
        now = _micro(now or _now())
        with self._begin() as conn:
            current = self._locked(conn, ident)
            result = conn.execute(
                incident_actions.insert()
                .values(
                    incident_id=current.id,
                    action=action,
                    owner=owner,
                    priority=priority,
                    due=due,
                    status="open",
                    created_at=now,
                )
                .returning(incident_actions.c.id)
            )
            action_id = int(result.scalar_one())
            self._append(
                conn,
                current.id,
                [
                    NewEntry(
                        "action",
                        f"action item #{action_id} added: {action} ({owner}, {priority})",
                        actor,
                        {"action_id": action_id, "status": "open", "due": due},
                        now,
                    )
                ],
            )
        return self.action(action_id)

    def action(self, action_id: int) -> ActionItem:
        with self._read() as conn:
            row = conn.execute(
                sa.select(incident_actions).where(incident_actions.c.id == action_id)
            ).first()
        if row is None:
            raise UsageError(f"no action item #{action_id}")
        return action_from_row(row._mapping)

    def actions(self, ident: str | None = None, *, status: str | None = None) -> list[ActionItem]:
        query = sa.select(incident_actions)
        if ident is not None:
            query = query.where(incident_actions.c.incident_id == self.get(ident).id)
        if status is not None:
            if status not in ACTION_STATUSES:
                raise UsageError(f"invalid status {status!r}: one of {', '.join(ACTION_STATUSES)}")
            query = query.where(incident_actions.c.status == status)
        query = query.order_by(incident_actions.c.id)
        with self._read() as conn:
            return [action_from_row(row._mapping) for row in conn.execute(query)]

    def set_action_status(
        self, action_id: int, status: str, *, actor: str, now: datetime | None = None
    ) -> ActionItem:
        if status not in ACTION_STATUSES:
            raise UsageError(f"invalid status {status!r}: one of {', '.join(ACTION_STATUSES)}")
        now = _micro(now or _now())
        item = self.action(action_id)
        with self._begin() as conn:
            self._locked(conn, item.incident_id)
            # Read again under the incident's lock: another responder may have moved it.
            row = conn.execute(
                sa.select(incident_actions).where(incident_actions.c.id == action_id)
            ).one()
            item = action_from_row(row._mapping)
            if item.status == status:
                return item
            conn.execute(
                incident_actions.update()
                .where(incident_actions.c.id == action_id)
                .values(status=status, done_at=now if status == "done" else None)
            )
            self._append(
                conn,
                item.incident_id,
                [
                    NewEntry(
                        "action",
                        f"action item #{action_id} {item.status} -> {status}: {item.action}",
                        actor,
                        {"action_id": action_id, "from": item.status, "status": status},
                        now,
                    )
                ],
            )
        return self.action(action_id)

    # -- internals -----------------------------------------------------------------------

    def _chain(self, ident: str) -> tuple[str, int, str, list[TimelineEntry]]:
        """The incident's recorded head (id, count, hash) and its timeline rows in the order
        they were written, from one consistent view: a run appending while someone verifies
        is not tampering. PostgreSQL: one REPEATABLE READ snapshot. SQLite: the head read
        before and after the rows (every append moves it), and if writers keep moving it,
        the rows read under the database's write lock."""
        ident = check_incident_id(ident)
        if self.store.engine.dialect.name == "postgresql":
            with self.store._errors(), self.store.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    return self._chain_on(conn, ident)
        for _attempt in range(APPEND_ATTEMPTS):
            with self._read() as conn:
                found = self._chain_on(conn, ident)
            _, count, head = self._head(ident)
            if (count, head) == found[1:3]:
                return found
        with self._begin() as conn:
            self._locked(conn, ident)
            return self._chain_on(conn, ident)

    def _chain_on(
        self, conn: sa.Connection, ident: str
    ) -> tuple[str, int, str, list[TimelineEntry]]:
        row = conn.execute(
            sa.select(incidents.c.id, incidents.c.timeline_count, incidents.c.timeline_head).where(
                incidents.c.id == ident
            )
        ).first()
        if row is None:
            raise UsageError(f"no incident {ident} in the history store {self.url}")
        query = (
            sa.select(incident_timeline)
            .where(incident_timeline.c.incident_id == ident)
            .order_by(incident_timeline.c.id)
        )
        rows = [entry_from_row(r._mapping) for r in conn.execute(query)]
        return row.id, int(row.timeline_count), row.timeline_head, rows

    def _head(self, ident: str) -> tuple[str, int, str]:
        ident = check_incident_id(ident)
        with self._read() as conn:
            row = conn.execute(
                sa.select(
                    incidents.c.id, incidents.c.timeline_count, incidents.c.timeline_head
                ).where(incidents.c.id == ident)
            ).first()
        if row is None:
            raise UsageError(f"no incident {ident} in the history store {self.url}")
        return row.id, int(row.timeline_count), row.timeline_head

    def _locked(self, conn: sa.Connection, ident: str) -> Incident:
        """The incident's row, locked for this transaction (PostgreSQL: FOR UPDATE)."""
        ident = check_incident_id(ident)
        query = sa.select(incidents).where(incidents.c.id == ident)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        else:  # SQLite: take the database's write lock now, before reading the head
            conn.execute(
                incidents.update().where(incidents.c.id == ident).values(id=incidents.c.id)
            )
        row = conn.execute(query).first()
        if row is None:
            raise UsageError(f"no incident {ident} in the history store {self.url}")
        return incident_from_row(row._mapping)

    def _append(
        self, conn: sa.Connection, ident: str, entries: Sequence[NewEntry]
    ) -> list[TimelineEntry]:
        if not entries:
            return []
        head = conn.execute(
            sa.select(incidents.c.timeline_count, incidents.c.timeline_head).where(
                incidents.c.id == ident
            )
        ).one()
        seq, prev = int(head.timeline_count), head.timeline_head
        written: list[TimelineEntry] = []
        for new in entries:
            seq += 1
            draft = TimelineEntry(
                incident_id=ident,
                seq=seq,
                at=_micro(new.at or _now()),
                kind=new.kind,
                summary=new.summary,
                actor=new.actor,
                data=_plain(new.data),
                prev_hash=prev,
            )
            entry = TimelineEntry(**{**draft.__dict__, "hash": draft.compute_hash()})
            written.append(entry)
            prev = entry.hash
        conn.execute(
            incident_timeline.insert(),
            [
                {
                    "incident_id": e.incident_id,
                    "seq": e.seq,
                    "at": e.at,
                    "kind": e.kind,
                    "actor": e.actor,
                    "summary": e.summary,
                    "data": e.data,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in written
            ],
        )
        conn.execute(
            incidents.update()
            .where(incidents.c.id == ident)
            .values(timeline_count=seq, timeline_head=prev)
        )
        return written


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as the store gives it back (JSON: times and other objects as their text,
    tuples as lists, keys as strings), so the hash is over what is stored and ``verify``
    agrees on every backend."""
    try:
        plain = json.loads(canonical(dict(data)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"timeline data is not JSON-able: {exc}") from None
    return dict(plain)


def _short(value: Any, limit: int = 60) -> str:
    text = "-" if value in (None, "", []) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def open_incidents(
    url: str | None = None,
    *,
    connect_timeout: int | None = None,
    create: bool = True,
    ident: str | None = None,
) -> IncidentStore:
    """The incident records in the store at ``url`` or the configured one (migrated).

    ``create=False``: an SQLite store that does not exist yet is not made (it holds no
    incident): a UsageError says so, naming incident ``ident`` when given, and no file is
    written. Other backends are opened as usual (a server's database is never created)."""
    if not create:
        from irdrive.history import location, store_url

        path = location.sqlite_path(store_url(url))
        if path is not None and not path.exists():
            subject = f"no incident {check_incident_id(ident)}" if ident else "no incidents"
            raise UsageError(
                f"{subject}: the history store {path} does not exist yet "
                "(`irdrive incident open` makes it)"
            )
    return IncidentStore(open_store(url, connect_timeout=connect_timeout))
