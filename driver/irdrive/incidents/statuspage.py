"""The public status page: what users may see of the open and recent incidents.

The page is built from an allow-list. ``public_incident`` copies, field by field, only what is
meant for users: the impact level (from the severity), the affected services, the status,
when it began and was resolved, the public wording (``public_summary``) and the status
updates in canned public wording. Nothing else of the record reaches the page data, so a
new internal field can never leak by being forgotten in a removal list: the commander, scribe
and communications lead, the title, the internal summary and impact, notes, commands, run
details, runbook names and hosts are simply never read. As a second guard, every public
string has IP addresses and the values of secret environment variables withheld.

``build_feed`` gives the JSON feed (``status.json``); ``render_html`` the page
(``index.html``, accessible, readable on a phone, no JavaScript); ``write_page`` writes both
atomically (temporary files in the folder, then renamed), so a web server never serves half
a page. Decisions (impact levels, wording, overall status, colours) live here; the template
only renders.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irdrive.errors import IrdriveError, UsageError
from irdrive.incidents.common import fmt_duration
from irdrive.incidents.model import (
    CLOSED,
    IDENTIFIED,
    INVESTIGATING,
    MONITORING,
    RESOLVED,
    SEVERITIES,
    Incident,
    TimelineEntry,
)
from irdrive.redact import env_redactor

if TYPE_CHECKING:
    from irdrive.incidents.store import IncidentStore

FEED_VERSION = "irdrive.status-page/1"
DEFAULT_TITLE = "Service status"
DEFAULT_DAYS = 14
MAX_DAYS = 366
MAX_TITLE = 100
MAX_HEADLINE = 120
MAX_INCIDENTS = 200
FILES = ("index.html", "status.json")
TEMPLATE = "templates/status_page.html.j2"

# Severity -> impact on users: (key, label). Keys follow the component statuses status pages
# commonly use (Atlassian Statuspage's major_outage, partial_outage, degraded_performance).
IMPACTS: dict[str, tuple[str, str]] = {
    "P0": ("major_outage", "Major outage"),
    "P1": ("partial_outage", "Partial outage"),
    "P2": ("degraded_performance", "Degraded performance"),
    "P3": ("minor_issue", "Minor issue"),
}
OPERATIONAL = ("operational", "All systems operational")

# Status -> (key, label) as users read it: CLOSED is RESOLVED to them.
PUBLIC_STATUS: dict[str, tuple[str, str]] = {
    INVESTIGATING: ("investigating", "Investigating"),
    IDENTIFIED: ("identified", "Identified"),
    MONITORING: ("monitoring", "Monitoring"),
    RESOLVED: ("resolved", "Resolved"),
    CLOSED: ("resolved", "Resolved"),
}

# The public wording of a status change (never the responder's note).
STATUS_WORDING: dict[str, str] = {
    INVESTIGATING: "We are investigating this issue.",
    IDENTIFIED: "The cause has been identified and we are working on a fix.",
    MONITORING: "A fix has been applied and we are monitoring the results.",
    RESOLVED: "This incident has been resolved.",
}
REOPENED_WORDING = "The issue has returned and we are investigating again."

# Colours: text on background, and white text on each badge, all at least WCAG AA (4.5:1);
# tests/unit/driver/test_incident_statuspage.py checks every pair. Badges carry a text label
# and a symbol too, so the status is never told by colour alone.
PALETTE: dict[str, dict[str, str]] = {
    "light": {"bg": "#ffffff", "fg": "#1b1b1f", "muted": "#4b4f58", "card": "#f4f5f7",
              "border": "#c4c7cf", "link": "#0b57d0"},
    "dark": {"bg": "#121316", "fg": "#ececf1", "muted": "#b9bcc6", "card": "#1e2026",
             "border": "#4b4f58", "link": "#a8c7fa"},
}  # fmt: skip
BADGES: dict[str, tuple[str, str]] = {
    # key -> (background, symbol); the text on a badge is white
    "operational": ("#1d6b34", "✓"),
    "major_outage": ("#b3261e", "✕"),
    "partial_outage": ("#a8430c", "!"),
    "degraded_performance": ("#7a5a00", "!"),
    "minor_issue": ("#4b4f58", "i"),
    "investigating": ("#a8430c", "?"),
    "identified": ("#7a5a00", "!"),
    "monitoring": ("#0b57d0", "…"),
    "resolved": ("#1d6b34", "✓"),
}
BADGE_FG = "#ffffff"

# Candidates only (ipaddress decides): a sentence's full stop may follow an address.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?!\w|\.\w)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:/\d{1,3})?(?![\w:])")
WITHHELD = "[address withheld]"


class PublicText:
    """Makes a string fit for the public page: secret environment values and IP addresses
    withheld, whitespace tidied. ``altered`` keeps the texts it changed (``withheld`` counts
    them), so the responder can be told to reword them."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.redactor = env_redactor(env=env)
        self.altered: set[str] = set()

    @property
    def withheld(self) -> int:
        return len(self.altered)

    def __call__(self, value: Any) -> str:
        text = " ".join(str(value).split()) if value is not None else ""
        cleaned = self.redactor.text(text) if self.redactor else text
        cleaned = _IPV6.sub(_address, _IPV4.sub(_address, cleaned))
        if cleaned != text:
            self.altered.add(text)
        return cleaned


def _address(match: re.Match[str]) -> str:
    candidate = match.group(0).split("/")[0]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return match.group(0)  # a version number or a time, not an address
    return WITHHELD


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def impact_of(severity: str) -> tuple[str, str]:
    return IMPACTS.get(severity, IMPACTS["P3"])


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _headline(summary: str, services: Sequence[str]) -> str:
    """The incident's public name: the public summary's first sentence, else a generic one."""
    if summary:
        first = re.split(r"(?<=[.!?])\s", summary, maxsplit=1)[0]
        if len(first) <= MAX_HEADLINE:
            return first
        cut = first[: MAX_HEADLINE - 1].rsplit(" ", 1)[0]
        return cut + "…"
    if services:
        return f"Service disruption affecting {_join(services)}"
    return "Service disruption"


def _rest(summary: str, headline: str) -> str:
    """The public summary after its first sentence (the headline), or all of it when the
    headline was shortened."""
    if summary.startswith(headline):
        return summary[len(headline) :].strip()
    return summary


def public_updates(
    incident: Incident, entries: Iterable[TimelineEntry], clean: PublicText
) -> list[dict[str, Any]]:
    """The status updates users see, newest first: opening, status changes, changes of the
    public summary, impact level and services, each in public wording. Only those entry
    kinds are read, and of them only the fields named here."""
    updates: list[dict[str, Any]] = []
    status = INVESTIGATING
    for entry in sorted(entries, key=lambda e: e.seq):
        message = ""
        if entry.kind == "opened":
            status = INVESTIGATING
            message = STATUS_WORDING[INVESTIGATING]
        elif entry.kind == "status":
            new = str(entry.data.get("to", ""))
            if new not in PUBLIC_STATUS:
                continue
            previous, status = status, new
            if entry.data.get("reopen"):
                message = REOPENED_WORDING
            elif new == CLOSED or PUBLIC_STATUS[new] == PUBLIC_STATUS[previous]:
                continue  # closing is post-incident work: nothing new for users
            else:
                message = STATUS_WORDING[new]
        elif entry.kind == "field":
            name = entry.data.get("field")
            after = entry.data.get("after")
            if name == "public_summary" and isinstance(after, str) and after.strip():
                message = clean(after)
            elif name == "severity" and after in IMPACTS:
                message = f"The impact is now: {impact_of(str(after))[1].lower()}."
            elif name == "services" and isinstance(after, list) and after:
                names = [clean(s) for s in after if str(s).strip()]
                message = f"Affected services: {', '.join(names)}."
            else:
                continue
        else:
            continue
        key, label = PUBLIC_STATUS[status]
        updates.append(
            {"at": _iso(entry.at), "status": key, "status_label": label, "message": message}
        )
    updates.reverse()
    return updates


def public_incident(
    incident: Incident,
    entries: Iterable[TimelineEntry],
    now: datetime,
    clean: PublicText | None = None,
) -> dict[str, Any]:
    """One incident as the public sees it, built field by field (the allow-list)."""
    clean = clean or PublicText()
    services = [name for name in (clean(s) for s in incident.services) if name]
    summary = clean(incident.public_summary)
    impact, impact_label = impact_of(incident.severity)
    status, status_label = PUBLIC_STATUS.get(incident.status, PUBLIC_STATUS[INVESTIGATING])
    started = incident.started_at or incident.detected_at or now
    resolved = None if incident.is_open else (incident.resolved_at or incident.closed_at)
    updates = public_updates(incident, entries, clean)
    headline = _headline(summary, services)
    ended = resolved or now
    return {
        "id": incident.id,
        "name": headline,
        "message": _rest(summary, headline),
        "impact": impact,
        "impact_label": impact_label,
        "status": status,
        "status_label": status_label,
        "active": incident.is_open,
        "services": services,
        "started_at": _iso(started),
        "resolved_at": _iso(resolved),
        "updated_at": updates[0]["at"] if updates else _iso(started),
        "duration_s": max(0, int((ended - started).total_seconds())),
        "updates": updates,
    }


def overall_status(active: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The page's one-line status: the worst impact of the open incidents, or operational."""
    if not active:
        return {"status": OPERATIONAL[0], "label": OPERATIONAL[1]}
    order = [IMPACTS[s][0] for s in SEVERITIES]
    worst = min(active, key=lambda i: order.index(i["impact"]))
    return {"status": worst["impact"], "label": worst["impact_label"]}


def affected_services(active: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each service of an open incident with the worst impact on it, by name."""
    order = [IMPACTS[s][0] for s in SEVERITIES]
    worst: dict[str, Mapping[str, Any]] = {}
    for item in active:
        for name in item["services"]:
            seen = worst.get(name)
            if seen is None or order.index(item["impact"]) < order.index(seen["impact"]):
                worst[name] = item
    return [
        {"name": name, "impact": worst[name]["impact"], "impact_label": worst[name]["impact_label"]}
        for name in sorted(worst)
    ]


def build_feed(
    incidents: Sequence[tuple[Incident, Sequence[TimelineEntry]]],
    *,
    now: datetime,
    days: int = DEFAULT_DAYS,
    title: str = DEFAULT_TITLE,
    clean: PublicText | None = None,
) -> dict[str, Any]:
    """The JSON feed: overall status, affected services, open incidents (worst first) and
    those resolved within ``days`` (newest first). ``clean`` (default: a new PublicText)
    counts what it withheld."""
    clean = clean or PublicText()
    cutoff = now - timedelta(days=days)
    items = []
    for incident, entries in incidents:
        if not incident.is_open:
            ended = incident.resolved_at or incident.closed_at or incident.detected_at
            if ended is None or ended < cutoff:
                continue
        items.append(public_incident(incident, entries, now, clean))
    order = [IMPACTS[s][0] for s in SEVERITIES]
    active = sorted(
        (i for i in items if i["active"]),
        key=lambda i: (order.index(i["impact"]), i["started_at"]),
    )
    recent = sorted(
        (i for i in items if not i["active"]), key=lambda i: i["resolved_at"] or i["started_at"]
    )
    recent.reverse()
    return {
        "version": FEED_VERSION,
        "title": clean(title) or DEFAULT_TITLE,
        "generated_at": _iso(now),
        "window_days": days,
        "status": overall_status(active),
        "affected_services": affected_services(active),
        "active": active,
        "recent": recent,
    }


# The feed's shape (JSON Schema): what consumers may rely on, and, with no additional
# properties anywhere, the allow-list restated.
_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"}
_IMPACT = {"enum": [key for key, _ in IMPACTS.values()]}
_STATUS = {"enum": sorted({key for key, _ in PUBLIC_STATUS.values()})}
FEED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "version", "title", "generated_at", "window_days", "status", "affected_services",
        "active", "recent",
    ],
    "properties": {
        "version": {"const": FEED_VERSION},
        "title": {"type": "string", "minLength": 1},
        "generated_at": _TIME,
        "window_days": {"type": "integer", "minimum": 1},
        "status": {
            "type": "object",
            "additionalProperties": False,
            "required": ["status", "label"],
            "properties": {
                "status": {"enum": [OPERATIONAL[0], *_IMPACT["enum"]]},
                "label": {"type": "string"},
            },
        },
        "affected_services": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "impact", "impact_label"],
                "properties": {
                    "name": {"type": "string"},
                    "impact": _IMPACT,
                    "impact_label": {"type": "string"},
                },
            },
        },
        "active": {"type": "array", "items": {"$ref": "#/$defs/incident"}},
        "recent": {"type": "array", "items": {"$ref": "#/$defs/incident"}},
    },
    "$defs": {
        "incident": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id", "name", "message", "impact", "impact_label", "status", "status_label",
                "active", "services", "started_at", "resolved_at", "updated_at", "duration_s",
                "updates",
            ],
            "properties": {
                "id": {"type": "string", "pattern": r"^INC-\d{8}-\d{6}(-\d+)?$"},
                "name": {"type": "string", "minLength": 1},
                "message": {"type": "string"},
                "impact": _IMPACT,
                "impact_label": {"type": "string"},
                "status": _STATUS,
                "status_label": {"type": "string"},
                "active": {"type": "boolean"},
                "services": {"type": "array", "items": {"type": "string"}},
                "started_at": _TIME,
                "resolved_at": {"oneOf": [_TIME, {"type": "null"}]},
                "updated_at": _TIME,
                "duration_s": {"type": "integer", "minimum": 0},
                "updates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["at", "status", "status_label", "message"],
                        "properties": {
                            "at": _TIME,
                            "status": _STATUS,
                            "status_label": {"type": "string"},
                            "message": {"type": "string", "minLength": 1},
                        },
                    },
                },
            },
        }
    },
}  # fmt: skip


# -- reading the store ------------------------------------------------------------------------


def load_window(
    store: IncidentStore, now: datetime, days: int
) -> list[tuple[Incident, list[TimelineEntry]]]:
    """The open incidents and those resolved (or closed) since ``days`` ago, with their
    timelines: one query for the incidents (at most MAX_INCIDENTS, the open ones first), one
    per incident for its timeline."""
    found = store.public_window(now - timedelta(days=days), MAX_INCIDENTS)
    return [(incident, store.timeline(incident.id)) for incident in found]


# -- rendering and writing --------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """A time for the page: ``iso`` for <time datetime>, ``text`` for people (UTC)."""

    iso: str
    text: str


def _when(value: str | None) -> When | None:
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return When(value, at.strftime("%-d %b %Y, %H:%M UTC"))


def render_html(feed: Mapping[str, Any]) -> str:
    """The page: semantic, accessible HTML with inline CSS and no script, from the feed only."""
    from importlib.resources import files

    import jinja2

    source = files("irdrive.incidents").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["when"] = _when
    env.filters["duration"] = fmt_duration
    return env.from_string(source).render(
        feed=feed, palette=PALETTE, badges=BADGES, badge_fg=BADGE_FG
    )


def check_args(days: int, title: str) -> tuple[int, str]:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be from 1 to {MAX_DAYS}, not {days}")
    title = " ".join(title.split())
    if not title:
        raise UsageError("--title cannot be empty")
    if len(title) > MAX_TITLE:
        raise UsageError(f"--title is longer than {MAX_TITLE} characters")
    return days, title


def check_dir(folder: Path) -> Path:
    """The output folder, refused before anything is written when it cannot be one."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder")
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{parent} is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"{parent} is not writable")
            break
    return folder


def write_page(folder: Path, files: Mapping[str, str]) -> list[Path]:
    """Write each file atomically: all to temporary files in ``folder`` first (mode 0644, for a
    web server), then each renamed over the old one. On a failure nothing is half-written."""
    folder = check_dir(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IrdriveError(f"cannot create {folder}: {exc.strerror or exc}") from None
    temps: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            temps.append((name, Path(tmp_name)))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o644)
        written = []
        for name, tmp in temps:
            os.replace(tmp, folder / name)
            written.append(folder / name)
    except OSError as exc:
        raise IrdriveError(
            f"cannot write the status page in {folder}: {exc.strerror or exc}"
        ) from None
    finally:
        for _, leftover in temps:
            leftover.unlink(missing_ok=True)
    return written


def build(
    store: IncidentStore,
    folder: Path,
    *,
    days: int = DEFAULT_DAYS,
    title: str = DEFAULT_TITLE,
    now: datetime | None = None,
) -> tuple[dict[str, Any], int]:
    """Read the window, build the feed and the page, write both. Returns the feed and how
    many addresses or secret values were withheld from the public text."""
    import json

    days, title = check_args(days, title)
    check_dir(folder)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    clean = PublicText()
    feed = build_feed(load_window(store, now, days), now=now, days=days, title=title, clean=clean)
    page = render_html(feed)
    write_page(
        folder,
        {"status.json": json.dumps(feed, indent=2, ensure_ascii=False) + "\n", "index.html": page},
    )
    return feed, clean.withheld
