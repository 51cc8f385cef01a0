"""Real detection in the lab: each fault fires its alert in Alertmanager, and only its own; the
alert resolves after the fault is cleared; the webhook receiver gets both notifications;
``irdrive lab alerts --json`` shows the firing alert. One lab, every fault in turn.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from _runbook import irdrive
from helpers import wait_until

from irdrive_lab import alerts
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab

# Every fault with an alert (api-flaky, the chaos fault, has none), with its alert's labels.
EXPECTED = {
    "processor-down": ("PaymentProcessorDown", "P1", "payments-failover"),
    "bad-deploy": ("PodsCrashLooping", "P0", "platform-outage"),
    "cdn-down": ("CdnErrors", "P1", "streaming-outage"),
    "disk-full": ("VideoStorageFull", "P1", "streaming-outage"),
    "db-down": ("DatabaseDown", "P0", "platform-outage"),
    "resource-pressure": ("HighResponseTime", "P2", "performance-degradation"),
    "db-slow": ("DatabaseIdleInTransaction", "P2", "performance-degradation"),
    "intrusion": ("IntrusionSuspiciousSources", "P0", "security-breach"),
}
# Seconds from the fault to its alert in Alertmanager, and from the fault's clearing to the
# alert's resolution; measured: 1-5 s each on a busy 2-core machine.
FIRE_TIMEOUT = 30.0
RESOLVE_TIMEOUT = 30.0


def test_the_lab_records_its_monitoring_endpoints(lab: dict[str, Any], lab_cfg: Any) -> None:
    base = lab_cfg.port_base
    assert lab["prometheus_url"] == f"http://127.0.0.1:{base + 4}"
    assert lab["alertmanager_url"] == f"http://127.0.0.1:{base + 5}"
    with urllib.request.urlopen(f"{lab['prometheus_url']}/api/v1/targets", timeout=5) as r:
        targets = json.load(r)["data"]["activeTargets"]
    assert [(t["scrapeUrl"], t["health"]) for t in targets] == [
        (f"{lab['endpoints']['platform']}/metrics", "up")
    ]


def test_each_fault_fires_its_alert_and_it_resolves(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    assert set(EXPECTED) == set(faults.FAULTS) - {"api-flaky"}
    timings: dict[str, tuple[float, float]] = {}
    started = time.monotonic()
    for name, (alertname, severity, runbook) in EXPECTED.items():
        # an earlier test may have left this fault's alert resolving
        alerts.wait_for(lab_cfg, name, firing=False, timeout=RESOLVE_TIMEOUT)
        injected = time.monotonic()
        faults.inject(lab_cfg, lab_cfg.read_state(), name, {})
        alerts.wait_for(lab_cfg, name, firing=True, timeout=FIRE_TIMEOUT)
        fired = time.monotonic() - injected
        active = alerts.active_alerts(lab_cfg)
        assert {a["labels"]["fault"] for a in active} == {name}, [a["labels"] for a in active]
        mine = [a["labels"] for a in active]
        assert {(lb["alertname"], lb["severity"], lb["runbook"]) for lb in mine} == {
            (alertname, severity, runbook)
        }
        if name == "intrusion":  # the addresses the runbook must block, one a line
            (alert,) = active
            assert alert["annotations"]["addresses"] == "\n".join(sorted(faults.INTRUSION_IPS))
        if name == "db-down":  # the command's view, once, while something fires
            res = irdrive(lab_env, "lab", "alerts", "--json")
            assert res.returncode == 0, res.stdout + res.stderr
            shown = json.loads(res.stdout)["alerts"]
            assert [(a["alertname"], a["fault"], a["severity"], a["runbook"]) for a in shown] == [
                ("DatabaseDown", "db-down", "P0", "platform-outage")
            ]
        # the webhook receiver hears of it while it fires (Alertmanager sends nothing for an
        # alert that resolves within group_wait, before its first notification)
        wait_until(
            lambda name=name: any(
                a["labels"].get("fault") == name and a["status"] == "firing"
                for note in alerts.notifications(lab_cfg.alerts_file)
                for a in note["alerts"]
            ),
            timeout=10,
            what=f"the firing notification of {name}",
        )
        cleared = time.monotonic()
        faults.clear(lab_cfg, lab_cfg.read_state(), name)
        alerts.wait_for(lab_cfg, name, firing=False, timeout=RESOLVE_TIMEOUT)
        timings[name] = (round(fired, 1), round(time.monotonic() - cleared, 1))
    total = time.monotonic() - started
    print(f"alert timings (fire s, resolve s): {timings}; total {total:.1f}s")

    # Alertmanager told the lab's webhook receiver about each alert: firing, then resolved.
    def missing() -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {f: set() for f in EXPECTED}
        for note in alerts.notifications(lab_cfg.alerts_file):
            for a in note["alerts"]:
                seen.setdefault(a["labels"].get("fault"), set()).add(a["status"])
        return {f: s for f, s in seen.items() if f in EXPECTED and s != {"firing", "resolved"}}

    wait_until(lambda: not missing(), timeout=10, what="resolved notifications")
