"""``irdrive run NAME``: validate, confirm, run through ansible-runner, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from irdrive.errors import NotConfirmed, ParameterError, handle_errors

if TYPE_CHECKING:
    from irdrive.catalog import Runbook
    from irdrive.paths import Project


def resolve_inventories(project: Project, given: tuple[str, ...]) -> list[Path]:
    """Each ``-i`` as a path; a bare name also matches ``inventories/<name>``."""
    paths: list[Path] = []
    for item in given:
        path = Path(item).expanduser()
        if not path.exists() and "/" not in item:
            path = project.inventories_dir / item
        if not path.exists():
            raise ParameterError(f"inventory {item!r} not found")
        paths.append(path.resolve())
    return paths


def should_confirm(runbook: Runbook, check: bool, yes: bool, interactive: bool) -> bool:
    """Ask only a person at a terminal, only for a real run of a runbook that changes things."""
    return runbook.mutating and not check and not yes and interactive


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def ensure_lab() -> tuple[Path, dict[str, Any]]:
    """Start the lab if it is not up; return its folder and its state."""
    from irdrive import labsite

    return labsite.ensure_up()


def lab_dir() -> Path:
    from irdrive import labsite

    return labsite.default_lab_dir()


@click.command()
@click.argument("name")
@click.option(
    "-e",
    "--extra-vars",
    "extra",
    multiple=True,
    metavar="KEY=VALUE|@FILE",
    help="A runbook parameter (repeatable). @FILE reads a YAML/JSON mapping: use it for secrets.",
)
@click.option("--check", is_flag=True, help="Dry run: report what would change, change nothing.")
@click.option("--diff", is_flag=True, help="Show before/after of what changes.")
@click.option(
    "-i",
    "--inventory",
    multiple=True,
    metavar="INVENTORY",
    help="Inventory path or name under inventories/ (repeatable). Default: the lab.",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the run report, as JSON.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-v", "--verbose", count=True, help="ansible-playbook verbosity (in the artifacts).")
@handle_errors
def run(
    name: str,
    extra: tuple[str, ...],
    check: bool,
    diff: bool,
    inventory: tuple[str, ...],
    as_json: bool,
    yes: bool,
    verbose: int,
) -> None:
    """Run runbook NAME with live progress, then a summary of what changed and was verified.

    Parameters are checked before anything runs. With no -i the target is the local lab,
    started if it is not up. A runbook that changes things asks for confirmation when stdin
    is a terminal; with --yes, --check, or stdin not a terminal (scripts, CI, pagers at
    3 a.m.) it proceeds without asking.

    Secrets (parameters marked secret in `irdrive show`) are never printed, never put on a
    command line and are scrubbed from the run's artifacts; pass them with -e @FILE.

    Exit codes: 0 success, 1 remediation failed, 2 bad input (nothing ran), 3 target
    unreachable. Artifacts and report.json go to $XDG_STATE_HOME/irdrive/runs/
    (IRDRIVE_STATE_DIR overrides).

    \b
    Examples:
      irdrive run payments-failover
      irdrive run payments-failover --check --diff
      irdrive run payments-failover -e @secrets.yml --yes --json
      irdrive run payments-failover -i inventories/prod -e reason="INC-123"
    """
    execute(name, extra, check, diff, inventory, as_json, yes, verbose)


def execute(
    name: str,
    extra: tuple[str, ...],
    check: bool = False,
    diff: bool = False,
    inventory: tuple[str, ...] = (),
    as_json: bool = False,
    yes: bool = False,
    verbose: int = 0,
) -> None:
    """Validate, confirm, run and report runbook ``name``: shared by `run` and its short forms."""
    from irdrive.catalog import Catalog, parse_extra_vars, validate
    from irdrive.paths import find_project

    project = find_project()
    runbook = Catalog(project).get(name)
    values = validate(runbook, parse_extra_vars(extra))
    inventories = resolve_inventories(project, inventory)

    from rich.console import Console

    from irdrive import report as render
    from irdrive import runner

    console = Console(stderr=as_json, quiet=as_json, highlight=False)
    use_lab = not inventories
    if use_lab:
        if not project.lab_inventory.exists():
            raise ParameterError(f"no lab inventory at {project.lab_inventory}; pass -i")
        target_dir: Path | None = lab_dir()
        render.banner(console, "lab", str(target_dir), check)
    else:
        target_dir = None
        render.banner(console, "inventory", ", ".join(map(str, inventories)), check)

    interactive = stdin_is_interactive()
    if should_confirm(runbook, check, yes, interactive):
        what = "; ".join(runbook.changes) or "the target"
        if not click.confirm(f"Run {runbook.name}? It changes {what}", err=True):
            raise NotConfirmed("not confirmed: nothing was run")

    if use_lab:
        target_dir, _info = ensure_lab()
        inventories = [project.lab_inventory.resolve()]

    request = runner.RunRequest(
        runbook=runbook.name,
        playbook=runbook.path.resolve(),
        project=project,
        inventories=inventories,
        extravars=values,
        secrets=runbook.secrets,
        check=check,
        diff=diff,
        verbosity=verbose,
        target="lab" if use_lab else "inventory",
        lab_dir=target_dir if use_lab else None,
    )
    with render.LiveProgress(console) as progress:
        result = runner.run(request, on_update=progress.update)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        render.render_summary(console, result)
    if result.exit_code:
        raise SystemExit(result.exit_code)
