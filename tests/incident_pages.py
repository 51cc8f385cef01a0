"""Incident records full of internal detail, for the status page's tests (unit and Chromium):
what the page must show, and what it must never show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from irdrive.incidents.store import IncidentStore, NewEntry

RESPONDER = "Ursula Responder"
CANARY = "CANARYstatuspage5f3a9c"

# Everything here is internal: none of it may reach the page or the feed.
INTERNAL = {
    "title": "pay-db-01 volume full, ccbill 502s",
    "commander": "Carla Commander",
    "scribe": "Sam Scribe",
    "comms_lead": "Casey Comms",
    "responder": RESPONDER,
    "summary": "pay-db-01 lost its data volume at 10.20.30.40",
    "impact": "EUR 40k per hour of revenue at risk",
    "users_affected": "about 12000 paying members",
    "root_cause": "log rotation disabled by change CHG-4711",
    "runbook": "payments-failover",
    "note": "ssh admin@10.20.30.40 and look at dmesg",
    "status_note": "ccbill answers 502; switching processors",
    "command": "kubectl -n payments rollout restart deploy/payment-service",
    "host": "pay-db-01.internal.example",
    "ip": "10.20.30.40",
    "ipv6": "fd00:abcd::17",
    "run": "run-7c1e2f",
    "canary": CANARY,
    "p0_title": "edge-cdn-3 origin shield melted",
    "p0_summary": "cdn origin 192.0.2.77 returns 503",
    "resolved_title": "slow video starts from bucket misconfig",
    "old_title": "old cosmetic bug twenty days ago",
}

PUBLIC = {
    "summary_1": "Some card payments are failing.",
    "summary_2": "We are switching to our backup payment provider.",
    "resolved_summary": "Videos were slower than usual to start.",
}


def seed(store: IncidentStore, now: datetime) -> dict[str, Any]:
    """Four incidents around ``now``: an open P1 (IDENTIFIED, public summary, every internal
    field, a run's entries), an open P0 without public text, a P2 resolved and closed three
    days ago, and a P3 resolved twenty days ago (outside the 14-day window)."""
    i = INTERNAL
    p1 = store.open(
        title=i["title"],
        severity="P1",
        actor=RESPONDER,
        commander=i["commander"],
        services=["payments", "checkout"],
        runbook=i["runbook"],
        summary=i["summary"],
        impact=i["impact"],
        started_at=now - timedelta(minutes=50),
        now=now - timedelta(minutes=45),
        details={"host": i["host"], "ip": i["ip"], "secret": i["canary"]},
    )
    store.update(
        p1.id,
        actor=RESPONDER,
        now=now - timedelta(minutes=40),
        scribe=i["scribe"],
        comms_lead=i["comms_lead"],
        users_affected=i["users_affected"],
        root_cause=i["root_cause"],
        public_summary=f"{PUBLIC['summary_1']} {PUBLIC['summary_2']}",
    )
    store.append(
        p1.id,
        [
            NewEntry(
                "run.start",
                f"{i['runbook']} started on {i['host']}",
                f"run:{i['run']}",
                {"runbook": i["runbook"], "host": i["host"], "params": {"token": i["canary"]}},
                now - timedelta(minutes=35),
            ),
            NewEntry(
                "task.end",
                f"switch processor on {i['ip']}",
                f"run:{i['run']}",
                {"changed": True, "before": {"processor": "ccbill", "ip": i["ip"]}},
                now - timedelta(minutes=34),
            ),
        ],
    )
    store.note(p1.id, i["note"], actor=RESPONDER)
    store.note(p1.id, i["command"], actor=RESPONDER, kind="command")
    store.note(p1.id, f"{i['ipv6']} also seen; token {i['canary']}", actor=RESPONDER)
    store.set_status(
        p1.id, "IDENTIFIED", actor=RESPONDER, note=i["status_note"], now=now - timedelta(minutes=30)
    )

    p0 = store.open(
        title=i["p0_title"],
        severity="P0",
        actor=RESPONDER,
        services=["streaming"],
        summary=i["p0_summary"],
        now=now - timedelta(minutes=10),
    )

    resolved = store.open(
        title=i["resolved_title"],
        severity="P2",
        actor=RESPONDER,
        services=["streaming"],
        public_summary=PUBLIC["resolved_summary"],
        now=now - timedelta(days=3, hours=2),
    )
    store.set_status(
        resolved.id, "MONITORING", actor=RESPONDER, now=now - timedelta(days=3, hours=1)
    )
    store.set_status(resolved.id, "RESOLVED", actor=RESPONDER, now=now - timedelta(days=3))
    store.set_status(resolved.id, "CLOSED", actor=RESPONDER, now=now - timedelta(days=2))

    old = store.open(
        title=i["old_title"],
        severity="P3",
        actor=RESPONDER,
        services=["profile"],
        now=now - timedelta(days=21),
    )
    store.set_status(old.id, "RESOLVED", actor=RESPONDER, now=now - timedelta(days=20))
    return {"p1": p1.id, "p0": p0.id, "resolved": resolved.id, "old": old.id}
