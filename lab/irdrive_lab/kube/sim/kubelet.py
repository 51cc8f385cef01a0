"""The kubelet: what it reports about a pod as time passes.

``Kubelet.progress`` moves a pod's status along: containers start after the lab's
``pod_ready_delay``, or crash in a loop when their image is one of the lab's bad images.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from irdrive_lab.kube.sim.events import EventRecorder
from irdrive_lab.kube.sim.pods import resolve_env, waiting_status
from irdrive_lab.kube.sim.util import get_condition, parse_time, rfc3339

CRASH_INTERVAL = 4.0  # seconds between restarts of a crash-looping container


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
