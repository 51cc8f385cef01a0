"""Pods: what a ReplicaSet's template becomes, and what the kubelet then reports about it.

``build_pod`` is the ReplicaSet controller's pod from a template, already scheduled by a
toy scheduler. ``Kubelet.progress`` moves a pod's status along: containers start after the
lab's ``pod_ready_delay``, or crash in a loop when their image is one of the lab's bad images.
The environment each container would start with is resolved once, when the pod is created,
and kept in the pod's ``lab.irdrive.io/env`` annotation (secret values never, only names).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from irdrive_lab.kube.errors import NotFound
from irdrive_lab.kube.sim.events import EventRecorder
from irdrive_lab.kube.sim.util import (
    ENV_ANNOTATION,
    HASH_LABEL,
    get_condition,
    owner_ref,
    parse_time,
    random_suffix,
    rfc3339,
)

CRASH_INTERVAL = 4.0  # seconds between restarts of a crash-looping container
NODES = ("lab-node-1", "lab-node-2")
NODE_IPS = {"lab-node-1": "172.18.0.2", "lab-node-2": "172.18.0.3"}


# ---- environment -------------------------------------------------------------------------
def _source(store: Any, kind: str, namespace: str, name: str) -> dict[str, str] | None:
    resource = "configmaps" if kind == "configmap" else "secrets"
    try:
        obj = store.get(resource, namespace, name)
    except NotFound:
        return None
    data = obj.get("data") or {}
    if kind == "secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    return dict(data)


def resolve_env(
    store: Any,
    namespace: str,
    pod: dict[str, Any],
    container: dict[str, Any],
    secret_values: dict[str, str] | None = None,
) -> tuple[dict[str, str | None], str | None]:
    """The container's environment: name -> value, or None where the value is a secret.

    Returns an error text (as the kubelet words it) when a required source is missing. The
    values from Secrets go into ``secret_values`` when it is given.
    """
    env: dict[str, str | None] = {}
    secret_values = {} if secret_values is None else secret_values
    for item in container.get("envFrom") or []:
        prefix = item.get("prefix", "")
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = item.get(key)
            if not ref:
                continue
            data = _source(store, kind, namespace, ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                return env, f'{kind} "{ref.get("name", "")}" not found'
            for k, v in data.items():
                env[prefix + k] = None if kind == "secret" else v
                if kind == "secret":
                    secret_values[prefix + k] = v
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "value" in item or not item.get("valueFrom"):
            env[name] = str(item.get("value", ""))
            continue
        source = item["valueFrom"]
        for kind, key in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
            ref = source.get(key)
            if not ref:
                continue
            data = _source(store, kind, namespace, ref.get("name", ""))
            if data is None or ref.get("key") not in data:
                if ref.get("optional"):
                    break
                if data is None:
                    return env, f'{kind} "{ref.get("name", "")}" not found'
                what = "configmap" if kind == "configmap" else "secret"
                return env, f"couldn't find key {ref.get('key')} in {what.capitalize()} " + (
                    f"{namespace}/{ref.get('name', '')}"
                )
            env[name] = None if kind == "secret" else data[ref["key"]]
            if kind == "secret":
                secret_values[name] = data[ref["key"]]
        field_ref = source.get("fieldRef")
        if field_ref:
            env[name] = _field_value(pod, field_ref.get("fieldPath", ""))
    return env, None


POD_SECRET_ENV = "pod_secret_env"
_REMEMBERED = 400  # prune entries of deleted pods beyond this many


def remember_secret_env(store: Any, namespace: str, name: str, values: dict[str, str]) -> None:
    """Keep the secret values a pod started with in the store's private side, never served."""
    private = getattr(store, "private", None)
    if private is None:
        return
    with store.lock:
        table = private.setdefault(POD_SECRET_ENV, {})
        table[(namespace, name)] = dict(values)
        if len(table) > _REMEMBERED:
            for key in list(table):
                try:
                    store.get("pods", key[0], key[1])
                except NotFound:
                    if key != (namespace, name):
                        del table[key]


def secret_env(store: Any, namespace: str, name: str) -> dict[str, str]:
    """The secret values pod ``namespace/name`` started with ({} when unknown)."""
    private = getattr(store, "private", None) or {}
    return dict(private.get(POD_SECRET_ENV, {}).get((namespace, name), {}))


def _field_value(pod: dict[str, Any], path: str) -> str:
    meta = pod.get("metadata", {})
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": pod.get("status", {}).get("podIP", ""),
        "status.hostIP": pod.get("status", {}).get("hostIP", ""),
    }
    return str(values.get(path, ""))


# ---- building pods -----------------------------------------------------------------------
def qos_class(spec: dict[str, Any]) -> str:
    requests_any = limits_any = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests_any |= bool(req)
        limits_any |= bool(lim)
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not requests_any and not limits_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def waiting_status(container: dict[str, Any], reason: str, message: str = "") -> dict[str, Any]:
    waiting: dict[str, Any] = {"reason": reason}
    if message:
        waiting["message"] = message
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": waiting},
        "lastState": {},
    }


def build_pod(rs: dict[str, Any], node: str, pod_ip: str, now: float, store: Any) -> dict[str, Any]:
    """The pod the ReplicaSet controller creates, bound to ``node`` and still Pending."""
    template = copy.deepcopy(rs["spec"]["template"])
    tmeta = template.get("metadata") or {}
    namespace = rs["metadata"]["namespace"]
    name = f"{rs['metadata']['name']}-{random_suffix()}"
    spec = template.get("spec") or {}
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    spec["nodeName"] = node
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": namespace,
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [owner_ref(rs)],
        },
        "spec": spec,
    }
    pod["metadata"]["labels"][HASH_LABEL] = rs["metadata"]["labels"].get(HASH_LABEL, "")
    containers = spec.get("containers") or []
    if containers:
        secret_values: dict[str, str] = {}
        env, _ = resolve_env(store, namespace, pod, containers[0], secret_values)
        pod["metadata"]["annotations"][ENV_ANNOTATION] = json.dumps(env, sort_keys=True)
        remember_secret_env(store, namespace, name, secret_values)
    stamp = rfc3339(now)
    pod["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodReadyToStartContainers",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Initialized",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Ready",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
                "reason": "ContainersNotReady",
                "message": "containers with unready status: ["
                + " ".join(c["name"] for c in containers)
                + "]",
            },
            {
                "type": "ContainersReady",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
                "reason": "ContainersNotReady",
                "message": "containers with unready status: ["
                + " ".join(c["name"] for c in containers)
                + "]",
            },
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            },
        ],
        "hostIP": NODE_IPS.get(node, "172.18.0.2"),
        "hostIPs": [{"ip": NODE_IPS.get(node, "172.18.0.2")}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": stamp,
        "qosClass": qos_class(spec),
        "containerStatuses": [waiting_status(c, "ContainerCreating") for c in containers],
    }
    return pod


# ---- the kubelet -------------------------------------------------------------------------
def container_id(pod_uid: str, container: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{pod_uid}/{container}/{attempt}".encode()).hexdigest()
    return f"containerd://{digest}"


def image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass
class _PodClock:
    created: float
    started: float | None = None  # when containers (first) started
    crash_base: float | None = None  # when the current crash loop began
    config_error: str | None = None


@dataclass
class Kubelet:
    """Moves pod status along; one instance for the lab's two nodes."""

    store: Any
    events: EventRecorder
    ready_delay: float
    clocks: dict[str, _PodClock] = field(default_factory=dict)

    def register(self, pod: dict[str, Any], now: float) -> None:
        """Note a pod's exact creation time (creationTimestamp only has seconds)."""
        self.clocks[pod["metadata"]["uid"]] = _PodClock(created=now)

    def starting(self) -> bool:
        """Whether some pod's containers have yet to start."""
        return any(clk.started is None for clk in self.clocks.values())

    def forget(self, uid: str) -> None:
        self.clocks.pop(uid, None)

    def clock(self, pod: dict[str, Any], now: float) -> _PodClock:
        uid = pod["metadata"]["uid"]
        clk = self.clocks.get(uid)
        if clk is None:
            status = pod.get("status") or {}
            created = parse_time(pod["metadata"].get("creationTimestamp")) or now
            clk = _PodClock(created=min(created, now))
            if status.get("phase") == "Running":
                clk.started = parse_time(status.get("startTime")) or created
            self.clocks[uid] = clk
        return clk

    def progress(
        self, pod: dict[str, Any], now: float, bad_images: set[str], instant: bool = False
    ) -> None:
        """Advance one pod's status and write it when it changed."""
        if pod["metadata"].get("deletionTimestamp"):
            return
        clk = self.clock(pod, now)
        if not instant and now < clk.created + self.ready_delay:
            return
        spec_containers = pod["spec"].get("containers") or []
        status = copy.deepcopy(pod.get("status") or {})
        old_statuses = {s["name"]: s for s in status.get("containerStatuses") or []}
        if clk.started is None or clk.config_error:
            clk.started = now
            clk.config_error = None
            for c in spec_containers:
                _, error = resolve_env(self.store, pod["metadata"]["namespace"], pod, c)
                clk.config_error = clk.config_error or error
        statuses = []
        for c in spec_containers:
            old = old_statuses.get(c["name"]) or waiting_status(c, "ContainerCreating")
            statuses.append(self._container(pod, c, old, clk, now, c["image"] in bad_images))
        all_ready = all(s["ready"] for s in statuses)
        status["containerStatuses"] = statuses
        status["phase"] = "Pending" if clk.config_error else "Running"
        stamp = rfc3339(now)
        unready = [s["name"] for s in statuses if not s["ready"]]
        _set_cond(status, "PodReadyToStartContainers", "True", stamp)
        for ctype in ("ContainersReady", "Ready"):
            if all_ready:
                _set_cond(status, ctype, "True", stamp)
            else:
                _set_cond(
                    status,
                    ctype,
                    "False",
                    stamp,
                    "ContainersNotReady",
                    f"containers with unready status: [{' '.join(unready)}]",
                )
        if status != pod.get("status"):
            pod["status"] = status
            self.store.update_status("pods", pod)

    def _container(
        self,
        pod: dict[str, Any],
        c: dict[str, Any],
        old: dict[str, Any],
        clk: _PodClock,
        now: float,
        bad: bool,
    ) -> dict[str, Any]:
        name, uid = c["name"], pod["metadata"]["uid"]
        node = pod["spec"].get("nodeName")
        field_path = f"spec.containers{{{name}}}"
        was_created = (old["state"].get("waiting") or {}).get("reason") == "ContainerCreating"
        if clk.config_error:
            if (old["state"].get("waiting") or {}).get("reason") != "CreateContainerConfigError":
                self.events.record(
                    pod,
                    "Warning",
                    "Failed",
                    f"Error: {clk.config_error}",
                    "kubelet",
                    node,
                    field_path,
                )
            return waiting_status(c, "CreateContainerConfigError", clk.config_error)
        if was_created:
            self.events.record(
                pod,
                "Normal",
                "Pulled",
                f'Container image "{c["image"]}" already present on machine',
                "kubelet",
                node,
                field_path,
            )
        running = old["state"].get("running")
        if not bad or (running and old.get("ready")):
            clk.crash_base = None
            if running:
                return old
            if was_created:
                self._started_events(pod, name, node, field_path)
            started = rfc3339(now)
            return {
                "name": name,
                "image": c["image"],
                "imageID": image_id(c["image"]),
                "containerID": container_id(uid, name, old.get("restartCount", 0)),
                "ready": True,
                "restartCount": old.get("restartCount", 0),
                "started": True,
                "state": {"running": {"startedAt": started}},
                "lastState": old.get("lastState") or {},
            }
        # A crash loop: the container starts, exits 1 after a moment, and is restarted.
        if clk.crash_base is None:
            prior = 0 if (was_created or running) else old.get("restartCount", 0)
            clk.crash_base = now - prior * CRASH_INTERVAL
            if was_created or running:
                self._started_events(pod, name, node, field_path)
        restarts = 1 + int((now - clk.crash_base) // CRASH_INTERVAL)
        restarts = max(restarts, old.get("restartCount", 0))
        if restarts == old.get("restartCount") and "waiting" in old["state"]:
            return old
        self.events.record(
            pod,
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {name} in pod "
            f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({uid})",
            "kubelet",
            node,
            field_path,
        )
        finished = now
        run_start = max(finished - 1.0, clk.created)
        backoff = min(10 * 2 ** max(restarts - 1, 0), 300)
        return {
            "name": name,
            "image": c["image"],
            "imageID": image_id(c["image"]),
            "containerID": container_id(uid, name, restarts),
            "ready": False,
            "restartCount": restarts,
            "started": False,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {backoff}s restarting failed container={name} "
                    f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({uid})",
                }
            },
            "lastState": {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": rfc3339(run_start),
                    "finishedAt": rfc3339(finished),
                    "containerID": container_id(uid, name, restarts),
                }
            },
        }

    def _started_events(self, pod: dict[str, Any], name: str, node: str | None, fp: str) -> None:
        self.events.record(
            pod, "Normal", "Created", f"Created container: {name}", "kubelet", node, fp
        )
        self.events.record(
            pod, "Normal", "Started", f"Started container {name}", "kubelet", node, fp
        )


def _set_cond(
    status: dict[str, Any], ctype: str, value: str, stamp: str, reason: str = "", message: str = ""
) -> None:
    conds = status.setdefault("conditions", [])
    cond = get_condition(status, ctype)
    if cond is None:
        cond = {"type": ctype, "status": value, "lastProbeTime": None, "lastTransitionTime": stamp}
        conds.append(cond)
    elif cond.get("status") != value:
        cond["status"] = value
        cond["lastTransitionTime"] = stamp
    for key, val in (("reason", reason), ("message", message)):
        if val:
            cond[key] = val
        else:
            cond.pop(key, None)
