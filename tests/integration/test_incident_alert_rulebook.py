"""The local rulebook's incident rule, its playbook run for real: rulebooks/playbooks/
open-incident.yml with ansible-playbook, the alert in ``ansible_eda.event`` as ansible-rulebook
passes it (events made by the irdrive.ops.alertmanager source's own ``alert_events`` from a
version 4 notification). A firing alert opens an incident, the same alert again attaches to it,
another target opens a second, a resolution is noted and leaves the incident open. The
rulebook's conditions themselves are tested in test_rulebook_rules.py and test_rulebooks.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from irdrive.incidents.store import open_incidents

pytestmark = pytest.mark.incidents_extra

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "rulebooks" / "playbooks" / "open-incident.yml"
SOURCE = (
    REPO / "collections/ansible_collections/irdrive/ops/extensions/eda/plugins/event_source"
    "/alertmanager.py"
)
BIN = Path(sys.executable).parent


def _source() -> Any:
    spec = importlib.util.spec_from_file_location("irdrive_alertmanager_source", SOURCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _events(status: str, *hosts: str) -> list[dict[str, Any]]:
    notification = {
        "version": "4",
        "status": status,
        "receiver": "irdrive",
        "groupKey": '{}:{alertname="VideoStorageFull"}',
        "groupLabels": {"alertname": "VideoStorageFull"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "VideoStorageFull",
                    "severity": "P1",
                    "runbook": "streaming-outage",
                    "fault": "disk-full",
                    "host": host,
                },
                "annotations": {"summary": f"Video storage on {host} is full"},
                "startsAt": "2026-12-02T03:15:00.5Z",
                "endsAt": "2026-12-02T03:40:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": f"fp-{host}",
            }
            for host in hosts
        ],
    }
    events: list[dict[str, Any]] = _source().alert_events(notification, meta_hosts=False)
    return events


def _play(tmp: Path, env: dict[str, str], event: dict[str, Any]) -> subprocess.CompletedProcess:
    extra = tmp / "event.json"
    extra.write_text(
        json.dumps(
            {
                "ansible_eda": {"event": event, "ruleset": "r", "rule": "record"},
                "ansible_python_interpreter": sys.executable,
            }
        )
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), str(PLAYBOOK), "-i", "localhost,", "-c", "local"]
        + ["-e", f"@{extra}"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # the driver of this checkout, whatever irdrive the environment installed
        "PYTHONPATH": os.pathsep.join([str(REPO / "driver"), str(REPO / "lab")]),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "IRDRIVE_DB_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "IRDRIVE_USER": "rulebook",
    }


def test_an_alert_opens_an_incident_and_a_repeat_attaches(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (streaming,) = _events("firing", "streaming")
    first = _play(tmp_path, env, streaming)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "changed=1" in first.stdout
    again = _play(tmp_path, env, streaming)
    assert again.returncode == 0, again.stdout[-3000:]
    (web,) = _events("firing", "web")
    assert _play(tmp_path, env, web).returncode == 0
    (resolved,) = _events("resolved", "streaming")
    noted = _play(tmp_path, env, resolved)
    assert noted.returncode == 0, noted.stdout[-3000:]

    with open_incidents(env["IRDRIVE_DB_URL"]) as store:
        by_title = {i.title: i for i in store.incidents()}
        assert sorted(by_title) == [
            "Video storage on streaming is full",
            "Video storage on web is full",
        ]
        incident = by_title["Video storage on streaming is full"]
        assert (incident.severity, incident.runbook, incident.source) == (
            "P1",
            "streaming-outage",
            "alert",
        )
        assert incident.status == "INVESTIGATING"  # the resolution is a person's call
        assert incident.started_at is not None
        assert incident.started_at.isoformat() == "2026-12-02T03:15:00.500000+00:00"
        timeline = store.timeline(incident.id)
        assert [(e.kind, e.data.get("status"), e.data.get("count")) for e in timeline] == [
            ("opened", "firing", None),
            ("escalation", None, None),  # a P1 engages the team lead at once
            ("alert", "firing", 2),
            ("alert", "resolved", None),
        ]
        assert {e.actor for e in timeline if e.kind != "escalation"} == {"alert:VideoStorageFull"}
        assert timeline[0].data["received_by"] == "rulebook"
        assert store.verify(incident.id).ok


def test_a_store_that_cannot_be_reached_fails_the_record_only(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The playbook fails, loudly and without the URL's password; it is its own rule's run,
    so the alert's runbook (another rule) runs regardless."""
    env = {**env, "IRDRIVE_DB_URL": "postgresql://irdrive:CANARY-db-91c2@127.0.0.1:9/irdrive"}
    (event,) = _events("firing", "streaming")
    res = _play(tmp_path, env, event)
    assert res.returncode == 2, res.stdout[-3000:]
    assert "history store" in res.stdout and "CANARY-db-91c2" not in res.stdout + res.stderr
