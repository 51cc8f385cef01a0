"""``irdrive drill NAME | --all``: run disaster-recovery drills and record them."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from irdrive.errors import EXIT_FAILED, TargetUnreachable, UsageError, handle_errors

if TYPE_CHECKING:
    from irdrive.drill import Scenario
    from irdrive.paths import Project


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _print(result: dict[str, Any]) -> None:
    mark = "PASS" if result["passed"] else "FAIL"
    variant = f" [{result['variant']}]" if result["variant"] else ""
    click.echo(f"{mark} {result['scenario']}{variant}: {result['outcome']}")
    click.echo(
        f"     detect {_fmt_s(result['detect_s'])} (target {result['respond_target_s']}s), "
        f"recover {_fmt_s(result['recover_s'])} (target {result['resolve_target_s']}s), "
        f"severity {result['severity']}" + ("  BREACHED" if result["breached"] else "")
    )
    if result["failed_check"]:
        click.echo(f"     failing check: {result['failed_check']}")
    for failure in result["safe_failures"]:
        click.echo(f"     left unsafe: {failure}")
    steps = ", ".join(f"{k} {v:.0f}s" for k, v in result["steps"].items())
    click.echo(
        f"     took {result['duration_s']:.0f}s ({steps}); runbooks at {result['commit'] or '?'}; "
        f"molecule output {result['output']}"
    )


def _run_drills(
    project: Project,
    chosen: list[Scenario],
    lab: Path,
    *,
    wait_alert: bool,
    as_json: bool,
    chaos: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Run each scenario and record it in the history; print each result unless ``as_json``."""
    from irdrive import drill as drills
    from irdrive.catalog import Catalog
    from irdrive.paths import state_dir

    # The history store and the freshness rules, imported only when drills run.
    freshness = importlib.import_module("irdrive.freshness")
    history = importlib.import_module("irdrive.history")

    catalog = Catalog(project)
    out_dir = state_dir() / "drills" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, IRDRIVE_LAB_DIR=str(lab))
    if chaos:
        env[drills.ENV_CHAOS] = " ".join(chaos)
    commit = freshness.runbook_commit(project)
    results = []
    store = history.open_store()
    try:
        for scenario in chosen:
            output = out_dir / f"{scenario.name}.log"
            result = drills.run(
                project,
                scenario,
                wait_alert=wait_alert,
                output=output,
                runbook_severity=catalog.get(scenario.runbook).severity,
                targets=freshness.SEVERITY_TARGETS,
                env=env,
                ephemeral=drills.ephemeral_path(state_dir(), project, scenario),
            )
            record = drills.to_record(
                result, commit, freshness.files_digest(project, scenario.runbook), output
            )
            record_id = store.record_drill(record)
            shown = dict(result.to_dict(), commit=commit, output=str(output), id=record_id)
            results.append(shown)
            if not as_json:
                _print(shown)
    finally:
        store.close()
    return results


@click.command("drill")
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("--all", "run_all", is_flag=True, help="Run every drill scenario.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Do not wait for the fault's alert (a lab without Alertmanager): time to detect unknown.",
)
@click.option(
    "--chaos",
    multiple=True,
    metavar="KEY=VALUE",
    help="A chaos variant's fault parameter (irdrive lab fault -p), instead of count=10; "
    "e.g. --chaos count=400 --chaos 'modes=[\"500\"]' until the bounded retries run out.",
)
@click.option(
    "--lab-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="IRDRIVE_LAB_DIR",
    help="The lab to drill against (default: the default lab).",
)
@handle_errors
def drill(
    names: tuple[str, ...],
    run_all: bool,
    as_json: bool,
    no_alerts: bool,
    chaos: tuple[str, ...],
    lab_dir: Path | None,
) -> None:
    """Run disaster-recovery drills: each a molecule scenario that injects a runbook's fault in
    the lab, waits for its alert, runs the runbook, checks it is idempotent, verifies the
    recovery from the outside and waits for the alert to resolve. Each result (pass or fail,
    the failing check, time to detect and to recover against the severity's targets, the
    runbooks' commit) is printed and recorded in the history. Exit 1 when a drill fails.

    \b
    Examples:
      irdrive drill payments-failover
      irdrive drill --all --json
      irdrive drill payments-failover-flaky --chaos count=400 --chaos 'modes=["500"]'
    """
    from irdrive import drill as drills
    from irdrive import labsite
    from irdrive.paths import find_project, state_dir

    if bool(names) == run_all:
        raise UsageError("name one or more drills, or give --all")
    bad = [c for c in chaos if not c.partition("=")[0] or "=" not in c or " " in c]
    if bad:
        raise UsageError(f"--chaos takes KEY=VALUE without spaces, not {bad[0]!r}")
    project = find_project()
    chosen = drills.select(drills.scenarios(project), names)
    lab = lab_dir if lab_dir is not None else labsite.default_lab_dir()
    if not labsite.is_up(lab):
        raise TargetUnreachable(f"the lab at {lab} is not up: start it with `irdrive lab up`")

    # Every chosen scenario's lock before the first drill: a busy one refuses them all.
    with contextlib.ExitStack() as locks:
        for scenario in chosen:
            locks.enter_context(drills.scenario_lock(state_dir(), project, scenario))
        results = _run_drills(
            project, chosen, lab, wait_alert=not no_alerts, as_json=as_json, chaos=chaos
        )
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if not all(r["passed"] for r in results):
        raise SystemExit(EXIT_FAILED)
