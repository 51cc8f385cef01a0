"""An ansible-rulebook event source for Prometheus Alertmanager's webhook notifications.

Alertmanager posts one notification per alert group (webhook payload version 4); this source
puts one event per alert on the rulebook's queue, so a rule sees one alert at a time, with its
group's fields beside it and the hosts named by its labels in ``meta.hosts``.

``alert_events`` (payload -> events) is a pure function: everything else here is HTTP.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Receive Prometheus Alertmanager webhook notifications, one event per alert.
description:
  - Serves an HTTP endpoint for Alertmanager's C(webhook_configs) (payload version 4).
  - Every alert of a notification becomes one event
    C({"alert": {...}, "group": {...}, "target": "...", "meta": {"hosts": [...]}}):
    C(alert) holds the alert's C(status), C(labels), C(annotations), C(startsAt), C(endsAt),
    C(generatorURL) and C(fingerprint); C(group) holds the notification's C(status),
    C(receiver), C(groupKey), C(groupLabels), C(commonLabels), C(commonAnnotations),
    C(externalURL) and C(truncatedAlerts).
  - C(target) is the alert's hosts (from O(host_labels)) joined with commas, or its
    C(alertname) when no label names a host; rules throttle on it.
  - A notification that is not a version 4 payload gets HTTP 400 with the reason, and none of
    its alerts reaches the queue. A valid one gets HTTP 202.
options:
  host:
    description: Address to listen on.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    required: true
  token:
    description:
      - A bearer token every request must carry (C(Authorization: Bearer TOKEN)); Alertmanager
        sends it with C(http_config.authorization.credentials). Requests without it get 401.
    type: str
  host_labels:
    description:
      - Labels whose values name the hosts an alert is about, first present first. A value
        like C(host:port) (Prometheus' C(instance)) counts as C(host).
    type: list
    elements: str
    default: [instance, host]
  meta_hosts:
    description:
      - Put the hosts in C(meta.hosts). ansible-rulebook limits C(run_playbook) and
        C(run_job_template) to C(meta.hosts), so turn this off when the playbooks' plays target
        hosts that the alert labels do not name (the lab's runbooks run on C(localhost)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Alerts from Alertmanager
  hosts: all
  sources:
    - irdrive.ops.alertmanager:
        host: 0.0.0.0
        port: 9095
        host_labels: [instance]
  rules:
    - name: Say what fires
      condition: event.alert.status == "firing"
      action:
        debug:
          msg: "{{ event.alert.labels.alertname }} on {{ event.target }}"
"""

import asyncio
import hmac
import json
import logging
from typing import Any

SUPPORTED_VERSION = "4"
ALERT_STATUSES = ("firing", "resolved")
ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL")
GROUP_FIELDS = (
    "status",
    "receiver",
    "groupKey",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "truncatedAlerts",
)
DEFAULT_HOST_LABELS = ("instance", "host")
MAX_BODY = 4 * 1024 * 1024

logger = logging.getLogger(__name__)


class PayloadError(ValueError):
    """A notification that is not an Alertmanager webhook payload of version 4."""


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{where} must be a mapping of strings to strings")
    return dict(value)


def host_of(value: str) -> str:
    """``host:port`` -> ``host`` (also ``[::1]:9100`` -> ``::1``); anything else as it is."""
    if value.startswith("[") and "]" in value:
        return value[1 : value.index("]")]
    head, sep, port = value.rpartition(":")
    if sep and head and port.isdigit() and ":" not in head:
        return head
    return value


def alert_hosts(labels: dict[str, str], host_labels: Any = DEFAULT_HOST_LABELS) -> list[str]:
    """The hosts an alert's labels name: the first of ``host_labels`` present, as hosts."""
    for name in host_labels:
        value = labels.get(name)
        if value:
            return [host_of(part.strip()) for part in value.split(",") if part.strip()]
    return []


def _alert(raw: Any, index: int) -> dict[str, Any]:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} must be an object")
    status = raw.get("status")
    if status not in ALERT_STATUSES:
        raise PayloadError(f"{where}.status must be one of {', '.join(ALERT_STATUSES)}")
    labels = _string_map(raw.get("labels"), f"{where}.labels")
    if not labels.get("alertname"):
        raise PayloadError(f"{where}.labels has no alertname")
    alert = {key: raw.get(key) for key in ALERT_FIELDS}
    alert["labels"] = labels
    alert["annotations"] = _string_map(raw.get("annotations"), f"{where}.annotations")
    if not isinstance(raw.get("startsAt"), str):
        raise PayloadError(f"{where}.startsAt must be a timestamp string")
    fingerprint = raw.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise PayloadError(f"{where}.fingerprint must be a string")
    alert["fingerprint"] = fingerprint or ""
    return alert


def alert_events(
    payload: Any,
    host_labels: Any = DEFAULT_HOST_LABELS,
    meta_hosts: bool = True,
) -> list[dict[str, Any]]:
    """One rulebook event per alert of an Alertmanager notification (webhook payload v4).

    Raises PayloadError, naming the first problem, when ``payload`` is not such a
    notification; then no event is returned at all.
    """
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object (an Alertmanager notification)")
    version = payload.get("version")
    if version != SUPPORTED_VERSION:
        raise PayloadError(
            f"unsupported payload version {version!r}: Alertmanager's webhook sends version "
            f"{SUPPORTED_VERSION!r}"
        )
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts must be a list")
    alerts = [_alert(raw, i) for i, raw in enumerate(raw_alerts)]
    group = {key: payload.get(key) for key in GROUP_FIELDS}
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        group[key] = _string_map(payload.get(key), key)
    events = []
    for alert in alerts:
        hosts = alert_hosts(alert["labels"], host_labels)
        event: dict[str, Any] = {
            "alert": alert,
            "group": dict(group),
            "target": ",".join(hosts) or alert["labels"]["alertname"],
        }
        if meta_hosts and hosts:
            event["meta"] = {"hosts": hosts}
        events.append(event)
    return events


def _authorized(header: str | None, token: str | None) -> bool:
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme == "Bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    )


def _options(args: dict[str, Any]) -> dict[str, Any]:
    if "port" not in args:
        raise ValueError("irdrive.ops.alertmanager: the port argument is required")
    host_labels = args.get("host_labels", list(DEFAULT_HOST_LABELS))
    if isinstance(host_labels, str):
        host_labels = [host_labels]
    if not isinstance(host_labels, list) or not all(isinstance(n, str) for n in host_labels):
        raise ValueError("irdrive.ops.alertmanager: host_labels must be a list of label names")
    return {
        "host": args.get("host") or "127.0.0.1",
        "port": int(args["port"]),
        "token": args.get("token") or None,
        "host_labels": host_labels,
        "meta_hosts": bool(args.get("meta_hosts", True)),
    }


async def main(queue: asyncio.Queue[Any], args: dict[str, Any]) -> None:
    """Serve Alertmanager's webhook until cancelled; one event per alert onto ``queue``."""
    from aiohttp import web

    opts = _options(args)

    async def receive(request: web.Request) -> web.Response:
        if not _authorized(request.headers.get("Authorization"), opts["token"]):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        body = await request.read()
        try:
            payload = json.loads(body)
        except ValueError as exc:
            logger.warning("Alertmanager notification is not JSON: %s", exc)
            return web.json_response({"error": f"the body is not JSON: {exc}"}, status=400)
        try:
            events = alert_events(payload, opts["host_labels"], opts["meta_hosts"])
        except PayloadError as exc:
            logger.warning("Alertmanager notification refused: %s", exc)
            return web.json_response({"error": str(exc)}, status=400)
        for event in events:
            await queue.put(event)
        return web.json_response({"events": len(events)}, status=202)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/{path:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, opts["host"], opts["port"])
    await site.start()
    logger.info("Alertmanager source listening on %s:%s", opts["host"], opts["port"])
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":

    class _PrintQueue(asyncio.Queue):  # type: ignore[type-arg]
        async def put(self, item: Any) -> None:
            print(json.dumps(item, sort_keys=True))  # noqa: T201 - the point of this mode

    asyncio.run(main(_PrintQueue(), {"port": 9095}))
