"""``irdrive incident open``: open an incident by hand, or from an alert (a repeat attaches)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO, Any

import click

from irdrive.errors import UsageError, handle_errors


@click.command("open")
@click.option("--severity", help="P0, P1, P2 or P3 (with --from-alert: for alerts without one).")
@click.option("--title", help="What is happening, in one line (with --from-alert: a fallback).")
@click.option("--commander", help="The incident commander (naming one acknowledges it).")
@click.option("--scribe", help="Who keeps the timeline.")
@click.option("--comms-lead", "comms_lead", help="Who sends the communications.")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="An affected service (repeat for more; with --from-alert: when the alert names none).",
)
@click.option("--runbook", help="The runbook that remedies it (with --from-alert: a fallback).")
@click.option("--summary", default="", help="Internal summary: what is known so far.")
@click.option(
    "--from-alert",
    "from_alert",
    type=click.File("r"),
    metavar="FILE|-",
    help="An Alertmanager webhook notification (v4), an alert or a rulebook event, as JSON "
    "(- for stdin): each firing alert opens an incident, or attaches to the open one of its "
    "alert key.",
)
@click.option("--tz", help="Show times in this zone besides UTC (default $IRDRIVE_TZ, $TZ).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def open_cmd(
    severity: str | None,
    title: str | None,
    commander: str | None,
    scribe: str | None,
    comms_lead: str | None,
    services: tuple[str, ...],
    runbook: str | None,
    summary: str,
    from_alert: IO[str] | None,
    tz: str | None,
    as_json: bool,
) -> None:
    """Open an incident: prints its id, INC-YYYYMMDD-HHMMSS.

    With --from-alert, severity, services and runbook come from the alert's labels
    (severity, service, runbook), the title and summary from its annotations
    (summary, description), the start of the impact from startsAt. A firing alert
    whose alert key (its name and the labels naming its target: cluster,
    namespace, service, deployment, instance, host) has an open incident attaches
    to it instead of opening a second; a resolved alert is noted on that incident,
    which stays open until a person resolves it.

    \b
    Examples:
      irdrive incident open --severity P1 --title "Payments failing" --service payments
      irdrive incident open --severity P0 --title "Site down" --commander alice --scribe bob
      irdrive incident open --from-alert notification.json
      irdrive incident open --from-alert - --json < event.json
    """
    from irdrive.incidents import common
    from irdrive.incidents.model import check_severity

    zone = common.zone(tz)
    if severity is not None:
        severity = check_severity(severity)
    people = {"commander": commander, "scribe": scribe, "comms_lead": comms_lead}
    for role, name in people.items():
        if name is not None and not name.strip():
            raise UsageError(f"--{role.replace('_', '-')} cannot be empty")
    if from_alert is not None:
        _from_alert(from_alert, severity, title, services, runbook, summary, people, zone, as_json)
        return
    if severity is None:
        raise UsageError("give --severity P0..P3 (or --from-alert FILE)")
    if title is None or not title.strip():
        raise UsageError('give the incident a --title "..." (what is happening, in one line)')

    from irdrive.incidents import escalate
    from irdrive.incidents.store import open_incidents

    roster = escalate.roster_or_warn(False, lambda line: click.echo(line, err=True))
    with open_incidents() as store:
        incident = store.open(
            title=title,
            severity=severity,
            actor=common.actor(),
            services=services,
            runbook=runbook,
            summary=summary,
            commander=_name(commander),
            scribe=_name(scribe),
            comms_lead=_name(comms_lead),
        )
        # A P0/P1 engages the team lead at once: the timeline says so from the start.
        incident, _ = escalate.record(
            store, incident, incident.detected_at or datetime.now(UTC), roster
        )
    if as_json:
        click.echo(
            json.dumps({"id": incident.id, "action": "opened", "incident": incident.to_dict()})
        )
        return
    click.echo(incident.id)
    click.echo(
        f"{incident.severity} {incident.status}: {incident.title} (opened "
        f"{common.fmt_time(incident.detected_at, zone)}; `irdrive incident show {incident.id}`)",
        err=True,
    )


def _name(value: str | None) -> str | None:
    return value.strip() if value else None


def _from_alert(
    handle: IO[str],
    severity: str | None,
    title: str | None,
    services: tuple[str, ...],
    runbook: str | None,
    summary: str,
    people: dict[str, str | None],
    zone: Any,
    as_json: bool,
) -> None:
    from irdrive.incidents import alerts, common

    source = "stdin" if handle.name == "<stdin>" else handle.name
    defaults = alerts.Defaults(
        severity=severity, title=title, services=services, runbook=runbook, summary=summary
    )
    # Everything is read and checked before the store is opened: bad input writes nothing.
    parsed = alerts.parse(alerts.load(handle.read(), f"--from-alert {source}"), defaults)

    from irdrive.incidents.escalate import roster_or_warn

    outcomes = alerts.record(
        parsed,
        actor=common.actor(),
        commander=_name(people["commander"]),
        scribe=_name(people["scribe"]),
        comms_lead=_name(people["comms_lead"]),
        roster=roster_or_warn(False, lambda line: click.echo(line, err=True)),
    )
    if as_json:
        click.echo(json.dumps({"alerts": [o.to_dict() for o in outcomes]}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(outcomes)} alert(s)")
    table.add_column("incident", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("alert", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("sev", no_wrap=True)
    table.add_column("since")
    for out in outcomes:
        action = out.action + (f" ({out.count})" if out.action == alerts.ATTACHED else "")
        if out.note:
            action += f": {out.note}"
        table.add_row(
            out.incident_id or "-",
            action,
            out.alert.key,
            out.alert.status,
            out.alert.severity,
            common.fmt_time(out.alert.starts_at, zone),
        )
    Console().print(table)
