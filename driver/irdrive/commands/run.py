"""``irdrive run NAME``: validate, confirm, run through ansible-runner, report."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from irdrive.errors import UsageError, handle_errors

if TYPE_CHECKING:
    from irdrive.catalog import Runbook
    from irdrive.incidents.runlink import IncidentLink
    from irdrive.paths import Project


# --incident, on `run` and its short forms (kill-switch, rollback).
incident_option = click.option(
    "--incident",
    metavar="INC-ID",
    help="Record the run in this open incident's timeline (default: $IRDRIVE_INCIDENT).",
)


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
@click.option(
    "--force",
    is_flag=True,
    help="Exceed the runbook's ceilings (replicas, addresses): sets the extra var irdrive_force.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Stop the run safely after SECONDS, as on SIGTERM (default: the runbook's, or 900).",
)
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Wait this long for another run's lock on the target (default 30; 0 refuses at once): "
    "sets the extra var irdrive_lock_wait.",
)
@incident_option
@click.option(
    "--notify",
    type=click.Choice(["internal", "user", "stakeholder"]),
    metavar="TEMPLATE",
    help="With --incident: after the run, send the incident's TEMPLATE communication (internal,"
    " user, stakeholder) to its channels (irdrive incident comms). A failed delivery is a "
    "warning, recorded in the timeline; it never changes the run's exit code.",
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
    force: bool,
    deadline: float | None,
    lock_wait: float | None,
    incident: str | None,
    notify: str | None,
) -> None:
    """Run runbook NAME with live progress, then a summary of what changed and was verified.

    Parameters and the target are checked before anything runs. With no -i the target is the
    local lab, which must be up (`irdrive lab up`; exit 3 if not); each -i inventory must load
    and have hosts (exit 2 if not). The first line names the target. A runbook that changes things asks for confirmation when stdin
    is a terminal; with --yes, --check, or stdin not a terminal (scripts, CI, pagers at
    3 a.m.) it proceeds without asking.

    Secrets (parameters marked secret in `irdrive show`) are never printed, never put on a
    command line and are scrubbed from the run's artifacts; pass them with -e @FILE.

    Ceilings (replicas, addresses to block) are refused as bad input before any write; --force
    exceeds them (AWX and ansible-playbook users set the extra var irdrive_force=true).

    Ctrl-C (SIGINT), SIGTERM or the deadline stop the run safely: the running task finishes,
    then the runbook's restore steps run (a kill switch turned off is turned back on, or the
    report says it is still off); the report lists what was changed before the stop. A second
    Ctrl-C stops at once. report.json is written as the run goes: after a kill -9 of irdrive
    the next run says that an earlier run was interrupted and what it had changed.

    A runbook whose last passing drill no longer proves it (stale, see `irdrive list`), or an
    incident runbook never drilled, gets a one-line warning on stderr first; it never blocks.

    One run at a time changes a target: a run waits for another run's lock on it (--lock-wait),
    then fails naming the holder and since when.

    --incident INC-ID (or $IRDRIVE_INCIDENT) records the run in an open incident's timeline:
    who ran what, each task's outcome, what changed with the prior state, what was verified,
    and how it ended (`irdrive incident timeline INC-ID`). An unknown or closed incident is
    refused before anything runs (exit 2); a timeline write that fails later is a warning and
    never changes the run's exit code. --notify internal (or user, stakeholder) then sends the
    incident's communication to its channels; a failed delivery is a warning, recorded in the
    timeline, and never changes the exit code either.

    Exit codes: 0 success, 1 remediation failed, deadline exceeded or NOT RESOLVED (a symptom
    found and not remedied: the summary names the runbook to run next), 2 bad input (nothing
    ran), 3 target unreachable, 130 stopped by SIGINT, 143 by SIGTERM. Artifacts and
    report.json go to $XDG_STATE_HOME/irdrive/runs/
    (IRDRIVE_STATE_DIR overrides).

    \b
    Examples:
      irdrive run payments-failover
      irdrive run payments-failover --check --diff
      irdrive run payments-failover -e @secrets.yml --yes --json
      irdrive run payments-failover -i inventories/prod -e reason="INC-123"
      irdrive run payments-failover --incident INC-20261202-031500
    """
    from irdrive.params import parse_extra_vars

    execute(
        name,
        parse_extra_vars(extra),
        check,
        diff,
        inventory,
        as_json,
        yes,
        verbose,
        extra,
        force,
        deadline,
        lock_wait=lock_wait,
        incident=incident,
        notify=notify,
    )


def execute(
    name: str,
    given: Mapping[str, Any],
    check: bool = False,
    diff: bool = False,
    inventory: tuple[str, ...] = (),
    as_json: bool = False,
    yes: bool = False,
    verbose: int = 0,
    extra: tuple[str, ...] = (),
    force: bool = False,
    deadline: float | None = None,
    lock_wait: float | None = None,
    incident: str | None = None,
    notify: str | None = None,
) -> None:
    """Check, confirm, run and report runbook ``name`` with the parameter values ``given``
    (typed values, or strings as from ``-e``): shared by `run` and its short forms. ``extra``
    is the raw ``-e`` items, to warn about a secret typed on the command line. ``force`` sets the
    extra var ``irdrive_force``, which the roles read to exceed their ceilings. ``deadline``
    (seconds) overrides the runbook's own. ``incident`` (else $IRDRIVE_INCIDENT) names the
    open incident whose timeline records the run (``irdrive.incidents.runlink``); ``notify``
    names the communication template sent to its channels after the run."""
    from rich.console import Console

    from irdrive import render
    from irdrive.params import inline_secrets
    from irdrive.session import open_session

    session = open_session(name, given, inventory, check=check, diff=diff, verbosity=verbose)
    if incident is None:  # the default: $IRDRIVE_INCIDENT (irdrive.incidents.runlink)
        incident = os.environ.get("IRDRIVE_INCIDENT")
    link = check_incident(incident.strip()) if incident and incident.strip() else None
    if notify and link is None:
        raise UsageError("--notify sends an incident's communication: give --incident INC-ID")
    if force:
        session.values["irdrive_force"] = True
    session.deadline = deadline or session.runbook.deadline
    if lock_wait is not None:  # the roles' target_lock reads it (AWX: -e irdrive_lock_wait=N)
        session.values["irdrive_lock_wait"] = lock_wait
    console = Console(stderr=as_json, quiet=as_json, highlight=False)
    # The target is named first, always: with --json on stderr, so stdout stays the report.
    named = Console(stderr=True, highlight=False) if as_json else console
    render.banner(named, session.target.kind, session.target.detail, check)
    if link is not None:
        named.print(f"Recording in {link.describe()}", markup=False)
    for secret in inline_secrets(session.runbook, extra):
        click.echo(
            f"Warning: secret parameter {secret} was given on the command line, where shell "
            "history and /proc/<pid>/cmdline keep it; pass secrets with -e @FILE",
            err=True,
        )
    warn_if_not_fresh(session.project, session.runbook)
    render.interrupted_runs(Console(stderr=True, highlight=False), notice_interrupted())
    session.confirm(yes)
    run_dir = None
    if link is not None:
        typed = extra or tuple(  # the short forms: their parameters, as -e would give them
            f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}"
            for k, v in given.items()
        )
        run_dir = link.begin(session, typed, inventory, force=force, deadline=deadline)
    try:
        with render.LiveProgress(console) as progress:
            report = session.run(on_update=progress.update, run_dir=run_dir)
    except BaseException as exc:  # the driver itself failed: the timeline says how the run ended
        if link is not None and not isinstance(exc, SystemExit):
            link.crashed(f"{type(exc).__name__}: {exc}")
        raise
    if link is not None:
        link.finished(report)
        if notify:
            link.notify(notify)
    if as_json:
        data = report.to_dict()
        if link is not None:
            data["incident"] = link.to_dict()
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        render.render_summary(console, report)
        if link is not None and not link.problems:
            console.print(
                f"Timeline of {link.incident_id}: {link.written} entries recorded "
                f"(irdrive incident timeline {link.incident_id})",
                markup=False,
            )
    if report.exit_code:
        raise SystemExit(report.exit_code)


def check_incident(ident: str) -> IncidentLink:
    """The open incident a run records into, checked before anything runs."""
    from irdrive.incidents.runlink import IncidentLink

    return IncidentLink.check_open(ident, warn=lambda line: click.echo(line, err=True))


def warn_if_not_fresh(project: Project, runbook: Runbook) -> None:
    """One line on stderr before running a runbook whose last passing drill no longer proves
    it (stale), or an incident runbook (one with a severity) never drilled. It never blocks
    the run: a history store that cannot be read is one more warning line."""
    from datetime import UTC, datetime

    from irdrive import freshness, history

    now = datetime.now(UTC)
    try:
        last = history.last_passing_all()
        found = freshness.assess(project, [runbook.name], last, now)[runbook.name]
    except Exception as exc:  # noqa: BLE001 - advisory: nothing here may stop a remediation
        click.echo(f"Warning: drill history not read: {exc}", err=True)
        return
    if found.status == freshness.NEVER and not runbook.severity:
        return  # a building block: drilled as part of the incident runbooks that use it
    line = freshness.warning(runbook.name, found, now)
    if line:
        click.echo(line, err=True)


def notice_interrupted() -> list[Any]:
    """Earlier runs whose driver died mid-run: returned once, then marked as noticed."""
    from irdrive import record
    from irdrive.paths import runs_dir

    runs = record.interrupted_runs(runs_dir())
    for item in runs:
        record.mark_interrupted(item)
    return runs


def name_list(args: tuple[str, ...]) -> list[str]:
    """Names given as arguments, each possibly ``a,b``: ``("a,b", "c")`` -> ``[a, b, c]``."""
    return [name.strip() for arg in args for name in arg.split(",") if name.strip()]
