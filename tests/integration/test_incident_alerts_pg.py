"""Alerts into incidents on the lab's PostgreSQL, as a team shares the store: copies of one
alert taken by several processes at once (the rulebook's parallel actions, or two rulebook
hosts) open one incident under the store's per-key advisory lock, the first time on an empty
database too; a repeat after that attaches; the URL's password reaches no output."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from irdrive.errors import TargetUnreachable
from irdrive.incidents import alerts
from irdrive.incidents.store import open_incidents

pytestmark = [pytest.mark.lab, pytest.mark.incidents_extra]

ALERT = {
    "status": "firing",
    "labels": {"alertname": "DatabaseDown", "severity": "P0", "service": "orders"},
    "annotations": {"summary": "The orders database does not answer"},
    "startsAt": "2026-12-02T03:15:00Z",
}


@pytest.fixture
def pg_url(pg_database: tuple[str, str]) -> tuple[str, str]:
    return pg_database


def _record(url: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    (outcome,) = alerts.record(alerts.parse(ALERT), actor="rulebook", url=url)
    out.put((outcome.action, outcome.incident_id))


def test_copies_of_an_alert_at_once_open_one_incident(pg_url: tuple[str, str]) -> None:
    url, _ = pg_url
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_record, args=(url, barrier, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    results = sorted(out.get(timeout=5) for _ in procs)
    assert [action for action, _ in results] == ["attached", "attached", "attached", "opened"]
    assert len({ident for _, ident in results}) == 1
    (again,) = alerts.record(alerts.parse(ALERT), actor="alice", url=url)
    assert again.action == "attached" and again.count == 5
    with open_incidents(url) as store:
        (incident,) = store.incidents()
        assert incident.severity == "P0" and incident.services == ["orders"]
        assert store.verify(incident.id).ok


def test_an_unreachable_server_is_one_line_without_the_password(
    pg_url: tuple[str, str],
) -> None:
    url, password = pg_url
    wrong = url.rsplit("@", 1)[0] + "@127.0.0.1:9/nowhere"
    with pytest.raises(TargetUnreachable) as caught:
        alerts.record(alerts.parse(ALERT), actor="alice", url=wrong)
    assert password not in str(caught.value) and "\n" not in str(caught.value)


def test_a_long_alert_key_fits_postgresql(pg_url: tuple[str, str]) -> None:
    """PostgreSQL enforces the key column's length, which SQLite does not."""
    url, _ = pg_url
    long = {**ALERT, "labels": {**ALERT["labels"], "instance": "h" * 600}}
    (first,) = alerts.record(alerts.parse(long), actor="alice", url=url)
    (again,) = alerts.record(alerts.parse(long), actor="alice", url=url)
    assert (first.action, again.action, again.count) == ("opened", "attached", 2)
    assert again.incident_id == first.incident_id
