"""metrics.k8s.io numbers: per-container usage from requests and limits, nodes as their sums.

A container idles around a fifth to a half of its CPU request and three fifths of its memory
request, varying slowly and deterministically with time. Under the resource-pressure fault it
sits at its limits. Only running containers are measured, as metrics-server does.
"""

from __future__ import annotations

import math
from typing import Any

from irdrive_lab.kube.sim.util import cpu_nanos, mem_ki, parse_quantity, rfc3339, stable_fraction

WINDOW = "15s"
DEFAULT_CPU_REQUEST = 0.05  # cores, for containers without requests
DEFAULT_MEM_REQUEST = 64 * 2**20


def _resources(container: dict[str, Any]) -> tuple[float, float, float | None, float | None]:
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    cpu_lim = parse_quantity(lim["cpu"]) if "cpu" in lim else None
    mem_lim = parse_quantity(lim["memory"]) if "memory" in lim else None
    cpu_req = parse_quantity(req["cpu"]) if "cpu" in req else cpu_lim or DEFAULT_CPU_REQUEST
    mem_req = parse_quantity(req["memory"]) if "memory" in req else mem_lim or DEFAULT_MEM_REQUEST
    return cpu_req, mem_req, cpu_lim, mem_lim


def container_usage(
    pod: dict[str, Any], container: dict[str, Any], now: float, pressure: bool
) -> tuple[float, float]:
    """(cores, bytes) a container uses now."""
    cpu_req, mem_req, cpu_lim, mem_lim = _resources(container)
    if pressure:
        return (cpu_lim or cpu_req * 4), (mem_lim or mem_req * 2)
    key = (pod["metadata"]["name"], container["name"])
    phase = stable_fraction(*key) * 2 * math.pi
    window = int(now // 15)
    jitter = stable_fraction(*key, window) - 0.5
    cpu = cpu_req * (0.35 + 0.15 * math.sin(now / 90 + phase) + 0.05 * jitter)
    mem = mem_req * (0.6 + 0.05 * math.sin(now / 600 + phase) + 0.02 * jitter)
    return max(cpu, 0.001), mem


def _measured(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's running containers, or nothing for a pod metrics-server would skip."""
    if (pod.get("status") or {}).get("phase") != "Running":
        return []
    running = {
        s["name"]
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if (s.get("state") or {}).get("running")
    }
    return [c for c in pod["spec"].get("containers") or [] if c["name"] in running]


def pod_metrics(pods: list[dict[str, Any]], now: float, pressure: bool) -> list[dict[str, Any]]:
    items = []
    for pod in pods:
        containers = _measured(pod)
        if not containers:
            continue
        meta = pod["metadata"]
        usage = []
        for c in containers:
            cpu, mem = container_usage(pod, c, now, pressure)
            usage.append(
                {"name": c["name"], "usage": {"cpu": cpu_nanos(cpu), "memory": mem_ki(mem)}}
            )
        items.append(
            {
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "creationTimestamp": rfc3339(now),
                    "labels": dict(meta.get("labels") or {}),
                },
                "timestamp": rfc3339(now - 5),
                "window": WINDOW,
                "containers": usage,
            }
        )
    return items


def pod_totals(pod: dict[str, Any], now: float, pressure: bool) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in _measured(pod):
        c_cpu, c_mem = container_usage(pod, c, now, pressure)
        cpu += c_cpu
        mem += c_mem
    return cpu, mem


def node_metrics(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]], now: float, pressure: bool
) -> list[dict[str, Any]]:
    sums: dict[str, list[float]] = {n["metadata"]["name"]: [0.0, 0.0] for n in nodes}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if node in sums:
            cpu, mem = pod_totals(pod, now, pressure)
            sums[node][0] += cpu
            sums[node][1] += mem
    items = []
    for node in nodes:
        name = node["metadata"]["name"]
        cpu, mem = sums[name]
        items.append(
            {
                "metadata": {
                    "name": name,
                    "creationTimestamp": rfc3339(now),
                    "labels": dict(node["metadata"].get("labels") or {}),
                },
                "timestamp": rfc3339(now - 5),
                "window": "20.05s",
                "usage": {"cpu": cpu_nanos(cpu), "memory": mem_ki(mem)},
            }
        )
    return items
