"""rollback and scale against the lab: recover verified, idempotent, check-safe, refuse, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from _runbook import changed_tasks, irdrive, run_json, writes_since
from helpers import wait_until
from kubernetes import client, config

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab

REGISTRY = "registry.platform.com"


@pytest.fixture
def apps(lab: dict[str, Any]) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


@pytest.fixture
def autoscaling(lab: dict[str, Any]) -> client.AutoscalingV2Api:
    return client.AutoscalingV2Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


@pytest.fixture
def bad_deploy(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, clean_lab, "bad-deploy", {"deployment": "backend"})
    return clean_lab


@pytest.fixture
def pressure(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, clean_lab, "resource-pressure", {})
    return clean_lab


def _image(apps: client.AppsV1Api, name: str) -> str:
    return apps.read_namespaced_deployment(name, "platform").spec.template.spec.containers[0].image


def _mark(lab: dict[str, Any]) -> int:
    return Journal(Path(lab["journal"])).mark()


def _change_msg(report: dict[str, Any]) -> str:
    return "\n".join(str(c.get("msg", "")) for c in report["changes"])


def _failure(report: dict[str, Any]) -> str:
    return " ".join(t["msg"] or "" for t in report["tasks"] if t["status"] == "failed")


# ---- rollback -------------------------------------------------------------------------------
def test_rollback_recovers_bad_deploy_verified_then_second_run_changes_nothing(
    bad_deploy: dict[str, Any], lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    assert _image(apps, "backend") == f"{REGISTRY}/backend:2.4.1-bad"

    rc, report = run_json(lab_env, "rollback", "-e", "deployments=backend")
    assert rc == 0, report
    assert any(v["task"].startswith("Verify") for v in report["verified"])
    assert _image(apps, "backend") == f"{REGISTRY}/backend:2.4.1"
    status = subprocess.run(
        ["kubectl", "rollout", "status", "deployment/backend", "-n", "platform", "--timeout=10s"],
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status
    (change,) = report["changes"]
    assert change["before"]["backend"] == {
        "revision": 3,
        "images": [f"{REGISTRY}/backend:2.4.1-bad"],
        "replicas": 3,
    }

    mark = _mark(bad_deploy)
    rc, again = run_json(lab_env, "rollback", "-e", "deployments=backend")
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert writes_since(bad_deploy, mark) == []
    assert _image(apps, "backend") == f"{REGISTRY}/backend:2.4.1"


def test_rollback_check_mode_shows_current_and_target_and_writes_nothing(
    bad_deploy: dict[str, Any], lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    mark = _mark(bad_deploy)
    rc, report = run_json(lab_env, "rollback", "--check", "-e", "deployments=backend")
    assert rc == 0, report
    assert writes_since(bad_deploy, mark) == []
    assert _image(apps, "backend") == f"{REGISTRY}/backend:2.4.1-bad"
    msg = _change_msg(report)
    assert f"revision 3 ({REGISTRY}/backend:2.4.1-bad)" in msg
    assert f"revision 2 ({REGISTRY}/backend:2.4.1)" in msg

    # emergency-rollback.sh --dry-run full: every deployment of the namespace. Six are more
    # than rollback_max_deployments (5): --check shows the refusal, --force exceeds it.
    rc, refused = run_json(lab_env, "rollback", "--check", "-e", "deployments=full")
    assert rc == 2, refused
    assert "is more than rollback_max_deployments (5)" in _failure(refused)
    rc, full = run_json(lab_env, "rollback", "--check", "--force", "-e", "deployments=full")
    assert rc == 0, full
    assert writes_since(bad_deploy, mark) == []
    msg = _change_msg(full)
    for name in ("backend", "frontend", "nginx", "payment-service", "streaming-service"):
        assert f"{name}: would roll back" in msg
    assert f"to revision 1 ({REGISTRY}/video-processor:0.9.0)" in msg


def test_rollback_to_a_named_revision(
    clean_lab: dict[str, Any], lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    rc, report = run_json(lab_env, "rollback", "-e", "deployments=frontend", "-e", "to_revision=1")
    assert rc == 0, report
    assert _image(apps, "frontend") == f"{REGISTRY}/frontend:3.8.0"
    mark = _mark(clean_lab)
    rc, again = run_json(lab_env, "rollback", "-e", "deployments=frontend", "-e", "to_revision=1")
    assert rc == 0 and changed_tasks(again) == [], again
    assert writes_since(clean_lab, mark) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "deployments=backend,nosuch"], "deployment nosuch not found"),
        (["-e", "deployments=backend,frontend", "-e", "to_revision=1"], "exactly one deployment"),
        (["-e", "deployments=full"], "6 deployments (backend, frontend, nginx, payment-service,"),
        (
            ["-e", "deployments=backend,frontend,nginx", "-e", "max_deployments=2"],
            "is more than rollback_max_deployments (2)",
        ),
        (["-e", "deployments=backend", "-e", "timeout=-1"], "timeout must be a number from 1"),
    ],
)
def test_rollback_bad_input_fails_clearly_and_writes_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    mark = _mark(lab)
    rc, report = run_json(lab_env, "rollback", *args)
    assert rc == 2, report
    assert message in _failure(report)
    assert changed_tasks(report) == []
    assert writes_since(lab, mark) == []


# ---- scale ----------------------------------------------------------------------------------
def test_scale_to_5_verified_then_second_run_changes_nothing(
    pressure: dict[str, Any], lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    mark = _mark(pressure)
    rc, check = run_json(lab_env, "scale", "--check", "-e", "deployments=backend=5")
    assert rc == 0 and "backend: 3 -> 5 replicas" in _change_msg(check), check
    assert writes_since(pressure, mark) == []

    rc, report = run_json(lab_env, "scale", "-e", "deployments=backend=5")
    assert rc == 0, report
    assert any(v["task"].startswith("Verify") for v in report["verified"])
    dep = apps.read_namespaced_deployment("backend", "platform")
    assert (dep.spec.replicas, dep.status.ready_replicas, dep.status.available_replicas) == (
        5,
        5,
        5,
    )
    assert report["changes"][0]["before"] == {"replicas": {"backend": 3}, "hpa": None}

    mark = _mark(pressure)
    rc, again = run_json(lab_env, "scale", "-e", "deployments=backend=5")
    assert rc == 0 and changed_tasks(again) == [], again
    assert writes_since(pressure, mark) == []


def test_hpa_created_idempotent_and_not_fought(
    pressure: dict[str, Any],
    lab_env: dict[str, str],
    apps: client.AppsV1Api,
    autoscaling: client.AutoscalingV2Api,
) -> None:
    hpa_arg = "hpa=deployment=backend,min=3,max=10,cpu_percent=70"
    rc, report = run_json(lab_env, "scale", "-e", "deployments=backend=5", "-e", hpa_arg)
    assert rc == 0, report
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("backend", "platform")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 10)
    assert hpa.spec.metrics[0].resource.target.average_utilization == 70

    # Under pressure the new autoscaler may keep adding pods after the run verified its own
    # scaling: the deployment settles within the HPA's range.
    def settled() -> Any:
        dep = apps.read_namespaced_deployment("backend", "platform")
        return dep if dep.status.available_replicas == dep.spec.replicas else None

    dep = wait_until(
        settled, timeout=90, interval=0.5, what="backend settled (available == desired)"
    )
    assert 3 <= dep.spec.replicas <= 10

    mark = _mark(pressure)
    rc, again = run_json(lab_env, "scale", "-e", "deployments=backend=5", "-e", hpa_arg)
    assert rc == 0 and changed_tasks(again) == [], again
    assert writes_since(pressure, mark) == []

    # Setting replicas on a deployment the HPA controls is refused unless forced.
    rc, refused = run_json(lab_env, "scale", "-e", "deployments=backend=4")
    assert rc == 1, refused
    assert "controlled by HPA backend" in _failure(refused) and "force" in _failure(refused)
    assert writes_since(pressure, mark) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "deployments=nosuch=2"], "deployment nosuch not found"),
        (["-e", "deployments=backend=-1"], "replicas for backend must be a whole number"),
    ],
)
def test_scale_bad_input_fails_clearly_and_writes_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    mark = _mark(lab)
    rc, report = run_json(lab_env, "scale", *args)
    assert rc != 0, report
    assert message in _failure(report)
    assert changed_tasks(report) == []
    assert writes_since(lab, mark) == []


def test_negative_replicas_exit_2(lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    rc, _ = run_json(lab_env, "scale", "-e", "deployments=backend=-1")
    assert rc == 2


# ---- bounded blast radius -------------------------------------------------------------------
@pytest.mark.parametrize("check", [[], ["--check"]])
def test_scale_far_beyond_the_ceilings_is_refused_exit_2_and_writes_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], check: list[str]
) -> None:
    mark = _mark(lab)
    res = irdrive(lab_env, "run", "scale", "--yes", *check, "-e", "deployments=backend=100000000")
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    # One line says it all: the deployment, the asked and allowed counts, and how to force.
    line = next(ln for ln in out.splitlines() if "asked 100000000 replicas" in ln)
    assert "backend: asked 100000000 replicas, allowed at most" in line
    assert "--force" in line
    assert writes_since(lab, mark) == []


def test_scale_ceiling_from_extra_vars_is_exceeded_only_with_force(
    clean_lab: dict[str, Any], lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    have = apps.read_namespaced_deployment("frontend", "platform").spec.replicas
    args = ["-e", f"deployments=frontend={have + 1}", "-e", f"max_replicas={have}"]
    mark = _mark(clean_lab)
    rc, refused = run_json(lab_env, "scale", *args)
    assert rc == 2, refused
    assert f"frontend: asked {have + 1} replicas, allowed at most {have}" in _failure(refused)
    assert changed_tasks(refused) == [] and writes_since(clean_lab, mark) == []

    rc, forced = run_json(lab_env, "scale", "--force", *args)
    assert rc == 0, forced
    assert apps.read_namespaced_deployment("frontend", "platform").spec.replicas == have + 1
