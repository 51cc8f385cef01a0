# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A platform diagnosis: rollout history, log errors, usage against limits, findings.

``DiagnoseClient`` adds the reads a diagnosis needs (metrics.k8s.io, log text) to K8sClient;
everything else is pure logic on the JSON dicts the API returns, with no I/O.
A finding is ``{id, severity, target, summary, runbook, evidence}``; ``runbook`` names the
irdrive runbook that remedies it, or is empty when none does.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient, ns_path
from ansible_collections.irdrive.ops.plugins.module_utils.workload import (
    REVISION_ANNOTATION,
    matches_selector,
)

CHANGE_CAUSE = "kubernetes.io/change-cause"
SEVERITIES = ("critical", "high", "warning", "info")
CRASH_REASONS = frozenset(
    {"CrashLoopBackOff", "Error", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"}
)
_CPU = re.compile(r"^([0-9.]+)(n|u|m)?$")
_MEM_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_MEM = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")


def cpu_cores(quantity: Any) -> float | None:
    """Kubernetes CPU quantity (``250m``, ``1``, ``59780335n``) in cores; None when absent."""
    if quantity is None or quantity == "":
        return None
    match = _CPU.match(str(quantity).strip())
    if not match:
        raise ValueError(f"not a CPU quantity: {quantity!r}")
    scale = {"n": 1e-9, "u": 1e-6, "m": 1e-3, None: 1.0}[match.group(2)]
    return float(match.group(1)) * scale


def mem_bytes(quantity: Any) -> float | None:
    """Kubernetes memory quantity (``512Mi``, ``1Gi``, ``292040Ki``) in bytes; None when absent."""
    if quantity is None or quantity == "":
        return None
    match = _MEM.match(str(quantity).strip())
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(match.group(1)) * _MEM_UNITS[match.group(2) or ""]


def _ratio(used: float | None, limit: float | None) -> float | None:
    if used is None or not limit:
        return None
    return round(used / limit, 4)


# ---- rollout history ------------------------------------------------------------------------
def owner_name(obj: dict[str, Any], kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return ref.get("name")
    return None


def rollout_history(
    deployments: list[dict[str, Any]], replicasets: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Per deployment, its revisions newest first: what ``kubectl rollout history`` shows."""
    history: dict[str, list[dict[str, Any]]] = {}
    names = {(d.get("metadata") or {}).get("name") for d in deployments}
    for rs in replicasets:
        deployment = owner_name(rs, "Deployment")
        if deployment not in names:
            continue
        meta = rs.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        try:
            revision = int(annotations.get(REVISION_ANNOTATION, 0))
        except ValueError:
            revision = 0
        history.setdefault(str(deployment), []).append(
            {
                "revision": revision,
                "change_cause": annotations.get(CHANGE_CAUSE, ""),
                "images": [c.get("image") for c in containers],
                "replicaset": meta.get("name"),
                "pod_template_hash": (meta.get("labels") or {}).get("pod-template-hash"),
                "replicas": int((rs.get("spec") or {}).get("replicas") or 0),
                "ready": int((rs.get("status") or {}).get("readyReplicas") or 0),
                "created": meta.get("creationTimestamp"),
            }
        )
    for revisions in history.values():
        revisions.sort(key=lambda r: r["revision"], reverse=True)
    return history


# ---- logs -------------------------------------------------------------------------------
def count_errors(text: str, pattern: re.Pattern[str]) -> tuple[int, int]:
    """(lines matching ``pattern``, lines) of a log text."""
    lines = [line for line in text.splitlines() if line.strip()]
    return sum(1 for line in lines if pattern.search(line)), len(lines)


def app_of(pod: dict[str, Any]) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return str(
        labels.get("app") or labels.get("k8s-app") or (pod.get("metadata") or {}).get("name")
    )


# ---- resource usage ---------------------------------------------------------------------
def pod_usage(
    pods: list[dict[str, Any]], pod_metrics: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each measured pod's CPU and memory use, and its share of the containers' limits."""
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    usage = []
    for item in pod_metrics:
        name = (item.get("metadata") or {}).get("name")
        pod = by_name.get(name)
        if pod is None:
            continue
        specs = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
        cpu = mem = 0.0
        cpu_limit: float | None = 0.0
        mem_limit: float | None = 0.0
        for container in item.get("containers") or []:
            cpu += cpu_cores((container.get("usage") or {}).get("cpu")) or 0.0
            mem += mem_bytes((container.get("usage") or {}).get("memory")) or 0.0
            limits = ((specs.get(container.get("name")) or {}).get("resources") or {}).get(
                "limits"
            ) or {}
            c_lim, m_lim = cpu_cores(limits.get("cpu")), mem_bytes(limits.get("memory"))
            cpu_limit = None if c_lim is None or cpu_limit is None else cpu_limit + c_lim
            mem_limit = None if m_lim is None or mem_limit is None else mem_limit + m_lim
        usage.append(
            {
                "pod": name,
                "app": app_of(pod),
                "cpu_cores": round(cpu, 4),
                "memory_bytes": int(mem),
                "cpu_limit_ratio": _ratio(cpu, cpu_limit),
                "memory_limit_ratio": _ratio(mem, mem_limit),
            }
        )
    return usage


def node_usage(
    nodes: list[dict[str, Any]], node_metrics: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each node's CPU and memory use and its share of what the node can allocate."""
    allocatable = {
        (n.get("metadata") or {}).get("name"): (n.get("status") or {}).get("allocatable") or {}
        for n in nodes
    }
    usage = []
    for item in node_metrics:
        name = (item.get("metadata") or {}).get("name")
        cpu = cpu_cores((item.get("usage") or {}).get("cpu")) or 0.0
        mem = mem_bytes((item.get("usage") or {}).get("memory")) or 0.0
        alloc = allocatable.get(name) or {}
        usage.append(
            {
                "node": name,
                "cpu_cores": round(cpu, 4),
                "memory_bytes": int(mem),
                "cpu_ratio": _ratio(cpu, cpu_cores(alloc.get("cpu"))),
                "memory_ratio": _ratio(mem, mem_bytes(alloc.get("memory"))),
            }
        )
    return usage


# ---- findings ---------------------------------------------------------------------------
def finding(
    ident: str,
    severity: str,
    target: str,
    summary: str,
    runbook: str = "",
    **evidence: Any,
) -> dict[str, Any]:
    return {
        "id": ident,
        "severity": severity,
        "target": target,
        "summary": summary,
        "runbook": runbook,
        "evidence": evidence,
    }


def deployment_findings(
    deployments: list[dict[str, Any]],
    history: dict[str, list[dict[str, Any]]],
    unhealthy_pods: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    namespace: str,
) -> list[dict[str, Any]]:
    """A bad deploy (the newest revision's pods crash and an older revision exists) or pods down."""
    found = []
    troubled = {p["name"]: p for p in unhealthy_pods}
    for deployment in deployments:
        name = (deployment.get("metadata") or {}).get("name")
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels")
        owned = [
            p for p in pods if matches_selector((p.get("metadata") or {}).get("labels"), selector)
        ]
        bad = [
            troubled[n]
            for n in ((p.get("metadata") or {}).get("name") for p in owned)
            if n in troubled
        ]
        if not bad:
            continue
        revisions = history.get(str(name)) or []
        newest = revisions[0] if revisions else None
        hashes = {
            (p.get("metadata") or {}).get("name"): (
                (p.get("metadata") or {}).get("labels") or {}
            ).get("pod-template-hash")
            for p in owned
        }
        crashing_new = [
            p
            for p in bad
            if newest
            and hashes.get(p["name"]) == newest["pod_template_hash"]
            and set(p.get("reasons") or [p.get("reason")]) & CRASH_REASONS
        ]
        reasons = sorted({str(p.get("reason")) for p in bad})
        target = f"deployment/{namespace}/{name}"
        if crashing_new and len(revisions) > 1:
            previous = revisions[1]
            found.append(
                finding(
                    "bad-deploy",
                    "critical",
                    target,
                    f"{name} revision {newest['revision']} ({', '.join(newest['images'])}): "
                    f"{len(crashing_new)} pod(s) {', '.join(reasons)}; revision "
                    f"{previous['revision']} ({', '.join(previous['images'])}) is the one to "
                    "roll back to",
                    "rollback",
                    revision=newest["revision"],
                    change_cause=newest["change_cause"],
                    previous_revision=previous["revision"],
                    pods=[p["name"] for p in crashing_new],
                )
            )
        else:
            found.append(
                finding(
                    "pods-not-ready",
                    "high",
                    target,
                    f"{name}: {len(bad)} pod(s) not Running and Ready ({', '.join(reasons)})",
                    "",
                    pods=[p["name"] for p in bad],
                )
            )
    return found


def pressure_findings(
    pods: list[dict[str, Any]], nodes: list[dict[str, Any]], threshold: float, namespace: str
) -> list[dict[str, Any]]:
    """Apps whose pods run at or above ``threshold`` of their limits; nodes above it."""
    found = []
    by_app: dict[str, list[dict[str, Any]]] = {}
    for usage in pods:
        ratios = [usage["cpu_limit_ratio"], usage["memory_limit_ratio"]]
        if any(r is not None and r >= threshold for r in ratios):
            by_app.setdefault(usage["app"], []).append(usage)
    for app, hot in sorted(by_app.items()):
        worst_cpu = max((u["cpu_limit_ratio"] or 0.0) for u in hot)
        worst_mem = max((u["memory_limit_ratio"] or 0.0) for u in hot)
        found.append(
            finding(
                "resource-pressure",
                "high",
                f"deployment/{namespace}/{app}",
                f"{app}: {len(hot)} pod(s) at or above {threshold:.0%} of their limits "
                f"(CPU up to {worst_cpu:.0%}, memory up to {worst_mem:.0%})",
                "scale",
                pods=[u["pod"] for u in hot],
            )
        )
    for usage in nodes:
        ratios = [usage["cpu_ratio"], usage["memory_ratio"]]
        if any(r is not None and r >= threshold for r in ratios):
            found.append(
                finding(
                    "node-pressure",
                    "high",
                    f"node/{usage['node']}",
                    f"node {usage['node']}: CPU {usage['cpu_ratio'] or 0:.0%}, memory "
                    f"{usage['memory_ratio'] or 0:.0%} of allocatable",
                    "scale",
                )
            )
    return found


def error_findings(
    errors: dict[str, dict[str, Any]], min_count: int, min_ratio: float, namespace: str
) -> list[dict[str, Any]]:
    """Apps whose logs in the window hold at least ``min_count`` errors and ``min_ratio`` of lines."""
    found = []
    for app, counts in sorted(errors.items()):
        if counts["errors"] >= min_count and counts["ratio"] >= min_ratio:
            found.append(
                finding(
                    "error-rate",
                    "warning",
                    f"deployment/{namespace}/{app}",
                    f"{app}: {counts['errors']} of {counts['lines']} log lines are errors "
                    f"({counts['ratio']:.0%}) in the last {counts['window_seconds']}s",
                    "",
                    errors=counts["errors"],
                    lines=counts["lines"],
                )
            )
    return found


def http_findings(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per failed dependency check, with the runbook its definition names."""
    return [
        finding(
            str(check.get("id") or "dependency-down"),
            str(check.get("severity") or "critical"),
            str(check["url"]),
            f"{check['name']}: {check['reason']}",
            str(check.get("runbook") or ""),
            status=check.get("status"),
        )
        for check in checks
        if not check["healthy"]
    ]


def sort_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order.get(f["severity"], len(order)), f["id"]))


METRICS = "/apis/metrics.k8s.io/v1beta1"


class DiagnoseClient(K8sClient):
    """The extra reads a diagnosis needs (metrics, log text), through the same retried calls."""

    def pod_metrics(self, namespace: str) -> list[dict[str, Any]]:
        return self._items(
            f"read metrics.k8s.io pods in {namespace}", ns_path(METRICS, namespace, "pods")
        )

    def node_metrics(self) -> list[dict[str, Any]]:
        return self._items("read metrics.k8s.io nodes", f"{METRICS}/nodes")

    def pod_log(self, namespace: str, pod: str, container: str, since: int, tail: int) -> str:
        data = self.read_pod_log(namespace, pod, container, since_seconds=since, tail_lines=tail)
        return data.decode("utf-8", errors="replace")
