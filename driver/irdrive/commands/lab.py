"""``irdrive lab``: the local simulated platform."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from irdrive.errors import IrdriveError, UsageError, handle_errors
from irdrive.labsite import default_lab_dir
from irdrive_lab.control.config import MAX_WEB_HOSTS, LabConfig, default_port_base
from irdrive_lab.control.errors import LabError

pass_cfg = click.make_pass_decorator(LabConfig)


def lab_errors[F: Callable[..., Any]](func: F) -> F:
    """``handle_errors`` for the lab's errors too: a usage LabError exits 2, any other 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LabError as exc:
            raise (UsageError if exc.usage else IrdriveError)(str(exc)) from exc

    return handle_errors(wrapper)  # type: ignore[return-value]


def _config(lab_dir: str | None, port_base: int | None) -> LabConfig:
    try:
        return LabConfig(
            dir=Path(lab_dir).expanduser().resolve() if lab_dir else default_lab_dir(),
            port_base=port_base if port_base is not None else default_port_base(),
        )
    except ValueError as exc:  # a bad --port-base or IRDRIVE_LAB_PORT_BASE: one line, exit 2
        raise UsageError(str(exc)) from exc


@click.group()
@click.option(
    "--lab-dir",
    envvar="IRDRIVE_LAB_DIR",
    type=click.Path(file_okay=False),
    help="The lab's folder (default: $XDG_STATE_HOME/irdrive/lab).",
)
@click.option(
    "--port-base",
    type=int,
    help="First of the lab's ports (default: $IRDRIVE_LAB_PORT_BASE, else 17600); two labs"
    " need different bases.",
)
@click.pass_context
@handle_errors
def lab(ctx: click.Context, lab_dir: str | None, port_base: int | None) -> None:
    """The local simulated platform: Kubernetes API, AWS (moto), PostgreSQL, hosts, and
    Prometheus with Alertmanager watching it.

    \b
    Examples:
      irdrive lab up
      irdrive lab fault processor-down
      irdrive lab fault processor-down --clear
      irdrive lab journal --json
      irdrive lab alerts
      irdrive lab --lab-dir /tmp/lab2 --port-base 17700 up
    """
    ctx.obj = _config(lab_dir, port_base)


def _print_endpoints(state: dict[str, Any]) -> None:
    click.echo(f"Lab folder:  {state['dir']}")
    for name, url in state.get("endpoints", {}).items():
        if url:
            click.echo(f"  {name:<12} {url}")
    click.echo(f"Kubeconfig:  {state['kubeconfig']}")
    hosts = [(h, i) for h, i in (state.get("hosts") or {}).items() if isinstance(i, dict)]
    for host, info in hosts if len(hosts) <= 6 else [*hosts[:3], hosts[-1]]:
        if info.get("address"):
            click.echo(f"  host {host:<9} {info['address']}")
    if len(hosts) > 6:
        click.echo(f"  ({len(hosts)} hosts, {state.get('web_hosts')} of them web hosts)")
    inventory = Path(__file__).resolve().parents[3] / "inventories" / "lab"
    click.echo(f"Inventory:   {inventory}  (IRDRIVE_LAB_DIR={state['dir']})")


@lab.command()
@click.option(
    "--web-hosts",
    type=click.IntRange(1, MAX_WEB_HOSTS),
    default=None,
    metavar="N",
    help="Start N web hosts (web, web-2 .. web-N), each a namespace with sshd, nginx files and"
    " nft, for fleet runs (default 1). A lab already up with another N is left as it is and"
    " the command fails: `irdrive lab down` first.",
)
@click.option(
    "--alert-webhook",
    "alert_webhooks",
    multiple=True,
    metavar="URL",
    help="Alertmanager also posts every alert notification to URL (repeatable; default:"
    " $IRDRIVE_LAB_ALERT_WEBHOOKS, comma separated), beside the lab's own receiver: e.g. the"
    " irdrive.ops.alertmanager source of `ansible-rulebook -r rulebooks/alertmanager.yml`.",
)
@pass_cfg
@lab_errors
def up(cfg: LabConfig, web_hosts: int | None, alert_webhooks: tuple[str, ...]) -> None:
    """Start the lab in the background and wait until every part is healthy."""
    from irdrive_lab.control import manager

    already = manager.is_up(cfg)
    state = manager.up(cfg, web_hosts=web_hosts, alert_webhooks=list(alert_webhooks) or None)
    if already:
        click.echo("The lab is already up.")
    else:
        click.echo(f"Lab up in {state.get('up_seconds', 0):.1f}s.")
    _print_endpoints(state)


@lab.command()
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the lab's PostgreSQL cluster (kept by default for a fast next `up`).",
)
@pass_cfg
@lab_errors
def down(cfg: LabConfig, purge: bool) -> None:
    """Stop everything the lab started."""
    from irdrive_lab.control import manager

    stopped = manager.down(cfg, purge=purge)
    click.echo("Lab down." if stopped else "The lab was not running.")
    if purge:
        click.echo("PostgreSQL cluster deleted.")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cfg
@lab_errors
def status(cfg: LabConfig, as_json: bool) -> None:
    """Show each part's health. Exit code 0 when the whole lab is healthy, 1 otherwise."""
    from irdrive_lab.control import manager

    st = manager.status(cfg)
    if as_json:
        click.echo(json.dumps(st, indent=2, sort_keys=True))
    else:
        if not st["parts"]:
            click.echo(f"The lab in {st['dir']} is not running.")
        for name, part in st["parts"].items():
            mark = "ok  " if part["healthy"] else "DOWN"
            click.echo(f"{mark} {name:<10} {part['detail']}")
        for name in st.get("faults", {}):
            click.echo(f"fault active: {name}")
    raise SystemExit(0 if st["up"] else 1)


@lab.command()
@pass_cfg
@lab_errors
def reset(cfg: LabConfig) -> None:
    """Clear every fault and put the platform back in its seeded state."""
    from irdrive_lab.control import manager

    manager.reset(cfg)
    click.echo("Lab reset to its seeded state.")


@lab.command()
@click.argument("name")
@click.option("--clear", is_flag=True, help="Clear the fault instead of injecting it.")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Fault parameter, e.g. -p processor=segpay or -p count=5.",
)
@pass_cfg
@lab_errors
def fault(cfg: LabConfig, name: str, clear: bool, params: tuple[str, ...]) -> None:
    """Inject the fault NAME (or clear it with --clear).

    \b
    Faults: processor-down, bad-deploy, cdn-down, disk-full, db-down,
            resource-pressure, db-slow, intrusion, api-flaky
    """
    from irdrive_lab.control import manager
    from irdrive_lab.faults import faults

    faults.get(name)  # unknown names fail before anything else
    parsed: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    state = manager.require_up(cfg)
    if clear:
        faults.clear(cfg, state, name)
        click.echo(f"Fault {name} cleared.")
    else:
        faults.inject(cfg, state, name, parsed)
        click.echo(f"Fault {name} injected: {faults.FAULTS[name].summary}.")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--since", type=int, default=0, help="Only entries after this sequence number.")
@click.option(
    "--source",
    type=click.Choice(["kubernetes", "aws", "postgres", "platform", "lab"]),
    help="Only entries from this source.",
)
@pass_cfg
@lab_errors
def journal(cfg: LabConfig, as_json: bool, since: int, source: str | None) -> None:
    """Show the lab's journal of mutating requests."""
    from irdrive_lab.control.journal import Journal

    entries = Journal(cfg.journal_file).since(since, source)
    for e in entries:
        if as_json:
            click.echo(json.dumps(e, sort_keys=True))
        else:
            ts = e["ts"]
            import datetime as dt

            when = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            dry = " (dry run)" if e.get("dry_run") else ""
            click.echo(
                f"{e['seq']:>5} {when} {e['source']:<10} {e['method']:<6} "
                f"{e['path']} -> {e.get('status')}{dry}"
            )


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--fault", "fault_name", metavar="FAULT", help="Only the alerts of this lab fault.")
@pass_cfg
@lab_errors
def alerts(cfg: LabConfig, as_json: bool, fault_name: str | None) -> None:
    """Show the alerts firing in the lab's Alertmanager: severity, runbook, fault.

    Exit code 0 (whether or not anything fires); 1 when Alertmanager is unreachable.
    """
    from irdrive_lab import alerts as lab_alerts

    url = lab_alerts.alertmanager_url(cfg)
    found = lab_alerts.active_alerts(cfg, fault_name)
    if as_json:
        rows = [
            {
                **lab_alerts.summary(a),
                "labels": a.get("labels") or {},
                "annotations": a.get("annotations") or {},
                "fingerprint": a.get("fingerprint"),
            }
            for a in found
        ]
        click.echo(json.dumps({"alertmanager_url": url, "alerts": rows}, indent=2, sort_keys=True))
        return
    if not found:
        click.echo(f"No alerts firing (Alertmanager {url}).")
        return
    click.echo(f"{len(found)} alert(s) firing (Alertmanager {url}):")
    for a in found:
        row = lab_alerts.summary(a)
        click.echo(
            f"  {row['severity'] or '-':<3} {row['alertname']:<27} fault={row['fault'] or '-':<18}"
            f" runbook={row['runbook'] or '-':<24} since {row['since']}"
        )
        if row["summary"]:
            click.echo(f"      {row['summary']}")
