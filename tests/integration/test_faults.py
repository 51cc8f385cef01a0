"""One test per lab fault: `irdrive lab fault NAME` shows its symptom, `--clear` removes it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _runbook import http_json, irdrive
from helpers import wait_until
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.lab


def fault(env: dict[str, str], name: str, *args: str) -> None:
    res = irdrive(env, "lab", "fault", name, *args)
    assert res.returncode == 0, res.stdout + res.stderr


def pg_connect(lab: dict[str, Any]) -> Any:
    pg = lab["postgres"]
    return psycopg2.connect(
        host=pg["host"],
        port=pg["port"],
        dbname=pg["dbname"],
        user=pg["user"],
        password=pg["password"],
        connect_timeout=3,
    )


@pytest.fixture
def k8s(clean_lab: dict[str, Any]) -> tuple[client.CoreV1Api, client.AppsV1Api]:
    api = config.new_client_from_config(config_file=clean_lab["kubeconfig"])
    return client.CoreV1Api(api), client.AppsV1Api(api)


def test_processor_down(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    url = clean_lab["endpoints"]["platform"]
    fault(lab_env, "processor-down")
    assert http_json(f"{url}/processors/ccbill/health")[0] == 503
    code, body = http_json(f"{url}/payments/health")
    assert (code, body["status"]) == (503, "degraded")
    assert http_json(f"{url}/processors/segpay/health")[0] == 200
    fault(lab_env, "processor-down", "--clear")
    assert http_json(f"{url}/payments/health")[0] == 200


def test_bad_deploy(clean_lab: dict[str, Any], lab_env: dict[str, str], k8s: Any) -> None:
    core, apps = k8s
    before = apps.read_namespaced_deployment("backend", "platform")
    rev = int(before.metadata.annotations["deployment.kubernetes.io/revision"])
    fault(lab_env, "bad-deploy")

    def revision() -> int:
        dep = apps.read_namespaced_deployment("backend", "platform")
        return int(dep.metadata.annotations["deployment.kubernetes.io/revision"])

    wait_until(
        lambda: revision() == rev + 1, timeout=20, interval=0.2, what="backend's next revision"
    )

    def crashing() -> list[str]:
        pods = core.list_namespaced_pod("platform", label_selector="app=backend").items
        return [
            p.metadata.name
            for p in pods
            for cs in (p.status.container_statuses or [])
            if cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"
        ]

    wait_until(crashing, timeout=20, interval=0.2, what="a backend pod in CrashLoopBackOff")
    dep = apps.read_namespaced_deployment("backend", "platform")
    assert (dep.status.updated_replicas or 0) > 0
    assert (dep.status.ready_replicas or 0) < dep.spec.replicas + (dep.status.updated_replicas or 0)
    # kubectl, the independent judge, sees the rollout stuck.
    res = subprocess.run(
        ["kubectl", "-n", "platform", "rollout", "status", "deploy/backend", "--timeout=2s"],
        env=lab_env,
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0
    fault(lab_env, "bad-deploy", "--clear")
    wait_until(lambda: not crashing(), timeout=20, interval=0.2, what="no backend pod crashing")


def test_cdn_down(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    url = clean_lab["endpoints"]["platform"]

    def get(path: str) -> tuple[int, str | None]:
        req = urllib.request.Request(url + path, method="HEAD")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.headers.get("X-Lab-Edge")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("X-Lab-Edge")

    assert get("/cdn/test.mp4") == (200, "primary")
    fault(lab_env, "cdn-down")
    assert get("/cdn/test.mp4") == (502, "primary")
    assert get("/cdn/backup/test.mp4")[0] == 200
    assert http_json(f"{url}/streaming/health")[0] == 503
    fault(lab_env, "cdn-down", "--clear")
    assert get("/cdn/test.mp4") == (200, "primary")


def test_disk_full(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    storage = Path(clean_lab["hosts"]["streaming"]["paths"]["video_storage"])
    url = clean_lab["endpoints"]["platform"]
    assert not list(storage.glob("*.tmp"))
    fault(lab_env, "disk-full")
    assert len(list(storage.glob("*.tmp"))) >= 100
    assert http_json(f"{url}/streaming/health")[0] == 503
    fault(lab_env, "disk-full", "--clear")
    assert not list(storage.glob("*.tmp"))
    assert http_json(f"{url}/streaming/health")[0] == 200


def test_db_down(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    url = clean_lab["endpoints"]["platform"]
    fault(lab_env, "db-down")
    with pytest.raises(psycopg2.OperationalError):
        pg_connect(clean_lab)
    code, body = wait_until(
        lambda: (r := http_json(f"{url}/health"))[0] == 503 and r,
        timeout=5,
        interval=0.2,
        what="/health to answer 503",
    )
    assert code == 503 and body["checks"]["database"]["ok"] is False
    res = irdrive(lab_env, "lab", "status")
    assert "postgres" in res.stdout
    fault(lab_env, "db-down", "--clear")
    with pg_connect(clean_lab) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM payments")
        assert cur.fetchone()[0] > 0


def test_resource_pressure(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    url = clean_lab["endpoints"]["platform"]
    fault(lab_env, "resource-pressure")
    res = subprocess.run(
        ["kubectl", "top", "pods", "-n", "platform", "-l", "app=backend", "--no-headers"],
        env=lab_env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    cpus = [line.split()[1] for line in res.stdout.splitlines()]
    assert cpus and all(c == "1000m" or c.endswith("m") and int(c[:-1]) >= 900 for c in cpus), cpus
    start = time.monotonic()
    http_json(f"{url}/health")
    assert time.monotonic() - start > 0.5
    fault(lab_env, "resource-pressure", "--clear")
    start = time.monotonic()
    http_json(f"{url}/health")
    assert time.monotonic() - start < 0.5


def test_db_slow(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    query = (
        "SELECT state, count(*) FROM pg_stat_activity "
        "WHERE application_name = 'lab-db-slow' GROUP BY state"
    )
    fault(lab_env, "db-slow")

    def states() -> dict[str, int]:
        with pg_connect(clean_lab) as conn, conn.cursor() as cur:
            cur.execute(query)
            return dict(cur.fetchall())

    seen = wait_until(
        lambda: (s := states()).get("idle in transaction") and s.get("active") and s,
        timeout=20,
        interval=0.2,
        what="the fault's sessions, idle in a transaction and active",
    )
    assert seen["idle in transaction"] >= 1 and seen["active"] >= 1
    fault(lab_env, "db-slow", "--clear")
    wait_until(
        lambda: states() == {}, timeout=10, interval=0.2, what="no session of the fault left"
    )


def test_intrusion(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    log = Path(clean_lab["hosts"]["web"]["paths"]["access_log"])
    fault(lab_env, "intrusion")
    lines = [line for line in log.read_text().splitlines() if line.startswith("203.0.113.45 ")]
    assert len(lines) >= 10 and all(" 401 " in line or " 403 " in line for line in lines)
    with pg_connect(clean_lab) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM auth_logs WHERE ip = '203.0.113.45'")
        assert cur.fetchone()[0] >= 10
    fault(lab_env, "intrusion", "--clear")
    assert "203.0.113.45 " not in log.read_text()


def test_api_flaky(clean_lab: dict[str, Any], lab_env: dict[str, str], k8s: Any) -> None:
    core, _ = k8s
    fault(lab_env, "api-flaky", "-p", "count=3", "-p", 'modes=["500"]')
    codes = []
    for _ in range(4):
        try:
            core.read_namespaced_config_map("payment-config", "platform")
            codes.append(200)
        except ApiException as exc:
            codes.append(exc.status)
    assert codes == [500, 500, 500, 200]
    st = json.loads(irdrive(lab_env, "lab", "status", "--json").stdout)
    assert "api-flaky" in st["faults"]
    fault(lab_env, "api-flaky", "--clear")
