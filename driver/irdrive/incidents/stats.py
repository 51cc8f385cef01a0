"""The post-incident numbers: each incident's detection, response and resolution times against
its severity's targets (``measure``), and the monthly review's trends over a set of incidents
(``trends``): counts by severity, MTTD, MTTA and MTTR (mean and median), target breaches, the
runbooks used most, and the action items still open.

Plain functions over ``Incident`` records: every one takes the current time as ``now``, so they
are tested with a frozen clock. ``load_trends`` reads the store (the only database code here).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from irdrive.incidents.model import SEVERITIES, ActionItem, Incident

if TYPE_CHECKING:
    from irdrive.incidents.store import IncidentStore

MET, BREACHED, PENDING = "met", "breached", "pending"
PENDING_ACTIONS = ("open", "in-progress")
TOP_RUNBOOKS = 5


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def _verdict(took: float | None, elapsed: float | None, target: int) -> str:
    """met/breached for a finished clock (``took``); for a running one (``elapsed`` so far),
    breached once past the target, else pending."""
    if took is not None:
        return MET if took <= target else BREACHED
    if elapsed is not None and elapsed > target:
        return BREACHED
    return PENDING


@dataclass(frozen=True)
class Measures:
    """One incident's clocks. MTTD = detected - started; MTTA = acknowledged - detected, held
    against the respond target; MTTR = resolved - started, held against the resolve target.
    A clock still running has None for its time and ``pending`` (or ``breached`` once past its
    target) for its verdict."""

    detect_s: float | None
    acknowledge_s: float | None
    resolve_s: float | None
    respond_target_s: int
    resolve_target_s: int
    respond: str  # met | breached | pending
    resolve: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "detect_s": self.detect_s,
            "acknowledge_s": self.acknowledge_s,
            "resolve_s": self.resolve_s,
            "respond_target_s": self.respond_target_s,
            "resolve_target_s": self.resolve_target_s,
            "respond": self.respond,
            "resolve": self.resolve,
        }


def measure(incident: Incident, now: datetime) -> Measures:
    acknowledge_s = _seconds(incident.acknowledged_at, incident.detected_at)
    resolve_s = _seconds(incident.resolved_at, incident.started_at)
    return Measures(
        detect_s=_seconds(incident.detected_at, incident.started_at),
        acknowledge_s=acknowledge_s,
        resolve_s=resolve_s,
        respond_target_s=incident.respond_target_s,
        resolve_target_s=incident.resolve_target_s,
        respond=_verdict(
            acknowledge_s, _seconds(now, incident.detected_at), incident.respond_target_s
        ),
        resolve=_verdict(resolve_s, _seconds(now, incident.started_at), incident.resolve_target_s),
    )


def is_overdue(item: ActionItem, today: date) -> bool:
    return bool(item.due) and item.status in PENDING_ACTIONS and str(item.due) < today.isoformat()


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "mean_s": None, "median_s": None}
    return {
        "count": len(values),
        "mean_s": statistics.fmean(values),
        "median_s": float(statistics.median(values)),
    }


@dataclass
class Trends:
    """The monthly review of the incidents detected since ``since``."""

    since: datetime
    now: datetime
    total: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    open: int = 0
    mttd: dict[str, Any] = field(default_factory=dict)
    mtta: dict[str, Any] = field(default_factory=dict)
    mttr: dict[str, Any] = field(default_factory=dict)
    breaches: dict[str, Any] = field(default_factory=dict)
    runbooks: list[dict[str, Any]] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)
    by_month: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.astimezone(UTC).isoformat(),
            "now": self.now.astimezone(UTC).isoformat(),
            "total": self.total,
            "open": self.open,
            "by_severity": dict(self.by_severity),
            "mttd": dict(self.mttd),
            "mtta": dict(self.mtta),
            "mttr": dict(self.mttr),
            "breaches": dict(self.breaches),
            "top_runbooks": list(self.runbooks),
            "action_items": dict(self.actions),
            "by_month": [dict(row) for row in self.by_month],
        }


def trends(
    incidents: Iterable[Incident],
    runs: Mapping[str, Sequence[str]],
    actions: Iterable[ActionItem],
    *,
    since: datetime,
    now: datetime,
    top: int = TOP_RUNBOOKS,
) -> Trends:
    """Trends over ``incidents``. ``runs``: incident id -> the runbook of each run attached to
    it (its ``run.start`` entries). A runbook counts once per incident that used it (the one
    an alert named, or one it ran) and once per run. ``actions``: every action item; the open
    ones are counted whatever incident they belong to (the review's backlog)."""
    chosen = list(incidents)
    result = Trends(since=since, now=now, total=len(chosen))
    result.by_severity = {sev: 0 for sev in SEVERITIES}
    detect: list[float] = []
    ack: list[float] = []
    resolve: list[float] = []
    breaches = {"respond": 0, "resolve": 0, "incidents": 0}
    by_sev_breach = {sev: 0 for sev in SEVERITIES}
    used_by: Counter[str] = Counter()
    run_count: Counter[str] = Counter()
    months: dict[str, dict[str, Any]] = {}
    for incident in chosen:
        result.by_severity[incident.severity] = result.by_severity.get(incident.severity, 0) + 1
        result.open += int(incident.is_open)
        m = measure(incident, now)
        if m.detect_s is not None:
            detect.append(m.detect_s)
        if m.acknowledge_s is not None:
            ack.append(m.acknowledge_s)
        if m.resolve_s is not None:
            resolve.append(m.resolve_s)
        breached = False
        for clock in ("respond", "resolve"):
            if getattr(m, clock) == BREACHED:
                breaches[clock] += 1
                breached = True
        if breached:
            breaches["incidents"] += 1
            by_sev_breach[incident.severity] += 1
        when = incident.detected_at or incident.started_at or now
        month = months.setdefault(
            when.astimezone(UTC).strftime("%Y-%m"),
            {"incidents": 0, **{sev: 0 for sev in SEVERITIES}, "breached": 0, "_mttr": []},
        )
        month["incidents"] += 1
        month[incident.severity] += 1
        month["breached"] += int(breached)
        if m.resolve_s is not None:
            month["_mttr"].append(m.resolve_s)
        names = list(runs.get(incident.id, ()))
        run_count.update(names)
        used_by.update({*names, *([incident.runbook] if incident.runbook else [])})
    result.mttd, result.mtta, result.mttr = _summary(detect), _summary(ack), _summary(resolve)
    result.breaches = {**breaches, "by_severity": by_sev_breach}
    ranked = sorted(used_by, key=lambda name: (-used_by[name], -run_count[name], name))
    result.runbooks = [
        {"runbook": name, "incidents": used_by[name], "runs": run_count[name]}
        for name in ranked[:top]
    ]
    result.by_month = [
        {
            "month": name,
            **{k: v for k, v in row.items() if k != "_mttr"},
            "mttr_mean_s": statistics.fmean(row["_mttr"]) if row["_mttr"] else None,
        }
        for name, row in sorted(months.items())
    ]
    today = now.astimezone(UTC).date()
    items = list(actions)
    pending = [a for a in items if a.status in PENDING_ACTIONS]
    result.actions = {
        "open": sum(1 for a in pending if a.status == "open"),
        "in_progress": sum(1 for a in pending if a.status == "in-progress"),
        "overdue": sum(1 for a in pending if is_overdue(a, today)),
    }
    return result


def run_runbooks(store: IncidentStore, ids: Sequence[str]) -> dict[str, list[str]]:
    """incident id -> the runbook of each ``run.start`` entry on its timeline (one query);
    --check runs changed nothing and are not counted."""
    found: dict[str, list[str]] = {}
    for ident, starts in store.run_starts(ids).items():
        found[ident] = [
            data["runbook"]
            for data in starts
            if isinstance(data.get("runbook"), str)
            and data["runbook"]
            and data.get("check") is not True
        ]
    return found


def load_trends(store: IncidentStore, *, since: datetime, now: datetime) -> Trends:
    chosen = store.incidents(since=since, limit=None)
    return trends(
        chosen,
        run_runbooks(store, [i.id for i in chosen]),
        store.actions(),
        since=since,
        now=now,
    )
