"""The simulated cluster through the lab's real API server, driven by kubectl v1.32."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from _ports import port_base
from helpers import requires

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.journal import Journal
from irdrive_lab.control.state import LabState

pytestmark = requires(shutil.which("kubectl"), "kubectl is not on PATH")

NS = "platform"


@dataclass
class Cluster:
    cfg: LabConfig
    store: Any
    state: LabState
    journal: Journal
    sim: Any

    def kubectl(
        self, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.cfg.kubeconfig)}
        proc = subprocess.run(
            ["kubectl", "-n", NS, *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from irdrive_lab.kube.server import make_server
    from irdrive_lab.kube.sim import Simulation
    from irdrive_lab.kube.store import Store

    cfg = LabConfig(
        dir=tmp_path_factory.mktemp("k8s-sim"), port_base=port_base(1), pod_ready_delay=0.3
    )
    cfg.ensure_dirs()
    store, state, journal = Store(), LabState(), Journal(cfg.journal_file)
    sim = Simulation(store, state, cfg)
    sim.seed()
    sim.start()
    server = make_server(store, state, cfg, journal, sim)
    server.serve_in_thread()
    try:
        yield Cluster(cfg, store, state, journal, sim)
    finally:
        server.shutdown()
        sim.stop()


def test_rollout_restart_then_status_succeeds(cluster: Cluster) -> None:
    mark = cluster.journal.mark()
    cluster.kubectl("rollout", "restart", "deployment/backend")
    out = cluster.kubectl("rollout", "status", "deployment/backend", "--timeout=60s").stdout
    assert 'deployment "backend" successfully rolled out' in out
    dep = cluster.store.get("deployments.apps", NS, "backend")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    pods = cluster.store.list("pods", NS, label_selector="app=backend")[0]
    assert len(pods) == 3
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in pods)
    # Only kubectl's request is journaled, not the controllers' writes.
    writes = cluster.journal.since(mark)
    assert [(w["method"], w["path"].split("?")[0]) for w in writes] == [
        ("PATCH", "/apis/apps/v1/namespaces/platform/deployments/backend")
    ]
    assert cluster.sim.last_error is None


def test_rollout_history_and_undo(cluster: Cluster) -> None:
    history = cluster.kubectl("rollout", "history", "deployment/frontend").stdout
    assert "initial release registry.platform.com/frontend:3.8.0" in history
    assert "deploy registry.platform.com/frontend:3.8.1" in history
    cluster.kubectl("rollout", "undo", "deployment/frontend")
    out = cluster.kubectl("rollout", "status", "deployment/frontend", "--timeout=60s").stdout
    assert "successfully rolled out" in out
    image = cluster.kubectl(
        "get", "deployment/frontend", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    ).stdout
    assert image == "registry.platform.com/frontend:3.8.0"
    lines = cluster.kubectl("rollout", "history", "deployment/frontend").stdout.splitlines()
    revisions = [line.split()[0] for line in lines[2:] if line.strip()]
    assert revisions == ["2", "3"]
    detail = cluster.kubectl("rollout", "history", "deployment/frontend", "--revision=3").stdout
    assert "registry.platform.com/frontend:3.8.0" in detail


def test_scale_adds_pods(cluster: Cluster) -> None:
    cluster.kubectl("scale", "deployment/nginx", "--replicas=4")
    cluster.kubectl("rollout", "status", "deployment/nginx", "--timeout=60s")
    out = cluster.kubectl("get", "pods", "-l", "app=nginx", "--no-headers").stdout
    assert len(out.splitlines()) == 4
    assert all(" Running " in line and "1/1" in line for line in out.splitlines())


def test_top_pods_and_nodes(cluster: Cluster) -> None:
    out = cluster.kubectl("top", "pods").stdout.splitlines()
    assert out[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    names = {line.split()[0] for line in out[1:]}
    assert any(name.startswith("payment-service-") for name in names)
    nodes = cluster.kubectl("top", "nodes").stdout.splitlines()
    assert nodes[0].split()[:3] == ["NAME", "CPU(cores)", "CPU(%)"]
    assert {line.split()[0] for line in nodes[1:]} == {"lab-node-1", "lab-node-2"}


def test_logs_by_selector_with_tail(cluster: Cluster) -> None:
    cluster.sim.wait_idle(30)
    out = cluster.kubectl("logs", "-l", "app=backend", "--tail=5").stdout
    assert len(out.splitlines()) == 5 * 3
    bad = cluster.kubectl("logs", "deployment/backend", "-c", "nope", check=False)
    assert bad.returncode != 0
    assert "container nope is not valid for pod backend-" in bad.stderr


def test_bad_image_rollout_status_fails_on_deadline(cluster: Cluster) -> None:
    bad = "registry.platform.com/video-processor:0.9.2"
    with cluster.state.lock:
        cluster.state.bad_images.add(bad)
    cluster.kubectl(
        "patch", "deployment/video-processor", "-p", '{"spec":{"progressDeadlineSeconds":3}}'
    )
    cluster.kubectl("set", "image", "deployment/video-processor", f"video-processor={bad}")
    proc = cluster.kubectl(
        "rollout", "status", "deployment/video-processor", "--timeout=40s", check=False, timeout=60
    )
    assert proc.returncode != 0
    assert 'deployment "video-processor" exceeded its progress deadline' in proc.stderr
    pods = cluster.kubectl("get", "pods", "-l", "app=video-processor", "--no-headers").stdout
    assert "CrashLoopBackOff" in pods
    cluster.kubectl("rollout", "undo", "deployment/video-processor")
    out = cluster.kubectl("rollout", "status", "deployment/video-processor", "--timeout=60s").stdout
    assert "successfully rolled out" in out
