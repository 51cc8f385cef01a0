"""The platform's workloads as the lab's Kubernetes store holds them: pods, their readiness and
the environment they started with, configmaps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from irdrive_lab.kube.errors import NotFound
from irdrive_lab.platform.util import dig

NAMESPACE = "platform"
ENV_ANNOTATION = "lab.irdrive.io/env"


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Running, not being deleted, and its Ready condition is True."""
    if dig(pod, "metadata", "deletionTimestamp") or dig(pod, "status", "phase") != "Running":
        return False
    conditions = dig(pod, "status", "conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def deployment_pods(store: Any, name: str) -> list[dict[str, Any]] | None:
    """The pods matched by the deployment's selector, or None when it does not exist."""
    try:
        dep = store.get("deployments.apps", NAMESPACE, name)
    except NotFound:
        return None
    labels = dig(dep, "spec", "selector", "matchLabels") or {"app": name}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    items, _ = store.list("pods", NAMESPACE, label_selector=selector)
    return list(items)


def deployment_check(store: Any, name: str) -> dict[str, Any]:
    """One health check: ok while the deployment has at least one ready pod."""
    pods = deployment_pods(store, name)
    if pods is None:
        return {"ok": False, "detail": f"deployment {name} not found"}
    ready = sum(1 for p in pods if pod_is_ready(p))
    detail = f"{ready}/{len(pods)} pods ready"
    return {"ok": ready > 0, "ready": ready, "pods": len(pods), "detail": detail}


def pod_env(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = (dig(pod, "metadata", "annotations") or {}).get(ENV_ANNOTATION)
    if not raw:
        return None
    try:
        env = json.loads(raw)
    except ValueError:
        return None
    return env if isinstance(env, dict) else None


def configmap_data(store: Any, name: str) -> dict[str, str] | None:
    try:
        return dict(store.get("configmaps", NAMESPACE, name).get("data") or {})
    except NotFound:
        return None
