"""``irdrive approvals``: the pending requests alerts opened for destructive runbooks."""

from __future__ import annotations

import json
from pathlib import Path

import click

from irdrive.errors import UsageError, handle_errors

pass_dir = click.make_pass_decorator(Path)


@click.group()
@click.option(
    "--dir",
    "folder",
    envvar="IRDRIVE_APPROVALS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The approvals folder the rulebook writes to (default: $IRDRIVE_APPROVALS_DIR, else"
    " approvals/ in the state folder).",
)
@click.pass_context
def approvals(ctx: click.Context, folder: Path | None) -> None:
    """Approval requests that alerts opened for destructive runbooks.

    The local rulebook (rulebooks/alertmanager.yml) runs no destructive runbook
    (security-breach, rotate-secrets) from an alert: it writes a pending request
    instead. Approve it to run the runbook with the alert's parameters (for
    security-breach: the incident id and the addresses the alert names; -e adds
    what the alert did not give).

    \b
    Examples:
      irdrive approvals list
      irdrive approvals show security-breach-18f1305e43ec
      irdrive approvals approve security-breach-18f1305e43ec -e security_breach_ips=203.0.113.7 --run
      irdrive approvals reject security-breach-18f1305e43ec --note "load test, not an attack"
    """
    from irdrive.approvals import default_dir

    ctx.obj = folder.expanduser().resolve() if folder else default_dir()


@approvals.command("list")
@click.option("--all", "show_all", is_flag=True, help="Decided requests too, not only pending.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_dir
@handle_errors
def list_requests(folder: Path, show_all: bool, as_json: bool) -> None:
    """List the pending requests (--all: decided ones too), oldest first."""
    from irdrive import approvals as store

    found = store.requests(folder, None if show_all else store.PENDING)
    if as_json:
        click.echo(json.dumps([r.summary() for r in found], indent=2))
        return
    if not found:
        click.echo(f"No {'' if show_all else 'pending '}approval requests in {folder}.")
        return
    for request in found:
        row = request.summary()
        click.echo(
            f"{row['id']:<32} {row['status']:<9} {row['severity'] or '-':<3} "
            f"{row['alert'] or '-':<28} {row['requested_at'] or '-'}"
        )


@approvals.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="The whole request, as JSON.")
@pass_dir
@handle_errors
def show(folder: Path, request_id: str, as_json: bool) -> None:
    """Show request REQUEST_ID: the alert, the runbook and the command approving runs."""
    from irdrive import approvals as store

    request = store.get(folder, request_id)
    if as_json:
        click.echo(json.dumps(request.data, indent=2, sort_keys=True))
        return
    data = request.data
    click.echo(f"{request.id}: {request.status}, runbook {request.runbook}")
    click.echo(f"  reason:    {data.get('reason') or '-'}")
    click.echo(f"  requested: {data.get('requested_at') or '-'} ({data.get('rule') or '-'})")
    for key, value in sorted(request.labels.items()):
        click.echo(f"  label {key}={value}")
    if data.get("decided_at"):
        click.echo(f"  decided:   {data['decided_at']} by {data.get('decided_by')}")
        if data.get("note"):
            click.echo(f"  note:      {data['note']}")
    click.echo(f"  command:   {store.run_command(request)}")


def _missing(
    request_runbook: str, extra_vars: dict[str, object], added: dict[str, object]
) -> list[str]:
    """The runbook's required parameters that neither the request nor -e gives.

    A secret parameter (no_log) given with -e is refused: the request file keeps its -e values
    and the printed `irdrive run` command repeats them. Secrets are given to that run instead.
    """
    from irdrive.catalog import Catalog
    from irdrive.params import resolve_aliases
    from irdrive.paths import find_project

    runbook = Catalog(find_project()).get(request_runbook)
    secret = sorted(set(resolve_aliases(runbook, added)) & runbook.secrets)
    if secret:
        raise UsageError(
            f"{', '.join(secret)} is secret: an approval records its -e values and prints them; "
            "give it to the run instead, with -e @FILE"
        )
    # An empty value (an alert's empty annotation) gives nothing.
    given = resolve_aliases(runbook, {k: v for k, v in extra_vars.items() if v not in ("", None)})
    return [p.name for p in runbook.parameters.values() if p.required and p.name not in given]


@approvals.command()
@click.argument("request_id")
@click.option(
    "-e",
    "--extra-vars",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="A runbook parameter the alert could not give (repeatable); kept in the request.",
)
@click.option("--by", help="Who approves (default: the login name).")
@click.option("--note", default="", help="Why, recorded with the decision.")
@click.option("--run", "run_now", is_flag=True, help="Run the runbook now (irdrive run ... --yes).")
@pass_dir
@handle_errors
def approve(
    folder: Path, request_id: str, extra: tuple[str, ...], by: str | None, note: str, run_now: bool
) -> None:
    """Approve request REQUEST_ID; print the `irdrive run` command, or run it with --run.

    The runbook's required parameters must all be known (from the alert, or -e) before the
    request is approved; then the decision is recorded and final.
    """
    from irdrive import approvals as store
    from irdrive.params import parse_extra_vars

    pending = store.get(folder, request_id)
    added = parse_extra_vars(extra)
    missing = _missing(pending.runbook, {**pending.extra_vars, **added}, added)
    if missing:
        given = " ".join(f"-e {name}=..." for name in missing)
        raise UsageError(
            f"{pending.runbook} needs {', '.join(missing)}, which the alert does not give: "
            f"approve with {given}"
        )
    request = store.decide(folder, request_id, store.APPROVED, by=by, note=note, extra_vars=added)
    click.echo(f"Approved {request.id} (was {request.data['prior_status']}).")
    if not run_now:
        click.echo(f"Run it: {store.run_command(request)}")
        return
    from irdrive.cli import main

    click.echo(f"Running: {store.run_command(request)} --yes")
    main([*store.run_args(request), "--yes"])


@approvals.command()
@click.argument("request_id")
@click.option("--by", help="Who rejects (default: the login name).")
@click.option("--note", default="", help="Why, recorded with the decision.")
@pass_dir
@handle_errors
def reject(folder: Path, request_id: str, by: str | None, note: str) -> None:
    """Reject request REQUEST_ID: its runbook will not run for this alert."""
    from irdrive import approvals as store

    request = store.decide(folder, request_id, store.REJECTED, by=by, note=note)
    click.echo(f"Rejected {request.id} (was {request.data['prior_status']}).")
