"""What an incident record is (plain data, no database imports): the incident playbook's
severity matrix, statuses and their transitions, the roles, timeline entries and action items.

The matrix, statuses and roles are the playbook's (``Incident Classification Matrix``,
``Communication Templates``, ``Action Item Tracking``); nothing here reads a clock, so the
clock and escalation arithmetic (``irdrive.incidents.clock``) is tested with a frozen one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from irdrive.errors import UsageError
from irdrive.freshness import SEVERITY_TARGETS

SEVERITIES = ("P0", "P1", "P2", "P3")
SEVERITY_NAMES = {"P0": "Critical", "P1": "High", "P2": "Medium", "P3": "Low"}

INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED, CLOSED = (
    "INVESTIGATING",
    "IDENTIFIED",
    "MONITORING",
    "RESOLVED",
    "CLOSED",
)
# The playbook's four statuses, then CLOSED: resolved, and its post-incident work done.
STATUSES = (INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED, CLOSED)
OPEN_STATUSES = frozenset({INVESTIGATING, IDENTIFIED, MONITORING})
# status -> the statuses ``irdrive incident status`` may move it to. Back out of RESOLVED or
# CLOSED only through ``reopen`` (REOPEN_FROM), which goes to INVESTIGATING.
TRANSITIONS: dict[str, frozenset[str]] = {
    INVESTIGATING: frozenset({IDENTIFIED, MONITORING, RESOLVED}),
    IDENTIFIED: frozenset({INVESTIGATING, MONITORING, RESOLVED}),
    MONITORING: frozenset({INVESTIGATING, IDENTIFIED, RESOLVED}),
    RESOLVED: frozenset({CLOSED}),
    CLOSED: frozenset(),
}
REOPEN_FROM = frozenset({RESOLVED, CLOSED})

# How often a communication update is due while an incident is open, by severity (seconds):
# the templates' "Next Update" time; ``show`` reminds the responder when it has passed.
UPDATE_CADENCE_S: dict[str, int] = {"P0": 30 * 60, "P1": 60 * 60, "P2": 4 * 3600, "P3": 24 * 3600}

# An incident's times, in the order an incident reaches them (``last_update_at`` last: when
# the last communication went out).
TIME_FIELDS = (
    "started_at",
    "detected_at",
    "acknowledged_at",
    "identified_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "last_update_at",
)
# An incident's own text, besides its people: what ``update`` may change.
TEXT_FIELDS = (
    "title",
    "summary",
    "impact",
    "users_affected",
    "root_cause",
    "public_summary",
    "runbook",
)

# The incident's people: a commander, and optionally a scribe and a communications lead.
ROLES = ("commander", "scribe", "comms_lead")

# Action items (the playbook's Action Item Tracking table).
ACTION_STATUSES = ("open", "in-progress", "done", "wont-do")
ACTION_PRIORITIES = SEVERITIES

# Timeline entry kinds. Runs: run.start / task.start / task.end (outcome, changed, prior
# state) / change / verify / run.end. People: note, status, role, field (an update), alert
# (a repeat alert attached), escalation, notify (sent or failed), command (a command line a
# responder ran), action (an action item added or done), opened, resolved, closed, reopened.
ENTRY_KINDS = frozenset(
    {
        "opened",
        "status",
        "role",
        "field",
        "note",
        "alert",
        "escalation",
        "notify",
        "command",
        "action",
        "run.start",
        "task.start",
        "task.end",
        "change",
        "verify",
        "run.end",
    }
)

ID_RE = re.compile(r"^INC-\d{8}-\d{6}(?:-\d+)?$")
GENESIS = "0" * 64


def incident_id_for(when: datetime) -> str:
    """``INC-YYYYMMDD-HHMMSS`` of ``when`` in UTC (the store adds ``-2``, ``-3`` on a clash)."""
    return "INC-" + when.astimezone(UTC).strftime("%Y%m%d-%H%M%S")


def check_severity(value: str) -> str:
    sev = str(value).strip().upper()
    if sev not in SEVERITIES:
        raise UsageError(f"invalid severity {value!r}: one of {', '.join(SEVERITIES)}")
    return sev


def check_status(value: str) -> str:
    status = str(value).strip().upper()
    if status not in STATUSES:
        raise UsageError(f"invalid status {value!r}: one of {', '.join(STATUSES)}")
    return status


def check_transition(current: str, new: str) -> None:
    """Refuse a move the playbook's statuses do not allow, saying what is allowed."""
    if new == current:
        raise UsageError(f"the incident is already {current}")
    allowed = TRANSITIONS.get(current, frozenset())
    if new not in allowed:
        hint = " (use `irdrive incident reopen`)" if current in REOPEN_FROM else ""
        options = ", ".join(s for s in STATUSES if s in allowed) or "none"
        raise UsageError(
            f"cannot move an incident from {current} to {new}{hint}; from {current}: {options}"
        )


def check_incident_id(value: str) -> str:
    ident = str(value).strip().upper()
    if not ID_RE.match(ident):
        raise UsageError(f"invalid incident id {value!r}: INC-YYYYMMDD-HHMMSS")
    return ident


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"Incident.{name} must be timezone-aware")


@dataclass
class Incident:
    """One incident. Times are tz-aware UTC. ``started_at`` is when the impact began (an
    alert's startsAt, or when it was opened); ``detected_at`` when irdrive knew of it (the
    incident was opened); ``acknowledged_at`` when a person took it (a commander named, or
    the first status change). MTTD = detected - started, MTTA = acknowledged - detected,
    MTTR = resolved - started."""

    id: str
    title: str
    severity: str
    status: str = INVESTIGATING
    commander: str | None = None
    scribe: str | None = None
    comms_lead: str | None = None
    services: list[str] = field(default_factory=list)
    runbook: str | None = None  # the runbook an alert named, or the one first run
    summary: str = ""  # internal: what is happening (Internal Incident Alert's Summary)
    impact: str = ""  # internal: business impact
    users_affected: str = ""
    root_cause: str = ""
    # The only text a status page or user message shows (User Communication's wording).
    public_summary: str = ""
    source: str = "cli"  # cli, alert
    started_at: datetime | None = None
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    identified_at: datetime | None = None
    mitigated_at: datetime | None = None  # first MONITORING
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    last_update_at: datetime | None = None  # last communication sent (or rendered with --send)
    escalation_level: int = 1  # the highest level engaged so far (recorded in the timeline)
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able extras

    def __post_init__(self) -> None:
        for name in TIME_FIELDS:
            _aware(getattr(self, name), name)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def respond_target_s(self) -> int:
        return SEVERITY_TARGETS[self.severity][0]

    @property
    def resolve_target_s(self) -> int:
        return SEVERITY_TARGETS[self.severity][1]

    @property
    def next_update_at(self) -> datetime | None:
        """When the next communication is due: the last one sent (else detection) plus the
        severity's cadence; None once the incident is no longer open."""
        last = self.last_update_at or self.detected_at
        if not self.is_open or last is None:
            return None
        return last + timedelta(seconds=UPDATE_CADENCE_S[self.severity])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.astimezone(UTC).isoformat()
        data["next_update_at"] = self.next_update_at.isoformat() if self.next_update_at else None
        data["respond_target_s"] = self.respond_target_s
        data["resolve_target_s"] = self.resolve_target_s
        return data


def canonical(value: Any) -> str:
    """The JSON a timeline hash is computed over: sorted keys, no spaces, UTC ISO times."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an incident's timeline: append-only, hash-chained per incident. ``hash`` is
    sha256(prev_hash + canonical(body)) where body is every field but the two hashes."""

    incident_id: str
    seq: int  # 1, 2, 3... within the incident
    at: datetime  # tz-aware UTC: when it happened (an event's own time for run entries)
    kind: str  # one of ENTRY_KINDS
    summary: str  # one line for tables
    actor: str = ""  # who: a user name, "irdrive", "alert:<name>", "run:<run id>"
    data: dict[str, Any] = field(default_factory=dict)  # JSON-able, redacted before it gets here
    prev_hash: str = GENESIS
    hash: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(),
            "kind": self.kind,
            "summary": self.summary,
            "actor": self.actor,
            "data": self.data,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256((self.prev_hash + canonical(self.body())).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass
class ActionItem:
    """A post-incident action item: the playbook's Action | Owner | Due Date | Status | Priority."""

    incident_id: str
    action: str
    owner: str
    priority: str  # P0..P3
    due: str | None = None  # ISO date YYYY-MM-DD
    status: str = "open"  # one of ACTION_STATUSES
    created_at: datetime | None = None
    done_at: datetime | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "done_at"):
            if data[key] is not None:
                data[key] = data[key].astimezone(UTC).isoformat()
        return data
