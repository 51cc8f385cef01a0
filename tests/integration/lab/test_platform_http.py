"""The platform endpoints over HTTP against the lab's real parts, in-process.

The real Kubernetes Store (with the simulation's seed and controllers when
``irdrive_lab.kube.sim.Simulation`` exists), the real AWS part (moto, seeded: the CDN follows
the Route53 record) and the real PostgreSQL part (the database check runs ``SELECT 1``).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ports import port_base
from helpers import has_user, require, wait_until

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.journal import Journal
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.store import Store
from irdrive_lab.platform.cluster import deployment_pods, pod_is_ready
from irdrive_lab.platform.origin import TEST_VIDEO
from irdrive_lab.platform.server import PlatformServer, make_platform_server

NS = "platform"
APPS = ("frontend", "backend", "payment-service", "streaming-service")


# ---- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> LabConfig:
    cfg = LabConfig(dir=Path(tmp_path_factory.mktemp("platform-lab")), port_base=port_base(1))
    cfg.ensure_dirs()
    return cfg


@pytest.fixture(scope="module")
def aws_info(cfg: LabConfig) -> Iterator[dict[str, Any]]:
    from irdrive_lab.aws import aws

    info = aws.start(cfg, {})
    try:
        aws.wait_ready(cfg, info, timeout=60)
        yield info
    finally:
        aws.stop(cfg, info)


@pytest.fixture(scope="module")
def pg_info(cfg: LabConfig) -> Iterator[dict[str, Any]]:
    from irdrive_lab.pg import postgres

    require(os.geteuid() == 0, "root (the lab runs PostgreSQL as the postgres user)")
    require((cfg.pg_bindir / "postgres").exists(), f"PostgreSQL in {cfg.pg_bindir}")
    require(has_user("postgres"), "the postgres user")
    info = postgres.start(cfg, {})
    try:
        postgres.wait_ready(cfg, info, timeout=60)
        yield info
    finally:
        postgres.destroy(cfg, info)


def _simulation_class() -> Any:
    try:
        from irdrive_lab.kube.sim import Simulation  # type: ignore[attr-defined]
    except ImportError:
        return None
    return Simulation


class Cluster:
    """The real Store, seeded by the simulation when it exists, else by ``_seed_by_hand``."""

    def __init__(self, cfg: LabConfig) -> None:
        self.store = Store()
        self.state = LabState()
        self.resets = 0
        sim_class = _simulation_class()
        self.sim = sim_class(self.store, self.state, cfg) if sim_class else None
        if self.sim is not None:
            self.sim.seed()
            self.sim.start()
        else:
            _seed_by_hand(self.store)
        wait_until(
            lambda: all(self.ready(app) for app in APPS), timeout=20, what="seeded pods Ready"
        )

    def ready(self, app: str) -> int:
        return sum(1 for p in deployment_pods(self.store, app) or [] if pod_is_ready(p))

    def on_reset(self) -> None:
        self.resets += 1


def _seed_by_hand(store: Store) -> None:
    """A minimal platform with Ready pods, used only while the simulation does not exist."""
    store.create("namespaces", {"metadata": {"name": NS}})
    for app in APPS:
        labels = {"app": app}
        template = {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": app, "image": f"registry.local/{app}:1.0.0"}]},
        }
        store.create(
            "deployments.apps",
            {
                "metadata": {"name": app, "namespace": NS, "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
            },
        )
        _ready_pod(store, app, f"{app}-seed", {"PRIMARY_PROCESSOR": "ccbill"})
    for name, data in (
        ("payment-config", {"PRIMARY_PROCESSOR": "ccbill", "BACKUP_PROCESSOR": "segpay"}),
        ("kill-switches", {"payments": "enabled", "streaming": "enabled", "history": "[]"}),
    ):
        store.create("configmaps", {"metadata": {"name": name, "namespace": NS}, "data": data})


def _ready_pod(store: Store, app: str, name: str, env: dict[str, str]) -> None:
    pod = store.create(
        "pods",
        {
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {"app": app},
                "annotations": {"lab.irdrive.io/env": json.dumps(env)},
            },
            "spec": {"containers": [{"name": app, "image": f"registry.local/{app}:1.0.0"}]},
        },
    )
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    store.update_status("pods", pod)


@pytest.fixture(scope="module")
def cluster(cfg: LabConfig) -> Iterator[Cluster]:
    c = Cluster(cfg)
    yield c
    if c.sim is not None:
        c.sim.stop()


@pytest.fixture(scope="module")
def lab_info(aws_info: dict[str, Any], pg_info: dict[str, Any]) -> dict[str, Any]:
    return {"aws": aws_info, "postgres": pg_info}


@pytest.fixture(scope="module")
def server(cfg: LabConfig, cluster: Cluster, lab_info: dict[str, Any]) -> Iterator[PlatformServer]:
    srv = make_platform_server(
        cluster.store, cluster.state, cfg, lambda: lab_info, on_reset=cluster.on_reset
    )
    srv.serve_in_thread()
    yield srv
    srv.shutdown()


@pytest.fixture(autouse=True)
def no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        for name in ("processor-down", "cdn-down", "bad-deploy", "resource-pressure"):
            call(request.getfixturevalue("server"), "DELETE", f"/_lab/faults/{name}")


# ---- helpers ------------------------------------------------------------------------------
def call(
    srv: PlatformServer,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{srv.port}{path}", data=data, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), exc.headers
    parsed: Any = json.loads(raw) if hdrs.get("Content-Type") == "application/json" else raw
    return status, parsed, hdrs


def set_cdn_record(aws_info: dict[str, Any], target: str) -> None:
    from irdrive_lab.aws import aws

    route53 = aws.client(aws_info["endpoint"], "route53")
    route53.change_resource_record_sets(
        HostedZoneId=aws_info["resources"]["hosted_zone_id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "cdn.platform.com",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": target}],
                    },
                }
            ]
        },
    )


def restart_payment_service(cluster: Cluster) -> None:
    """``kubectl rollout restart``: a template annotation; by hand, new pods on the new env."""
    if cluster.sim is None:
        for pod in deployment_pods(cluster.store, "payment-service") or []:
            cluster.store.delete("pods", NS, pod["metadata"]["name"])
        config = cluster.store.get("configmaps", NS, "payment-config")["data"]
        _ready_pod(cluster.store, "payment-service", "payment-service-restarted", config)
        return
    dep = cluster.store.get("deployments.apps", NS, "payment-service")
    annotations = dep["spec"]["template"]["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/restartedAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.store.update("deployments.apps", dep)


# ---- tests --------------------------------------------------------------------------------
def test_platform_health_with_the_real_database(server: PlatformServer) -> None:
    status, body, headers = call(server, "GET", "/health")
    assert status == 200, body
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert headers["Cache-Control"] == "no-store"


def test_platform_health_names_an_unreachable_database(
    cfg: LabConfig, cluster: Cluster, pg_info: dict[str, Any]
) -> None:
    closed = {**pg_info, "port": cfg.port_base + 9}  # inside the lab's span, nothing listens
    srv = make_platform_server(
        cluster.store, cluster.state, cfg, lambda: {"postgres": closed}, port=0
    )
    srv.serve_in_thread()
    try:
        t0 = time.monotonic()
        status, body, _ = call(srv, "GET", "/health")
        assert time.monotonic() - t0 < 3
        assert status == 503 and body["status"] == "down"
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["frontend"]["ok"] and body["checks"]["backend"]["ok"]
    finally:
        srv.shutdown()


def test_payments_follow_the_pods_through_a_failover(
    server: PlatformServer, cluster: Cluster
) -> None:
    status, body, _ = call(server, "GET", "/payments/health")
    assert (status, body["status"], body["processor"]) == (200, "ok", "ccbill"), body

    status, _, _ = call(server, "POST", "/_lab/faults/processor-down", {"processor": "ccbill"})
    assert status == 200
    assert call(server, "GET", "/processors/ccbill/health")[0] == 503
    assert call(server, "GET", "/processors/segpay/health")[0] == 200
    status, body, _ = call(server, "GET", "/payments/health")
    assert (status, body["status"]) == (503, "degraded")
    assert body["error"] == "processor ccbill unreachable"

    config = cluster.store.get("configmaps", NS, "payment-config")
    config["data"]["PRIMARY_PROCESSOR"] = "segpay"
    cluster.store.update("configmaps", config)
    # The running pods still use ccbill: a configmap change needs a restart.
    assert call(server, "GET", "/payments/health")[1]["processor"] == "ccbill"

    restart_payment_service(cluster)

    def green() -> Any:
        status, body, _ = call(server, "GET", "/payments/health")
        return body if status == 200 and body["processor"] == "segpay" else None

    body = wait_until(green, timeout=30, what="payments healthy on segpay")
    assert body["pods_ready"] >= 1


def test_cdn_follows_route53_and_fails_over(
    server: PlatformServer, cluster: Cluster, aws_info: dict[str, Any]
) -> None:
    distribution = aws_info["resources"]["distribution_domain"]
    status, body, headers = call(server, "GET", "/cdn/test.mp4")
    assert status == 200 and body == TEST_VIDEO
    assert headers["X-Lab-Edge"] == "primary" and headers["Content-Type"] == "video/mp4"
    assert headers["X-Lab-Cdn-Target"] == distribution.lower()
    assert call(server, "GET", "/streaming/health")[0] == 200

    call(server, "POST", "/_lab/faults/cdn-down")
    assert call(server, "GET", "/cdn/test.mp4")[0] == 502
    status, body, _ = call(server, "GET", "/streaming/health")
    assert status == 503 and body["checks"]["cdn"]["edge"] == "primary"

    set_cdn_record(aws_info, aws_info["resources"]["backup_cdn_hostname"])
    try:
        wait_until(
            lambda: call(server, "GET", "/cdn/test.mp4")[2]["X-Lab-Edge"] == "backup",
            timeout=5,
            what="the CDN to follow the record to the backup",
        )
        status, body, headers = call(server, "HEAD", "/cdn/test.mp4")
        assert status == 200 and headers["Content-Length"] == str(len(TEST_VIDEO))
        assert call(server, "GET", "/streaming/health")[0] == 200
    finally:
        set_cdn_record(aws_info, distribution)


def test_bad_deploy_rolls_out_a_revision_that_crashes(
    server: PlatformServer, cluster: Cluster
) -> None:
    before = cluster.store.get("deployments.apps", NS, "backend")
    image = before["spec"]["template"]["spec"]["containers"][0]["image"]
    status, body, _ = call(server, "POST", "/_lab/faults/bad-deploy", {"deployment": "backend"})
    assert status == 200, body
    bad = body["record"]["images"]["backend"]
    assert bad.endswith("-bad") and bad.startswith(image.rsplit(":", 1)[0])
    after = cluster.store.get("deployments.apps", NS, "backend")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == bad
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert body["state"]["bad_images"] == [bad]
    if cluster.sim is not None:

        def new_pods_not_ready() -> bool:
            pods = deployment_pods(cluster.store, "backend") or []
            bad_pods = [p for p in pods if p["spec"]["containers"][0]["image"] == bad]
            return bool(bad_pods) and not any(pod_is_ready(p) for p in bad_pods)

        wait_until(new_pods_not_ready, timeout=10, what="pods of the bad revision, not Ready")
        assert cluster.ready("backend") >= 1  # the rolling update keeps the old ones

    status, body, _ = call(server, "DELETE", "/_lab/faults/bad-deploy")
    assert status == 200 and body["state"]["bad_images"] == []
    # Clearing marks the image good; the rollout stays where it is until rolled back.
    still = cluster.store.get("deployments.apps", NS, "backend")
    assert still["spec"]["template"]["spec"]["containers"][0]["image"] == bad
    still["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.store.update("deployments.apps", still)


def test_cache_admin_and_journal(server: PlatformServer, cfg: LabConfig) -> None:
    journal = Journal(cfg.journal_file)
    mark = journal.mark()
    token_file = cfg.run_dir / "platform-admin-token"
    assert token_file.read_text().strip() == server.admin_token
    assert call(server, "POST", "/_admin/cache/clear")[0] == 401
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    status, body, _ = call(server, "POST", "/_admin/cache/warm", {"keys": 25}, auth)
    assert status == 200 and body["keys"] >= 25
    status, body, _ = call(server, "POST", "/_admin/cache/clear", {}, auth)
    assert status == 200 and body["keys"] == 0
    assert call(server, "GET", "/_admin/cache/stats", headers=auth)[1]["last_cleared_at"]
    actions = [e.get("action") for e in journal.since(mark, source="platform")]
    assert actions == ["cache.warm", "cache.clear"]


def test_lab_control_api(server: PlatformServer, cluster: Cluster) -> None:
    status, body, _ = call(server, "POST", "/_lab/faults/meteor", {})
    assert status == 400 and body["error"].startswith("unknown fault meteor; known: ")
    status, body, _ = call(server, "POST", "/_lab/faults/resource-pressure", {})
    assert status == 200 and body["state"]["extra_latency_ms"] == 800
    t0 = time.monotonic()
    call(server, "GET", "/")
    assert time.monotonic() - t0 >= 0.8
    assert call(server, "GET", "/_lab/state")[1]["pressure"] is True
    resets = cluster.resets
    status, body, _ = call(server, "POST", "/_lab/reset", {})
    assert status == 200 and body["reseeded"] is True and cluster.resets == resets + 1
    assert call(server, "GET", "/_lab/state")[1]["faults"] == {}
