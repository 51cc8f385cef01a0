"""One run, from a runbook's name to its report: the steps in order.

1. ``open_session``: the project, the runbook (``irdrive.catalog``), its parameters checked
   (``irdrive.params``) and the target, checked and named before anything runs: the
   inventories given with ``-i``, each loaded first (``irdrive.targets``: one that does not
   load, or has no hosts, is exit 2), else the local lab, which must be up (exit 3 if not;
   its folder and state from ``irdrive.labsite``). The name includes the Kubernetes API
   server the run will act on, when a kubeconfig says.
2. ``Session.confirm``: a person at a terminal says yes before a real run that changes things.
3. ``Session.run``: run the playbook (``irdrive.runner``), scrub every event of the secrets
   (``irdrive.redact``: no_log parameters, secret environment variables) and fold it into the report (``irdrive.events`` -> ``irdrive.report``), written as report.json as the run
   goes, beside a run marker (``irdrive.record``); a signal or the deadline stops it safely
   (``irdrive.stopping``).

Rendering (``irdrive.render``) and the exit code are the command's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irdrive.catalog import Runbook
from irdrive.errors import NotConfirmed, ParameterError, TargetUnreachable
from irdrive.paths import Project
from irdrive.report import RunReport, TaskResult

LAB = "lab"
INVENTORY = "inventory"
# The events after which report.json is rewritten while the run goes (what started, what
# changed and the prior state it replaced): the record a kill -9 of the driver leaves.
RECORD_EVENTS = frozenset(
    {
        "runner_on_start",
        "runner_on_ok",
        "runner_on_failed",
        "runner_on_unreachable",
        "playbook_on_stats",
    }
)


@dataclass(frozen=True)
class Target:
    """What a run acts on: the lab, or the inventories given."""

    kind: str  # LAB or INVENTORY
    detail: str  # what the banner names: the lab folder, or the inventory paths
    inventories: tuple[Path, ...] = ()
    lab_dir: Path | None = None


@dataclass
class Session:
    """A validated run, ready to confirm and start."""

    project: Project
    runbook: Runbook
    values: dict[str, Any]
    target: Target
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    secrets: list[Any] = field(default_factory=list)  # the values to scrub everywhere
    deadline: float | None = None  # seconds: then the run stops as on SIGTERM

    def confirm(self, yes: bool, interactive: bool | None = None) -> None:
        """Ask, when a person should be asked; NotConfirmed (exit 2) if they decline."""
        import click

        if interactive is None:
            interactive = stdin_is_interactive()
        if not should_confirm(self.runbook, self.check, yes, interactive):
            return
        what = "; ".join(self.runbook.changes) or "the target"
        if not click.confirm(f"Run {self.runbook.name}? It changes {what}", err=True):
            raise NotConfirmed("not confirmed: nothing was run")

    def run(
        self, on_update: Callable[[TaskResult], None] | None = None, run_dir: Path | None = None
    ) -> RunReport:
        """Run the playbook against the target, and return its report (also in report.json)."""
        from irdrive import record, runner
        from irdrive.events import EventCollector
        from irdrive.redact import REDACTED, Redactor
        from irdrive.report import write_report

        target = self.target
        secret_names = self.runbook.secrets
        run_dir = run_dir or runner.make_run_dir(self.runbook.name)
        request = runner.RunRequest(
            runbook=self.runbook.name,
            playbook=self.runbook.path.resolve(),
            project=self.project,
            inventories=list(target.inventories),
            # The run's id names it as the holder of the target's lock (irdrive.ops.target_lock).
            extravars={**self.values, "irdrive_run_id": run_dir.name},
            check=self.check,
            diff=self.diff,
            verbosity=self.verbosity,
            lab_dir=target.lab_dir,
            deadline=self.deadline,
        )
        # The no_log parameters, and the secret environment variables ansible-playbook inherits
        # (a module may echo a token in an error): neither reaches job_events or the report.
        redactor = Redactor([*self.secrets, *runner.environment_secrets(request)])
        report = RunReport(
            runbook=self.runbook.name,
            check=self.check,
            diff=self.diff,
            target=target.kind,
            inventory=[str(p) for p in target.inventories],
            run_dir=str(run_dir),
            parameters={k: (REDACTED if k in secret_names else v) for k, v in self.values.items()},
        )
        collector = EventCollector(report, on_update)
        # The record a kill -9 leaves: the marker (run.json), and report.json rewritten as
        # each task starts and ends.
        report.status = "running"
        report.started = record.start(run_dir, self.runbook.name, target.detail)
        write_report(report, run_dir)

        def on_event(event: dict[str, Any]) -> None:
            redactor.scrub(event)  # in place: ansible-runner writes the scrubbed event
            collector.handle(event)
            if event.get("event") in RECORD_EVENTS:  # a task started or ended: rewrite it
                write_report(report, run_dir, final=False)

        outcome = runner.run(request, run_dir, on_event)
        report.status, report.rc = outcome.status, outcome.rc
        report.stopped, report.stop_signal = outcome.stopped, outcome.stop_signal
        report.started, report.ended, report.duration = (
            outcome.started,
            outcome.ended,
            outcome.duration,
        )
        collector.finish()
        for part in (report.changes, report.recorded, report.errors, report.verified):
            redactor.scrub(part)
        for task in report.tasks:
            task.msg = redactor.text(task.msg) if task.msg else task.msg
        write_report(report, run_dir)
        record.finish(
            run_dir, "stopped" if report.stopped else "finished", report.exit_code, report.stopped
        )
        return report


def open_session(
    name: str,
    given: Mapping[str, Any],
    inventory: tuple[str, ...] = (),
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
) -> Session:
    """Find the runbook, check ``given`` against its parameters and name the target.

    Nothing is started: bad input, or an inventory that does not load, raises a UsageError
    (exit 2), and a lab that is not up TargetUnreachable (exit 3), before any run folder exists.
    """
    from irdrive import params
    from irdrive.catalog import Catalog
    from irdrive.paths import find_project

    project = find_project()
    runbook = Catalog(project).get(name)
    values = params.validate(runbook, given)
    return Session(
        project=project,
        runbook=runbook,
        values=values,
        target=reach(choose_target(project, inventory)),
        check=check,
        diff=diff,
        verbosity=verbosity,
        secrets=params.secrets(runbook, values),
    )


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


def choose_target(project: Project, inventory: tuple[str, ...]) -> Target:
    """The inventories given, each loaded first, else the lab (its inventory in the project,
    its default folder); named with the Kubernetes API server a kubeconfig points at."""
    from irdrive import targets

    inventories = resolve_inventories(project, inventory)
    if inventories:
        facts = [targets.check_inventory(path) for path in inventories]
        return Target(INVENTORY, targets.describe_inventories(facts), tuple(inventories))
    if not project.lab_inventory.exists():
        raise ParameterError(f"no lab inventory at {project.lab_inventory}; pass -i")
    from irdrive import labsite

    lab_dir = labsite.default_lab_dir()
    labsite.check_config(lab_dir)  # a bad IRDRIVE_LAB_PORT_BASE is exit 2, before the banner
    kube = targets.kube_target(str(labsite.kubeconfig(lab_dir)))
    detail = f"{lab_dir}; Kubernetes API {kube.server}" if kube.server else str(lab_dir)
    return Target(LAB, detail, (project.lab_inventory.resolve(),), lab_dir)


def reach(target: Target) -> Target:
    """The target, checked to be there: a lab that is not up is refused, never started here
    (a fresh lab would report green on state nobody saw fail)."""
    if target.kind != LAB or target.lab_dir is None:
        return target
    from irdrive import labsite

    if not labsite.is_up(target.lab_dir):
        raise TargetUnreachable(
            f"the lab at {target.lab_dir} is not up: start it with `irdrive lab up`"
        )
    return target


def should_confirm(runbook: Runbook, check: bool, yes: bool, interactive: bool) -> bool:
    """Ask only a person at a terminal, only for a real run of a runbook that changes things."""
    return runbook.mutating and not check and not yes and interactive


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()
