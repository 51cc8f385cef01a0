"""``irdrive status-page build DIR``: the public status page (HTML and a JSON feed) from the
open and recent incidents, with only their user-facing text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from irdrive.errors import handle_errors


@click.group("status-page")
def status_page() -> None:
    """The public status page: open and recent incidents, user-facing text only.

    \b
    Examples:
      irdrive status-page build /var/www/status
      irdrive status-page build site --days 30 --title "Example status" --json
    """


@status_page.command("build")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--days",
    type=int,
    default=14,
    show_default=True,
    help="Show incidents resolved within this many days (open ones always show).",
)
@click.option("--title", default="Service status", show_default=True, help="The page's title.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@handle_errors
def build(directory: Path, days: int, title: str, as_json: bool) -> None:
    """Write DIRECTORY/index.html and DIRECTORY/status.json.

    The page shows the overall status, the affected services, the open incidents and those
    resolved within --days: impact level, status, services, start and resolution times and
    the public status updates. Internal fields (people, notes, internal summary, runbooks,
    runs, hosts, addresses) never reach it. Both files are replaced atomically.
    """
    from irdrive.incidents import statuspage
    from irdrive.incidents.store import open_incidents

    days, title = statuspage.check_args(days, title)
    statuspage.check_dir(directory)
    with open_incidents() as store:
        feed, withheld = statuspage.build(store, directory, days=days, title=title)
    files = [str(directory / name) for name in statuspage.FILES]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "directory": str(directory),
                    "files": files,
                    "generated_at": feed["generated_at"],
                    "status": feed["status"],
                    "active": len(feed["active"]),
                    "recent": len(feed["recent"]),
                    "withheld": withheld,
                },
                indent=2,
            )
        )
    else:
        _print(feed, files)
    if withheld:
        click.echo(
            f"Warning: IP addresses or secret values withheld from {withheld} public text(s); "
            "reword the incident's public summary",
            err=True,
        )


def _print(feed: dict[str, Any], files: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    click.echo(f"Status page: {feed['status']['label']}")
    rows = [*feed["active"], *feed["recent"]]
    if rows:
        table = Table()
        table.add_column("incident", no_wrap=True)
        for name in ("shown as", "impact", "status", "services"):
            table.add_column(name)
        for item in rows:
            cells = (
                item["id"],
                item["name"],
                item["impact_label"],
                item["status_label"],
                ", ".join(item["services"]) or "-",
            )
            table.add_row(*(Text(cell) for cell in cells))  # public text, never markup
        Console(highlight=False).print(table)
    else:
        click.echo(f"No open incidents, none resolved in the last {feed['window_days']} days.")
    for path in files:
        click.echo(f"Wrote {path}")
