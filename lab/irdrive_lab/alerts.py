"""The lab's alerts: what Alertmanager has firing, and the notifications it sent the lab.

``active_alerts(lab)`` asks the lab's Alertmanager (``GET /api/v2/alerts``, active, neither
silenced nor inhibited) and returns its alert objects as they are. Every alert rule of the
lab labels its alerts with ``severity`` (P0..P3), ``runbook`` (the irdrive runbook that
remedies it) and ``fault`` (the lab fault that causes it).

Alertmanager's webhook receiver is the platform's ``POST /_lab/alerts``; ``record_notification``
appends each notification it gets to ``alerts.jsonl`` in the lab folder.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError, LabUsageError

ACTIVE_QUERY = {"active": "true", "silenced": "false", "inhibited": "false"}
_write_lock = threading.Lock()


class AlertmanagerUnreachable(LabError):
    """The lab's Alertmanager did not answer."""


def alertmanager_url(lab: LabConfig | str | os.PathLike[str] | dict[str, Any]) -> str:
    """The Alertmanager URL of a lab given as a LabConfig, its folder, or its lab.json dict."""
    if isinstance(lab, dict):
        state = lab
    else:
        cfg = lab if isinstance(lab, LabConfig) else LabConfig(dir=Path(lab).resolve())
        read = cfg.read_state()
        if not read:
            raise LabUsageError(f"the lab in {cfg.dir} is not up; run `irdrive lab up` first")
        state = read
    url = state.get("alertmanager_url")
    if not url:
        raise LabUsageError(
            "the lab's lab.json names no alertmanager_url (started before monitoring existed); "
            "run `irdrive lab down`, then `irdrive lab up`"
        )
    return str(url).rstrip("/")


def active_alerts(
    lab: LabConfig | str | os.PathLike[str] | dict[str, Any],
    fault: str | None = None,
    timeout: float = 2.0,
) -> list[dict[str, Any]]:
    """Alertmanager's active alerts (v2 alert objects); only those of ``fault`` if given."""
    url = alertmanager_url(lab)
    query = urllib.parse.urlencode(ACTIVE_QUERY)
    try:
        with urllib.request.urlopen(f"{url}/api/v2/alerts?{query}", timeout=timeout) as resp:
            alerts = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise AlertmanagerUnreachable(f"Alertmanager at {url} is unreachable: {exc}") from exc
    if fault is not None:
        alerts = [a for a in alerts if (a.get("labels") or {}).get("fault") == fault]
    return sorted(alerts, key=lambda a: (a.get("startsAt") or "", a.get("fingerprint") or ""))


def wait_for(
    lab: LabConfig | str | os.PathLike[str] | dict[str, Any],
    fault: str,
    firing: bool = True,
    timeout: float = 30.0,
    interval: float = 0.25,
) -> float:
    """Wait until an alert of ``fault`` is active (``firing``) or none is; return the seconds.

    Raises LabError when ``timeout`` passes first.
    """
    started = time.monotonic()
    while True:
        try:
            present = bool(active_alerts(lab, fault))
        except AlertmanagerUnreachable:
            present = None
        if present is firing:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            state = "fire" if firing else "resolve"
            raise LabError(f"no alert of fault {fault} did {state} within {timeout:.0f}s")
        time.sleep(interval)


def record_notification(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Append one webhook notification (Alertmanager's payload, version 4) to ``path``."""
    if not isinstance(payload.get("alerts"), list):
        raise ValueError("a webhook notification carries a list of alerts")
    entry = {
        "received": time.time(),
        "status": payload.get("status"),
        "receiver": payload.get("receiver"),
        "group_key": payload.get("groupKey"),
        "alerts": [
            {
                "status": a.get("status"),
                "labels": a.get("labels") or {},
                "annotations": a.get("annotations") or {},
                "startsAt": a.get("startsAt"),
                "endsAt": a.get("endsAt"),
                "fingerprint": a.get("fingerprint"),
            }
            for a in payload["alerts"]
            if isinstance(a, dict)
        ],
    }
    line = json.dumps(entry, sort_keys=True) + "\n"
    with _write_lock, path.open("a") as fh:
        fh.write(line)
    return entry


def notifications(path: Path) -> list[dict[str, Any]]:
    """The notifications recorded so far, oldest first."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def summary(alert: dict[str, Any]) -> dict[str, Any]:
    """The fields ``irdrive lab alerts`` shows of one Alertmanager alert."""
    labels = alert.get("labels") or {}
    return {
        "alertname": labels.get("alertname"),
        "severity": labels.get("severity"),
        "runbook": labels.get("runbook"),
        "fault": labels.get("fault"),
        "since": alert.get("startsAt"),
        "summary": (alert.get("annotations") or {}).get("summary"),
        "state": (alert.get("status") or {}).get("state"),
    }
