"""``irdrive run ... --incident INC-...``: a run attached to an incident's timeline.

Before anything runs, the incident is checked: it must exist and be open, or the run is
refused (exit 2; a history store that cannot be reached: exit 3) with nothing run and nothing
written. Then, once the responder has confirmed, ``run.start`` is appended (and the
incident's ``runbook`` set when it has none), so a driver that dies mid-run leaves a trace;
when the run ends, its task ends, changes, verifications and ``run.end`` are appended in one
transaction (``irdrive.incidents.timeline`` builds them from the run's report).

After the check, the timeline never decides anything about the remediation: a write that
fails (the database gone, a lock, a bug) is one warning line on stderr,
``Warning: incident timeline not updated: ...``, and the run goes on with its own exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irdrive.errors import UsageError
from irdrive.incidents.store import IncidentStore, open_incidents
from irdrive.incidents.timeline import (
    RunStart,
    command_line,
    crash_entry,
    run_entries,
    start_entry,
)
from irdrive.redact import REDACTED, Redactor, env_redactor
from irdrive.report import RunReport

if TYPE_CHECKING:
    from irdrive.incidents.comms import Delivery
    from irdrive.session import Session

ENV_INCIDENT = "IRDRIVE_INCIDENT"  # the default of --incident (read by commands/run.py)
WARNING = "Warning: incident timeline not updated: "
WARNING_NOTIFY = "Warning: notification of "


@dataclass
class IncidentLink:
    """The incident a run records into; ``warn`` receives each one-line warning."""

    incident_id: str
    title: str
    severity: str
    status: str
    url: str | None = None
    warn: Callable[[str], None] = print
    run_id: str | None = None
    runbook: str | None = None
    check: bool = False
    redactor: Redactor | None = None  # the run's secrets, out of every entry
    written: int = 0  # entries this run appended
    problems: list[str] = field(default_factory=list)  # the warnings given
    notified: list[dict[str, Any]] = field(default_factory=list)  # --notify's deliveries

    @classmethod
    def check_open(
        cls, ident: str, *, url: str | None = None, warn: Callable[[str], None] = print
    ) -> IncidentLink:
        """The incident ``ident``, which must exist and be open: UsageError (exit 2) if not,
        the store's own error (exit 3 for one that cannot be reached) if it cannot be read.
        An SQLite store that does not exist yet is not created: it holds no incident."""
        with open_incidents(url, create=False, ident=ident) as store:
            incident = store.get(ident)
        if not incident.is_open:
            raise UsageError(
                f"incident {incident.id} is {incident.status}: a run attaches only to an open "
                f"incident (`irdrive incident reopen {incident.id}` first, or run without "
                "--incident)"
            )
        return cls(incident.id, incident.title, incident.severity, incident.status, url, warn)

    def describe(self) -> str:
        return f"incident {self.incident_id} ({self.severity}, {self.status}): {self.title}"

    def begin(
        self,
        session: Session,
        extra: tuple[str, ...],
        inventory: tuple[str, ...],
        *,
        force: bool = False,
        deadline: float | None = None,
    ) -> Path:
        """Make the run's folder (its name is the run's id) and append ``run.start``.
        ``extra`` is the ``-e`` items as given, for the command line."""
        from irdrive import runner

        run_dir = runner.make_run_dir(session.runbook.name)
        try:
            start = self._run_start(session, run_dir, extra, inventory, force, deadline)
        except Exception as exc:  # noqa: BLE001 - a record must never fail a remediation
            self._warn(exc)
            return run_dir
        self.started(start)
        return run_dir

    def _run_start(
        self,
        session: Session,
        run_dir: Path,
        extra: tuple[str, ...],
        inventory: tuple[str, ...],
        force: bool,
        deadline: float | None,
    ) -> RunStart:
        from irdrive.incidents.common import actor

        runbook = session.runbook
        self.redactor = run_redactor(session)
        secret_names = set(runbook.secrets)
        secret_names |= {
            p.alias for p in runbook.parameters.values() if p.alias and p.name in secret_names
        }
        return RunStart(
            runbook=runbook.name,
            run_id=run_dir.name,
            user=actor(),
            target=session.target.kind,
            target_detail=session.target.detail,
            inventory=[str(p) for p in session.target.inventories],
            check=session.check,
            diff=session.diff,
            parameters={
                k: (REDACTED if k in runbook.secrets else v) for k, v in session.values.items()
            },
            command=command_line(
                runbook.name,
                extra,
                secret_names,
                inventory=inventory,
                check=session.check,
                diff=session.diff,
                force=force,
                deadline=deadline,
                incident=self.incident_id,
                redactor=self.redactor,
            ),
            run_dir=str(run_dir),
            at=datetime.now(UTC),
        )

    def started(self, start: RunStart) -> None:
        """Append ``run.start``; name the runbook on an incident that has none."""
        self.run_id, self.runbook, self.check = start.run_id, start.runbook, start.check

        def write(store: IncidentStore) -> None:
            entry = start_entry(start, self.redactor)
            self.written += len(store.append(self.incident_id, [entry]))
            if store.get(self.incident_id).runbook is None:
                _, entries = store.update(self.incident_id, actor=start.user, runbook=start.runbook)
                self.written += len(entries)

        self._guarded(write)

    def finished(self, report: RunReport) -> None:
        """Append the run's task ends, changes, verifications and ``run.end`` (one append)."""
        run_id = self.run_id or report.runbook
        self._guarded(lambda store: self._append(store, run_entries(report, run_id, self.redactor)))

    def crashed(self, problem: str) -> None:
        """``run.end`` of a run the driver could not finish."""
        problem = self.redactor.text(problem) if self.redactor else problem
        entry = crash_entry(self.runbook or "?", self.run_id or "?", problem, self.check)
        self._guarded(lambda store: self._append(store, [entry]))

    def notify(self, template: str) -> list[Delivery]:
        """After the run: send the incident's ``template`` communication to its channels
        (``irdrive.incidents.comms.notify``: each delivery, sent or failed, recorded in the
        timeline). Never raises and never changes the run's outcome: a failed delivery is a
        warning, a store that went away another."""
        from irdrive.incidents import comms
        from irdrive.incidents.common import actor

        sent: list[Delivery] = []

        def send(store: IncidentStore) -> None:
            sent.extend(comms.notify(store, self.incident_id, template, actor()))

        self._guarded(send)
        for delivery in sent:
            if not delivery.ok:
                self.warn(
                    f"{WARNING_NOTIFY}{self.incident_id} to {delivery.channel} failed: "
                    f"{delivery.reason} (recorded in the timeline)"
                )
        self.notified = [d.to_dict() for d in sent]
        return sent

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "entries_written": self.written,
            "timeline_updated": not self.problems,
            "problems": list(self.problems),
            **({"notified": list(self.notified)} if self.notified else {}),
        }

    def _append(self, store: IncidentStore, entries: list[Any]) -> None:
        self.written += len(store.append(self.incident_id, entries))

    def _guarded(self, write: Callable[[IncidentStore], None]) -> None:
        """Run ``write`` on the store; any failure is one warning, never the run's."""
        try:
            with open_incidents(self.url) as store:
                write(store)
        except Exception as exc:  # noqa: BLE001 - a record must never fail a remediation
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        problem = " ".join(f"{self.incident_id}: {exc}".split())
        if problem.endswith(":"):
            problem += f" {type(exc).__name__}"
        self.problems.append(problem)
        self.warn(WARNING + problem)


def run_redactor(session: Session) -> Redactor:
    """The secrets a run's records must not hold: its no_log parameter values and the
    environment's secret variables (the report was scrubbed of both; entries are again)."""
    return env_redactor(session.secrets)
