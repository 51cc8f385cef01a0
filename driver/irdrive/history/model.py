"""What the history store keeps: one record per drill (plain data, no database imports)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("recovered", "failed-safe", "failed")


@dataclass(frozen=True)
class DrillRecord:
    """One drill of one runbook: how it went, how long detection and recovery took, against
    which severity targets, and which version of the runbook's files it proved."""

    runbook: str
    scenario: str
    variant: str  # "" or a chaos variant such as "api-flaky"
    started_at: datetime  # tz-aware UTC: when the fault was injected
    passed: bool
    failed_check: str | None
    outcome: str  # one of OUTCOMES
    detect_s: float | None  # fault -> alert firing
    recover_s: float | None  # fault -> verified recovery and alert resolved
    severity: str  # "P0".."P3"
    respond_target_s: int
    resolve_target_s: int
    breached: bool  # detect_s > respond_target_s or recover_s > resolve_target_s
    commit: str | None  # irdrive.freshness.runbook_commit at the time of the drill
    files_digest: str  # irdrive.freshness.files_digest at the time of the drill
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able
    id: int | None = None

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None or self.started_at.utcoffset() is None:
            raise ValueError("DrillRecord.started_at must be timezone-aware")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"DrillRecord.outcome must be one of {', '.join(OUTCOMES)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.astimezone(UTC).isoformat()
        return data


def record_from_row(row: Mapping[Any, Any]) -> DrillRecord:
    """A DrillRecord from a row of ``drills`` (a mapping of column name to value)."""
    started = row["started_at"]
    if isinstance(started, str):  # a row read without SQLAlchemy's types (irdrive.history.lite)
        started = datetime.fromisoformat(started)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    details = row["details"]
    if isinstance(details, str):
        details = json.loads(details)
    return DrillRecord(
        id=int(row["id"]),
        runbook=row["runbook"],
        scenario=row["scenario"],
        variant=row["variant"],
        started_at=started.astimezone(UTC),
        passed=bool(row["passed"]),
        failed_check=row["failed_check"],
        outcome=row["outcome"],
        detect_s=None if row["detect_s"] is None else float(row["detect_s"]),
        recover_s=None if row["recover_s"] is None else float(row["recover_s"]),
        severity=row["severity"],
        respond_target_s=int(row["respond_target_s"]),
        resolve_target_s=int(row["resolve_target_s"]),
        breached=bool(row["breached"]),
        commit=row["git_commit"],
        files_digest=row["files_digest"],
        details=details if isinstance(details, dict) else {},
    )
