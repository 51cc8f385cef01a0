"""The simulated deployment and ReplicaSet controllers, driven without HTTP through the store."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.sim import Simulation
from irdrive_lab.kube.sim.util import CHANGE_CAUSE, HASH_LABEL, REVISION, REVISION_HISTORY
from irdrive_lab.kube.store import Store

NS = "platform"
PLATFORM = (
    "frontend",
    "backend",
    "payment-service",
    "streaming-service",
    "video-processor",
    "nginx",
)


@pytest.fixture
def sim(tmp_path: Path) -> Simulation:
    cfg = LabConfig(dir=tmp_path, port_base=17600, pod_ready_delay=0.2)
    simulation = Simulation(Store(), LabState(), cfg)
    simulation.seed()
    return simulation


def get(sim: Simulation, resource: str, name: str, ns: str = NS) -> dict[str, Any]:
    return sim.store.get(resource, ns, name)


def owned_rs(sim: Simulation, name: str) -> list[dict[str, Any]]:
    uid = get(sim, "deployments.apps", name)["metadata"]["uid"]
    items, _ = sim.store.list("replicasets.apps", NS)
    return [rs for rs in items if rs["metadata"]["ownerReferences"][0]["uid"] == uid]


def pods_of(sim: Simulation, app: str) -> list[dict[str, Any]]:
    return sim.store.list("pods", NS, label_selector=f"app={app}")[0]


def set_image(sim: Simulation, name: str, image: str, cause: str | None = None) -> None:
    dep = get(sim, "deployments.apps", name)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
    if cause:
        dep["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = cause
    sim.store.update("deployments.apps", dep)


def run_until(sim: Simulation, predicate: Any, timeout: float = 10.0) -> None:
    """Tick in real time (pods take pod_ready_delay to become ready) until predicate holds."""

    def ticked() -> Any:
        sim.tick()
        return predicate()

    name = getattr(predicate, "__name__", "the condition")
    wait_until(ticked, timeout=timeout, interval=0.05, what=f"{name} after simulation ticks")


def test_seed_is_converged_fast_with_two_revisions(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=17600)
    sim = Simulation(Store(), LabState(), cfg)
    sim.seed()
    assert sim.converged()
    for name in PLATFORM:
        dep = get(sim, "deployments.apps", name)
        status = dep["status"]
        assert dep["metadata"]["annotations"][REVISION] == "2"
        assert status["observedGeneration"] == dep["metadata"]["generation"]
        want = dep["spec"]["replicas"]
        assert (
            status["replicas"] == status["updatedReplicas"] == status["availableReplicas"] == want
        )
        conds = {c["type"]: c["reason"] for c in status["conditions"]}
        assert conds == {
            "Available": "MinimumReplicasAvailable",
            "Progressing": "NewReplicaSetAvailable",
        }
        history = sorted(
            owned_rs(sim, name), key=lambda rs: rs["metadata"]["annotations"][REVISION]
        )
        assert [rs["metadata"]["annotations"][REVISION] for rs in history] == ["1", "2"]
        assert all(CHANGE_CAUSE in rs["metadata"]["annotations"] for rs in history)
        assert history[0]["spec"]["replicas"] == 0
        assert (
            history[1]["metadata"]["name"]
            == f"{name}-{history[1]['metadata']['labels'][HASH_LABEL]}"
        )
        pods = pods_of(sim, name)
        assert len(pods) == want
        for pod in pods:
            assert pod["status"]["phase"] == "Running"
            assert pod["spec"]["nodeName"] in ("lab-node-1", "lab-node-2")
            assert pod["metadata"]["name"].startswith(history[1]["metadata"]["name"] + "-")
            assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    nodes, _ = sim.store.list("nodes")
    assert [n["metadata"]["name"] for n in nodes] == ["lab-node-1", "lab-node-2"]
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.32.")
    cm = get(sim, "configmaps", "kill-switches")["data"]
    assert cm["payments"] == "enabled" and json.loads(cm["history"]) == []


def test_seed_is_idempotent_and_reseed_restores(sim: Simulation) -> None:
    before = {
        r: len(sim.store.list(r, NS)[0])
        for r in ("deployments.apps", "replicasets.apps", "pods", "configmaps", "secrets")
    }
    sim.seed()
    after = {r: len(sim.store.list(r, NS)[0]) for r in before}
    assert after == before
    set_image(sim, "backend", "registry.platform.com/backend:9.9.9")
    sim.store.delete("configmaps", NS, "payment-config")
    sim.settle()
    sim.reseed()
    assert get(sim, "configmaps", "payment-config")["data"]["PRIMARY_PROCESSOR"] == "ccbill"
    dep = get(sim, "deployments.apps", "backend")
    assert dep["metadata"]["annotations"][REVISION] == "2"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.4.1")
    assert sim.converged()


def test_template_change_rolls_out_next_revision(sim: Simulation) -> None:
    set_image(sim, "backend", "registry.platform.com/backend:2.4.2", "deploy 2.4.2")
    max_total = 3 + 1  # 3 replicas, maxSurge 25% rounds up to 1, maxUnavailable rounds to 0

    def check() -> bool:
        rss = owned_rs(sim, "backend")
        assert sum(rs["spec"]["replicas"] for rs in rss) <= max_total
        dep = get(sim, "deployments.apps", "backend")
        assert dep["status"].get("availableReplicas", 0) >= 3 - 0
        return sim.converged()

    run_until(sim, check)
    dep = get(sim, "deployments.apps", "backend")
    assert dep["metadata"]["annotations"][REVISION] == "3"
    rss = {rs["metadata"]["annotations"][REVISION]: rs for rs in owned_rs(sim, "backend")}
    assert set(rss) == {"1", "2", "3"}
    assert rss["3"]["spec"]["replicas"] == 3 and rss["2"]["spec"]["replicas"] == 0
    assert rss["3"]["metadata"]["annotations"][CHANGE_CAUSE] == "deploy 2.4.2"
    for pod in pods_of(sim, "backend"):
        assert pod["spec"]["containers"][0]["image"].endswith(":2.4.2")
    events, _ = sim.store.list("events", NS)
    scaled = [
        e["message"]
        for e in events
        if e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["name"] == "backend"
    ]
    new_name = rss["3"]["metadata"]["name"]
    assert f"Scaled up replica set {new_name} from 0 to 1" in scaled
    assert any(
        m.startswith("Scaled down replica set " + rss["2"]["metadata"]["name"]) for m in scaled
    )


def test_revert_reuses_old_replicaset_with_bumped_revision(sim: Simulation) -> None:
    rss = {rs["metadata"]["annotations"][REVISION]: rs for rs in owned_rs(sim, "frontend")}
    old_template = copy.deepcopy(rss["1"]["spec"]["template"])
    del old_template["metadata"]["labels"][HASH_LABEL]  # what kubectl rollout undo sends
    dep = get(sim, "deployments.apps", "frontend")
    dep["spec"]["template"] = old_template
    sim.store.update("deployments.apps", dep)
    sim.settle()
    after = owned_rs(sim, "frontend")
    assert len(after) == 2
    reused = next(rs for rs in after if rs["metadata"]["uid"] == rss["1"]["metadata"]["uid"])
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert reused["metadata"]["annotations"][REVISION_HISTORY] == "1"
    assert reused["spec"]["replicas"] == 2
    assert get(sim, "deployments.apps", "frontend")["metadata"]["annotations"][REVISION] == "3"


def test_scale_up_and_down_prefers_unready_and_newest(sim: Simulation) -> None:
    dep = get(sim, "deployments.apps", "nginx")
    dep["spec"]["replicas"] = 5
    sim.store.update("deployments.apps", dep)
    sim.tick()  # deployment scales the RS
    sim.tick()  # RS creates pods, not ready yet
    pods = pods_of(sim, "nginx")
    assert len(pods) == 5
    fresh = {p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Pending"}
    assert len(fresh) == 3
    dep = get(sim, "deployments.apps", "nginx")
    dep["spec"]["replicas"] = 2
    sim.store.update("deployments.apps", dep)
    sim.tick()
    sim.tick()
    remaining = {p["metadata"]["name"] for p in pods_of(sim, "nginx")}
    assert len(remaining) == 2 and not remaining & fresh
    run_until(sim, sim.converged)
    assert get(sim, "deployments.apps", "nginx")["status"]["availableReplicas"] == 2


def test_deleted_pod_is_replaced(sim: Simulation) -> None:
    victim = pods_of(sim, "backend")[0]["metadata"]["name"]
    sim.store.delete("pods", NS, victim)
    sim.settle()
    names = {p["metadata"]["name"] for p in pods_of(sim, "backend")}
    assert len(names) == 3 and victim not in names


def test_recreate_strategy_stops_old_pods_first(sim: Simulation) -> None:
    dep = get(sim, "deployments.apps", "video-processor")
    dep["spec"]["strategy"] = {"type": "Recreate"}
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.platform.com/vp:1.0.0"
    sim.store.update("deployments.apps", dep)
    seen_mixed = False

    def check() -> bool:
        nonlocal seen_mixed
        images = {p["spec"]["containers"][0]["image"] for p in pods_of(sim, "video-processor")}
        seen_mixed |= len(images) > 1
        return sim.converged()

    run_until(sim, check)
    assert not seen_mixed
    images = {p["spec"]["containers"][0]["image"] for p in pods_of(sim, "video-processor")}
    assert images == {"registry.platform.com/vp:1.0.0"}


def test_paused_deployment_does_not_roll_until_resumed(sim: Simulation) -> None:
    dep = get(sim, "deployments.apps", "streaming-service")
    dep["spec"]["paused"] = True
    sim.store.update("deployments.apps", dep)
    set_image(sim, "streaming-service", "registry.platform.com/streaming-service:5.3.0")
    sim.settle(max_rounds=5)
    assert len(owned_rs(sim, "streaming-service")) == 2
    progressing = next(
        c
        for c in get(sim, "deployments.apps", "streaming-service")["status"]["conditions"]
        if c["type"] == "Progressing"
    )
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    dep = get(sim, "deployments.apps", "streaming-service")
    dep["spec"]["paused"] = False
    sim.store.update("deployments.apps", dep)
    sim.settle()
    assert len(owned_rs(sim, "streaming-service")) == 3
    assert sim.converged()


def test_revision_history_limit_deletes_oldest_empty_replicasets(sim: Simulation) -> None:
    dep = get(sim, "deployments.apps", "payment-service")
    dep["spec"]["revisionHistoryLimit"] = 2
    sim.store.update("deployments.apps", dep)
    for patch in range(2, 6):
        set_image(sim, "payment-service", f"registry.platform.com/payment-service:1.12.{patch}")
        sim.settle()
    revisions = sorted(
        int(rs["metadata"]["annotations"][REVISION]) for rs in owned_rs(sim, "payment-service")
    )
    assert revisions == [4, 5, 6]


def test_bad_image_crash_loops_and_rollout_times_out(sim: Simulation) -> None:
    bad = "registry.platform.com/backend:2.4.9-bad"
    sim.state.bad_images.add(bad)
    dep = get(sim, "deployments.apps", "backend")
    dep["spec"]["progressDeadlineSeconds"] = 2
    sim.store.update("deployments.apps", dep)
    set_image(sim, "backend", bad)

    def crashing() -> list[dict[str, Any]]:
        return [p for p in pods_of(sim, "backend") if p["spec"]["containers"][0]["image"] == bad]

    def restarted_twice() -> bool:
        pods = crashing()
        return bool(pods) and pods[0]["status"]["containerStatuses"][0]["restartCount"] >= 2

    run_until(sim, restarted_twice, timeout=15)
    pod = crashing()[0]
    cs = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == "Running"
    assert cs["ready"] is False
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    run_until(
        sim,
        lambda: any(
            c["reason"] == "ProgressDeadlineExceeded"
            for c in get(sim, "deployments.apps", "backend")["status"]["conditions"]
        ),
        timeout=10,
    )
    status = get(sim, "deployments.apps", "backend")["status"]
    assert status["updatedReplicas"] == 1
    assert status["availableReplicas"] == 3  # maxUnavailable 0: the old pods keep serving
    assert not sim.converged()
    events, _ = sim.store.list("events", NS)
    assert any(
        e["reason"] == "BackOff"
        and e["involvedObject"]["name"] == pod["metadata"]["name"]
        and e["type"] == "Warning"
        for e in events
    )


def test_env_snapshot_keeps_secrets_out_and_follows_restarts(sim: Simulation) -> None:
    pod = pods_of(sim, "payment-service")[0]
    env = json.loads(pod["metadata"]["annotations"]["lab.irdrive.io/env"])
    assert env["PRIMARY_PROCESSOR"] == "ccbill" and env["BACKUP_PROCESSOR"] == "segpay"
    assert "CCBILL_API_KEY" in env and env["CCBILL_API_KEY"] is None
    backend = json.loads(
        pods_of(sim, "backend")[0]["metadata"]["annotations"]["lab.irdrive.io/env"]
    )
    assert backend["DB_password"] is None and backend["DB_HOST"] == "db.platform.internal"
    dumped = json.dumps(sim.store.list("pods", NS)[0])
    assert "lab-db-password" not in dumped and "ccb_lab_" not in dumped
    cm = get(sim, "configmaps", "payment-config")
    cm["data"]["PRIMARY_PROCESSOR"] = "segpay"
    sim.store.update("configmaps", cm)
    sim.settle()
    for p in pods_of(sim, "payment-service"):
        assert (
            json.loads(p["metadata"]["annotations"]["lab.irdrive.io/env"])["PRIMARY_PROCESSOR"]
            == "ccbill"
        )
    dep = get(sim, "deployments.apps", "payment-service")
    dep["spec"]["template"]["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"
    }
    sim.store.update("deployments.apps", dep)
    sim.settle()
    for p in pods_of(sim, "payment-service"):
        assert (
            json.loads(p["metadata"]["annotations"]["lab.irdrive.io/env"])["PRIMARY_PROCESSOR"]
            == "segpay"
        )


def test_missing_configmap_blocks_container_start(sim: Simulation) -> None:
    dep = get(sim, "deployments.apps", "frontend")
    dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "does-not-exist"}}
    ]
    sim.store.update("deployments.apps", dep)
    sim.settle(max_rounds=5)
    new_pods = [p for p in pods_of(sim, "frontend") if p["spec"]["containers"][0].get("envFrom")]
    assert new_pods
    waiting = new_pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {
        "reason": "CreateContainerConfigError",
        "message": 'configmap "does-not-exist" not found',
    }
