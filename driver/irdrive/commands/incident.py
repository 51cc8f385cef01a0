"""``irdrive incident``: incident records, their clocks, timeline, communications and
post-incident work. Subcommands live in ``irdrive.commands.incident_*`` modules and are imported
only when invoked (the table below), like the top-level commands."""

from __future__ import annotations

import click

from irdrive.cli import LazyGroup

# subcommand -> (module in irdrive.commands, attribute, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "open": ("incident_open", "open_cmd", "Open an incident (or attach a repeat alert to one)."),
    "list": ("incident_core", "list_cmd", "Incidents with their clocks, open ones first."),
    "show": ("incident_core", "show", "One incident: clocks, escalation, people, timeline."),
    "update": ("incident_core", "update", "Change an incident's fields, people or severity."),
    "status": ("incident_core", "status", "Move an incident to another status."),
    "resolve": ("incident_core", "resolve", "Mark an incident RESOLVED."),
    "close": ("incident_core", "close", "Close a RESOLVED incident."),
    "reopen": ("incident_core", "reopen", "Reopen a RESOLVED or CLOSED incident."),
    "note": ("incident_core", "note", "Add a note (or a command run) to the timeline."),
    "timeline": ("incident_timeline", "timeline", "An incident's timeline."),
    "verify": ("incident_timeline", "verify", "Check the timeline's hash chain."),
    "comms": ("incident_comms", "comms", "Render (and --send) an incident communication."),
    "report": ("incident_post", "report", "Write the post-mortem draft (Markdown, HTML, SVG)."),
    "action": ("incident_post", "action", "Post-incident action items: add, list, done."),
    "stats": ("incident_post", "stats", "Incident trends for the monthly review."),
}


class LazySubgroup(LazyGroup):
    table = SUBCOMMANDS
    sort_commands = False  # the order a responder meets them


@click.group(cls=LazySubgroup)
def incident() -> None:
    """Incident records: severity clocks, escalation, a tamper-evident timeline,
    communications, status page and post-mortem.

    Records live in the history store ($IRDRIVE_DB_URL, else [history] db_url in the
    config file, else history.db in the state folder).

    \b
    Examples:
      irdrive incident open --severity P1 --title "Payments failing" --service payments
      irdrive run payments-failover --incident INC-20261202-031500
      irdrive incident show INC-20261202-031500
      irdrive incident comms INC-20261202-031500 --template internal --send
      irdrive incident resolve INC-20261202-031500
      irdrive incident report INC-20261202-031500
    """
