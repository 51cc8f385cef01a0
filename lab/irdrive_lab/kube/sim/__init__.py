"""The simulated cluster behind the lab's Kubernetes API: controllers, kubelet, logs, metrics.

``Simulation`` runs one background thread that, every ``TICK`` seconds and while holding the
store's lock, moves pods along (kubelet), keeps ReplicaSets at their replica counts, rolls
Deployments over, and runs HPAs. Its writes go through the store, so watches see them, but
they are not requests: the journal (the API server's job) never records them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.errors import AlreadyExists, ApiError
from irdrive_lab.kube.sim import logs, metrics, seed
from irdrive_lab.kube.sim.deployment_status import deployment_complete, replicas_of
from irdrive_lab.kube.sim.deployments import DeploymentController
from irdrive_lab.kube.sim.events import EventRecorder
from irdrive_lab.kube.sim.hpa import HPAController
from irdrive_lab.kube.sim.kubelet import Kubelet
from irdrive_lab.kube.sim.replicasets import ReplicaSetController, Scheduler, pods_by_owner
from irdrive_lab.kube.sim.timeline import Timeline
from irdrive_lab.kube.sim.util import controller_uid

TICK = 0.1
HPA_PERIOD = 1.0
BUSY_PERIOD = 0.5
RESYNC = 2.0  # a quiet cluster is re-examined this often; any write wakes it at once
QUIET_RESOURCES = frozenset({"events", "leases.coordination.k8s.io"})
PLATFORM_RESOURCES = (
    "horizontalpodautoscalers.autoscaling",
    "deployments.apps",
    "replicasets.apps",
    "pods",
    "services",
    "configmaps",
    "secrets",
    "events",
    "leases.coordination.k8s.io",
)

__all__ = ["Simulation"]


class Simulation:
    def __init__(self, store: Any, state: LabState, cfg: LabConfig) -> None:
        self.store = store
        self.state = state
        self.cfg = cfg
        self.events = EventRecorder(store)
        self.kubelet = Kubelet(store, self.events, cfg.pod_ready_delay)
        self.replicasets = ReplicaSetController(store, self.events, self.kubelet.register)
        self.deployments = DeploymentController(store, self.events)
        self.hpas = HPAController(store, self.events)
        self.timeline = Timeline()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_hpa = 0.0
        self._dirty = threading.Event()
        self._next_due = 0.0
        self.ticks = 0
        self.last_error: str | None = None
        store.add_listener(self._on_write)

    def _on_write(self, event_type: str, resource: str, obj: dict[str, Any]) -> None:
        if resource not in QUIET_RESOURCES:
            self._dirty.set()

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lab-k8s-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            if self._dirty.is_set() or started >= self._next_due:
                try:
                    self.tick()
                except Exception as exc:  # keep the cluster alive; report the last failure
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._next_due = started + TICK
            self._stop.wait(max(TICK - (time.monotonic() - started), 0.01))

    # ---- one round of every controller ---------------------------------------------------
    def tick(self, instant: bool = False) -> None:
        """One round of every controller. Between rounds a quiet cluster is left alone."""
        with self.store.lock:
            self._dirty.clear()
            now = time.time()
            self.timeline.observe(self.state, now)
            pods, _ = self.store.list("pods")
            with self.state.lock:
                bad_images = set(self.state.bad_images)
                self.state.pressure_ready = _ready_backend(pods)
            pressure = self.state.pressure_effective()
            for pod in pods:
                self.kubelet.progress(pod, now, bad_images, instant)
            live = {p["metadata"]["uid"] for p in pods}
            for uid in [u for u in self.kubelet.clocks if u not in live]:
                self.kubelet.forget(uid)
            rss, _ = self.store.list("replicasets.apps")
            self._sync_replicasets(pods, rss, now)
            settled = self._sync_deployments(rss, now)
            hpas = False
            if instant or now - self._last_hpa >= HPA_PERIOD:
                self._last_hpa = now
                hpas = self._sync_hpas(now, pressure)
            self.ticks += 1
            if self.kubelet.starting():
                period = TICK  # containers are about to start
            elif not settled:
                period = BUSY_PERIOD  # crash loops and progress deadlines move in seconds
            else:
                period = HPA_PERIOD if hpas else RESYNC
            self._next_due = time.monotonic() + period

    def _sync_replicasets(
        self, pods: list[dict[str, Any]], rss: list[dict[str, Any]], now: float
    ) -> None:
        scheduler = Scheduler(pods)
        owned = pods_by_owner(pods)
        for rs in rss:
            self.replicasets.sync(rs, owned.get(rs["metadata"]["uid"], []), scheduler, now)

    def _sync_deployments(self, rss: list[dict[str, Any]], now: float) -> bool:
        """Sync every deployment; True when all of them have finished rolling out."""
        deployments, _ = self.store.list("deployments.apps")
        by_owner: dict[str, list[dict[str, Any]]] = {}
        for rs in rss:
            uid = controller_uid(rs)
            if uid:
                by_owner.setdefault(uid, []).append(rs)
        for d in deployments:
            try:
                self.deployments.sync(d, by_owner.get(d["metadata"]["uid"], []), now)
            except ApiError as exc:  # e.g. the deployment was deleted meanwhile
                self.last_error = f"deployment {d['metadata']['name']}: {exc}"
        return all(_settled(d) for d in deployments)

    def _sync_hpas(self, now: float, pressure: bool) -> bool:
        hpas, _ = self.store.list("horizontalpodautoscalers.autoscaling")
        if not hpas:
            return False
        pods, _ = self.store.list("pods")
        for hpa in hpas:
            self.hpas.sync(hpa, pods, now, pressure)
        return True

    # ---- convergence ---------------------------------------------------------------------
    def converged(self) -> bool:
        deployments, _ = self.store.list("deployments.apps")
        return all(_settled(d) for d in deployments)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every deployment has rolled out; False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.converged():
                return True
            time.sleep(TICK / 2)
        return self.converged()

    def settle(self, max_rounds: int = 60) -> None:
        """Run ticks synchronously, pods ready at once, until everything has converged."""
        for _ in range(max_rounds):
            self.tick(instant=True)
            if self.converged():
                self.tick(instant=True)  # one more round writes the final statuses
                return

    # ---- seeding -------------------------------------------------------------------------
    def seed(self) -> None:
        """Create the seeded platform (existing objects are left alone) and converge it."""
        with self.store.lock:
            for ns in seed.namespaces():
                self._create("namespaces", ns)
            for node in seed.nodes():
                self._create("nodes", node, with_status=True)
            for resource, objs in (
                ("configmaps", seed.configmaps()),
                ("secrets", seed.secrets(self.db_credentials())),
                ("services", seed.services()),
            ):
                for obj in objs:
                    self._create(resource, obj)
            fresh = [
                app
                for app in seed.APPS
                if self._create("deployments.apps", seed.deployment(app, 0))
            ]
            self._create("deployments.apps", seed.coredns())
            self.settle()
            for app in fresh:
                self._update_template("deployments.apps", seed.deployment(app, 1))
            self.settle()

    def db_credentials(self) -> dict[str, str] | None:
        """The application's database login from the lab's credentials (None for a bare sim)."""
        from irdrive_lab.control.credentials import app_secret

        try:
            return {k: str(v) for k, v in app_secret(self.cfg).items()}
        except OSError:
            return None

    def reseed(self) -> None:
        """Empty the platform namespace and seed again (``lab reset``)."""
        with self.store.lock:
            for resource in PLATFORM_RESOURCES:
                items, _ = self.store.list(resource, namespace=seed.NAMESPACE)
                for obj in items:
                    with contextlib.suppress(ApiError):
                        self.store.delete(resource, seed.NAMESPACE, obj["metadata"]["name"])
            self.events.reset()
            self.seed()

    def _create(self, resource: str, obj: dict[str, Any], with_status: bool = False) -> bool:
        try:
            created = self.store.create(resource, obj)
        except AlreadyExists:
            return False
        if with_status and obj.get("status") and created.get("status") != obj["status"]:
            created["status"] = obj["status"]
            self.store.update_status(resource, created)
        return True

    def _update_template(self, resource: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        current = self.store.get(resource, meta["namespace"], meta["name"])
        current["spec"]["template"] = obj["spec"]["template"]
        annotations = current["metadata"].setdefault("annotations", {})
        annotations.update(meta.get("annotations") or {})
        self.store.update(resource, current)

    # ---- hooks for the API server --------------------------------------------------------
    def pod_logs(
        self,
        pod: dict[str, Any],
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
    ) -> str:
        self.timeline.observe(self.state, time.time())
        return logs.pod_logs(
            pod, container, tail_lines, since_seconds, timestamps, previous, self.timeline
        )

    def pod_metrics(self, namespace: str | None = None) -> list[dict[str, Any]]:
        pods, _ = self.store.list("pods", namespace=namespace)
        return metrics.pod_metrics(pods, time.time(), self._pressure())

    def node_metrics(self) -> list[dict[str, Any]]:
        nodes, _ = self.store.list("nodes")
        pods, _ = self.store.list("pods")
        return metrics.node_metrics(nodes, pods, time.time(), self._pressure())

    def _pressure(self) -> bool:
        return self.state.pressure_effective()


def _ready_backend(pods: list[dict[str, Any]]) -> int:
    """Ready backend pods of the platform: the capacity that absorbs resource-pressure load."""
    count = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        if (
            meta.get("namespace") != "platform"
            or (meta.get("labels") or {}).get("app") != "backend"
        ):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            count += 1
    return count


def _settled(d: dict[str, Any]) -> bool:
    return deployment_complete(d, d.get("status") or {}) or bool(
        d["spec"].get("paused") and replicas_of(d) == 0
    )
