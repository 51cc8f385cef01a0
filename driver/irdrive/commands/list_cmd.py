"""``irdrive list``: the runbooks, as a catalog a responder can scan."""

from __future__ import annotations

import json

import click

from irdrive.errors import handle_errors


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the runbooks: one row each with its severity, the incident playbook procedure it
    implements and what it does. `irdrive show NAME` gives the details and parameters.

    \b
    Examples:
      irdrive list
      irdrive list --json | jq -r '.[].name'
    """
    from irdrive.catalog import Catalog
    from irdrive.paths import find_project

    runbooks = Catalog(find_project()).runbooks()
    if as_json:
        click.echo(json.dumps([rb.to_dict() for rb in runbooks], indent=2, default=str))
        return
    if not runbooks:
        click.echo("No runbooks found in playbooks/.")
        return
    from rich.console import Console

    from irdrive.render import render_catalog

    render_catalog(Console(highlight=False), runbooks)
