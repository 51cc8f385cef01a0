"""Run a runbook through ansible-runner and build its report from the event stream.

Progress and the report come only from ansible-runner's events, ``status``, ``rc`` and the
``playbook_on_stats`` event, never from scraped stdout.

Secrets: extra vars reach ansible-playbook as ``-e @<run>/env/extravars`` (mode 0600, in a
0700 folder); the file is removed as soon as the playbook has started (Ansible has read it by
then) and again, at the latest, when the run ends. Every event is scrubbed of the secret values
before ansible-runner writes it to ``job_events``, ansible's stdout file is not written, and
the report is scrubbed the same way. The environment and command line carry no secret.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irdrive.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from irdrive.paths import Project, runs_dir

REDACTED = "********"
MSG_LIMIT = 500
# Task events that end a task on a host, and the status each gives.
FINAL_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
TIMELINE_EVENTS = {
    "playbook_on_start",
    "playbook_on_play_start",
    "playbook_on_task_start",
    "runner_on_start",
    "playbook_on_stats",
    *FINAL_EVENTS,
}


# ---- the report -------------------------------------------------------------------------
BAD_INPUT_KINDS = frozenset({"invalid_input"})
VALIDATE_ACTIONS = frozenset({"ansible.builtin.validate_argument_spec", "validate_argument_spec"})

# How modules that are not ours (kubernetes.core, amazon.aws) say a target did not answer.
UNREACHABLE_TEXT = re.compile(
    r"Connection refused|Failed to establish a new connection|Max retries exceeded"
    r"|Name or service not known|No route to host|could not connect to server",
    re.IGNORECASE,
)


@dataclass
class TaskResult:
    """One task on one host."""

    task: str
    host: str
    status: str = "running"  # running, ok, changed, failed, skipped, unreachable
    duration: float | None = None
    changed: bool = False
    msg: str | None = None
    error_kind: str | None = None  # what irdrive.ops modules report: unreachable, auth, ...
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
    errors: list[str] = field(default_factory=list)
    # What the roles recorded with set_stats: irdrive_changes = [{target, before, after}], the
    # prior state each change replaced (the record an undo is built from).
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def unreachable(self) -> list[str]:
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
        if first is None:
            return False
        if first.error_kind:
            return first.error_kind == "unreachable"
        return bool(first.msg and UNREACHABLE_TEXT.search(first.msg))

    @property
    def bad_input(self) -> bool:
        """The first real failure was the input itself (a module's invalid_input, or the role's
        argument spec), before anything changed."""
        first = next(iter(self.failed), None)
        if first is None or any(t.changed for t in self.tasks):
            return False
        return first.error_kind in BAD_INPUT_KINDS or (first.action or "") in VALIDATE_ACTIONS

    @property
    def exit_code(self) -> int:
        if self.unreachable or self.target_unreachable:
            return EXIT_UNREACHABLE
        if self.bad_input:
            return EXIT_USAGE
        if self.status == "successful" and self.rc == 0:
            return EXIT_OK
        return EXIT_FAILED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        data["unreachable"] = self.unreachable
        return data


# ---- secrets ----------------------------------------------------------------------------
class Redactor:
    """Replaces every occurrence of the given secret values in nested data."""

    def __init__(self, secrets: Iterable[Any]) -> None:
        values = {_secret_text(s) for s in secrets}
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted((v for v in values if v), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def scrub(self, data: Any) -> Any:
        """``data`` with secrets replaced; dicts and lists are changed in place."""
        if not self.secrets:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            for key in list(data):
                data[key] = self.scrub(data[key])
        elif isinstance(data, list):
            for i, item in enumerate(data):
                data[i] = self.scrub(item)
        return data


def _secret_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""  # too short and common to redact meaningfully
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


# ---- events -> report -------------------------------------------------------------------
class EventCollector:
    """Folds ansible-runner events into a RunReport; calls ``on_update`` as tasks progress."""

    def __init__(
        self, report: RunReport, on_update: Callable[[TaskResult], None] | None = None
    ) -> None:
        self.report = report
        self.on_update = on_update
        self._open: dict[tuple[str, str], TaskResult] = {}
        self._starts: dict[tuple[str, str], float] = {}
        # Loop items of a no_log task that changed: the loop's final result is censored and
        # carries no "changed", so the items' one-line outcomes decide.
        self._items_changed: set[tuple[str, str]] = set()

    def handle(self, event: Mapping[str, Any]) -> None:
        name = str(event.get("event", ""))
        data: Mapping[str, Any] = event.get("event_data") or {}
        created = str(event.get("created") or "")
        if name in TIMELINE_EVENTS:
            self.report.timeline.append(
                {"event": name, "time": created, "task": data.get("task"), "host": data.get("host")}
            )
        if name == "runner_on_start":
            self._start(data, created)
        elif name in FINAL_EVENTS:
            self._finish(name, data, created, str(event.get("stdout") or ""))
        elif name == "runner_item_on_ok":
            res = data.get("res")
            censored = isinstance(res, dict) and "censored" in res
            if censored and _says_changed(str(event.get("stdout") or "")):
                self._items_changed.add(self._key(data))
        elif name == "playbook_on_stats":
            self._stats(data)
        elif name in ("error", "verbose"):
            self._maybe_error(str(event.get("stdout") or ""))

    def _key(self, data: Mapping[str, Any]) -> tuple[str, str]:
        return (str(data.get("task_uuid") or data.get("task")), str(data.get("host") or ""))

    def _start(self, data: Mapping[str, Any], created: str) -> None:
        result = TaskResult(
            task=str(data.get("task") or data.get("task_action") or "?"),
            host=str(data.get("host") or ""),
            role=data.get("role") or None,
            action=data.get("resolved_action") or data.get("task_action") or None,
            started=str(data.get("start") or created) or None,
        )
        key = self._key(data)
        self._open[key] = result
        self._starts[key] = _parse_time(created) or time.time()
        self.report.tasks.append(result)
        self._notify(result)

    def _finish(
        self, name: str, data: Mapping[str, Any], created: str, event_stdout: str = ""
    ) -> None:
        key = self._key(data)
        result = self._open.pop(key, None)
        if result is None:  # no start event (e.g. the task failed to template): add it now
            self._start(data, created)
            result = self._open.pop(key)
        raw_res = data.get("res")
        res: Mapping[str, Any] = raw_res if isinstance(raw_res, dict) else {}
        status = FINAL_EVENTS[name]
        changed = bool(res.get("changed")) and status in ("ok", "failed")
        item_changed = key in self._items_changed
        self._items_changed.discard(key)
        if "censored" in res and status == "ok":
            # A no_log result is replaced by {"censored": ...}; the event's own one-line
            # outcome (or, for a loop, its items') still says whether it changed.
            changed = _says_changed(event_stdout) or item_changed
        if status == "ok" and changed:
            status = "changed"
        result.status = status
        result.changed = changed
        result.ignored = bool(data.get("ignore_errors")) and status == "failed"
        result.ended = str(data.get("end") or created) or None
        duration = data.get("duration")
        if duration is None:
            end = _parse_time(created)
            begin = self._starts.get(key)
            duration = (end - begin) if end is not None and begin is not None else None
        self._starts.pop(key, None)
        result.duration = round(float(duration), 3) if duration is not None else None
        if status in ("failed", "unreachable"):
            result.msg = _failure_msg(res) or status
            if isinstance(res.get("error_kind"), str) and res["error_kind"]:
                result.error_kind = res["error_kind"]
        if changed:
            self.report.changes.append(_change(result, res))
        if status in ("ok", "changed") and result.task.lower().lstrip().startswith("verify"):
            entry = {"task": result.task, "host": result.host}
            if res.get("msg") and "censored" not in res:
                entry["msg"] = _short(res["msg"])
            self.report.verified.append(entry)
        self._notify(result)

    def _stats(self, data: Mapping[str, Any]) -> None:
        hosts: dict[str, dict[str, int]] = {}
        for key in ("ok", "changed", "failures", "skipped", "dark", "ignored", "rescued"):
            for host, count in (data.get(key) or {}).items():
                hosts.setdefault(host, {})[key] = int(count)
        for host in data.get("processed") or {}:
            hosts.setdefault(host, {})
        self.report.hosts = hosts
        artifacts = data.get("artifact_data")
        if isinstance(artifacts, dict):
            self.report.recorded = dict(artifacts)

    def _maybe_error(self, stdout: str) -> None:
        line = stdout.strip()
        if line.startswith(("ERROR!", "[ERROR]")) and len(self.report.errors) < 5:
            self.report.errors.append(_short(line.splitlines()[0]))

    def _notify(self, result: TaskResult) -> None:
        if self.on_update is not None:
            self.on_update(result)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _says_changed(stdout: str) -> bool:
    """True for the default callback's ``changed: [host]`` line (colours stripped)."""
    return _ANSI.sub("", stdout).lstrip().startswith("changed:")


def _change(result: TaskResult, res: Mapping[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {"task": result.task, "host": result.host}
    if "censored" in res:  # a no_log result: nothing of it goes into the report
        change["censored"] = True
        return change
    for key in ("before", "diff", "msg"):
        if res.get(key) not in (None, "", {}, []):
            change[key] = res[key]
    return change


def _failure_msg(res: Mapping[str, Any]) -> str | None:
    if "censored" in res:
        return "failed (output hidden: no_log)"
    for key in ("msg", "stderr", "reason", "exception"):
        value = res.get(key)
        if value:
            return _short(str(value))
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= MSG_LIMIT else text[: MSG_LIMIT - 1] + "…"


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ---- running ----------------------------------------------------------------------------
@dataclass
class RunRequest:
    """Everything one run needs; built by ``irdrive run`` after validation."""

    runbook: str
    playbook: Path
    project: Project
    inventories: list[Path]
    extravars: dict[str, Any] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)  # names of no_log parameters
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    target: str = ""
    lab_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def make_run_dir(runbook: str, base: Path | None = None) -> Path:
    base = base or runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    run_dir = base / f"{stamp}-{runbook}"
    run_dir.mkdir(mode=0o700)
    return run_dir


def ansible_env(request: RunRequest) -> dict[str, str]:
    """Environment for ansible-playbook: the project's config, content paths, the lab."""
    project = request.project
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {
        "ANSIBLE_CONFIG": str(project.ansible_cfg),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(
            p
            for p in (str(project.collections_dir), os.environ.get("ANSIBLE_COLLECTIONS_PATH"))
            if p
        ),
        "ANSIBLE_ROLES_PATH": str(project.roles_dir),
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": bin_dir if not path else f"{bin_dir}{os.pathsep}{path}",
        "PYTHONUNBUFFERED": "1",
    }
    if request.lab_dir is not None:
        env["IRDRIVE_LAB_DIR"] = str(request.lab_dir)
    env.update(request.env)
    return env


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _remove_extravars(path: Path) -> None:
    try:
        size = path.stat().st_size
        with open(path, "r+b") as fh:  # overwrite, then unlink
            fh.write(b"\0" * size)
        path.unlink()
    except FileNotFoundError:
        pass


def run(
    request: RunRequest,
    on_update: Callable[[TaskResult], None] | None = None,
    run_dir: Path | None = None,
) -> RunReport:
    """Run the playbook; return its report (also written to ``<run_dir>/report.json``)."""
    import ansible_runner

    run_dir = run_dir or make_run_dir(request.runbook)
    redactor = Redactor(v for k, v in request.extravars.items() if k in request.secrets)
    report = RunReport(
        runbook=request.runbook,
        check=request.check,
        diff=request.diff,
        target=request.target,
        inventory=[str(p) for p in request.inventories],
        run_dir=str(run_dir),
        parameters={
            k: (REDACTED if k in request.secrets else v) for k, v in request.extravars.items()
        },
    )
    collector = EventCollector(report, on_update)
    extravars_file = run_dir / "env" / "extravars"
    if request.extravars:
        _write_private(extravars_file, json.dumps(request.extravars))
    cmdline = " ".join(
        flag for flag, on in (("--check", request.check), ("--diff", request.diff)) if on
    )
    lock = threading.Lock()

    def event_handler(event: dict[str, Any]) -> bool:
        if event.get("event") == "playbook_on_start":
            _remove_extravars(extravars_file)  # ansible-playbook has loaded it by now
        redactor.scrub(event)  # in place: ansible-runner writes the scrubbed event
        with lock:
            collector.handle(event)
        return True

    def status_handler(data: dict[str, Any], runner_config: Any = None) -> None:
        report.status = str(data.get("status", report.status))

    cancelled = threading.Event()
    report.started = _now()
    clock = time.monotonic()
    try:
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(run_dir),
            project_dir=str(request.project.root),
            playbook=str(request.playbook),
            inventory=[str(p) for p in request.inventories],
            envvars=ansible_env(request),
            cmdline=cmdline or None,
            ident="ansible",
            quiet=True,
            suppress_output_file=True,
            verbosity=request.verbosity or None,
            event_handler=event_handler,
            status_handler=status_handler,
            cancel_callback=cancelled.is_set,
        )
        try:
            while thread.is_alive():
                thread.join(0.2)
        except KeyboardInterrupt:
            cancelled.set()
            thread.join()
        report.status = str(runner.status)
        report.rc = runner.rc
    finally:
        _remove_extravars(extravars_file)
        report.ended = _now()
        report.duration = round(time.monotonic() - clock, 3)
    for task in report.tasks:  # a task still "running" never finished (cancel, crash)
        if task.status == "running":
            task.status = "failed"
            task.msg = task.msg or f"did not finish (run {report.status})"
    redactor.scrub(report.changes)
    redactor.scrub(report.recorded)
    redactor.scrub(report.errors)
    for task in report.tasks:
        task.msg = redactor.text(task.msg) if task.msg else task.msg
    write_report(report, run_dir)
    return report


def write_report(report: RunReport, run_dir: Path) -> Path:
    path = run_dir / "report.json"
    _write_private(path, json.dumps(report.to_dict(), indent=2, default=str))
    return path
