"""Severity clocks and escalation: pure functions of an incident and ``now`` (never a clock
read here, so every boundary is tested with a frozen one), and the on-call roster file.

Clocks (the playbook's classification matrix, ``irdrive.freshness.SEVERITY_TARGETS``):

- **respond**: from detection (``detected_at``, else ``started_at``) to acknowledgement
  (``acknowledged_at``: a person named or the first status change), against the severity's
  response target;
- **resolve**: from the start of the impact (``started_at``, else ``detected_at``) to
  ``resolved_at``, against the resolution target.

A clock stops when its end is reached. It is *breached* once its elapsed time is past the
target: at exactly the target it is still met; one microsecond later it is breached.

Escalation (the playbook's Escalation Procedures), on the time the incident has been
unresolved since detection; a trigger is reached at its boundary (30 minutes unresolved is
already "unable to resolve in 30 minutes"):

- **L1 On-Call Engineer**: every incident, from the start;
- **L2 Team Lead**: at once for P0 and P1, else after 30 minutes unresolved;
- **L3 Engineering Manager**: after 2 hours unresolved, or an *extended outage*: still
  unresolved when the severity's resolution target is reached (for P0 that is 1 hour; for
  P1-P3 the target is longer than 2 hours), or ``details.extended_outage`` set by a responder;
- **L4 Executive Team**: a *security breach* (the ``security-breach`` runbook, a ``security``
  service, or ``details.security``), a *legal issue* (``details.legal``), or a *major
  incident*: ``details.business_impact`` or ``details.major`` (the playbook's "business impact
  exceeds thresholds", a responder's call), or a P0 still unresolved at twice its resolution
  target (2 hours).

Once resolved, the clocks stop and no further level is reached: the level is the one reached
at ``resolved_at``.

The roster (``roster.yml`` in the config folder, or ``$IRDRIVE_ROSTER``) says who each level
is: see ``configs/roster.example.yml``. Without one, ``show`` names the playbook's role.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from irdrive.errors import UsageError
from irdrive.incidents.model import Incident

ENV_ROSTER = "IRDRIVE_ROSTER"

LEVELS = (1, 2, 3, 4)
# The playbook's levels: who, and how fast they respond (seconds).
LEVEL_NAMES = {
    1: "On-Call Engineer",
    2: "Team Lead",
    3: "Engineering Manager",
    4: "Executive Team",
}
LEVEL_RESPONSE_S = {1: 15 * 60, 2: 30 * 60, 3: 3600, 4: 2 * 3600}

L2_AFTER_S = 30 * 60  # "If unable to resolve in 30 minutes"
L3_AFTER_S = 2 * 3600  # "If unable to resolve in 2 hours"
MAJOR_P0_FACTOR = 2  # a P0 unresolved at twice its resolution target is a major incident
SECURITY_RUNBOOK = "security-breach"
SECURITY_SERVICE = "security"


# -- clocks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeverityClock:
    """One clock of an incident: ``respond`` or ``resolve``."""

    name: str
    target_s: int
    start: datetime | None
    end: datetime | None  # when it stopped (acknowledged / resolved); None: still running
    elapsed_s: float | None  # None: no start time recorded
    deadline: datetime | None

    @property
    def running(self) -> bool:
        return self.end is None

    @property
    def left_s(self) -> float | None:
        """Time left to the target (negative: how far past it)."""
        return None if self.elapsed_s is None else self.target_s - self.elapsed_s

    @property
    def breached(self) -> bool:
        return self.elapsed_s is not None and self.elapsed_s > self.target_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_s": self.target_s,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "deadline": _iso(self.deadline),
            "elapsed_s": _round(self.elapsed_s),
            "left_s": _round(self.left_s),
            "breached": self.breached,
            "running": self.running,
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _clock(
    name: str, target_s: int, start: datetime | None, end: datetime | None, now: datetime
) -> SeverityClock:
    if start is None:
        return SeverityClock(name, target_s, None, end, None, None)
    stop = end if end is not None else now
    return SeverityClock(
        name,
        target_s,
        start,
        end,
        max(0.0, (stop - start).total_seconds()),
        start + timedelta(seconds=target_s),
    )


def respond_clock(incident: Incident, now: datetime) -> SeverityClock:
    """Detection to acknowledgement, against the response target."""
    start = incident.detected_at or incident.started_at
    return _clock("respond", incident.respond_target_s, start, incident.acknowledged_at, now)


def resolve_clock(incident: Incident, now: datetime) -> SeverityClock:
    """Start of the impact to resolution, against the resolution target."""
    start = incident.started_at or incident.detected_at
    return _clock("resolve", incident.resolve_target_s, start, incident.resolved_at, now)


def elapsed_s(incident: Incident, now: datetime) -> float | None:
    """How long the incident has lasted (start of impact to resolution, or to ``now``)."""
    return resolve_clock(incident, now).elapsed_s


def _unresolved_s(incident: Incident, now: datetime) -> float:
    """How long responders have been unable to resolve it: detection to resolution or now."""
    start = incident.detected_at or incident.started_at
    if start is None:
        return 0.0
    stop = incident.resolved_at or now
    return max(0.0, (stop - start).total_seconds())


# -- escalation --------------------------------------------------------------------------


def _flag(details: Mapping[str, Any], name: str) -> bool:
    value = details.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class Trigger:
    """A reason a level applies; ``at``: when a clock reached it (None when the record
    triggered it: a severity, a service, a responder's flag, whose time the clock cannot know)."""

    level: int
    why: str
    at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "why": self.why, "at": _iso(self.at)}


def triggers(incident: Incident, now: datetime) -> list[Trigger]:
    """Every escalation trigger that holds at ``now`` (the clock stops at resolution)."""
    sev = incident.severity
    unresolved = _unresolved_s(incident, now)
    resolve = resolve_clock(incident, now)
    details = incident.details or {}
    detected = incident.detected_at or incident.started_at

    def after(seconds: float) -> datetime | None:
        return detected + timedelta(seconds=seconds) if detected is not None else None

    found = [Trigger(1, "every incident starts with the on-call engineer", detected)]
    if sev in ("P0", "P1"):
        found.append(Trigger(2, f"a {sev} incident engages the team lead at once"))
    if unresolved >= L2_AFTER_S:
        found.append(Trigger(2, "unresolved after 30 minutes", after(L2_AFTER_S)))
    if unresolved >= L3_AFTER_S:
        found.append(Trigger(3, "unresolved after 2 hours", after(L3_AFTER_S)))
    if resolve.elapsed_s is not None and resolve.elapsed_s >= resolve.target_s:
        found.append(
            Trigger(
                3,
                f"extended outage: unresolved at the {sev} resolution target "
                f"({_hm(resolve.target_s)})",
                resolve.deadline,
            )
        )
    if _flag(details, "extended_outage"):
        found.append(Trigger(3, "extended outage (declared by a responder)"))
    if incident.runbook == SECURITY_RUNBOOK:
        found.append(Trigger(4, f"security breach: runbook {SECURITY_RUNBOOK}"))
    if SECURITY_SERVICE in incident.services:
        found.append(Trigger(4, "security breach: the security service is affected"))
    if _flag(details, "security"):
        found.append(Trigger(4, "security breach (declared by a responder)"))
    if _flag(details, "legal"):
        found.append(Trigger(4, "legal issue (declared by a responder)"))
    if _flag(details, "business_impact") or _flag(details, "major"):
        found.append(Trigger(4, "major incident: business impact exceeds thresholds"))
    if (
        sev == "P0"
        and resolve.elapsed_s is not None
        and resolve.elapsed_s >= MAJOR_P0_FACTOR * resolve.target_s
    ):
        start = resolve.start
        found.append(
            Trigger(
                4,
                "major incident: a P0 unresolved at twice its resolution target "
                f"({_hm(MAJOR_P0_FACTOR * resolve.target_s)})",
                start + timedelta(seconds=MAJOR_P0_FACTOR * resolve.target_s) if start else None,
            )
        )
    return found


def _hm(seconds: float) -> str:
    from irdrive.incidents.common import fmt_duration

    return fmt_duration(seconds).replace(" 00m", "").replace(" 00s", "")


def level_at(incident: Incident, now: datetime) -> int:
    return max(t.level for t in triggers(incident, now))


def next_escalation(incident: Incident, now: datetime) -> tuple[int, datetime, str] | None:
    """The next level a clock will reach if the incident stays unresolved: (level, when, why);
    None when resolved, at L4, or when no clock leads higher (L4 for a non-P0 needs a
    responder's call)."""
    if incident.resolved_at is not None or not incident.is_open:
        return None
    current = level_at(incident, now)
    detected = incident.detected_at or incident.started_at
    started = incident.started_at or incident.detected_at
    if detected is None or started is None:
        return None
    candidates: list[tuple[int, datetime, str]] = [
        (2, detected + timedelta(seconds=L2_AFTER_S), "unresolved after 30 minutes"),
        (3, detected + timedelta(seconds=L3_AFTER_S), "unresolved after 2 hours"),
        (
            3,
            started + timedelta(seconds=incident.resolve_target_s),
            f"extended outage: unresolved at the {incident.severity} resolution target",
        ),
    ]
    if incident.severity == "P0":
        candidates.append(
            (
                4,
                started + timedelta(seconds=MAJOR_P0_FACTOR * incident.resolve_target_s),
                "major incident: a P0 unresolved at twice its resolution target",
            )
        )
    # The clock-driven moves still ahead, to a level above the current one.
    ahead = [c for c in candidates if c[0] > current and c[1] > now]
    if not ahead:
        return None
    level = min(c[0] for c in ahead)
    return min((c for c in ahead if c[0] == level), key=lambda c: c[1])


# -- roster ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str
    contact: str = ""  # phone, email, handle: whatever reaches them

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "contact": self.contact}


@dataclass(frozen=True)
class LevelEntry:
    """Who a level is: people and the channels to reach them on."""

    people: tuple[Contact, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Roster:
    """Levels L1..L4 to people and channels, with per-service overrides."""

    path: Path
    levels: Mapping[int, LevelEntry] = field(default_factory=dict)
    services: Mapping[str, Mapping[int, LevelEntry]] = field(default_factory=dict)

    def for_level(self, level: int, services: Sequence[str] = ()) -> LevelEntry:
        """Level ``level``'s people and channels for an incident on ``services``: each
        service's override of that level where it has one, the default entry for the others
        (and for an incident on no service)."""
        entries = [self.services[s][level] for s in services if level in self.services.get(s, {})]
        if len(entries) < len(services) or not services:
            entries.append(self.levels.get(level, LevelEntry()))
        people: dict[str, Contact] = {}
        channels: dict[str, None] = {}
        for entry in entries:
            for person in entry.people:
                people.setdefault(person.name, person)
            for channel in entry.channels:
                channels.setdefault(channel, None)
        return LevelEntry(tuple(people.values()), tuple(channels))


def roster_path() -> tuple[Path, bool]:
    """The roster file and whether it was asked for explicitly ($IRDRIVE_ROSTER)."""
    env = os.environ.get(ENV_ROSTER, "").strip()
    if env:
        return Path(env).expanduser(), True
    from irdrive.config import config_file

    return config_file().parent / "roster.yml", False


def load_roster(path: Path | None = None) -> Roster | None:
    """The roster at ``path`` (default: ``roster_path()``); None when the default file does
    not exist. A file named explicitly that is missing, or any malformed roster, is a
    UsageError naming the file and the bad entry."""
    explicit = path is not None
    if path is None:
        path, explicit = roster_path()
    if not path.exists():
        if explicit:
            raise UsageError(f"roster {path} does not exist (set {ENV_ROSTER} to a roster file)")
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"roster {path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"roster {path} is not valid YAML{where}") from None
    return parse_roster(data, path)


def _level_key(key: Any, where: str) -> int:
    text = str(key).strip().upper()
    if text in ("L1", "L2", "L3", "L4"):
        return int(text[1])
    raise UsageError(f"{where}: {key!r} is not a level (L1, L2, L3 or L4)")


def _entry(value: Any, where: str) -> LevelEntry:
    if value is None:
        return LevelEntry()
    if not isinstance(value, Mapping):
        raise UsageError(f"{where}: expected a mapping with people and channels")
    unknown = sorted(str(k) for k in value if k not in ("people", "channels"))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (people, channels)")
    people_raw = value.get("people") or []
    channels_raw = value.get("channels") or []
    if not isinstance(people_raw, list):
        raise UsageError(f"{where}.people: expected a list")
    if not isinstance(channels_raw, list):
        raise UsageError(f"{where}.channels: expected a list")
    people = []
    for i, person in enumerate(people_raw):
        at = f"{where}.people[{i}]"
        if isinstance(person, str) and person.strip():
            people.append(Contact(person.strip()))
            continue
        if not isinstance(person, Mapping) or not str(person.get("name") or "").strip():
            raise UsageError(f"{at}: needs a name")
        extra = sorted(str(k) for k in person if k not in ("name", "contact"))
        if extra:
            raise UsageError(f"{at}: unknown key {extra[0]!r} (name, contact)")
        people.append(Contact(str(person["name"]).strip(), str(person.get("contact") or "")))
    channels = []
    for i, channel in enumerate(channels_raw):
        if not isinstance(channel, str) or not channel.strip():
            raise UsageError(f"{where}.channels[{i}]: expected a channel name")
        channels.append(channel.strip())
    return LevelEntry(tuple(people), tuple(channels))


def _levels(value: Any, where: str) -> dict[int, LevelEntry]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{where}: expected a mapping of L1..L4")
    return {_level_key(k, where): _entry(v, f"{where}.{k}") for k, v in value.items()}


def parse_roster(data: Any, path: Path) -> Roster:
    where = f"roster {path}"
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: expected a mapping with levels (and services)")
    unknown = sorted(str(k) for k in data if k not in ("levels", "services"))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (levels, services)")
    levels = _levels(data.get("levels") or {}, f"{where}: levels")
    services_raw = data.get("services") or {}
    if not isinstance(services_raw, Mapping):
        raise UsageError(f"{where}: services: expected a mapping of service to levels")
    services = {
        str(name): _levels(value, f"{where}: services.{name}")
        for name, value in services_raw.items()
    }
    return Roster(path, levels, services)


# -- the escalation an incident needs now -------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """The level an incident needs at ``now``, why, who that is, and what comes next."""

    level: int
    why: str
    triggers: tuple[Trigger, ...]
    recorded_level: int  # the incident's escalation_level (the highest engaged so far)
    people: tuple[Contact, ...]
    channels: tuple[str, ...]
    engage: str  # one line: who to engage now
    next_level: int | None
    next_at: datetime | None
    next_why: str | None
    resolved: bool

    @property
    def reached_at(self) -> datetime | None:
        """When a clock first called for this level (None: the record did, time unknown)."""
        times = [t.at for t in self.triggers if t.level == self.level and t.at is not None]
        return min(times) if times else None

    @property
    def name(self) -> str:
        return LEVEL_NAMES[self.level]

    @property
    def raised(self) -> bool:
        """A level above the one recorded: to be recorded (and engaged)."""
        return self.level > self.recorded_level and not self.resolved

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "name": self.name,
            "why": self.why,
            "reached_at": _iso(self.reached_at),
            "triggers": [t.to_dict() for t in self.triggers],
            "recorded_level": self.recorded_level,
            "response_s": LEVEL_RESPONSE_S[self.level],
            "people": [p.to_dict() for p in self.people],
            "channels": list(self.channels),
            "engage": self.engage,
            "next_level": self.next_level,
            "next_at": _iso(self.next_at),
            "next_why": self.next_why,
            "resolved": self.resolved,
        }


def escalation(incident: Incident, now: datetime, roster: Roster | None) -> Escalation:
    found = triggers(incident, now)
    level = max(t.level for t in found)
    why = "; ".join(t.why for t in found if t.level == level)
    resolved = not incident.is_open
    entry = roster.for_level(level, incident.services) if roster else LevelEntry()
    name = LEVEL_NAMES[level]
    if resolved:
        engage = f"nobody new: the incident is {incident.status}"
    elif roster is None:
        engage = f"no roster: engage the {name} (L{level})"
    elif not entry.people and not entry.channels:
        engage = f"the roster names nobody for L{level}: engage the {name}"
    else:
        who = ", ".join(f"{p.name} ({p.contact})" if p.contact else p.name for p in entry.people)
        on = ", ".join(entry.channels)
        engage = f"L{level} {name}: " + (who or "-") + (f" on {on}" if on else "")
    nxt = next_escalation(incident, now)
    return Escalation(
        level=level,
        why=why,
        triggers=tuple(found),
        recorded_level=incident.escalation_level,
        people=entry.people,
        channels=entry.channels,
        engage=engage,
        next_level=nxt[0] if nxt else None,
        next_at=nxt[1] if nxt else None,
        next_why=nxt[2] if nxt else None,
        resolved=resolved,
    )
