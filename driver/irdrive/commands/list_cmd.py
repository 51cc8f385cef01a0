"""``irdrive list``: the runbooks in the catalog."""

from __future__ import annotations

import json

import click

from irdrive.errors import handle_errors


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List the runbooks: one per playbook in playbooks/, with its parameters.

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
    width = max(len(rb.name) for rb in runbooks)
    for rb in runbooks:
        if rb.error:
            click.echo(f"{rb.name:<{width}}  (cannot be read: {rb.error})")
            continue
        params = ", ".join(
            f"{p.alias or p.name}{'' if p.required else '?'}" for p in rb.parameters.values()
        )
        click.echo(f"{rb.name:<{width}}  {rb.description}")
        if params:
            click.echo(f"{'':<{width}}  parameters: {params}")
    click.echo("\nirdrive show NAME for details; ? marks an optional parameter.")
