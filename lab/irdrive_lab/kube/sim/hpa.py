"""A HorizontalPodAutoscaler (autoscaling/v2) controller for Deployment targets.

It follows the real algorithm in small: desired = ceil(ready pods * current / target) per
Resource metric, outside a 10% tolerance; the largest proposal wins; scale-up is limited to
max(2x, +4) per evaluation; scale-down waits out the stabilization window (behavior, default
300 s); the result is clamped to [minReplicas, maxReplicas].
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from irdrive_lab.kube.errors import ApiError
from irdrive_lab.kube.sim.events import EventRecorder
from irdrive_lab.kube.sim.metrics import _resources, container_usage
from irdrive_lab.kube.sim.util import parse_quantity, pod_is_ready, rfc3339

TOLERANCE = 0.1
COMPONENT = "horizontal-pod-autoscaler"


def _cond(ctype: str, status: str, reason: str, message: str, stamp: str) -> dict[str, Any]:
    return {
        "type": ctype,
        "status": status,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def _merge_conditions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep lastTransitionTime where a condition's status did not change."""
    previous = {c["type"]: c for c in old}
    for cond in new:
        prev = previous.get(cond["type"])
        if prev and prev.get("status") == cond["status"]:
            cond["lastTransitionTime"] = prev.get("lastTransitionTime", cond["lastTransitionTime"])
    return new


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


class HPAController:
    def __init__(self, store: Any, events: EventRecorder) -> None:
        self.store = store
        self.events = events
        self._recommendations: dict[str, deque[tuple[float, int]]] = {}

    def sync(
        self, hpa: dict[str, Any], pods: list[dict[str, Any]], now: float, pressure: bool
    ) -> None:
        spec, meta = hpa.get("spec") or {}, hpa["metadata"]
        stamp = rfc3339(now)
        ref = spec.get("scaleTargetRef") or {}
        status: dict[str, Any] = dict(hpa.get("status") or {})
        status["observedGeneration"] = meta.get("generation", 1)
        try:
            if ref.get("kind") != "Deployment":
                raise ApiError(f'no matches for kind "{ref.get("kind")}"')
            target = self.store.get("deployments.apps", meta["namespace"], ref.get("name", ""))
        except ApiError as exc:
            status["conditions"] = _merge_conditions(
                status.get("conditions") or [],
                [
                    _cond(
                        "AbleToScale",
                        "False",
                        "FailedGetScale",
                        f"the HPA controller was unable to get the target's current scale: {exc}",
                        stamp,
                    )
                ],
            )
            self._write(hpa, status)
            return
        current = int(target["spec"].get("replicas", 1))
        lo, hi = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        selector = target["spec"].get("selector") or {}
        ready = [
            p
            for p in pods
            if p["metadata"].get("namespace") == meta["namespace"]
            and _matches(selector, p["metadata"].get("labels") or {})
            and pod_is_ready(p)
        ]
        proposal, metrics, metric_name = self._propose(spec, ready, current, now, pressure)
        conditions = [
            _cond(
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                stamp,
            )
        ]
        if current == 0 and lo > 0:
            desired = 0
            conditions.append(
                _cond(
                    "ScalingActive",
                    "False",
                    "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero",
                    stamp,
                )
            )
        else:
            conditions.append(
                _cond(
                    "ScalingActive",
                    "True",
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count "
                    f"from {metric_name}",
                    stamp,
                )
            )
            desired, limited = self._normalize(meta, spec, current, proposal, lo, hi, now)
            conditions.append(limited(stamp))
        if desired != current and desired > 0:
            target["spec"]["replicas"] = desired
            self.store.update("deployments.apps", target, check_rv=False)
            direction = "above" if desired > current else "below"
            self.events.record(
                hpa,
                "Normal",
                "SuccessfulRescale",
                f"New size: {desired}; reason: {metric_name} {direction} target",
                COMPONENT,
            )
            conditions[0] = _cond(
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
                stamp,
            )
            status["lastScaleTime"] = stamp
        status.update(currentReplicas=current, desiredReplicas=desired, currentMetrics=metrics)
        status["conditions"] = _merge_conditions(status.get("conditions") or [], conditions)
        self._write(hpa, status)

    def _propose(
        self,
        spec: dict[str, Any],
        ready: list[dict[str, Any]],
        current: int,
        now: float,
        pressure: bool,
    ) -> tuple[int, list[dict[str, Any]], str]:
        proposal = 0
        metrics: list[dict[str, Any]] = []
        name = "cpu resource utilization (percentage of request)"
        specs = spec.get("metrics") or [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
        for metric in specs:
            if metric.get("type") != "Resource":
                continue
            resource = metric["resource"].get("name", "cpu")
            target = metric["resource"].get("target") or {}
            usage = request = 0.0
            for pod in ready:
                for c in pod["spec"].get("containers") or []:
                    cpu_req, mem_req, _, _ = _resources(c)
                    cpu, mem = container_usage(pod, c, now, pressure)
                    usage += cpu if resource == "cpu" else mem
                    request += cpu_req if resource == "cpu" else mem_req
            count = max(len(ready), 1)
            if target.get("type", "Utilization") == "Utilization":
                utilization = round(100 * usage / request) if request else 0
                ratio = utilization / float(target.get("averageUtilization") or 80)
                current_metric = {
                    "averageUtilization": utilization,
                    "averageValue": _quantity(resource, usage / count),
                }
                name = f"{resource} resource utilization (percentage of request)"
            else:
                ratio = (usage / count) / parse_quantity(target.get("averageValue") or "1")
                current_metric = {"averageValue": _quantity(resource, usage / count)}
                name = f"{resource} resource"
            metrics.append(
                {"type": "Resource", "resource": {"name": resource, "current": current_metric}}
            )
            value = current if abs(ratio - 1.0) <= TOLERANCE else math.ceil(ratio * len(ready))
            proposal = max(proposal, value)
        return proposal or current, metrics, name

    def _normalize(
        self,
        meta: dict[str, Any],
        spec: dict[str, Any],
        current: int,
        proposal: int,
        lo: int,
        hi: int,
        now: float,
    ) -> tuple[int, Any]:
        key = f"{meta['namespace']}/{meta['name']}"
        window = ((spec.get("behavior") or {}).get("scaleDown") or {}).get(
            "stabilizationWindowSeconds", 300
        )
        recs = self._recommendations.setdefault(key, deque())
        recs.append((now, proposal))
        while recs and recs[0][0] < now - float(window):
            recs.popleft()
        desired = proposal
        if proposal < current:
            desired = min(current, max(r for _, r in recs))
        reason = ("False", "DesiredWithinRange", "the desired count is within the acceptable range")
        up_limit = max(2 * current, current + 4)
        if desired > up_limit:
            desired = up_limit
            reason = (
                "True",
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        if desired > hi:
            desired = hi
            reason = (
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        elif desired < lo:
            desired = lo
            reason = (
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        return desired, lambda stamp: _cond("ScalingLimited", *reason, stamp)

    def _write(self, hpa: dict[str, Any], status: dict[str, Any]) -> None:
        if status != hpa.get("status"):
            hpa["status"] = status
            self.store.update_status("horizontalpodautoscalers.autoscaling", hpa)


def _quantity(resource: str, value: float) -> str:
    if resource == "cpu":
        return f"{int(value * 1000)}m"
    return f"{int(value // 1024)}Ki"
