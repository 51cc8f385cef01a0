"""Alerts into incident records: a firing alert opens an incident, a repeat attaches to it.

What ``irdrive incident open --from-alert`` and the local rulebook's
``rulebooks/playbooks/open-incident.yml`` feed in, any of:

- an Alertmanager webhook notification (payload version 4: ``{"version": "4", "alerts":
  [...]}``), one or more alerts of one group;
- one alert object (``{"status", "labels", "annotations", "startsAt", ...}``; no ``status``
  counts as firing);
- the event the rulebook's source ``irdrive.ops.alertmanager`` puts on the queue
  (``{"alert": {...}, "group": {...}, "target": ...}``), or the whole ``ansible_eda`` of a
  rulebook action (``{"event": {...}, "ruleset": ..., "rule": ...}``).

From an alert's labels: ``severity`` (P0..P3, or the playbook's names Critical, High, Medium,
Low), ``service`` (one, or several joined with commas) and ``runbook``; from its annotations
``summary`` (the title) and ``description`` (the internal summary); ``startsAt`` is when the
impact began. Options of the command fill in what an alert does not give.

**The alert key** says which alerts are "the same": the alert's name and the labels that name
its target, in this order when present: ``cluster``, ``namespace``, ``service``,
``deployment``, ``instance``, ``host`` (e.g. ``PodsCrashLooping{deployment=payment-service}``).
Labels that describe the alert rather than its target (``severity``, ``runbook``, ``fault``,
Prometheus' external labels other than ``cluster``) are not part of it, so an alert whose
severity rises from P2 to P1 attaches to the incident it opened (its entry says so; a person
decides whether the incident's severity follows).

**The decision**, per alert, in the order of the notification:

- firing, and an OPEN incident (INVESTIGATING, IDENTIFIED, MONITORING) has its key: attach
  (an ``alert`` timeline entry, the key's count + 1); no second incident;
- firing, no open incident for its key: open one (severity, services, runbook, title, summary,
  ``started_at`` from the alert; ``source`` "alert"). An incident already RESOLVED or CLOSED
  does not take repeats: the alert opens a new incident;
- resolved, an open incident has its key: an ``alert`` entry "resolved at ..." on it. The
  incident stays open: a person decides it is resolved (the alert resolving is a signal, not
  a verification);
- resolved, no open incident for its key: nothing (``ignored``).

A notification whose alerts share a key opens one incident for them; different keys open one
each. The whole input is checked before anything is written: a malformed notification, an
alert without a usable severity (and no ``--severity`` to fall back on) is refused with one
line naming the alert, and no incident is opened or touched.

**Concurrency.** A firing alert is decided and written by ``IncidentStore.open_or_attach``:
one transaction under a lock on its key (PostgreSQL: a transaction-level advisory lock; SQLite:
the database's write lock), so two copies of one alert arriving together (the rulebook runs
actions in parallel, or two rulebook hosts share a store) open one incident. The first alerts
of a store that does not exist yet race to create its tables too: opening the store migrates
it under the history store's own lock (PostgreSQL: an advisory lock; SQLite: ``flock`` on
``<database>.migrate.lock``). The alerts of one notification are written one by one, in order,
each in its own transaction (as before: no lock here ever made a group atomic); its input is
checked whole before the first write.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from irdrive.errors import UsageError
from irdrive.incidents import escalate
from irdrive.incidents.model import SEVERITIES, SEVERITY_NAMES, Incident, check_severity

if TYPE_CHECKING:
    from irdrive.incidents.clock import Roster
    from irdrive.incidents.store import IncidentStore

FIRING, RESOLVED = "firing", "resolved"
ALERT_STATUSES = (FIRING, RESOLVED)
SUPPORTED_VERSION = "4"
# The labels that name what an alert is about, in the order they appear in a key.
KEY_LABELS = ("cluster", "namespace", "service", "deployment", "instance", "host")
# The longest alert key the store keeps (incident_alert_keys.alert_key).
MAX_KEY = 400
# Severity label values besides P0..P3: the playbook's names for them.
SEVERITY_ALIASES = {name.lower(): sev for sev, name in SEVERITY_NAMES.items()}
# Alertmanager's "no time" (endsAt of a firing alert).
_ZERO_TIME_PREFIX = "0001-01-01"

OPENED, ATTACHED, RESOLVED_NOTED, IGNORED = "opened", "attached", "resolved", "ignored"


@dataclass(frozen=True)
class Defaults:
    """What the command's options give for an alert that does not say it itself."""

    severity: str | None = None
    title: str | None = None
    services: tuple[str, ...] = ()
    runbook: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class Alert:
    """One alert, checked, with everything an incident needs from it."""

    status: str  # firing | resolved
    name: str  # alertname
    key: str
    severity: str  # P0..P3
    title: str
    summary: str
    services: tuple[str, ...]
    runbook: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    fingerprint: str
    labels: dict[str, str] = field(default_factory=dict)
    generator_url: str = ""

    def facts(self) -> dict[str, Any]:
        """The alert as the timeline and the incident's details keep it (JSON-able)."""
        return {
            "alert": self.name,
            "alert_key": self.key,
            "status": self.status,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
            "labels": dict(self.labels),
            "generator_url": self.generator_url,
        }


@dataclass(frozen=True)
class Outcome:
    """What happened to one alert: ``opened``, ``attached``, ``resolved`` or ``ignored``."""

    alert: Alert
    action: str
    incident_id: str | None
    count: int | None = None  # firing notifications of the key on that incident so far
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.name,
            "alert_key": self.alert.key,
            "status": self.alert.status,
            "severity": self.alert.severity,
            "action": self.action,
            "incident_id": self.incident_id,
            "count": self.count,
            "starts_at": _iso(self.alert.starts_at),
            "note": self.note,
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


# -- parsing (pure) ---------------------------------------------------------------------------


def load(text: str, source: str = "the alert") -> Any:
    """JSON text -> data, or one line saying why not."""
    if not text.strip():
        raise UsageError(f"{source} is empty: give an Alertmanager notification or an alert")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON: {exc}") from None


def raw_alerts(payload: Any) -> list[Any]:
    """The alert objects of any accepted shape (see the module's docstring)."""
    if not isinstance(payload, dict):
        raise UsageError(
            "not an alert: expected a JSON object (an Alertmanager notification, an alert or "
            "a rulebook event)"
        )
    if isinstance(payload.get("event"), dict) and "alert" in payload["event"]:
        payload = payload["event"]  # ansible_eda: {"event": ..., "ruleset": ..., "rule": ...}
    if "version" in payload or "alerts" in payload:
        version = payload.get("version")
        if version != SUPPORTED_VERSION:
            raise UsageError(
                f"unsupported Alertmanager payload version {version!r}: its webhook sends "
                f"version {SUPPORTED_VERSION!r}"
            )
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise UsageError("the notification's alerts must be a list")
        if not alerts:
            raise UsageError("the notification has no alerts")
        return list(alerts)
    if "alert" in payload:  # the rulebook source's event
        return [payload["alert"]]
    if "labels" in payload:  # one alert
        return [payload]
    raise UsageError(
        "not an alert: expected an Alertmanager notification (version 4, with alerts), an "
        "alert (with labels) or a rulebook event (with alert)"
    )


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise UsageError(f"{where} must be a mapping of strings to strings")
    return dict(value)


def _time(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a timestamp string")
    if value.startswith(_ZERO_TIME_PREFIX):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{where} {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise UsageError(f"{where} {value!r} has no time zone (Alertmanager's end in Z)")
    return parsed.astimezone(UTC)


def severity_of(value: str) -> str:
    """A severity label's value as P0..P3 (also Critical/High/Medium/Low, any case)."""
    text = value.strip()
    alias = SEVERITY_ALIASES.get(text.lower())
    if alias:
        return alias
    if text.upper() in SEVERITIES:
        return text.upper()
    names = ", ".join(f"{s} ({SEVERITY_NAMES[s]})" for s in SEVERITIES)
    raise UsageError(f"severity label {value!r} is not one of {names}")


def alert_key(labels: Mapping[str, str]) -> str:
    """``alertname{label=value,...}`` over KEY_LABELS present, in KEY_LABELS' order. A key
    longer than the store keeps (MAX_KEY) ends in a digest of the whole instead."""
    named = ",".join(f"{name}={labels[name]}" for name in KEY_LABELS if labels.get(name))
    key = f"{labels['alertname']}{{{named}}}"
    if len(key) > MAX_KEY:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        key = f"{key[: MAX_KEY - 34]}…#{digest}"
    return key


def parse_alert(raw: Any, where: str, defaults: Defaults = Defaults()) -> Alert:
    """One raw alert -> Alert, or UsageError naming ``where`` and the problem."""
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be an object")
    labels = _strings(raw.get("labels"), f"{where}.labels")
    name = labels.get("alertname", "").strip()
    if not name:
        raise UsageError(f"{where}.labels has no alertname")
    where = f"{where} ({name})"
    status = raw.get("status", FIRING)
    if status not in ALERT_STATUSES:
        raise UsageError(f"{where}: status {status!r} is not one of {', '.join(ALERT_STATUSES)}")
    annotations = _strings(raw.get("annotations"), f"{where}.annotations")
    if labels.get("severity", "").strip():
        try:
            severity = severity_of(labels["severity"])
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    elif defaults.severity:
        severity = check_severity(defaults.severity)
    else:
        raise UsageError(f"{where} has no severity label: give --severity P0..P3 for it")
    services = tuple(s.strip() for s in labels.get("service", "").split(",") if s.strip())
    fingerprint = raw.get("fingerprint") or ""
    if not isinstance(fingerprint, str):
        raise UsageError(f"{where}.fingerprint must be a string")
    generator = raw.get("generatorURL") or ""
    key = alert_key(labels)
    title = annotations.get("summary", "").strip() or (defaults.title or "").strip()
    if not title:
        title = name if key == f"{name}{{}}" else key
    return Alert(
        status=status,
        name=name,
        key=key,
        severity=severity,
        title=title,
        summary=annotations.get("description", "").strip() or defaults.summary,
        services=services or tuple(defaults.services),
        runbook=labels.get("runbook", "").strip() or defaults.runbook,
        starts_at=_time(raw.get("startsAt"), f"{where}.startsAt"),
        ends_at=_time(raw.get("endsAt"), f"{where}.endsAt"),
        fingerprint=fingerprint,
        labels=labels,
        generator_url=generator if isinstance(generator, str) else "",
    )


def parse(payload: Any, defaults: Defaults = Defaults()) -> list[Alert]:
    """Every alert of ``payload``, checked; the first problem raises, so nothing is half-read."""
    return [parse_alert(raw, f"alerts[{i}]", defaults) for i, raw in enumerate(raw_alerts(payload))]


def decide(alert: Alert, open_incident_id: str | None) -> str:
    """opened | attached | resolved | ignored, for an alert and its key's open incident."""
    if alert.status == FIRING:
        return ATTACHED if open_incident_id else OPENED
    return RESOLVED_NOTED if open_incident_id else IGNORED


# -- writing ----------------------------------------------------------------------------------


def record(
    alerts: Sequence[Alert],
    *,
    actor: str,
    url: str | None = None,
    commander: str | None = None,
    scribe: str | None = None,
    comms_lead: str | None = None,
    now: datetime | None = None,
    roster: Roster | None = None,
) -> list[Outcome]:
    """``intake`` into the store at ``url`` (else the configured one)."""
    from irdrive.incidents.store import open_incidents

    with open_incidents(url) as store:
        return intake(
            store,
            alerts,
            actor=actor,
            commander=commander,
            scribe=scribe,
            comms_lead=comms_lead,
            now=now,
            roster=roster,
        )


def _severity_note(alert: Alert, incident_severity: str) -> str:
    if alert.severity == incident_severity:
        return ""
    return f"the alert is {alert.severity}, the incident {incident_severity}"


def _repeat_summary(alert: Alert, incident: Incident) -> str:
    """A repeat's entry text, saying so when the alert's severity is not the incident's."""
    note = _severity_note(alert, incident.severity)
    return f"{alert.name} firing again (since {_at(alert.starts_at)})" + (
        f": {note}" if note else ""
    )


def _at(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "an unknown time"


def intake(
    store: IncidentStore,
    alerts: Sequence[Alert],
    *,
    actor: str,
    commander: str | None = None,
    scribe: str | None = None,
    comms_lead: str | None = None,
    now: datetime | None = None,
    roster: Roster | None = None,
) -> list[Outcome]:
    """Open, attach, note or ignore each alert, in order (see the module's docstring).

    ``actor`` is who received the alert (the responder, or the rulebook's user); the entries
    themselves are by ``alert:<alertname>``. People named open new incidents only. A firing
    alert goes through ``IncidentStore.open_or_attach``: deciding and writing are one
    transaction under a lock on its key, so other processes may take alerts at the same
    time."""
    from irdrive.incidents.store import NewEntry

    outcomes: list[Outcome] = []
    for alert in alerts:
        by = f"alert:{alert.name}"[:200]  # the timeline keeps 200 characters of an actor
        facts = {**alert.facts(), "received_by": actor}
        if alert.status == FIRING:
            incident, entry, opened = store.open_or_attach(
                alert.key,
                actor=by,
                summary=functools.partial(_repeat_summary, alert),
                data=facts,
                title=alert.title,
                severity=alert.severity,
                commander=commander,
                scribe=scribe,
                comms_lead=comms_lead,
                services=alert.services,
                runbook=alert.runbook,
                incident_summary=alert.summary,
                source="alert",
                started_at=alert.starts_at,
                now=now,
                details={"alert": alert.facts()},
                opened_data=facts,
            )
            if opened:
                # A P0/P1 engages the team lead at once: recorded from the start (``roster``
                # names whom; without one the entry names the playbook's role).
                escalate.record(store, incident, incident.detected_at or datetime.now(UTC), roster)
                outcomes.append(Outcome(alert, OPENED, incident.id, 1))
            else:
                note = _severity_note(alert, incident.severity)
                outcomes.append(
                    Outcome(alert, ATTACHED, incident.id, int(entry.data["count"]), note)
                )
            continue
        found = store.open_for_alert(alert.key)
        if decide(alert, found.id if found else None) == RESOLVED_NOTED:
            assert found is not None
            store.append(
                found.id,
                [
                    NewEntry(
                        "alert",
                        f"{alert.name} resolved at {_at(alert.ends_at)}; the incident stays "
                        f"{found.status} until a person resolves it",
                        by,
                        facts,
                        now,
                    )
                ],
            )
            outcomes.append(Outcome(alert, RESOLVED_NOTED, found.id))
        else:
            outcomes.append(Outcome(alert, IGNORED, None, note="no open incident for it"))
    return outcomes
