"""Alerts into incident records (irdrive.incidents.alerts): parsing Alertmanager's payloads,
the alert key, and the open / attach / note-the-resolution decision against a real store."""

from __future__ import annotations

import copy
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from irdrive.errors import UsageError
from irdrive.incidents import alerts
from irdrive.incidents.store import IncidentStore, open_incidents

NOW = datetime(2026, 12, 2, 8, 5, tzinfo=UTC)


def _alert(
    name: str = "PaymentProcessorDown",
    status: str = "firing",
    severity: str | None = "P1",
    **labels: str,
) -> dict[str, Any]:
    all_labels = {"alertname": name, "runbook": "payments-failover", "fault": "x", **labels}
    if severity is not None:
        all_labels["severity"] = severity
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {
            "summary": f"{name}: payments fail",
            "description": "the processor in use does not answer",
        },
        "startsAt": "2026-12-02T08:00:00.123456789Z",
        "endsAt": "2026-12-02T08:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": f"fp-{name}",
    }


def _notification(*items: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "irdrive",
        "groupKey": "{}:{}",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "truncatedAlerts": 0,
        "alerts": list(items),
    }


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_incidents(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def _intake(store: IncidentStore, payload: Any, at: datetime = NOW, **kw: Any) -> Any:
    return alerts.intake(store, alerts.parse(payload, **kw), actor="alice", now=at)


# -- parsing ---------------------------------------------------------------------------------


def test_a_v4_notification_gives_everything_an_incident_needs() -> None:
    (alert,) = alerts.parse(_notification(_alert(service="payments,checkout", instance="pay:9")))
    assert alert.status == "firing" and alert.name == "PaymentProcessorDown"
    assert alert.severity == "P1" and alert.runbook == "payments-failover"
    assert alert.services == ("payments", "checkout")
    assert alert.title == "PaymentProcessorDown: payments fail"
    assert alert.summary == "the processor in use does not answer"
    # nanoseconds are cut to microseconds; Alertmanager's zero time is no time
    assert alert.starts_at == datetime(2026, 12, 2, 8, 0, 0, 123456, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.key == "PaymentProcessorDown{service=payments,checkout,instance=pay:9}"


@pytest.mark.parametrize(
    "shape",
    [
        lambda a: a,  # one alert
        lambda a: {"alert": a, "group": {}, "target": "t"},  # the rulebook source's event
        lambda a: {
            "event": {"alert": a, "target": "t"},
            "ruleset": "r",
            "rule": "x",
        },  # ansible_eda
        lambda a: _notification(a),
    ],
)
def test_every_accepted_shape_gives_the_same_alert(shape: Any) -> None:
    assert alerts.parse(shape(_alert())) == alerts.parse(_notification(_alert()))


def test_the_key_names_the_alert_and_its_target_not_its_severity() -> None:
    key = alerts.alert_key
    base = {"alertname": "A", "severity": "P2", "runbook": "r", "fault": "f", "lab": "x"}
    assert key(base) == "A{}"
    assert key({**base, "severity": "P1"}) == key(base)
    labels = {**base, "host": "h1", "cluster": "c", "namespace": "ns", "deployment": "d"}
    assert key(labels) == "A{cluster=c,namespace=ns,deployment=d,host=h1}"
    assert key({**labels, "host": "h2"}) != key(labels)


def test_a_long_key_fits_the_store_and_stays_distinct() -> None:
    one = alerts.alert_key({"alertname": "A", "instance": "x" * 500 + "1"})
    two = alerts.alert_key({"alertname": "A", "instance": "x" * 500 + "2"})
    assert len(one) == len(two) == alerts.MAX_KEY and one != two


@pytest.mark.parametrize(
    ("label", "severity"),
    [("P0", "P0"), ("p2", "P2"), ("Critical", "P0"), ("high", "P1"), ("LOW", "P3")],
)
def test_severity_labels(label: str, severity: str) -> None:
    (alert,) = alerts.parse(_alert(severity=label))
    assert alert.severity == severity


def test_defaults_fill_in_only_what_the_alert_does_not_say() -> None:
    raw = _alert(severity=None)
    del raw["labels"]["runbook"]
    raw["annotations"] = {}
    defaults = alerts.Defaults(severity="p3", title="fallback", services=("web",), runbook="rb")
    (alert,) = alerts.parse(raw, defaults)
    assert (alert.severity, alert.title, alert.services, alert.runbook) == (
        "P3",
        "fallback",
        ("web",),
        "rb",
    )
    (labelled,) = alerts.parse(_alert(service="payments"), defaults)
    assert labelled.severity == "P1" and labelled.services == ("payments",)
    assert labelled.runbook == "payments-failover"
    bare = _alert(severity=None, host="web-1")
    bare["annotations"] = {}
    (untitled,) = alerts.parse(bare, alerts.Defaults(severity="P2"))
    assert untitled.title == "PaymentProcessorDown{host=web-1}"


def _without(key: str) -> dict[str, Any]:
    raw = _alert()
    del raw[key]
    return raw


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected a JSON object"),
        ({"hello": 1}, "not an alert"),
        ({**_notification(_alert()), "version": "3"}, "unsupported Alertmanager payload version"),
        (_notification(), "has no alerts"),
        ({"version": "4", "alerts": {}}, "alerts must be a list"),
        (_notification("x"), "alerts[0] must be an object"),
        (_notification({**_alert(), "labels": {"severity": "P1"}}), "has no alertname"),
        (_notification({**_alert(), "labels": {"alertname": 3}}), "mapping of strings"),
        (_notification({**_alert(), "status": "pending"}), "status 'pending' is not one of"),
        (_notification({**_alert(), "startsAt": "yesterday"}), "is not an RFC 3339 timestamp"),
        (_notification({**_alert(), "startsAt": "2026-12-02T08:00:00"}), "has no time zone"),
        (_notification(_alert(severity="warning")), "severity label 'warning' is not one of"),
        (_notification(_alert(), _alert(severity=None)), "alerts[1] (PaymentProcessorDown) has no"),
    ],
)
def test_malformed_input_is_refused_naming_the_problem(payload: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        alerts.parse(payload)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_status_counts_as_firing() -> None:
    (alert,) = alerts.parse(_without("status"))
    assert alert.status == "firing"


@pytest.mark.parametrize(
    ("status", "open_id", "action"),
    [
        ("firing", None, "opened"),
        ("firing", "INC-20261202-080000", "attached"),
        ("resolved", "INC-20261202-080000", "resolved"),
        ("resolved", None, "ignored"),
    ],
)
def test_decide(status: str, open_id: str | None, action: str) -> None:
    (alert,) = alerts.parse(_alert(status=status))
    assert alerts.decide(alert, open_id) == action


def test_load_refuses_what_is_not_json() -> None:
    with pytest.raises(UsageError, match="--from-alert x is not JSON"):
        alerts.load("{nope", "--from-alert x")
    with pytest.raises(UsageError, match="is empty"):
        alerts.load("  \n", "stdin")


# -- against the store -----------------------------------------------------------------------


def test_a_firing_alert_opens_and_the_same_alert_again_attaches(store: IncidentStore) -> None:
    (first,) = _intake(store, _notification(_alert(service="payments")))
    assert first.action == "opened" and first.count == 1
    incident = store.get(first.incident_id)
    assert incident.source == "alert" and incident.severity == "P1"
    assert incident.title == "PaymentProcessorDown: payments fail"
    assert incident.services == ["payments"] and incident.runbook == "payments-failover"
    assert incident.summary == "the processor in use does not answer"
    assert incident.started_at == datetime(2026, 12, 2, 8, 0, 0, 123456, tzinfo=UTC)
    assert incident.detected_at == NOW and incident.acknowledged_at is None
    assert incident.details["alert"]["alert_key"] == first.alert.key

    (again,) = _intake(store, _notification(_alert(service="payments")), NOW + timedelta(minutes=5))
    assert (again.action, again.incident_id, again.count) == ("attached", first.incident_id, 2)
    assert [i.id for i in store.incidents()] == [first.incident_id]
    kinds = [(e.kind, e.actor, e.data.get("count")) for e in store.timeline(first.incident_id)]
    assert kinds == [
        ("opened", "alert:PaymentProcessorDown", None),
        ("escalation", "irdrive", None),  # a P1 engages the team lead at once
        ("alert", "alert:PaymentProcessorDown", 2),
    ]
    entry = store.timeline(first.incident_id)[-1]
    assert entry.data["received_by"] == "alice" and "firing again" in entry.summary
    assert store.verify(first.incident_id).ok


def test_a_different_target_opens_a_second_incident(store: IncidentStore) -> None:
    (one,) = _intake(store, _alert("PodsCrashLooping", deployment="payment-service"))
    (two,) = _intake(store, _alert("PodsCrashLooping", deployment="web"))
    (three,) = _intake(store, _alert("PodsCrashLooping", deployment="payment-service"))
    assert one.action == two.action == "opened" and one.incident_id != two.incident_id
    assert three.action == "attached" and three.incident_id == one.incident_id
    assert len(store.incidents()) == 2


def test_a_rising_severity_attaches_and_says_so(store: IncidentStore) -> None:
    (first,) = _intake(store, _alert(severity="P2"))
    (again,) = _intake(store, _alert(severity="P1"))
    assert again.action == "attached" and again.note == "the alert is P1, the incident P2"
    assert store.get(first.incident_id).severity == "P2"  # a person decides


def test_a_grouped_notification_opens_one_incident_per_key(store: IncidentStore) -> None:
    payload = _notification(
        _alert("VideoStorageFull", host="streaming"),
        _alert("VideoStorageFull", host="web"),
        _alert("VideoStorageFull", host="streaming"),
    )
    outcomes = _intake(store, payload)
    assert [o.action for o in outcomes] == ["opened", "opened", "attached"]
    assert outcomes[2].incident_id == outcomes[0].incident_id and outcomes[2].count == 2
    assert len({o.incident_id for o in outcomes}) == 2
    assert len(store.incidents()) == 2


def test_a_resolved_alert_is_noted_and_the_incident_stays_open(store: IncidentStore) -> None:
    (opened,) = _intake(store, _alert())
    (resolved,) = _intake(store, _alert(status="resolved"), NOW + timedelta(minutes=20))
    assert resolved.action == "resolved" and resolved.incident_id == opened.incident_id
    incident = store.get(opened.incident_id)
    assert incident.status == "INVESTIGATING" and incident.resolved_at is None
    last = store.timeline(opened.incident_id)[-1]
    assert last.kind == "alert" and last.data["status"] == "resolved"
    assert "resolved at 2026-12-02 08:20:00 UTC" in last.summary
    assert store.verify(opened.incident_id).ok


def test_a_resolved_alert_without_an_open_incident_changes_nothing(store: IncidentStore) -> None:
    (out,) = _intake(store, _alert(status="resolved"))
    assert (out.action, out.incident_id) == ("ignored", None)
    assert store.incidents() == []


def test_an_alert_after_its_incident_was_resolved_opens_a_new_one(store: IncidentStore) -> None:
    (first,) = _intake(store, _alert())
    store.set_status(first.incident_id, "RESOLVED", actor="alice", now=NOW + timedelta(minutes=1))
    (second,) = _intake(store, _alert(), NOW + timedelta(minutes=2))
    assert second.action == "opened" and second.incident_id != first.incident_id


def test_people_named_open_incidents_only(store: IncidentStore) -> None:
    (first,) = alerts.intake(
        store, alerts.parse(_alert()), actor="alice", commander="carol", scribe="dan", now=NOW
    )
    incident = store.get(first.incident_id)
    assert (incident.commander, incident.scribe, incident.acknowledged_at) == ("carol", "dan", NOW)
    alerts.intake(store, alerts.parse(_alert()), actor="bob", commander="erin", now=NOW)
    assert store.get(first.incident_id).commander == "carol"


def _record_in_process(url: str, payload: dict[str, Any], barrier: Any) -> None:
    barrier.wait()
    alerts.record(alerts.parse(payload), actor="rulebook", url=url)


def test_copies_arriving_together_open_one_incident_even_in_a_new_store(tmp_path: Path) -> None:
    """The rulebook runs actions in parallel: the store's per-key lock (open_or_attach) and,
    the first time, its migration lock keep a storm to one incident."""
    url = f"sqlite:///{tmp_path / 'new' / 'history.db'}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [
        ctx.Process(target=_record_in_process, args=(url, copy.deepcopy(_alert()), barrier))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    with open_incidents(url) as opened:
        (incident,) = opened.incidents()
        counts = [
            e.data.get("count") for e in opened.timeline(incident.id) if e.kind != "escalation"
        ]
    assert counts == [None, 2, 3, 4]
