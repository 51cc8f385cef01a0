"""The ReplicaSet controller (with a toy scheduler): keep ``spec.replicas`` pods alive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from irdrive_lab.kube.errors import ApiError
from irdrive_lab.kube.sim.events import EventRecorder
from irdrive_lab.kube.sim.pods import NODES, build_pod
from irdrive_lab.kube.sim.util import controller_uid, get_condition, parse_time, pod_is_ready


@dataclass
class Scheduler:
    """Spreads pods over the lab's nodes and hands out pod IPs from each node's range."""

    pods: list[dict[str, Any]]
    nodes: tuple[str, ...] = NODES
    counts: dict[str, int] = field(default_factory=dict)
    used_ips: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.counts = {n: 0 for n in self.nodes}
        for pod in self.pods:
            node = pod.get("spec", {}).get("nodeName")
            if node in self.counts:
                self.counts[node] += 1
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                self.used_ips.add(ip)

    def place(self) -> tuple[str, str]:
        node = min(self.nodes, key=lambda n: (self.counts[n], n))
        self.counts[node] += 1
        index = self.nodes.index(node) + 1
        for host in range(2, 255):
            ip = f"10.244.{index}.{host}"
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return node, ip
        return node, f"10.244.{index}.254"


def is_active(pod: dict[str, Any]) -> bool:
    """controller.IsPodActive: not terminating and not finished."""
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def is_available(pod: dict[str, Any], min_ready_seconds: int, now: float) -> bool:
    if not pod_is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    cond = get_condition(pod.get("status") or {}, "Ready") or {}
    since = parse_time(cond.get("lastTransitionTime")) or now
    return since + min_ready_seconds <= now


def _deletion_rank(pod: dict[str, Any]) -> tuple[Any, ...]:
    """Which pods go first on scale down (ActivePodsWithRanks, simplified): lower first."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", ""), 0)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
    return (
        1 if pod.get("spec", {}).get("nodeName") else 0,
        phase_rank,
        1 if pod_is_ready(pod) else 0,
        -restarts,
        -created,
    )


class ReplicaSetController:
    def __init__(
        self,
        store: Any,
        events: EventRecorder,
        on_created: Callable[[dict[str, Any], float], None] | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.on_created = on_created

    def sync(
        self,
        rs: dict[str, Any],
        pods: list[dict[str, Any]],
        scheduler: Scheduler,
        now: float,
    ) -> list[dict[str, Any]]:
        """Create or delete pods of one ReplicaSet, then write its status. Returns its pods."""
        active = [p for p in pods if is_active(p)]
        want = int(rs["spec"].get("replicas", 1))
        diff = len(active) - want
        if diff < 0:
            for _ in range(-diff):
                node, ip = scheduler.place()
                pod = build_pod(rs, node, ip, now, self.store)
                try:
                    created = self.store.create("pods", pod)
                except ApiError as exc:
                    self.events.record(
                        rs,
                        "Warning",
                        "FailedCreate",
                        f"Error creating: {exc}",
                        "replicaset-controller",
                    )
                    continue
                active.append(created)
                if self.on_created is not None:
                    self.on_created(created, now)
                self.events.record(
                    rs,
                    "Normal",
                    "SuccessfulCreate",
                    f"Created pod: {created['metadata']['name']}",
                    "replicaset-controller",
                )
                self.events.record(
                    created,
                    "Normal",
                    "Scheduled",
                    f"Successfully assigned {created['metadata']['namespace']}/"
                    f"{created['metadata']['name']} to {node}",
                    "default-scheduler",
                )
        elif diff > 0:
            for pod in sorted(active, key=_deletion_rank)[:diff]:
                try:
                    self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
                except ApiError:
                    continue
                active.remove(pod)
                self.events.record(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    "replicaset-controller",
                )
        self.write_status(rs, active, now)
        return active

    def write_status(self, rs: dict[str, Any], active: list[dict[str, Any]], now: float) -> None:
        template_labels = (rs["spec"]["template"].get("metadata") or {}).get("labels") or {}
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        status = dict(rs.get("status") or {})
        status.update(
            replicas=len(active),
            fullyLabeledReplicas=sum(
                1
                for p in active
                if all(
                    p["metadata"].get("labels", {}).get(k) == v for k, v in template_labels.items()
                )
            ),
            readyReplicas=sum(1 for p in active if pod_is_ready(p)),
            availableReplicas=sum(1 for p in active if is_available(p, min_ready, now)),
            observedGeneration=rs["metadata"].get("generation", 1),
        )
        # Counts other than replicas are omitempty in the API types.
        status = {k: v for k, v in status.items() if k == "replicas" or v != 0}
        if status != rs.get("status"):
            rs["status"] = status
            self.store.update_status("replicasets.apps", rs)


def pods_by_owner(pods: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        uid = controller_uid(pod)
        if uid:
            out.setdefault(uid, []).append(pod)
    return out
