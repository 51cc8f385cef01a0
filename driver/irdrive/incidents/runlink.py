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
from typing import Any

from irdrive.errors import UsageError
from irdrive.incidents.store import IncidentStore, open_incidents
from irdrive.incidents.timeline import RunStart, crash_entry, run_entries, start_entry
from irdrive.redact import Redactor
from irdrive.report import RunReport

ENV_INCIDENT = "IRDRIVE_INCIDENT"  # the default of --incident (read by commands/run.py)
WARNING = "Warning: incident timeline not updated: "


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
    written: int = 0  # entries this run appended
    problems: list[str] = field(default_factory=list)  # the warnings given

    @classmethod
    def check_open(
        cls, ident: str, *, url: str | None = None, warn: Callable[[str], None] = print
    ) -> IncidentLink:
        """The incident ``ident``, which must exist and be open: UsageError (exit 2) if not,
        the store's own error (exit 3 for one that cannot be reached) if it cannot be read.
        An SQLite store that does not exist yet is not created: it holds no incident."""
        from irdrive.history import location, store_url
        from irdrive.incidents.model import check_incident_id

        where = store_url(url)
        path = location.sqlite_path(where)
        if path is not None and not path.exists():
            raise UsageError(
                f"no incident {check_incident_id(ident)}: the history store {path} does not "
                "exist yet (`irdrive incident open` makes it)"
            )
        with open_incidents(url) as store:
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

    def started(self, start: RunStart, redactor: Redactor | None = None) -> None:
        """Append ``run.start``; name the runbook on an incident that has none."""
        self.run_id, self.runbook, self.check = start.run_id, start.runbook, start.check

        def write(store: IncidentStore) -> None:
            self.written += len(store.append(self.incident_id, [start_entry(start, redactor)]))
            if store.get(self.incident_id).runbook is None:
                _, entries = store.update(self.incident_id, actor=start.user, runbook=start.runbook)
                self.written += len(entries)

        self._guarded(write)

    def finished(self, report: RunReport, redactor: Redactor | None = None) -> None:
        """Append the run's task ends, changes, verifications and ``run.end`` (one append)."""
        entries = run_entries(report, self.run_id or report.runbook, redactor)
        self._guarded(lambda store: self._append(store, entries))

    def crashed(self, problem: str, redactor: Redactor | None = None) -> None:
        """``run.end`` of a run the driver could not finish."""
        problem = redactor.text(problem) if redactor else problem
        entry = crash_entry(self.runbook or "?", self.run_id or "?", problem, self.check)
        self._guarded(lambda store: self._append(store, [entry]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "entries_written": self.written,
            "timeline_updated": not self.problems,
            "problems": list(self.problems),
        }

    def _append(self, store: IncidentStore, entries: list[Any]) -> None:
        self.written += len(store.append(self.incident_id, entries))

    def _guarded(self, write: Callable[[IncidentStore], None]) -> None:
        """Run ``write`` on the store; any failure is one warning, never the run's."""
        try:
            with open_incidents(self.url) as store:
                write(store)
        except Exception as exc:  # noqa: BLE001 - a record must never fail a remediation
            problem = " ".join(f"{self.incident_id}: {exc}".split()) or type(exc).__name__
            self.problems.append(problem)
            self.warn(WARNING + problem)
