# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Pure logic for workload health: summarise deployments and find pods in trouble.

Works on the JSON dicts the Kubernetes API returns; no client, no I/O.
"""

from __future__ import annotations

from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def _int(value: Any) -> int:
    return int(value or 0)


def summarize_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    """Desired vs updated/ready/available replicas, generation, revision, images, healthy."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = _int(spec.get("replicas", 1))
    generation = _int(metadata.get("generation"))
    observed = _int(status.get("observedGeneration"))
    summary = {
        "name": metadata.get("name"),
        "desired": desired,
        "replicas": _int(status.get("replicas")),
        "updated": _int(status.get("updatedReplicas")),
        "ready": _int(status.get("readyReplicas")),
        "available": _int(status.get("availableReplicas")),
        "unavailable": _int(status.get("unavailableReplicas")),
        "generation": generation,
        "observed_generation": observed,
        "revision": (metadata.get("annotations") or {}).get(REVISION_ANNOTATION),
        "images": [
            c.get("image")
            for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        ],
        "paused": bool(spec.get("paused")),
    }
    problems = []
    if observed < generation:
        problems.append(f"controller has not observed generation {generation} (at {observed})")
    for key in ("updated", "ready", "available"):
        if summary[key] < desired:
            problems.append(f"{key} {summary[key]}/{desired}")
    if summary["replicas"] > desired:
        problems.append(f"{summary['replicas']} replicas running, {desired} desired (rollout)")
    if summary["unavailable"]:
        problems.append(f"{summary['unavailable']} unavailable")
    summary["problems"] = problems
    summary["healthy"] = not problems
    return summary


def matches_selector(labels: dict[str, str] | None, match_labels: dict[str, str] | None) -> bool:
    """True when every matchLabels pair is among ``labels`` (an empty selector matches nothing)."""
    if not match_labels:
        return False
    labels = labels or {}
    return all(labels.get(key) == value for key, value in match_labels.items())


def pod_problem(pod: dict[str, Any]) -> dict[str, Any] | None:
    """A report for a pod that is not Running and Ready, or None when it is fine.

    Completed pods (phase Succeeded) and pods being deleted are not problems.
    """
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if metadata.get("deletionTimestamp") or phase == "Succeeded":
        return None
    container_statuses = status.get("containerStatuses") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    pod_ready = conditions.get("Ready") == "True"
    containers_ready = bool(container_statuses) and all(c.get("ready") for c in container_statuses)
    if phase == "Running" and pod_ready and containers_ready:
        return None
    reasons = []
    for container in container_statuses:
        state = container.get("state") or {}
        for kind in ("waiting", "terminated"):
            detail = state.get(kind)
            if detail and detail.get("reason"):
                reasons.append(detail["reason"])
        if not state.get("waiting") and not state.get("terminated") and not container.get("ready"):
            reasons.append("ContainerNotReady")
    if not reasons and status.get("reason"):
        reasons.append(status["reason"])
    if not reasons:
        reasons.append("NotReady" if phase == "Running" else phase)
    return {
        "name": metadata.get("name"),
        "phase": phase,
        "ready": pod_ready and containers_ready,
        "reason": reasons[0],
        "reasons": sorted(set(reasons)),
        "restarts": sum(_int(c.get("restartCount")) for c in container_statuses),
        "node": (pod.get("spec") or {}).get("nodeName"),
        "message": status.get("message") or _first_message(container_statuses),
    }


def _first_message(container_statuses: list[dict[str, Any]]) -> str | None:
    for container in container_statuses:
        for detail in (container.get("state") or {}).values():
            if isinstance(detail, dict) and detail.get("message"):
                return str(detail["message"])
    return None


def assess(deployments: list[dict[str, Any]], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """Summaries per deployment plus the troubled pods that belong to them."""
    summaries: dict[str, dict[str, Any]] = {}
    unhealthy_pods: list[dict[str, Any]] = []
    for deployment in deployments:
        summary = summarize_deployment(deployment)
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels")
        owned = [
            p for p in pods if matches_selector((p.get("metadata") or {}).get("labels"), selector)
        ]
        troubled = [problem for problem in map(pod_problem, owned) if problem]
        for problem in troubled:
            problem["deployment"] = summary["name"]
        summary["pods"] = len(owned)
        summary["unhealthy_pods"] = len(troubled)
        summaries[summary["name"]] = summary
        unhealthy_pods.extend(troubled)
    healthy = all(s["healthy"] for s in summaries.values()) and not unhealthy_pods
    return {"deployments": summaries, "unhealthy_pods": unhealthy_pods, "healthy": healthy}
