"""``irdrive list``: the runbooks, as a catalog a responder can scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from irdrive.errors import IrdriveError, handle_errors

if TYPE_CHECKING:
    from irdrive.catalog import Catalog
    from irdrive.freshness import Freshness
    from irdrive.paths import Project


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the runbooks: one row each with its severity, the incident playbook procedure it
    implements, what it does, and when it last passed a drill. `irdrive show NAME` gives the
    details and parameters.

    A runbook is "stale" when its files (playbook, roles, the collection modules it uses)
    changed since its last passing drill, or that drill is older than 30 days
    (IRDRIVE_DRILL_MAX_AGE_DAYS); "never" when it has not passed one. Drills are read from the
    history store (IRDRIVE_DB_URL, default: SQLite in the state folder). With --json each
    runbook has "drill": {"status", "reasons", "last_passing"}.

    \b
    Examples:
      irdrive list
      irdrive list --json | jq -r '.[].name'
    """
    from irdrive.catalog import Catalog
    from irdrive.paths import find_project

    project = find_project()
    catalog = Catalog(project)
    runbooks = catalog.runbooks()
    now = datetime.now(UTC)
    drills = drill_freshness(project, [rb.name for rb in runbooks], now, catalog)
    if as_json:
        rows = []
        for rb in runbooks:
            row = rb.to_dict()
            fresh = drills.get(rb.name) if drills is not None else None
            row["drill"] = fresh.to_dict(now) if fresh is not None else None
            rows.append(row)
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not runbooks:
        click.echo("No runbooks found in playbooks/.")
        return
    from rich.console import Console

    from irdrive.render import render_catalog

    render_catalog(Console(highlight=False), runbooks, drills, now)


def drill_freshness(
    project: Project, names: list[str], now: datetime, catalog: Catalog | None = None
) -> dict[str, Freshness] | None:
    """Each runbook's freshness; None (after a one-line warning on stderr) when the history
    store cannot be read: the catalog is still listed."""
    from irdrive import freshness, history

    try:
        last = history.last_passing_all()
        cache = catalog.cache if catalog is not None else None
        return freshness.assess(project, names, last, now, cache=cache)
    except IrdriveError as exc:
        click.echo(f"Warning: drill history not shown: {exc}", err=True)
        return None
