"""``irdrive incident list|show|update|status|resolve|close|reopen|note``: an incident's
record, its clocks against the severity targets, and the escalation it needs now.

``show``, ``update`` and the status commands record an escalation in the timeline when the
clocks or the record call for a level above the one engaged so far. Heavy packages (SQLAlchemy
through the store, rich) are imported inside the functions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from irdrive.errors import IrdriveError, UsageError, handle_errors

if TYPE_CHECKING:
    from irdrive.incidents.clock import Roster
    from irdrive.incidents.model import Incident, TimelineEntry
    from irdrive.incidents.store import IncidentStore

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
tz_option = click.option(
    "--tz",
    "tz_name",
    metavar="ZONE",
    help="Show times in this IANA zone beside UTC (default $IRDRIVE_TZ, $TZ, the system's).",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def _roster(strict: bool) -> Roster | None:
    from irdrive.incidents.escalate import roster_or_warn

    return roster_or_warn(strict, lambda line: click.echo(line, err=True))


def _escalate(
    store: IncidentStore, incident: Incident, now: datetime, roster: Roster | None
) -> tuple[Incident, list[TimelineEntry]]:
    from irdrive.incidents import escalate

    return escalate.record(store, incident, now, roster)


def _say_entries(entries: list[TimelineEntry]) -> None:
    for entry in entries:
        click.echo(f"  #{entry.seq} {entry.kind}: {entry.summary}")


def _written(incident: Incident, entries: list[TimelineEntry]) -> dict[str, Any]:
    return {"incident": incident.to_dict(), "entries": [e.to_dict() for e in entries]}


# -- list ----------------------------------------------------------------------------------


@click.command("list")
@click.option("--all", "show_all", is_flag=True, help="Every incident, however old.")
@click.option(
    "--since",
    metavar="AGE|DATE",
    default="7d",
    show_default=True,
    help="Also incidents detected, resolved or closed since: Nm, Nh, Nd, Nw before now "
    "(30d, 12h, 2w), or an ISO date (2026-11-01).",
)
@click.option("--severity", metavar="P0..P3", help="Only this severity.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@tz_option
@json_option
@handle_errors
def list_cmd(
    show_all: bool,
    since: str,
    severity: str | None,
    limit: int,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Incidents: the open ones first (most severe, newest first), then recent ones, with
    their elapsed time, time left to the resolution target (or BREACHED) and the escalation
    level their clocks call for.

    \b
    Examples:
      irdrive incident list
      irdrive incident list --since 30d --severity P1 --tz Europe/Berlin
      irdrive incident list --all --json
    """
    from irdrive.incidents.common import parse_since, zone
    from irdrive.incidents.model import SEVERITIES, check_severity
    from irdrive.incidents.store import open_incidents
    from irdrive.incidents.view import list_row, list_table

    now = _now()
    tz = zone(tz_name)
    cutoff = parse_since(since, now)
    sev = check_severity(severity) if severity else None
    with open_incidents() as store:
        found = store.incidents(open_only=True, severity=sev, limit=limit)
        seen = {i.id for i in found}
        recent = store.incidents(
            active_since=None if show_all else cutoff, severity=sev, limit=limit + len(found)
        )
    rest = [i for i in recent if i.id not in seen]
    found.sort(key=lambda i: (SEVERITIES.index(i.severity), -_ts(i.detected_at)))
    chosen = (found + rest)[:limit]
    if as_json:
        _emit({"now": now.isoformat(), "incidents": [list_row(i, now) for i in chosen]})
        return
    if not chosen:
        click.echo("No incidents." if show_all else f"No open incidents, none since {since}.")
        return
    from rich.console import Console

    Console(highlight=False).print(list_table(chosen, now, tz))


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


# -- show ----------------------------------------------------------------------------------


@click.command()
@click.argument("ident", metavar="INC-ID")
@click.option(
    "--entries",
    "-n",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the last timeline entries to show (--json gives them all).",
)
@tz_option
@json_option
@handle_errors
def show(ident: str, entries: int, tz_name: str | None, as_json: bool) -> None:
    """One incident: people, services, clocks against the severity targets (BREACHED marks),
    the escalation level it needs now, why, and whom to engage (from the roster), a reminder
    when a communication update is overdue, the last timeline entries and action items.

    A level above the one engaged so far is recorded in the timeline. Who each level is
    comes from the roster: roster.yml beside the config file, or $IRDRIVE_ROSTER (see
    configs/roster.example.yml).

    \b
    Examples:
      irdrive incident show INC-20261202-031500
      irdrive incident show INC-20261202-031500 -n 30 --tz America/New_York
      irdrive incident show INC-20261202-031500 --json
    """
    from irdrive.incidents.common import zone
    from irdrive.incidents.store import open_incidents
    from irdrive.incidents.view import incident_view, print_show

    now = _now()
    tz = zone(tz_name)
    roster = _roster(strict=True)
    with open_incidents(create=False, ident=ident) as store:
        incident = store.get(ident)
        try:
            incident, _ = _escalate(store, incident, now, roster)
        except IrdriveError as exc:  # a reader's role cannot write: show it all the same
            click.echo(f"Warning: escalation not recorded: {exc}", err=True)
        timeline = store.timeline(incident.id)
        actions = store.actions(incident.id)
    view = incident_view(incident, now, roster, timeline=timeline, actions=actions)
    if as_json:
        _emit(view)
        return
    from rich.console import Console

    print_show(
        Console(highlight=False),
        incident,
        view,
        tz,
        timeline=timeline,
        actions=actions,
        shown_entries=entries,
    )


# -- update --------------------------------------------------------------------------------

_TEXT_OPTIONS = (
    ("title", "The one-line title."),
    ("summary", "Internal: what is happening."),
    ("impact", "Internal: the business impact."),
    ("users_affected", "Who and how many are affected."),
    ("root_cause", "The root cause, once known."),
    ("public_summary", "The only text the status page and user messages show."),
    ("runbook", "The runbook responding to it."),
    ("commander", "The incident commander."),
    ("scribe", "The scribe."),
    ("comms_lead", "The communications lead."),
)


def _text_options(func: Any) -> Any:
    for name, help_text in reversed(_TEXT_OPTIONS):
        flag = "--" + name.replace("_", "-")
        func = click.option(flag, name, metavar="TEXT", help=help_text)(func)
    return func


@click.command()
@click.argument("ident", metavar="INC-ID")
@_text_options
@click.option("--severity", metavar="P0..P3", help="A new severity (its targets follow).")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Affected service (repeatable; replaces the list).",
)
@json_option
@handle_errors
def update(
    ident: str, severity: str | None, services: tuple[str, ...], as_json: bool, **texts: Any
) -> None:
    """Change an incident's fields, people, severity or services. Each change is a timeline
    entry with the value it replaced; naming a person acknowledges the incident.

    \b
    Examples:
      irdrive incident update INC-20261202-031500 --commander ana --scribe bo
      irdrive incident update INC-20261202-031500 --severity P0 --service payments --service api
      irdrive incident update INC-20261202-031500 --public-summary "Some card payments fail."
    """
    from irdrive.incidents.common import actor
    from irdrive.incidents.model import check_severity
    from irdrive.incidents.store import open_incidents

    changes: dict[str, Any] = {k: v for k, v in texts.items() if v is not None}
    if severity is not None:
        changes["severity"] = check_severity(severity)
    if services:
        changes["services"] = list(services)
    if not changes:
        raise UsageError(
            "nothing to update: give at least one of --title, --summary, --impact, "
            "--users-affected, --root-cause, --public-summary, --severity, --service, "
            "--commander, --scribe, --comms-lead, --runbook"
        )
    for name in ("commander", "scribe", "comms_lead", "runbook"):
        if name in changes:
            changes[name] = changes[name].strip() or None
    now = _now()
    roster = _roster(strict=False)
    with open_incidents() as store:
        incident, written = store.update(ident, actor=actor(), now=now, **changes)
        incident, raised = _escalate(store, incident, now, roster)
    entries = written + raised
    if as_json:
        _emit(_written(incident, entries))
        return
    if not written:
        click.echo(f"{incident.id}: nothing changed")
    else:
        click.echo(f"{incident.id} updated")
    _say_entries(entries)


# -- status, resolve, close, reopen --------------------------------------------------------


def _move(ident: str, status: str, note: str, as_json: bool, *, reopen: bool = False) -> None:
    from irdrive.incidents.common import actor
    from irdrive.incidents.model import check_status
    from irdrive.incidents.store import open_incidents

    if not reopen:
        status = check_status(status)
    now = _now()
    roster = _roster(strict=False)
    with open_incidents() as store:
        before = store.get(ident)
        if not reopen:
            from irdrive.incidents.model import check_transition

            check_transition(before.status, status)  # refused before anything is written
        # The level reached before this change (a resolution stops the clocks; a resolved
        # incident being reopened has none to record).
        raised = [] if reopen else _escalate(store, before, now, roster)[1]
        incident, entry = store.set_status(
            before.id, status, actor=actor(), note=note.strip(), now=now, reopen=reopen
        )
    entries = [*raised, entry]
    if as_json:
        _emit(_written(incident, entries))
        return
    click.echo(f"{incident.id}: {before.status} -> {incident.status}")
    _say_entries(entries)


note_option = click.option("--note", default="", metavar="TEXT", help="Why (kept in the timeline).")


@click.command()
@click.argument("ident", metavar="INC-ID")
@click.argument("new_status", metavar="STATUS")
@note_option
@json_option
@handle_errors
def status(ident: str, new_status: str, note: str, as_json: bool) -> None:
    """Move an incident to STATUS: INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED or
    CLOSED, along the playbook's transitions (out of RESOLVED or CLOSED only by reopen)."""
    _move(ident, new_status, note, as_json)


@click.command()
@click.argument("ident", metavar="INC-ID")
@note_option
@json_option
@handle_errors
def resolve(ident: str, note: str, as_json: bool) -> None:
    """Mark an incident RESOLVED (its resolution clock stops)."""
    _move(ident, "RESOLVED", note, as_json)


@click.command()
@click.argument("ident", metavar="INC-ID")
@note_option
@json_option
@handle_errors
def close(ident: str, note: str, as_json: bool) -> None:
    """Close a RESOLVED incident (its post-incident work is done)."""
    _move(ident, "CLOSED", note, as_json)


@click.command()
@click.argument("ident", metavar="INC-ID")
@click.option("--reason", required=True, metavar="TEXT", help="Why it is reopened.")
@json_option
@handle_errors
def reopen(ident: str, reason: str, as_json: bool) -> None:
    """Reopen a RESOLVED or CLOSED incident: back to INVESTIGATING, its resolution cleared."""
    if not reason.strip():
        raise UsageError("reopen needs a --reason")
    _move(ident, "INVESTIGATING", reason, as_json, reopen=True)


# -- note ----------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """A note without the values of secret environment variables or URL passwords."""
    from irdrive.redact import mask_text

    return mask_text(text)


@click.command()
@click.argument("ident", metavar="INC-ID")
@click.argument("text", nargs=-1, required=True)
@click.option(
    "--command",
    "is_command",
    is_flag=True,
    help="TEXT is a command a responder ran (a `command` entry).",
)
@json_option
@handle_errors
def note(ident: str, text: tuple[str, ...], is_command: bool, as_json: bool) -> None:
    """Add a note to the incident's timeline (or, with --command, a command run). Values of
    secret environment variables and URL passwords in TEXT are replaced by ********."""
    from irdrive.incidents.common import actor
    from irdrive.incidents.store import open_incidents

    body = _scrub(" ".join(text))
    with open_incidents() as store:
        entry = store.note(ident, body, actor=actor(), kind="command" if is_command else "note")
    if as_json:
        _emit({"entry": entry.to_dict()})
        return
    click.echo(f"{entry.incident_id}: #{entry.seq} {entry.kind} recorded")


__all__ = [
    "close",
    "list_cmd",
    "note",
    "reopen",
    "resolve",
    "show",
    "status",
    "update",
]
