"""The ``irdrive`` command group.

Commands live one a file in ``irdrive.commands`` and are imported only when invoked, so
``irdrive --help`` stays fast and imports neither ansible nor the cloud clients.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from irdrive import __version__
from irdrive.errors import EXIT_FAILED

# command name -> (module in irdrive.commands, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("list_cmd", "list_cmd", "List the runbooks in the catalog."),
    "show": ("show", "show", "Show a runbook: what it does, its parameters, what it changes."),
    "run": ("run", "run", "Run a runbook with live progress and a verified report."),
    "lab": ("lab", "lab", "The local simulated platform: up, down, status, reset, fault, journal."),
    "kill-switch": ("kill_switch", "kill_switch", "Disable or enable feature kill switches."),
    "rollback": ("rollback", "rollback", "Roll deployments back (`full` for all), verified."),
    "drill": ("drill", "drill", "Run disaster-recovery drills (molecule scenarios), recorded."),
    "approvals": (
        "approvals",
        "approvals",
        "Approve or reject what alerts asked destructive runbooks to do.",
    ),
    "awx": ("awx", "awx", "AWX job templates with surveys, from the runbooks' parameters."),
    "incident": (
        "incident",
        "incident",
        "Incident records: clocks, escalation, timeline, comms, post-mortem.",
    ),
    "status-page": ("status_page", "status_page", "Build the public status page (HTML, JSON)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, from a table of
    name -> (module in irdrive.commands, attribute, one-line help)."""

    table: dict[str, tuple[str, str, str]] = COMMANDS
    sort_commands = True  # alphabetical; False keeps the table's order

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.table) if self.sort_commands else list(self.table)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self.table.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(f"irdrive.commands.{spec[0]}")
        cmd: click.Command = getattr(module, spec[1])
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text from the table, without importing every command module.
        rows = [(name, self.table[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="irdrive")
def cli() -> None:
    """irdrive turns the incident playbook into safe, verified automation.

    \b
    Examples:
      irdrive lab up                     start the local lab
      irdrive list                       the runbooks
      irdrive run payments-failover      fail payments over to the backup processor
      irdrive run payments-failover --check --diff
    """


# -vvv (three or more -v) shows the traceback of an unexpected error; otherwise it is one line.
TRACEBACK_VERBOSITY = 3


def main(argv: list[str] | None = None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return cli.main(args=args, prog_name="irdrive")
    except Exception as exc:  # not an IrdriveError (commands turn those into one line)
        if verbosity(args) >= TRACEBACK_VERBOSITY:
            raise
        problem = " ".join(str(exc).split()) or type(exc).__name__
        click.echo(f"Error: {problem} ({type(exc).__name__}; -vvv shows the traceback)", err=True)
        raise SystemExit(EXIT_FAILED) from None


def verbosity(args: list[str]) -> int:
    """How many -v the command line gives (``-vvv``, ``-v -v``, ``--verbose``)."""
    count = 0
    for arg in args:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif (
            len(arg) > 1
            and arg.startswith("-")
            and not arg.startswith("--")
            and set(arg[1:]) == {"v"}
        ):
            count += len(arg) - 1
    return count


if __name__ == "__main__":  # pragma: no cover
    main()
