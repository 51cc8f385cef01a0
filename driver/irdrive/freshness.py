"""Whether a runbook's last passing drill still proves it: "never" drilled, "fresh" or "stale".

A runbook is stale when the digest of its files (``runbook_files``: playbook, roles, the
collection plugins and module_utils it uses) differs from the one its last passing drill
recorded, or when that drill is older than the maximum age: 30 days, or
``$IRDRIVE_DRILL_MAX_AGE_DAYS``, or ``[history] drill_max_age_days`` in the config file
(``irdrive.config``). Drills hold detection and recovery against ``SEVERITY_TARGETS``, the
incident playbook's classification matrix.

Every decision takes the current time as an argument (``now``), so it is tested with a frozen
clock; only the command-line entry points read the real one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irdrive import config
from irdrive.errors import UsageError
from irdrive.paths import Project

if TYPE_CHECKING:
    from irdrive.history import DrillRecord
    from irdrive.runbookfiles import RunbookFiles
    from irdrive.yamlcache import YamlCache

# severity -> (respond, resolve) in seconds: the playbook's Incident Classification Matrix.
SEVERITY_TARGETS: dict[str, tuple[int, int]] = {
    "P0": (15 * 60, 1 * 3600),
    "P1": (30 * 60, 4 * 3600),
    "P2": (2 * 3600, 24 * 3600),
    "P3": (4 * 3600, 72 * 3600),
}

NEVER, FRESH, STALE = "never", "fresh", "stale"
DEFAULT_MAX_AGE_DAYS = 30.0
ENV_MAX_AGE = "IRDRIVE_DRILL_MAX_AGE_DAYS"
GIT_TIMEOUT = 10


def runbook_files(project: Project, runbook: str, cache: YamlCache | None = None) -> list[Path]:
    """The files runbook ``runbook`` is made of (see ``irdrive.runbookfiles``), sorted."""
    from irdrive.runbookfiles import RunbookFiles

    collector = RunbookFiles(project, cache)
    try:
        return collector.files(runbook)
    finally:
        collector.save()


def files_digest(project: Project, runbook: str, cache: YamlCache | None = None) -> str:
    """sha256 (hex) over the path (relative to the project) and content of each of
    ``runbook_files``: it changes when any of them changes, and only then."""
    from irdrive.runbookfiles import RunbookFiles

    collector = RunbookFiles(project, cache)
    try:
        return collector.digest(runbook)
    finally:
        collector.save()


def runbook_commit(project: Project) -> str | None:
    """The project's git HEAD, with ``+dirty`` when the work tree has changes (untracked files
    included); None outside a git checkout or without git."""

    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(project.root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--verify", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=normal")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def max_age() -> timedelta:
    """How old a passing drill may be before its runbook counts as stale."""
    raw: Any = os.environ.get(ENV_MAX_AGE, "").strip() or None
    where = ENV_MAX_AGE
    if raw is None:
        raw = config.setting("history", "drill_max_age_days")
        where = f"[history] drill_max_age_days in {config.config_file()}"
    if raw is None:
        return timedelta(days=DEFAULT_MAX_AGE_DAYS)
    try:
        days = float(raw)
    except (TypeError, ValueError):
        days = -1.0
    if isinstance(raw, bool) or not 0 < days < 100_000:
        raise UsageError(f"{where} must be a positive number of days, not {raw!r}")
    return timedelta(days=days)


@dataclass(frozen=True)
class Freshness:
    """What the history says about one runbook."""

    status: str  # NEVER, FRESH or STALE
    last: DrillRecord | None = None  # its newest passing drill
    reasons: tuple[str, ...] = ()  # why it is stale

    def to_dict(self, now: datetime) -> dict[str, Any]:
        last = self.last
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "last_passing": None
            if last is None
            else {
                "id": last.id,
                "started_at": last.started_at.isoformat(),
                "age_s": round((now - last.started_at).total_seconds()),
                "scenario": last.scenario,
                "variant": last.variant,
                "outcome": last.outcome,
                "detect_s": last.detect_s,
                "recover_s": last.recover_s,
                "breached": last.breached,
                "commit": last.commit,
                "files_digest": last.files_digest,
            },
        }


def judge(
    last: DrillRecord | None, digest: str | None, now: datetime, limit: timedelta
) -> Freshness:
    """The freshness of a runbook whose files now have ``digest``, given its last passing drill."""
    if last is None:
        return Freshness(NEVER)
    reasons = []
    if digest is not None and digest != last.files_digest:
        reasons.append("its files changed since the drill")
    if now - last.started_at > limit:
        reasons.append(f"the drill is older than {_days(limit)}")
    return Freshness(STALE if reasons else FRESH, last, tuple(reasons))


def assess(
    project: Project,
    names: Iterable[str],
    last_passing: Mapping[str, DrillRecord],
    now: datetime,
    limit: timedelta | None = None,
    cache: YamlCache | None = None,
) -> dict[str, Freshness]:
    """The freshness of each runbook in ``names``; files are digested only for runbooks that
    have a passing drill."""
    collector: RunbookFiles | None = None
    found: dict[str, Freshness] = {}
    for name in names:
        last = last_passing.get(name)
        digest = None
        if last is not None:
            if collector is None:
                from irdrive.runbookfiles import RunbookFiles

                collector = RunbookFiles(project, cache)
            try:
                digest = collector.digest(name)
            except (OSError, UsageError):
                digest = ""  # the playbook is gone or unreadable: not what was drilled
        if last is not None and limit is None:
            limit = max_age()
        found[name] = judge(last, digest, now, limit or timedelta(days=DEFAULT_MAX_AGE_DAYS))
    if collector is not None:
        collector.save()
    return found


def check(
    project: Project, names: Iterable[str], now: datetime | None = None
) -> dict[str, Freshness]:
    """``assess`` against the configured history store, at ``now`` (default: the clock)."""
    from irdrive.history import last_passing_all

    return assess(project, names, last_passing_all(), now or datetime.now(UTC))


def ago(then: datetime, now: datetime) -> str:
    """``then`` as a short age: "just now", "12m ago", "5h ago", "3d ago"."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def _days(limit: timedelta) -> str:
    days = limit.total_seconds() / 86400
    return f"{days:g} days" if days != 1 else "1 day"


def warning(name: str, fresh: Freshness, now: datetime) -> str | None:
    """The one line `irdrive run` prints before running a runbook that is not fresh."""
    if fresh.status == NEVER:
        return f"Warning: runbook {name} has never passed a drill (irdrive drill {name})"
    if fresh.status == STALE and fresh.last is not None:
        when = ago(fresh.last.started_at, now)
        why = " and ".join(fresh.reasons)
        return f"Warning: runbook {name} is stale: last passing drill {when}, {why} (irdrive drill {name})"
    return None
