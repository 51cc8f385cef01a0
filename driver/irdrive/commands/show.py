"""``irdrive show NAME``: what a runbook does, its parameters and what it changes."""

from __future__ import annotations

import json
from typing import Any

import click

from irdrive.errors import handle_errors


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if value == "":
        return '""'
    return value if isinstance(value, str) else json.dumps(value)


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the runbook as JSON.")
@handle_errors
def show(name: str, as_json: bool) -> None:
    """Show runbook NAME: description, parameters (secrets marked) and what it changes.

    \b
    Examples:
      irdrive show payments-failover
      irdrive show payments-failover --json
    """
    from irdrive.catalog import Catalog
    from irdrive.paths import find_project

    runbook = Catalog(find_project()).get(name)
    if as_json:
        click.echo(json.dumps(runbook.to_dict(), indent=2, default=str))
        return
    click.echo(f"{runbook.name}: {runbook.description or '(no description)'}")
    if runbook.procedure or runbook.severity:
        severity = f" ({runbook.severity})" if runbook.severity else ""
        click.echo(f"  procedure: {runbook.procedure or '-'}{severity}")
    click.echo(f"  playbook: {runbook.path}")
    if runbook.roles:
        click.echo(f"  roles:    {', '.join(runbook.roles)}")
    click.echo("")
    if runbook.parameters:
        click.echo("Parameters:")
        for param in runbook.parameters.values():
            info = param.to_dict()
            flags = ["required" if param.required else f"default {_value(info['default'])}"]
            if param.choices:
                flags.append("one of " + ", ".join(str(c) for c in param.choices))
            if param.no_log:
                flags.append("secret: never printed or logged")
            kind = f"list of {param.elements}" if param.elements else param.type
            if param.alias:
                flags.append(f"-e {param.alias}=... also works")
            click.echo(f"  {param.name} ({kind}; {'; '.join(flags)})")
            if param.description:
                click.echo(f"      {param.description}")
    else:
        click.echo("Parameters: none")
    click.echo("")
    if runbook.read_only:
        click.echo("What it changes: nothing (read-only)")
    elif runbook.changes:
        click.echo("What it changes:")
        for change in runbook.changes:
            click.echo(f"  - {change}")
    else:
        click.echo("What it changes: not declared (treated as a change: asks before running)")
    click.echo("")
    example = " ".join(
        f"-e {p.alias or p.name}=..." for p in runbook.parameters.values() if p.required
    )
    click.echo(f"Run it:  irdrive run {runbook.name} {example}".rstrip() + " --check --diff")
