"""The platform's health endpoints: ``/health`` (frontend, backend, database), ``/payments/health``
and ``/processors/<name>/health``; and the payment processors' own API health,
``/processors/<name>/api/health`` (what ``https://api.<processor>.com/health`` is in production),
which answers only a caller that sends the processor's API key as a bearer token.

Payments health follows the environment the *running* payment-service pods started with, so a
changed configmap counts only after a rollout, as on a cluster.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Mapping
from typing import Any

from irdrive_lab.control.state import LabState
from irdrive_lab.platform.cluster import (
    configmap_data,
    deployment_check,
    deployment_pods,
    pod_env,
    pod_is_ready,
)
from irdrive_lab.platform.dbcheck import DbCheck
from irdrive_lab.platform.util import dig
from irdrive_lab.platform.web import Response, error, json_response

PROCESSORS = ("ccbill", "segpay")


def platform_health(store: Any, db_check: DbCheck) -> Response:
    checks = {name: deployment_check(store, name) for name in ("frontend", "backend")}
    try:
        ok, detail = db_check()
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed check
        ok, detail = False, str(exc)
    checks["database"] = {"ok": ok, "detail": detail}
    healthy = all(c["ok"] for c in checks.values())
    return json_response(
        200 if healthy else 503, {"status": "ok" if healthy else "down", "checks": checks}
    )


def payments_health(store: Any, state: LabState) -> Response:
    switch = (configmap_data(store, "kill-switches") or {}).get("payments")
    ready = [p for p in deployment_pods(store, "payment-service") or [] if pod_is_ready(p)]
    counts: Counter[str] = Counter()
    newest: dict[str, str] = {}
    for pod in ready:
        processor = (pod_env(pod) or {}).get("PRIMARY_PROCESSOR")
        if processor:
            counts[processor] += 1
            created = str(dig(pod, "metadata", "creationTimestamp") or "")
            newest[processor] = max(newest.get(processor, ""), created)
    if counts:
        processor = max(counts, key=lambda p: (counts[p], newest[p]))
        source = "pods"
    else:
        config = configmap_data(store, "payment-config") or {}
        processor, source = config.get("PRIMARY_PROCESSOR"), "payment-config"
    body: dict[str, Any] = {
        "processor": processor,
        "processor_source": source,
        "pods_ready": len(ready),
        "kill_switch": switch,
    }
    if len(counts) > 1:
        body["processors"] = dict(sorted(counts.items()))
    with state.lock:
        down = set(state.processors_down)
    if switch == "disabled":
        return json_response(
            503,
            {**body, "status": "disabled", "error": "payments are disabled by the kill switch"},
        )
    if switch != "enabled":
        return json_response(
            503, {**body, "status": "down", "error": f"kill switch payments is {switch!r}"}
        )
    if not ready:
        return json_response(
            503, {**body, "status": "down", "error": "no ready payment-service pods"}
        )
    if not processor:
        return json_response(
            503, {**body, "status": "down", "error": "no PRIMARY_PROCESSOR configured"}
        )
    if processor in down or processor not in PROCESSORS:
        return json_response(
            503, {**body, "status": "degraded", "error": f"processor {processor} unreachable"}
        )
    return json_response(200, {**body, "status": "ok"})


def processor_health(state: LabState, name: str) -> Response:
    if name not in PROCESSORS:
        return error(404, f"unknown processor {name!r}; known: {', '.join(PROCESSORS)}")
    with state.lock:
        down = name in state.processors_down
    if down:
        return json_response(
            503, {"status": "down", "processor": name, "error": f"processor {name} unreachable"}
        )
    return json_response(200, {"status": "ok", "processor": name})


def processor_api_health(
    state: LabState, name: str, authorization: str | None, keys: Mapping[str, str]
) -> Response:
    """A processor's API health: 503 while it is down, 401 without its key or with another."""
    if name not in PROCESSORS:
        return error(404, f"unknown processor {name!r}; known: {', '.join(PROCESSORS)}")
    with state.lock:
        down = name in state.processors_down
    if down:
        return json_response(
            503, {"status": "down", "processor": name, "error": f"processor {name} unreachable"}
        )
    scheme, _, key = (authorization or "").partition(" ")
    wanted = keys.get(name, "")
    if not (
        wanted
        and scheme.lower() == "bearer"
        and hmac.compare_digest(key.strip().encode(), wanted.encode())
    ):
        resp = error(401, f"processor {name}: missing or wrong API key")
        resp.headers["WWW-Authenticate"] = f'Bearer realm="{name}"'
        return resp
    return json_response(200, {"status": "ok", "processor": name, "authenticated": True})
