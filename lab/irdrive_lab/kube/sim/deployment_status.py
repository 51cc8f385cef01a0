"""A Deployment's status and conditions, after kube-controller-manager's deploymentutil and
the status half of pkg/controller/deployment/sync.go: replica counts from the ReplicaSets,
the Available condition and the Progressing condition ``kubectl rollout status`` reads.
"""

from __future__ import annotations

import copy
from typing import Any

from irdrive_lab.kube.sim.util import (
    get_condition,
    parse_time,
    resolve_int_or_percent,
    rfc3339,
)


def replicas_of(obj: dict[str, Any]) -> int:
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: dict[str, Any], key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


def max_surge(d: dict[str, Any]) -> int:
    return _surge_unavailable(d)[0]


def max_unavailable(d: dict[str, Any]) -> int:
    return _surge_unavailable(d)[1]


def _surge_unavailable(d: dict[str, Any]) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts; Recreate has neither surge nor unavailability."""
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    replicas = replicas_of(d)
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    if replicas == 0:
        unavailable = 0
    return surge, min(unavailable, replicas)


def deployment_complete(d: dict[str, Any], status: dict[str, Any]) -> bool:
    want = replicas_of(d)
    return (
        int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
        and int(status.get("observedGeneration") or 0) >= d["metadata"].get("generation", 1)
    )


def _progressing(d: dict[str, Any], new: dict[str, Any]) -> bool:
    old = d.get("status") or {}

    def n(s: dict[str, Any], k: str) -> int:
        return int(s.get(k) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (
        n(new, "updatedReplicas") > n(old, "updatedReplicas")
        or new_old < old_old
        or n(new, "readyReplicas") > n(old, "readyReplicas")
        or n(new, "availableReplicas") > n(old, "availableReplicas")
    )


def condition(ctype: str, status: str, reason: str, message: str, now: float) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """deploymentutil.SetDeploymentCondition: no-op on same status+reason, else replace."""
    current = get_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current["reason"] == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current["lastTransitionTime"]
    others = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = others + [cond]


def _strip_zero(status: dict[str, Any]) -> dict[str, Any]:
    """Status ints are omitempty in the API types."""
    return {k: v for k, v in status.items() if not (isinstance(v, int) and v == 0)}


def has_deadline(d: dict[str, Any]) -> bool:
    return d["spec"].get("progressDeadlineSeconds") is not None


def paused_conditions(d: dict[str, Any], now: float) -> None:
    """The Progressing condition of a paused or resumed deployment (checkPausedConditions)."""
    if not has_deadline(d):
        return
    status = d.setdefault("status", {})
    cond = get_condition(status, "Progressing")
    if cond and cond.get("reason") == "ProgressDeadlineExceeded":
        return
    paused_cond = bool(cond and cond.get("reason") == "DeploymentPaused")
    if d["spec"].get("paused") and not paused_cond:
        set_condition(
            status,
            condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now),
        )
    elif not d["spec"].get("paused") and paused_cond:
        set_condition(
            status,
            condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now),
        )


def compute_status(
    d: dict[str, Any],
    new_rs: dict[str, Any] | None,
    old_rss: list[dict[str, Any]],
    now: float,
    rollout: bool,
) -> dict[str, Any]:
    """The deployment's status from its ReplicaSets (calculateStatus), with its conditions."""
    all_rss = old_rss + ([new_rs] if new_rs else [])
    spec_total = sum(replicas_of(rs) for rs in all_rss)
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    current = d.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(spec_total - available, 0),
        "conditions": copy.deepcopy(current.get("conditions") or []),
    }
    if current.get("collisionCount"):
        status["collisionCount"] = current["collisionCount"]
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(
            status,
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            ),
        )
    else:
        set_condition(
            status,
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            ),
        )
    if rollout and new_rs is not None:
        _rollout_condition(d, status, new_rs, now)
    status = _strip_zero(status)
    if not status.get("conditions"):
        status.pop("conditions", None)
    return status


def _rollout_condition(
    d: dict[str, Any], status: dict[str, Any], new_rs: dict[str, Any], now: float
) -> None:
    """syncRolloutStatus: the Progressing condition."""
    current = get_condition(status, "Progressing")
    is_complete = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current.get("reason") == "NewReplicaSetAvailable"
    )
    if not has_deadline(d) or is_complete:
        return
    name = new_rs["metadata"]["name"]
    if deployment_complete(d, status):
        set_condition(
            status,
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
                now,
            ),
        )
    elif _progressing(d, status):
        cond = condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{name}" is progressing.',
            now,
        )
        if current is not None and current.get("status") == "True":
            cond["lastTransitionTime"] = current["lastTransitionTime"]
        status["conditions"] = [
            c for c in status["conditions"] if c.get("type") != "Progressing"
        ] + [cond]
    elif _timed_out(d, current, now):
        set_condition(
            status,
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{name}" has timed out progressing.',
                now,
            ),
        )


def _timed_out(d: dict[str, Any], cond: dict[str, Any] | None, now: float) -> bool:
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime")) or now
    return since + int(d["spec"]["progressDeadlineSeconds"]) < now
