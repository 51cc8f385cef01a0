"""The report of a run: what each task did, what changed, what was verified, and the exit code.

Built by ``irdrive.events`` from ansible-runner's events and final status; rendered by
``irdrive.render``; written to ``<run dir>/report.json``. Every field holds a structured fact
(an event's status, its result keys, its task's tags, the play stats), never text read from
task names or ansible's output.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from irdrive.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

# What our modules report as ``error_kind`` when the input itself was wrong: a value, or a
# name of something that does not exist (an unknown kill switch, deployment or service).
BAD_INPUT_KIND = "invalid_input"
BAD_INPUT_KINDS = frozenset({BAD_INPUT_KIND, "not_found"})
UNREACHABLE_KIND = "unreachable"
# The role's own argument spec check: a failure there is bad input, found before any change.
VALIDATE_ACTIONS = frozenset({"ansible.builtin.validate_argument_spec", "validate_argument_spec"})


@dataclass
class TaskResult:
    """One task on one host."""

    task: str
    host: str
    status: str = "running"  # running, ok, changed, failed, skipped, unreachable
    duration: float | None = None
    changed: bool = False
    msg: str | None = None
    error_kind: str | None = None  # from the result: unreachable, invalid_input, auth, ...
    role: str | None = None
    action: str | None = None
    ignored: bool = False
    started: str | None = None
    ended: str | None = None


@dataclass
class RunReport:
    """What a run did, built from ansible-runner's events and final status."""

    runbook: str
    status: str = "unstarted"  # ansible-runner's: successful, failed, timeout, canceled, ...
    rc: int | None = None
    check: bool = False
    diff: bool = False
    target: str = ""
    inventory: list[str] = field(default_factory=list)
    run_dir: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    started: str | None = None
    ended: str | None = None
    duration: float | None = None
    tasks: list[TaskResult] = field(default_factory=list)
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    verified: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # Why the run failed, each in full: the playbook's own errors (one that does not load),
    # then one entry per failed or unreachable task (``task_error``).
    errors: list[str] = field(default_factory=list)
    # What the roles recorded with set_stats: irdrive_changes = [{target, before, after}], the
    # prior state each change replaced (the record an undo is built from).
    recorded: dict[str, Any] = field(default_factory=dict)
    # What stopped the run before its end: SIGINT, SIGTERM, SIGHUP or "deadline exceeded";
    # a signal's number gives the exit code (128 + it), as a shell reports it.
    stopped: str | None = None
    stop_signal: int | None = None

    @property
    def unreachable(self) -> list[str]:
        """Hosts Ansible could not reach (play stats ``dark``, ``runner_on_unreachable``)."""
        dark = {h for h, s in self.hosts.items() if s.get("dark")}
        dark |= {t.host for t in self.tasks if t.status == "unreachable"}
        return sorted(dark)

    @property
    def failed(self) -> list[TaskResult]:
        return [t for t in self.tasks if t.status == "failed" and not t.ignored]

    @property
    def target_unreachable(self) -> bool:
        """The first real failure was a target (API, database, endpoint) that did not answer."""
        first = next(iter(self.failed), None)
        return first is not None and first.error_kind == UNREACHABLE_KIND

    @property
    def bad_input(self) -> bool:
        """The first real failure was the input itself (a module's invalid_input, or the role's
        argument spec), before anything changed."""
        first = next(iter(self.failed), None)
        if first is None or any(t.changed for t in self.tasks):
            return False
        return first.error_kind in BAD_INPUT_KINDS or (first.action or "") in VALIDATE_ACTIONS

    @property
    def findings(self) -> list[dict[str, Any]]:
        """What a diagnosis found (set_stats ``irdrive_diagnosis.findings``), each a mapping
        with id, severity, target, summary and the runbook that remedies it."""
        diagnosis = self.recorded.get("irdrive_diagnosis")
        found = diagnosis.get("findings") if isinstance(diagnosis, dict) else None
        return [f for f in found or [] if isinstance(f, dict)]

    @property
    def unresolved(self) -> list[dict[str, Any]]:
        """Symptoms the runbook found and did not remedy (set_stats ``irdrive_unresolved``),
        each naming the runbook to run next."""
        found = self.recorded.get("irdrive_unresolved")
        return [f for f in found or [] if isinstance(f, dict)] if isinstance(found, list) else []

    @property
    def evidence(self) -> list[str]:
        """The evidence bundles the run produced (set_stats ``irdrive_evidence.bundle``)."""
        found = self.recorded.get("irdrive_evidence")
        items = found if isinstance(found, list) else [found]
        return [str(i["bundle"]) for i in items if isinstance(i, dict) and i.get("bundle")]

    @property
    def exit_code(self) -> int:
        """128 + the signal that stopped the run, 3 a target did not answer, 2 bad input before
        any change, 0 success, else 1 (a failure, a deadline exceeded, or a real run that left
        a symptom it found unremedied)."""
        if self.stop_signal:
            return 128 + self.stop_signal
        if self.stopped:
            return EXIT_FAILED
        if self.unreachable or self.target_unreachable:
            return EXIT_UNREACHABLE
        if self.bad_input:
            return EXIT_USAGE
        if self.status == "successful" and self.rc == 0:
            return EXIT_FAILED if self.unresolved and not self.check else EXIT_OK
        return EXIT_FAILED

    @property
    def outcome(self) -> str:
        """One word for the run: SUCCESS, CHECKED, NOT RESOLVED, BAD INPUT, UNREACHABLE,
        STOPPED, FAILED."""
        if self.stopped:
            return "STOPPED"
        code = self.exit_code
        if code == EXIT_UNREACHABLE:
            return "UNREACHABLE"
        if code == EXIT_USAGE:
            return "BAD INPUT"
        if code == EXIT_OK:
            return "CHECKED" if self.check else "SUCCESS"
        if self.status == "successful" and self.rc == 0:
            return "NOT RESOLVED"
        return "FAILED"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        data["unreachable"] = self.unreachable
        data["outcome"] = self.outcome
        data["findings"] = self.findings
        data["unresolved"] = self.unresolved
        data["evidence"] = self.evidence
        return data


def task_error(task: TaskResult, msg: str) -> str:
    """A failed task's entry in ``RunReport.errors``: the task, its host and its whole message."""
    return f"{task.task} [{task.host}]: {msg}"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (in a 0700 folder)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_report(report: RunReport, run_dir: Path, final: bool = True) -> Path:
    """Write report.json atomically: it is rewritten while the run goes, and a reader (or a
    driver killed mid-write) sees the previous version or the new one, never half of one.

    The writes while the run goes (``final=False``) are compact: json's C encoder does not
    indent, and the pure-Python one it falls back to for ``indent`` is about 5 times slower."""
    path = run_dir / "report.json"
    data = report.to_dict()
    text = json.dumps(data, indent=2, default=str) if final else json.dumps(data, default=str)
    write_atomic(path, text)
    return path


def write_atomic(path: Path, text: str) -> None:
    """``write_private`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private(tmp, text)
    os.replace(tmp, path)
