"""``irdrive incident report | action | stats``: the post-incident work. The post-mortem draft
(Markdown, HTML and its timeline SVG), the action items tracked across incidents (the
playbook's Action | Owner | Due Date | Status | Priority table), and the monthly review's
trends. Thin Click functions over ``irdrive.incidents.postmortem`` and ``.stats``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from irdrive.errors import UsageError, handle_errors

if TYPE_CHECKING:
    from irdrive.incidents.model import ActionItem

TZ_HELP = "Show times in this IANA zone besides UTC (default: $IRDRIVE_TZ, $TZ, the system's)."
ACTION_STATUS_CHOICES = ("open", "in-progress", "done", "wont-do")
LIST_STATUS_CHOICES = ("all", "pending", *ACTION_STATUS_CHOICES)


def _now() -> datetime:
    return datetime.now(UTC)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _check_id(value: str) -> str:
    from irdrive.incidents.model import check_incident_id

    return check_incident_id(value)


@click.command("report")
@click.argument("incident_id", metavar="INC-ID")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="The folder to write INC-ID.md, .html and .svg into (default: reports/ in the state "
    "folder).",
)
@click.option("--tz", "tz_name", metavar="ZONE", help=TZ_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print where the files are, as JSON.")
@handle_errors
def report(incident_id: str, out: Path | None, tz_name: str | None, as_json: bool) -> None:
    """Write the post-mortem draft of an incident: summary and impact, detection, response
    and resolution times against the severity's targets, the timeline (a table and an SVG
    picture), root cause and what went well or poorly to fill in, and the action items. An
    open incident gets a draft that says "not resolved yet" where times are missing.

    \b
    Examples:
      irdrive incident report INC-20261202-031500
      irdrive incident report INC-20261202-031500 --out postmortems/ --tz Europe/Berlin
    """
    from irdrive.incidents import postmortem
    from irdrive.incidents.common import fmt_duration, zone
    from irdrive.incidents.store import open_incidents
    from irdrive.paths import state_dir

    ident = _check_id(incident_id)
    tz = zone(tz_name)
    now = _now()
    with open_incidents(create=False, ident=ident) as store:
        incident = store.get(ident)
        entries = store.timeline(incident.id)
        items = store.actions(incident.id)
    rendered = postmortem.render(incident, entries, items, now=now, tz=tz)
    paths = postmortem.write(rendered, out if out is not None else state_dir() / "reports")
    if as_json:
        result = {
            "incident": incident.id,
            "status": incident.status,
            "draft_open": rendered.draft_open,
            "files": {key: str(path) for key, path in paths.items()},
            "measures": rendered.measures.to_dict(),
            "timeline_entries": len(entries),
            "action_items": len(items),
        }
        click.echo(json.dumps(result, indent=2))
        return
    m = rendered.measures
    state = "draft, still open" if rendered.draft_open else incident.status
    click.echo(f"Post-mortem of {incident.id} ({incident.severity}, {state}):")
    for key in ("markdown", "html", "svg"):
        click.echo(f"  {paths[key]}")
    click.echo(
        f"  MTTD {fmt_duration(m.detect_s)}; MTTA {fmt_duration(m.acknowledge_s)} "
        f"(target {fmt_duration(m.respond_target_s)}: {m.respond}); "
        f"MTTR {fmt_duration(m.resolve_s) if m.resolve_s is not None else 'not resolved yet'} "
        f"(target {fmt_duration(m.resolve_target_s)}: {m.resolve})"
    )


# -- action items ----------------------------------------------------------------------------


def _item_dict(item: ActionItem, today: Any) -> dict[str, Any]:
    from irdrive.incidents.stats import is_overdue

    return {**item.to_dict(), "overdue": is_overdue(item, today)}


def _today(tz: tzinfo) -> Any:
    return _now().astimezone(tz).date()


@click.group("action")
def action() -> None:
    """Post-incident action items, tracked across incidents: add, list, done, status.

    \b
    Examples:
      irdrive incident action add INC-20261202-031500 --action "Alert on processor latency" \\
          --owner alice --due 2026-12-16 --priority P1
      irdrive incident action list --status pending
      irdrive incident action done 3
    """


@action.command("add")
@click.argument("incident_id", metavar="INC-ID")
@click.option("--action", "text", required=True, help="What is to be done.")
@click.option("--owner", required=True, help="Who does it.")
@click.option("--due", metavar="YYYY-MM-DD", help="When it is due.")
@click.option(
    "--priority", default="P2", show_default=True, metavar="P0-P3", help="P0 (first) to P3."
)
@click.option("--json", "as_json", is_flag=True, help="Print the new item as JSON.")
@handle_errors
def action_add(
    incident_id: str, text: str, owner: str, due: str | None, priority: str, as_json: bool
) -> None:
    """Add an action item to an incident (recorded in its timeline)."""
    from irdrive.incidents.common import actor
    from irdrive.incidents.store import open_incidents

    ident = _check_id(incident_id)
    with open_incidents() as store:
        item = store.add_action(
            ident, action=text, owner=owner, priority=priority, due=due, actor=actor(), now=_now()
        )
    if as_json:
        click.echo(json.dumps(item.to_dict(), indent=2))
        return
    due_text = f", due {item.due}" if item.due else ""
    click.echo(
        f"Action item #{item.id} added to {item.incident_id}: {item.action} "
        f"({item.owner}, {item.priority}{due_text})"
    )


@action.command("list")
@click.argument("incident_id", metavar="[INC-ID]", required=False)
@click.option(
    "--status",
    type=click.Choice(LIST_STATUS_CHOICES),
    default="all",
    show_default=True,
    help="Only items with this status (pending: open or in-progress).",
)
@click.option("--overdue", is_flag=True, help="Only pending items past their due date.")
@click.option(
    "--tz", "tz_name", metavar="ZONE", help="The zone whose date decides what is overdue."
)
@click.option("--json", "as_json", is_flag=True, help="Print the items as JSON.")
@handle_errors
def action_list(
    incident_id: str | None, status: str, overdue: bool, tz_name: str | None, as_json: bool
) -> None:
    """Action items of one incident, or of all; overdue ones are marked."""
    from irdrive.incidents.common import zone
    from irdrive.incidents.stats import PENDING_ACTIONS, is_overdue
    from irdrive.incidents.store import open_incidents

    ident = _check_id(incident_id) if incident_id else None
    today = _today(zone(tz_name))
    with open_incidents() as store:
        items = store.actions(ident, status=status if status in ACTION_STATUS_CHOICES else None)
    if status == "pending":
        items = [i for i in items if i.status in PENDING_ACTIONS]
    if overdue:
        items = [i for i in items if is_overdue(i, today)]
    if as_json:
        click.echo(json.dumps([_item_dict(i, today) for i in items], indent=2))
        return
    if not items:
        click.echo("No action items" + (f" for {ident}" if ident else "") + ".")
        return
    from rich.table import Table

    table = Table(title="Action items", title_justify="left")
    for name in ("#", "Incident", "Action", "Owner", "Due Date", "Status", "Priority"):
        table.add_column(name, overflow="fold", no_wrap=name not in ("Action", "Owner"))
    for item in items:
        due = item.due or "-"
        if is_overdue(item, today):
            due = f"[bold red]{due} OVERDUE[/]"
        table.add_row(
            str(item.id), item.incident_id, item.action, item.owner, due, item.status, item.priority
        )
    _console().print(table)


def _set_status(action_id: int, new: str, as_json: bool) -> None:
    from irdrive.incidents.common import actor
    from irdrive.incidents.store import open_incidents

    if action_id <= 0:
        raise UsageError(f"invalid action item id {action_id}: a positive number")
    with open_incidents() as store:
        before = store.action(action_id)
        item = store.set_action_status(action_id, new, actor=actor(), now=_now())
    if as_json:
        click.echo(
            json.dumps({**item.to_dict(), "changed": before.status != item.status}, indent=2)
        )
    elif before.status == item.status:
        click.echo(f"Action item #{item.id} is already {item.status}: {item.action}")
    else:
        click.echo(f"Action item #{item.id} {before.status} -> {item.status}: {item.action}")


@action.command("done")
@click.argument("action_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the item as JSON.")
@handle_errors
def action_done(action_id: int, as_json: bool) -> None:
    """Mark an action item done (recorded in its incident's timeline)."""
    _set_status(action_id, "done", as_json)


@action.command("status")
@click.argument("action_id", type=int, metavar="ID")
@click.option(
    "--set", "new", type=click.Choice(ACTION_STATUS_CHOICES), required=True, help="New status."
)
@click.option("--json", "as_json", is_flag=True, help="Print the item as JSON.")
@handle_errors
def action_status(action_id: int, new: str, as_json: bool) -> None:
    """Set an action item's status: open, in-progress, done or wont-do."""
    _set_status(action_id, new, as_json)


# -- trends ----------------------------------------------------------------------------------


@click.command("stats")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="Incidents detected since: Nm, Nh, Nd, Nw before now, or an ISO date (2026-11-01).",
)
@click.option("--tz", "tz_name", metavar="ZONE", help=TZ_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the trends as JSON.")
@handle_errors
def stats(since: str, tz_name: str | None, as_json: bool) -> None:
    """The monthly review's incident trends: count by severity, MTTD, MTTA and MTTR (mean and
    median), response and resolution target breaches, the runbooks used most, and the action
    items still open.

    \b
    Examples:
      irdrive incident stats
      irdrive incident stats --since 2026-11-01 --json
    """
    from irdrive.incidents import stats as trends_mod
    from irdrive.incidents.common import fmt_duration, fmt_time, parse_since, zone
    from irdrive.incidents.store import open_incidents

    tz = zone(tz_name)
    now = _now()
    start = parse_since(since, now)
    with open_incidents() as store:
        found = trends_mod.load_trends(store, since=start, now=now)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2))
        return
    from rich.table import Table

    console = _console()
    console.print(
        f"Incidents detected since {fmt_time(start, tz)}: {found.total} ({found.open} open)"
    )
    by_sev = Table(title="By severity", title_justify="left")
    for name in ("Severity", "Incidents", "Breached a target"):
        by_sev.add_column(name)
    for sev, count in found.by_severity.items():
        by_sev.add_row(sev, str(count), str(found.breaches["by_severity"].get(sev, 0)))
    console.print(by_sev)
    if len(found.by_month) > 1:
        months = Table(title="By month (UTC)", title_justify="left")
        for name in ("Month", "Incidents", "P0", "P1", "P2", "P3", "Breached", "MTTR mean"):
            months.add_column(name)
        for row in found.by_month:
            months.add_row(
                row["month"],
                *(str(row[key]) for key in ("incidents", "P0", "P1", "P2", "P3", "breached")),
                fmt_duration(row["mttr_mean_s"]),
            )
        console.print(months)
    clocks = Table(title="Clocks", title_justify="left")
    for name in ("", "Mean", "Median", "Incidents"):
        clocks.add_column(name)
    for label, values in (
        ("MTTD (detect)", found.mttd),
        ("MTTA (acknowledge)", found.mtta),
        ("MTTR (resolve)", found.mttr),
    ):
        clocks.add_row(
            label,
            fmt_duration(values["mean_s"]),
            fmt_duration(values["median_s"]),
            str(values["count"]),
        )
    console.print(clocks)
    console.print(
        f"Target breaches: respond {found.breaches['respond']}, resolve "
        f"{found.breaches['resolve']} ({found.breaches['incidents']} incidents)"
    )
    if found.runbooks:
        books = Table(title="Top runbooks", title_justify="left")
        for name in ("Runbook", "Incidents", "Runs"):
            books.add_column(name)
        for row in found.runbooks:
            books.add_row(row["runbook"], str(row["incidents"]), str(row["runs"]))
        console.print(books)
    else:
        console.print("Top runbooks: none recorded")
    acts = found.actions
    console.print(
        f"Action items: {acts['open']} open, {acts['in_progress']} in progress, "
        f"{acts['overdue']} overdue"
    )
