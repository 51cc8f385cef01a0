"""``irdrive rollback``: the playbook's emergency-rollback.sh, as the rollback runbook."""

from __future__ import annotations

from typing import Any

import click

from irdrive.commands.run import execute, incident_option, name_list
from irdrive.errors import handle_errors


@click.command()
@click.argument("deployments", nargs=-1, required=True)
@click.option(
    "--to-revision",
    type=int,
    default=0,
    show_default=True,
    help="Revision to go back to (one deployment); 0 is the previous one.",
)
@click.option("--dry-run", is_flag=True, help="Show current and target revisions; change nothing.")
@click.option("-f", "--force", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-y", "--yes", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-i", "--inventory", multiple=True, help="Inventory (default: the lab).")
@incident_option
@click.option("--json", "as_json", is_flag=True, help="Print only the run report, as JSON.")
@handle_errors
def rollback(
    deployments: tuple[str, ...],
    to_revision: int,
    dry_run: bool,
    yes: bool,
    inventory: tuple[str, ...],
    as_json: bool,
    incident: str | None,
) -> None:
    """Roll DEPLOYMENTS back, or `full` for every deployment of the platform.

    Runs the rollback runbook, which waits for each rollout and verifies it.

    \b
    Examples:
      irdrive rollback full --dry-run
      irdrive rollback full -f
      irdrive rollback backend
      irdrive rollback backend --to-revision 3
    """
    given: dict[str, Any] = {"rollback_deployments": name_list(deployments)}
    if to_revision:
        given["rollback_to_revision"] = to_revision
    execute(
        "rollback",
        given,
        check=dry_run,
        diff=dry_run,
        inventory=inventory,
        as_json=as_json,
        yes=yes,
        incident=incident,
    )
