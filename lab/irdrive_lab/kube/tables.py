"""``meta.k8s.io/v1 Table`` answers, which kubectl asks for (``Accept: ...;as=Table``).

Columns follow kube-apiserver's printers for the types the lab serves; anything else gets the
generic Name/Age table. Priority-1 columns are the ones ``kubectl get -o wide`` adds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from irdrive_lab.kube.selectors import selector_string

Row = list[Any]
Column = tuple[str, str, int]  # name, type, priority


def human_duration(seconds: float) -> str:
    """kubectl's duration.HumanDuration (``5s``, ``3m20s``, ``2d4h``...)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years = hours // (24 * 365)
    if years < 8:
        return f"{years}y{(hours // 24) % 365}d"
    return f"{years}y"


def age(obj: dict[str, Any], field: str = "creationTimestamp") -> str:
    stamp = (obj.get("metadata") or {}).get(field) if field == "creationTimestamp" else field
    if not stamp:
        return "<unknown>"
    try:
        then = datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - then).total_seconds())


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or [])


def pod_status_reason(pod: dict[str, Any]) -> str:
    """What kubectl shows under STATUS: a container's waiting/terminated reason or the phase."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(pod: dict[str, Any]) -> Row:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    return [
        _name(pod),
        f"{ready}/{total}",
        pod_status_reason(pod),
        str(restarts),
        age(pod),
        status.get("podIP") or "<none>",
        (pod.get("spec") or {}).get("nodeName") or "<none>",
        "<none>",
        "<none>",
    ]


def _deployment_row(d: dict[str, Any]) -> Row:
    status = d.get("status") or {}
    spec = d.get("spec") or {}
    containers = _containers(d)
    return [
        _name(d),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(d),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector_string(spec.get("selector")),
    ]


def _replicaset_row(rs: dict[str, Any]) -> Row:
    status = rs.get("status") or {}
    spec = rs.get("spec") or {}
    containers = _containers(rs)
    return [
        _name(rs),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(rs),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector_string(spec.get("selector")),
    ]


def _service_row(svc: dict[str, Any]) -> Row:
    spec = svc.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        _name(svc),
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "<none>"),
        "<none>",
        ports or "<none>",
        age(svc),
        selector or "<none>",
    ]


def _event_row(ev: dict[str, Any]) -> Row:
    obj = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    return [
        age(ev, last) if last else "<unknown>",
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
        ev.get("message", ""),
    ]


def _node_row(node: dict[str, Any]) -> Row:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    roles = sorted(
        k.split("/", 1)[1]
        for k in (node["metadata"].get("labels") or {})
        if k.startswith("node-role.kubernetes.io/")
    )
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [_name(node), state, ",".join(roles) or "<none>", age(node), version]


_S, _I = "string", "integer"
PRINTERS: dict[str, tuple[list[Column], Callable[[dict[str, Any]], Row]]] = {
    "pods": (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Status", _S, 0),
            ("Restarts", _S, 0),
            ("Age", _S, 0),
            ("IP", _S, 1),
            ("Node", _S, 1),
            ("Nominated Node", _S, 1),
            ("Readiness Gates", _S, 1),
        ],
        _pod_row,
    ),
    "deployments.apps": (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Up-to-date", _I, 0),
            ("Available", _I, 0),
            ("Age", _S, 0),
            ("Containers", _S, 1),
            ("Images", _S, 1),
            ("Selector", _S, 1),
        ],
        _deployment_row,
    ),
    "replicasets.apps": (
        [
            ("Name", _S, 0),
            ("Desired", _I, 0),
            ("Current", _I, 0),
            ("Ready", _I, 0),
            ("Age", _S, 0),
            ("Containers", _S, 1),
            ("Images", _S, 1),
            ("Selector", _S, 1),
        ],
        _replicaset_row,
    ),
    "services": (
        [
            ("Name", _S, 0),
            ("Type", _S, 0),
            ("Cluster-IP", _S, 0),
            ("External-IP", _S, 0),
            ("Port(s)", _S, 0),
            ("Age", _S, 0),
            ("Selector", _S, 1),
        ],
        _service_row,
    ),
    "configmaps": (
        [("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
        lambda o: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)],
    ),
    "secrets": (
        [("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
        lambda o: [_name(o), o.get("type", "Opaque"), len(o.get("data") or {}), age(o)],
    ),
    "namespaces": (
        [("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)],
        lambda o: [_name(o), (o.get("status") or {}).get("phase", "Active"), age(o)],
    ),
    "nodes": (
        [("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0), ("Version", _S, 0)],
        _node_row,
    ),
    "events": (
        [
            ("Last Seen", _S, 0),
            ("Type", _S, 0),
            ("Reason", _S, 0),
            ("Object", _S, 0),
            ("Message", _S, 0),
        ],
        _event_row,
    ),
}
GENERIC: tuple[list[Column], Callable[[dict[str, Any]], Row]] = (
    [("Name", _S, 0), ("Age", _S, 0)],
    lambda o: [_name(o), age(o)],
)


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    resource: str,
    items: list[dict[str, Any]],
    resource_version: str,
    include_object: str = "Metadata",
    with_headers: bool = True,
) -> dict[str, Any]:
    columns, printer = PRINTERS.get(resource, GENERIC)
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": printer(obj)}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [],
        "rows": rows,
    }
    if with_headers:
        table["columnDefinitions"] = [
            {
                "name": name,
                "type": ctype,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, ctype, priority in columns
        ]
    return table
