"""Synthetic pod logs, metrics.k8s.io numbers and the HPA controller of the simulation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.errors import BadRequest
from irdrive_lab.kube.sim import Simulation, logs
from irdrive_lab.kube.sim.util import parse_quantity
from irdrive_lab.kube.store import Store

NS = "platform"
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


@pytest.fixture
def sim(tmp_path: Path) -> Simulation:
    cfg = LabConfig(dir=tmp_path, port_base=17600, pod_ready_delay=0.1)
    simulation = Simulation(Store(), LabState(), cfg)
    simulation.seed()
    return simulation


def pod_of(sim: Simulation, app: str) -> dict[str, Any]:
    return sim.store.list("pods", NS, label_selector=f"app={app}")[0][0]


def started(pod: dict[str, Any]) -> float:
    from irdrive_lab.kube.sim.util import parse_time

    value = parse_time(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    assert value is not None
    return value


def test_logs_are_deterministic_and_honour_tail_since_timestamps(sim: Simulation) -> None:
    pod = pod_of(sim, "nginx")
    now = started(pod) + 600
    full = logs.pod_logs(pod, None, None, None, False, False, sim.timeline, now=now)
    lines = full.splitlines()
    assert len(lines) == 3 + 599  # banner, then one access-log line in each second that ended
    assert full == logs.pod_logs(pod, "nginx", None, None, False, False, sim.timeline, now=now)
    assert re.match(r'^203\.0\.113\.\d+ - - \[.+\] "GET /\S* HTTP/1\.1" \d{3} ', lines[-1])
    tail = logs.pod_logs(pod, None, 5, None, False, False, sim.timeline, now=now).splitlines()
    assert tail == lines[-5:]
    since = logs.pod_logs(pod, None, None, 10, True, False, sim.timeline, now=now).splitlines()
    assert 9 <= len(since) <= 11
    assert all(RFC3339_NANO.match(line) for line in since)
    assert since[-1].split(" ", 1)[1] == lines[-1]


def test_log_errors_have_the_kubelet_wording(sim: Simulation) -> None:
    pod = pod_of(sim, "backend")
    name = pod["metadata"]["name"]
    with pytest.raises(BadRequest, match=f"^container sidecar is not valid for pod {name}$"):
        sim.pod_logs(pod, "sidecar")
    with pytest.raises(
        BadRequest, match=f'^previous terminated container "backend" in pod "{name}" not found$'
    ):
        sim.pod_logs(pod, "backend", previous=True)


def test_payment_logs_show_processor_timeouts_while_it_is_down(sim: Simulation) -> None:
    pod = pod_of(sim, "payment-service")
    base = started(pod)
    sim.timeline.observe(sim.state, base + 100)  # nothing down yet
    sim.state.processors_down.add("ccbill")
    sim.timeline.observe(sim.state, base + 200)
    sim.state.processors_down.discard("ccbill")
    sim.timeline.observe(sim.state, base + 250)
    lines = logs.pod_logs(pod, None, None, None, False, False, sim.timeline, now=base + 300)
    body = lines.splitlines()[3:]  # after the banner
    errors = [i + 1 for i, line in enumerate(body) if "ERROR processor ccbill timeout" in line]
    assert errors and min(errors) >= 199 and max(errors) <= 250
    assert len(errors) >= 45
    assert all("processor=ccbill" in line for line in body[:190])


def test_pressure_shows_slow_requests(sim: Simulation) -> None:
    pod = pod_of(sim, "backend")
    base = started(pod)
    sim.state.pressure = True
    sim.timeline.observe(sim.state, base + 1)
    text = logs.pod_logs(pod, None, 60, None, False, False, sim.timeline, now=base + 100)
    assert "slow request" in text


def test_crash_looping_pod_logs_show_the_crash(sim: Simulation) -> None:
    bad = "registry.platform.com/payment-service:1.12.9"
    sim.state.bad_images.add(bad)
    dep = sim.store.get("deployments.apps", NS, "payment-service")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = bad
    sim.store.update("deployments.apps", dep)
    sim.settle(max_rounds=4)
    pod = next(
        p
        for p in sim.store.list("pods", NS, label_selector="app=payment-service")[0]
        if p["spec"]["containers"][0]["image"] == bad
    )
    assert pod["status"]["containerStatuses"][0]["restartCount"] >= 1
    current = sim.pod_logs(pod)
    previous = sim.pod_logs(pod, previous=True)
    assert "Traceback (most recent call last):" in current
    assert "KeyError" in previous


def test_pod_metrics_vary_mildly_and_hit_limits_under_pressure(sim: Simulation) -> None:
    items = sim.pod_metrics(NS)
    pods, _ = sim.store.list("pods", NS)
    assert {i["metadata"]["name"] for i in items} == {p["metadata"]["name"] for p in pods}
    by_name = {p["metadata"]["name"]: p for p in pods}
    for item in items:
        assert item["window"] and item["timestamp"]
        container = item["containers"][0]
        assert re.fullmatch(r"\d+n", container["usage"]["cpu"])
        assert re.fullmatch(r"\d+Ki", container["usage"]["memory"])
        spec = by_name[item["metadata"]["name"]]["spec"]["containers"][0]["resources"]
        cpu = parse_quantity(container["usage"]["cpu"])
        assert 0 < cpu < parse_quantity(spec["requests"]["cpu"])
    sim.state.pressure = True
    for item in sim.pod_metrics(NS):
        spec = by_name[item["metadata"]["name"]]["spec"]["containers"][0]["resources"]["limits"]
        usage = item["containers"][0]["usage"]
        assert parse_quantity(usage["cpu"]) == pytest.approx(parse_quantity(spec["cpu"]))
        assert parse_quantity(usage["memory"]) == pytest.approx(
            parse_quantity(spec["memory"]), rel=0.001
        )


def test_node_metrics_are_the_sum_of_their_pods(sim: Simulation) -> None:
    nodes = {n["metadata"]["name"]: n for n in sim.node_metrics()}
    assert set(nodes) == {"lab-node-1", "lab-node-2"}
    pods, _ = sim.store.list("pods")
    pod_items = {(i["metadata"]["namespace"], i["metadata"]["name"]): i for i in sim.pod_metrics()}
    total = sum(parse_quantity(n["usage"]["cpu"]) for n in nodes.values())
    expected = sum(
        parse_quantity(c["usage"]["cpu"]) for i in pod_items.values() for c in i["containers"]
    )
    assert total == pytest.approx(expected, rel=0.01)
    assert len(pods) == len(pod_items)


def test_hpa_scales_up_under_pressure(sim: Simulation) -> None:
    sim.store.create(
        "horizontalpodautoscalers.autoscaling",
        {
            "metadata": {"name": "frontend", "namespace": NS},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "frontend",
                },
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
    )
    sim.tick(instant=True)
    hpa = sim.store.get("horizontalpodautoscalers.autoscaling", NS, "frontend")
    assert hpa["status"]["desiredReplicas"] == 2
    util = hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
    assert 0 < util < 70
    sim.state.pressure = True
    sim.tick(instant=True)  # 500m limit / 100m request = 500%: ceil(2 * 500/70) capped by rate
    dep = sim.store.get("deployments.apps", NS, "frontend")
    assert dep["spec"]["replicas"] == 6
    sim.settle()
    hpa = sim.store.get("horizontalpodautoscalers.autoscaling", NS, "frontend")
    conds = {c["type"]: c["reason"] for c in hpa["status"]["conditions"]}
    assert conds["ScalingLimited"] == "TooManyReplicas"
    assert hpa["status"]["currentReplicas"] == 6
    assert sim.store.get("deployments.apps", NS, "frontend")["status"]["availableReplicas"] == 6


def revision(dep: dict[str, Any]) -> str | None:
    return dep["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")


def test_background_thread_converges_a_restart(sim: Simulation) -> None:
    dep = sim.store.get("deployments.apps", NS, "backend")
    dep["spec"]["template"]["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"
    }
    sim.store.update("deployments.apps", dep)
    sim.start()
    try:
        # The controller has seen the restart (a new revision) before idle can mean rolled out.
        wait_until(
            lambda: revision(sim.store.get("deployments.apps", NS, "backend")) == "3",
            timeout=15,
            what="the background thread to start revision 3",
        )
        assert sim.wait_idle(timeout=15)
    finally:
        sim.stop()
    assert sim.last_error is None
    dep = sim.store.get("deployments.apps", NS, "backend")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
