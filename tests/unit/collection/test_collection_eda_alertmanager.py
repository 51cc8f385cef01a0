"""The Alertmanager event source: v4 payloads -> one event per alert, and its HTTP endpoint."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest
from ansible_collections.irdrive.ops.extensions.eda.plugins.event_source import alertmanager

# Shaped like what the lab's Alertmanager 0.25 posts (webhook payload version 4).
FIRING: dict[str, Any] = {
    "receiver": "lab",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "PaymentProcessorDown",
                "fault": "processor-down",
                "lab": "lab-1",
                "runbook": "payments-failover",
                "severity": "P1",
            },
            "annotations": {"summary": "Payments fail because the processor in use is down"},
            "startsAt": "2026-12-02T08:00:01.5Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:18504/graph?g0.expr=x",
            "fingerprint": "8c1d6f1a2b3c4d5e",
        }
    ],
    "groupLabels": {"alertname": "PaymentProcessorDown", "fault": "processor-down"},
    "commonLabels": {"alertname": "PaymentProcessorDown", "severity": "P1"},
    "commonAnnotations": {},
    "externalURL": "http://127.0.0.1:18505",
    "version": "4",
    "groupKey": '{}:{alertname="PaymentProcessorDown", fault="processor-down"}',
    "truncatedAlerts": 0,
}


def resolved() -> dict[str, Any]:
    payload = copy.deepcopy(FIRING)
    payload["status"] = "resolved"
    payload["alerts"][0]["status"] = "resolved"
    payload["alerts"][0]["endsAt"] = "2026-12-02T08:00:20Z"
    return payload


def grouped() -> dict[str, Any]:
    """One VideoStorageFull group with two hosts' alerts."""
    payload = copy.deepcopy(FIRING)
    payload["groupLabels"] = {"alertname": "VideoStorageFull", "fault": "disk-full"}
    payload["alerts"] = [
        {
            **FIRING["alerts"][0],
            "labels": {
                "alertname": "VideoStorageFull",
                "host": host,
                "runbook": "streaming-outage",
                "severity": "P1",
            },
            "fingerprint": f"fp-{host}",
        }
        for host in ("streaming", "streaming-2")
    ]
    return payload


def test_firing_alert_is_one_event_with_its_group() -> None:
    (event,) = alertmanager.alert_events(FIRING)
    assert event["alert"]["status"] == "firing"
    assert event["alert"]["labels"]["runbook"] == "payments-failover"
    assert event["alert"]["labels"]["severity"] == "P1"
    assert event["alert"]["annotations"]["summary"].startswith("Payments fail")
    assert event["alert"]["startsAt"] == "2026-12-02T08:00:01.5Z"
    assert event["alert"]["fingerprint"] == "8c1d6f1a2b3c4d5e"
    assert event["group"]["groupKey"] == FIRING["groupKey"]
    assert event["group"]["receiver"] == "lab"
    # No label names a host: the target is the alert's name, and there is no host limit.
    assert event["target"] == "PaymentProcessorDown"
    assert "meta" not in event


def test_resolved_alert_keeps_its_status_and_end() -> None:
    (event,) = alertmanager.alert_events(resolved())
    assert event["alert"]["status"] == "resolved"
    assert event["group"]["status"] == "resolved"
    assert event["alert"]["endsAt"] == "2026-12-02T08:00:20Z"


def test_grouped_alerts_become_one_event_each_with_their_hosts() -> None:
    events = alertmanager.alert_events(grouped())
    assert [e["meta"]["hosts"] for e in events] == [["streaming"], ["streaming-2"]]
    assert [e["target"] for e in events] == ["streaming", "streaming-2"]
    assert [e["alert"]["fingerprint"] for e in events] == ["fp-streaming", "fp-streaming-2"]
    # Without meta_hosts, the hosts stay in target only (no run_playbook limit).
    unlimited = alertmanager.alert_events(grouped(), meta_hosts=False)
    assert [e.get("meta") for e in unlimited] == [None, None]
    assert [e["target"] for e in unlimited] == ["streaming", "streaming-2"]


@pytest.mark.parametrize(
    ("labels", "host_labels", "hosts"),
    [
        ({"alertname": "A", "instance": "web-2:9100"}, ["instance", "host"], ["web-2"]),
        ({"alertname": "A", "instance": "[::1]:9100", "host": "x"}, ["instance"], ["::1"]),
        ({"alertname": "A", "host": "db", "instance": "i:1"}, ["host", "instance"], ["db"]),
        ({"alertname": "A", "hosts": "web, web-2"}, ["hosts"], ["web", "web-2"]),
        ({"alertname": "A", "instance": "fe80::1"}, ["instance"], ["fe80::1"]),
        ({"alertname": "A"}, ["instance"], []),
    ],
)
def test_hosts_from_labels(
    labels: dict[str, str], host_labels: list[str], hosts: list[str]
) -> None:
    assert alertmanager.alert_hosts(labels, host_labels) == hosts


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.update(version="3"), "unsupported payload version '3'"),
        (lambda p: p.pop("version"), "unsupported payload version None"),
        (lambda p: p.update(alerts={"a": 1}), "alerts must be a list"),
        (lambda p: p["alerts"].append("x"), "alerts[2] must be an object"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts[0].status must be one of"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alerts[0].labels has no alertname"),
        (lambda p: p["alerts"][0].update(labels={"a": 1}), "alerts[0].labels must be a mapping"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts[0].startsAt must be a timestamp"),
        (lambda p: p.update(commonLabels=[]), "commonLabels must be a mapping"),
    ],
)
def test_malformed_payload_names_the_problem(mutate: Any, reason: str) -> None:
    payload = copy.deepcopy(FIRING)
    payload["alerts"].append(copy.deepcopy(FIRING["alerts"][0]))
    mutate(payload)
    with pytest.raises(alertmanager.PayloadError, match=reason.replace("[", r"\[")):
        alertmanager.alert_events(payload)


def test_a_list_body_is_refused() -> None:
    with pytest.raises(alertmanager.PayloadError, match="must be a JSON object"):
        alertmanager.alert_events([FIRING])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: bytes, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _exchange(port: int) -> tuple[list[tuple[int, dict[str, Any]]], list[Any]]:
    """Start the source, post a series of bodies over real HTTP, return answers and events."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.create_task(
        alertmanager.main(
            queue, {"host": "127.0.0.1", "port": port, "token": "s3cret", "meta_hosts": True}
        )
    )
    url = f"http://127.0.0.1:{port}/alerts"
    loop = asyncio.get_running_loop()
    for _ in range(200):
        await asyncio.sleep(0.01)
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
    bad = copy.deepcopy(grouped())
    bad["alerts"][1]["status"] = "unknown"  # the first alert is valid: still nothing is queued
    posts = [
        (json.dumps(FIRING).encode(), "s3cret"),
        (json.dumps(grouped()).encode(), "s3cret"),
        (json.dumps(bad).encode(), "s3cret"),
        (b"{not json", "s3cret"),
        (json.dumps(FIRING).encode(), None),
        (json.dumps(FIRING).encode(), "wrong"),
    ]
    answers = []
    for body, token in posts:
        answers.append(await loop.run_in_executor(None, _post, url, body, token))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return answers, events


def test_http_endpoint_queues_valid_alerts_and_refuses_the_rest() -> None:
    answers, events = asyncio.run(_exchange(_free_port()))
    codes = [code for code, _ in answers]
    assert codes == [202, 202, 400, 400, 401, 401]
    assert answers[0][1] == {"events": 1}
    assert answers[1][1] == {"events": 2}
    assert "alerts[1].status must be one of" in answers[2][1]["error"]
    assert "not JSON" in answers[3][1]["error"]
    assert [e["target"] for e in events] == ["PaymentProcessorDown", "streaming", "streaming-2"]
    assert events[1]["meta"] == {"hosts": ["streaming"]}


@pytest.mark.parametrize(
    ("header", "token", "ok"),
    [
        (None, None, True),
        (None, "t", False),
        ("Bearer t", "t", True),
        ("Bearer  t ", "t", True),
        ("Basic t", "t", False),
        ("Bearer tt", "t", False),
        ("Bearer t\u00e9", "t\u00e9", True),
        ("Bearer t\u00e9", "t", False),
    ],
)
def test_bearer_token(header: str | None, token: str | None, ok: bool) -> None:
    assert alertmanager._authorized(header, token) is ok


def test_port_is_required() -> None:
    with pytest.raises(ValueError, match="port argument is required"):
        asyncio.run(alertmanager.main(asyncio.Queue(), {}))
