"""``irdrive kill-switch``: the playbook's kill-switches.sh, as the kill-switch runbook."""

from __future__ import annotations

from typing import Any

import click

from irdrive.commands.run import execute, incident_option, name_list
from irdrive.errors import UsageError, handle_errors


@click.command(name="kill-switch")
@click.argument("action", type=click.Choice(["disable", "enable", "status"]))
@click.argument("names", nargs=-1, required=True)
@click.option("-r", "--reason", help="Why (required to disable); kept in the switch history.")
@click.option("-f", "--force", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-y", "--yes", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--check", is_flag=True, help="Report what would change; change nothing.")
@click.option("-i", "--inventory", multiple=True, help="Inventory (default: the lab).")
@incident_option
@click.option("--json", "as_json", is_flag=True, help="Print only the run report, as JSON.")
@handle_errors
def kill_switch(
    action: str,
    names: tuple[str, ...],
    reason: str | None,
    yes: bool,
    check: bool,
    inventory: tuple[str, ...],
    as_json: bool,
    incident: str | None,
) -> None:
    """Disable or enable feature kill switches: NAMES are switches, or `all`.

    Runs the kill-switch runbook; `irdrive run kill-switch` takes the same parameters.

    \b
    Examples:
      irdrive kill-switch disable all -r "Security incident"
      irdrive kill-switch disable payments -r "Primary processor down" -f
      irdrive kill-switch enable payments
      irdrive kill-switch status all
    """
    if action == "disable" and not (reason or "").strip():
        raise UsageError("disabling a kill switch needs a reason: -r REASON")
    given: dict[str, Any] = {
        "kill_switch_names": name_list(names),
        "kill_switch_state": "query" if action == "status" else f"{action}d",
    }
    if reason:
        given["kill_switch_reason"] = reason
    execute(
        "kill-switch",
        given,
        check=check or action == "status",
        inventory=inventory,
        as_json=as_json,
        yes=yes,
        incident=incident,
    )
