"""``irdrive incident timeline`` and ``irdrive incident verify``: an incident's timeline, and
the check of its hash chain."""

from __future__ import annotations

import json
from typing import Any

import click

from irdrive.errors import handle_errors


@click.command()
@click.argument("incident_id", metavar="INC-ID")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Only entries of this kind (repeatable; `run` for run.start, task.end... of runs, "
    "`task` for task.start/task.end).",
)
@click.option("--tz", metavar="ZONE", help="Your time zone (default: $IRDRIVE_TZ, $TZ, system).")
@click.option("--json", "as_json", is_flag=True, help="The entries as JSON (times ISO UTC).")
@handle_errors
def timeline(incident_id: str, kinds: tuple[str, ...], tz: str | None, as_json: bool) -> None:
    """The timeline of incident INC-ID, in the order it was recorded: each entry's number,
    time (UTC and your zone), kind, who and what.

    Runs recorded with `irdrive run ... --incident INC-ID` add run.start, task.end, change
    (with the prior state), verify and run.end; people add notes, status changes,
    escalations and notifications.

    \b
    Examples:
      irdrive incident timeline INC-20261202-031500
      irdrive incident timeline INC-20261202-031500 --kind change --kind verify
      irdrive incident timeline INC-20261202-031500 --json
    """
    from irdrive.incidents.common import zone
    from irdrive.incidents.model import ENTRY_KINDS
    from irdrive.incidents.store import open_incidents

    wanted = kind_filter(kinds, ENTRY_KINDS)
    local = zone(tz)
    with open_incidents(create=False, ident=incident_id) as store:
        incident = store.get(incident_id)
        entries = [e for e in store.timeline(incident.id) if wanted is None or e.kind in wanted]
    if as_json:
        data = {"incident_id": incident.id, "entries": [e.to_dict() for e in entries]}
        click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
        return
    render_timeline(incident.id, incident.title, entries, local)


def kind_filter(kinds: tuple[str, ...], known: frozenset[str]) -> frozenset[str] | None:
    """The entry kinds asked for: a kind, or a prefix of kinds (``run``: run.start and
    run.end; ``task``); None for all. An unknown one is a UsageError naming the known."""
    from irdrive.errors import UsageError

    if not kinds:
        return None
    wanted: set[str] = set()
    for kind in kinds:
        name = kind.strip().lower()
        found = {k for k in known if k == name or k.startswith(f"{name}.")}
        if name == "run":  # everything a run records
            found |= {"task.start", "task.end", "change", "verify"}
        if not found:
            raise UsageError(f"unknown entry kind {kind!r}: one of {', '.join(sorted(known))}")
        wanted |= found
    return frozenset(wanted)


def render_timeline(ident: str, title: str, entries: list[Any], local: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from irdrive.incidents.common import fmt_time, short_actor

    console = Console(highlight=False)
    table = Table(title=f"{ident}: {title}", title_justify="left", expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("time")
    table.add_column("kind")
    table.add_column("actor")
    table.add_column("what", overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            fmt_time(entry.at, local, seconds=True),
            entry.kind,
            Text(short_actor(entry.actor)),  # text, never rich markup: "[host]" stays as it is
            Text(entry.summary),
            style=_style(entry),
        )
    if not entries:
        console.print(f"{ident}: no timeline entries match", markup=False)
        return
    console.print(table)


def _style(entry: Any) -> str | None:
    if entry.kind == "run.end":
        return "green" if entry.data.get("exit_code") == 0 else "red"
    if entry.kind == "task.end" and entry.data.get("status") in ("failed", "unreachable"):
        return None if entry.data.get("ignored") else "red"
    if entry.kind == "notify" and entry.data.get("ok") is False:
        return "red"
    return None


@click.command()
@click.argument("incident_id", metavar="INC-ID")
@click.option("--json", "as_json", is_flag=True, help="The result as JSON.")
@handle_errors
def verify(incident_id: str, as_json: bool) -> None:
    """Check the hash chain of incident INC-ID's timeline: every entry's hash recomputed, each
    one following the one before, no number missing, and the last one the incident recorded.

    Exit 0 and one line when the chain is intact (note its head: a later edit of the end of
    the timeline changes it); exit 1 and one line per problem when an entry was edited,
    deleted, inserted or reordered.

    \b
    Examples:
      irdrive incident verify INC-20261202-031500
      irdrive incident verify INC-20261202-031500 --json
    """
    from irdrive.incidents.store import open_incidents

    with open_incidents(create=False, ident=incident_id) as store:
        result = store.verify(incident_id)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        click.echo(
            f"timeline of {result.incident_id}: {result.entries} entries, chain intact, "
            f"head {result.head}"
        )
    else:
        for problem in result.problems:
            click.echo(f"{result.incident_id}: {problem}")
    if not result.ok:
        raise SystemExit(1)
