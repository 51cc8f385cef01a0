"""Incidents with fixed times for the post-incident tests (report, SVG, actions and stats in
tests/unit/driver, both backends in tests/integration/test_incident_post_pg.py), built through
the store's public methods, and the environment they run in (a SQLite file in tmp_path, a named
user, UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from irdrive.incidents.model import Incident
from irdrive.incidents.store import IncidentStore, NewEntry, open_incidents

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
CANARY = "CANARY-pm-7f3e1b"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Env:
    tmp: Path
    url: str

    def store(self) -> IncidentStore:
        return open_incidents(self.url)


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("IRDRIVE_DB_URL", url)
    monkeypatch.setenv("IRDRIVE_USER", "alice")
    monkeypatch.setenv("IRDRIVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("IRDRIVE_TZ", "UTC")
    return Env(tmp_path, url)


def resolved_p1(store: IncidentStore) -> Incident:
    """P1 at T0: detected after 4m, acknowledged 6m after that, a run that changes and
    verifies, monitoring at 20m, resolved at 70m (MTTD 240s, MTTA 360s, MTTR 4200s: both
    targets met). Timeline data carries a canary that no report may show."""
    inc = store.open(
        title="Payments failing",
        severity="P1",
        actor="alert:PaymentsDown",
        services=["payments"],
        runbook="payments-failover",
        summary="Card payments fail at the primary processor.",
        impact="Checkout down for card payments.",
        started_at=at(0),
        now=at(4),
        details={"labels": {"token": CANARY}},
        opened_data={"alert": {"annotations": {"secret": CANARY}}},
    )
    store.set_status(inc.id, "IDENTIFIED", actor="alice", note="processor down", now=at(10))
    store.append(
        inc.id,
        [
            NewEntry(
                "run.start",
                "run payments-failover started",
                "run:r1",
                {"runbook": "payments-failover", "params": {"api_token": CANARY}},
                at(12),
            ),
            NewEntry(
                "change",
                "payments processor: primary -> segpay",
                "run:r1",
                {"before": {"processor": "primary", "password": CANARY}, "after": "segpay"},
                at(13),
            ),
            NewEntry(
                "verify",
                "payments health endpoint green",
                "run:r1",
                {"ok": True, "response": CANARY},
                at(15),
            ),
            NewEntry("run.end", "run payments-failover ok", "run:r1", {"rc": 0}, at(16)),
        ],
    )
    store.set_status(inc.id, "MONITORING", actor="alice", now=at(20))
    store.set_status(inc.id, "RESOLVED", actor="alice", now=at(70))
    return store.get(inc.id)
