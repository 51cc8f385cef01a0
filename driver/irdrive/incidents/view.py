"""How an incident is shown: the JSON of ``list`` and ``show`` (stable keys, times ISO UTC) and
their rich tables (times in UTC and the responder's zone). Shared by every incident command
that shows an incident; nothing here writes or reads a clock (``now`` is passed in).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from irdrive.incidents.clock import (
    LEVEL_NAMES,
    Escalation,
    Roster,
    escalation,
    level_at,
    resolve_clock,
    respond_clock,
)
from irdrive.incidents.common import fmt_duration, fmt_time, short_actor
from irdrive.incidents.model import TIME_FIELDS, ActionItem, Incident, TimelineEntry

if TYPE_CHECKING:
    from rich.console import Console


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def update_due(incident: Incident, now: datetime, tz: tzinfo | None = None) -> dict[str, Any]:
    """When the next communication is due, by how much it is overdue (0: not yet), and the
    reminder ``comms`` gives too (``irdrive.incidents.comms.overdue``)."""
    from irdrive.incidents.comms import overdue

    due = incident.next_update_at
    late = max(0.0, (now - due).total_seconds()) if due is not None else 0.0
    hint = overdue(incident, now, tz)
    return {
        "next_update_at": _iso(due),
        "overdue": hint is not None,
        "overdue_s": round(late, 3),
        "hint": hint,
    }


def clocks(incident: Incident, now: datetime) -> dict[str, Any]:
    return {
        "respond": respond_clock(incident, now).to_dict(),
        "resolve": resolve_clock(incident, now).to_dict(),
    }


def list_row(incident: Incident, now: datetime) -> dict[str, Any]:
    """One incident of ``list --json``."""
    respond = respond_clock(incident, now)
    resolve = resolve_clock(incident, now)
    return {
        "id": incident.id,
        "severity": incident.severity,
        "status": incident.status,
        "title": incident.title,
        "commander": incident.commander,
        "services": list(incident.services),
        "started_at": _iso(incident.started_at),
        "detected_at": _iso(incident.detected_at),
        "resolved_at": _iso(incident.resolved_at),
        "elapsed_s": resolve.to_dict()["elapsed_s"],
        "left_s": resolve.to_dict()["left_s"],
        "respond_breached": respond.breached,
        "resolve_breached": resolve.breached,
        "breached": respond.breached or resolve.breached,
        "level": level_at(incident, now),
        "escalation_level": incident.escalation_level,
        "open": incident.is_open,
    }


def incident_view(
    incident: Incident,
    now: datetime,
    roster: Roster | None,
    *,
    timeline: Sequence[TimelineEntry] | None = None,
    actions: Sequence[ActionItem] | None = None,
) -> dict[str, Any]:
    """``show --json``: the record, its clocks against the targets, the escalation it needs
    now and why, the communication reminder, and (when given) timeline entries and actions."""
    esc = escalation(incident, now, roster)
    view: dict[str, Any] = {
        "incident": incident.to_dict(),
        "now": _iso(now),
        "clocks": clocks(incident, now),
        "escalation": esc.to_dict(),
        "update": update_due(incident, now),
        "roster": str(roster.path) if roster is not None else None,
    }
    if timeline is not None:
        view["timeline"] = [e.to_dict() for e in timeline]
    if actions is not None:
        view["actions"] = [a.to_dict() for a in actions]
    return view


# -- rich -------------------------------------------------------------------------------


def _left_cell(row: dict[str, Any]) -> str:
    if row["resolve_breached"]:
        return f"[bold red]BREACHED[/] +{fmt_duration(-row['left_s'])}"
    if row["respond_breached"]:
        left = fmt_duration(row["left_s"]) if row["open"] else "met"
        return f"{left}, [bold red]respond BREACHED[/]"
    if not row["open"]:
        return "met"
    return fmt_duration(row["left_s"])


def list_table(incidents: Sequence[Incident], now: datetime, tz: tzinfo | None) -> Any:
    """The rich table of ``list``."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Incidents at {fmt_time(now, tz)}", title_justify="left")
    for name in ("id", "sev", "status", "title", "commander", "elapsed", "left", "level"):
        wrap = name in ("title", "commander", "left")
        table.add_column(name, overflow="fold", no_wrap=not wrap)
    for incident in incidents:
        row = list_row(incident, now)
        level = row["level"]
        mark = "" if level <= incident.escalation_level else " [yellow](due)[/]"
        table.add_row(
            incident.id,
            incident.severity,
            incident.status,
            escape(incident.title),
            escape(incident.commander or "-"),
            fmt_duration(row["elapsed_s"]),
            _left_cell(row),
            f"L{level}{mark}",
        )
    return table


def _clock_line(name: str, data: dict[str, Any], tz: tzinfo | None) -> tuple[str, str]:
    target = fmt_duration(data["target_s"])
    if data["elapsed_s"] is None:
        return name, f"target {target}: no start time recorded"
    elapsed = fmt_duration(data["elapsed_s"])
    deadline = fmt_time(datetime.fromisoformat(data["deadline"]), tz)
    if data["breached"]:
        state = f"[bold red]BREACHED[/] by {fmt_duration(-data['left_s'])}"
    elif data["running"]:
        state = f"{fmt_duration(data['left_s'])} left"
    else:
        state = "met"
    verb = "running" if data["running"] else "took"
    return name, f"{verb} {elapsed} of {target} (by {deadline}): {state}"


def _escalation_lines(esc: Escalation, tz: tzinfo | None) -> list[str]:
    from rich.markup import escape

    lines = [
        f"L{esc.level} {LEVEL_NAMES[esc.level]}: {escape(esc.why)}",
        f"engage now: {escape(esc.engage)}",
    ]
    if esc.level > esc.recorded_level and not esc.resolved:
        lines.append(f"[yellow]raised from L{esc.recorded_level}[/]")
    if esc.next_level is not None and esc.next_at is not None:
        lines.append(
            f"next: L{esc.next_level} {LEVEL_NAMES[esc.next_level]} at "
            f"{fmt_time(esc.next_at, tz)} ({escape(esc.next_why or '')})"
        )
    return lines


def print_show(
    console: Console,
    incident: Incident,
    view: dict[str, Any],
    tz: tzinfo | None,
    *,
    timeline: Sequence[TimelineEntry],
    actions: Sequence[ActionItem],
    shown_entries: int,
) -> None:
    """``show`` for people: the record, clocks, escalation, reminder, timeline, actions."""
    from rich.markup import escape
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")

    def row(name: str, value: str) -> None:
        head.add_row(name, value)

    row("incident", f"{incident.id}  {incident.severity}  {incident.status}")
    row("title", escape(incident.title))
    for name in ("commander", "scribe", "comms_lead"):
        row(name.replace("_", " "), escape(getattr(incident, name) or "-"))
    row("services", escape(", ".join(incident.services) or "-"))
    if incident.runbook:
        row("runbook", escape(incident.runbook))
    for name in ("summary", "impact", "users_affected", "root_cause", "public_summary"):
        value = getattr(incident, name)
        if value:
            row(name.replace("_", " "), escape(value))
    for name in TIME_FIELDS[:-1]:  # the last update is the reminder's
        value = getattr(incident, name)
        if value is not None:
            row(name.removesuffix("_at"), fmt_time(value, tz))
    for name, data in view["clocks"].items():
        row(*_clock_line(name, data, tz))
    esc = escalation_from_view(view)
    for i, line in enumerate(_escalation_lines(esc, tz)):
        row("escalation" if i == 0 else "", line)
    update = update_due(incident, datetime.fromisoformat(view["now"]), tz)
    if update["hint"]:
        row("comms", f"[bold yellow]{escape(update['hint'])}[/]")
    elif update["next_update_at"]:
        due = datetime.fromisoformat(update["next_update_at"])
        row("comms", f"next update due {fmt_time(due, tz)}")
    console.print(head)

    if timeline:
        shown = list(timeline)[-shown_entries:] if shown_entries > 0 else []
        if shown:
            table = Table(
                title=f"Timeline (last {len(shown)} of {len(timeline)})", title_justify="left"
            )
            for name in ("#", "at", "kind", "who", "what"):
                table.add_column(name, overflow="fold")
            for entry in shown:
                table.add_row(
                    str(entry.seq),
                    fmt_time(entry.at, tz, seconds=True),
                    entry.kind,
                    escape(short_actor(entry.actor) or "-"),
                    escape(entry.summary),
                )
            console.print(table)
    if actions:
        table = Table(title="Action items", title_justify="left")
        for name in ("#", "action", "owner", "due", "status", "priority"):
            table.add_column(name, overflow="fold")
        for item in actions:
            table.add_row(
                str(item.id),
                escape(item.action),
                escape(item.owner),
                item.due or "-",
                item.status,
                item.priority,
            )
        console.print(table)


def escalation_from_view(view: dict[str, Any]) -> Escalation:
    """The Escalation back from ``incident_view``'s JSON (for rendering)."""
    from irdrive.incidents.clock import Contact, Trigger

    data = view["escalation"]
    return Escalation(
        level=data["level"],
        why=data["why"],
        triggers=tuple(
            Trigger(t["level"], t["why"], datetime.fromisoformat(t["at"]) if t["at"] else None)
            for t in data["triggers"]
        ),
        recorded_level=data["recorded_level"],
        people=tuple(Contact(p["name"], p["contact"]) for p in data["people"]),
        channels=tuple(data["channels"]),
        engage=data["engage"],
        next_level=data["next_level"],
        next_at=datetime.fromisoformat(data["next_at"]) if data["next_at"] else None,
        next_why=data["next_why"],
        resolved=data["resolved"],
    )


__all__ = [
    "clocks",
    "escalation",
    "incident_view",
    "list_row",
    "list_table",
    "print_show",
    "update_due",
]
