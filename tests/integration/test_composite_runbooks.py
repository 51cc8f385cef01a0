"""The P0/P2 runbooks that chain building blocks: platform-outage, performance-degradation."""

from __future__ import annotations

import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _runbook import changed_tasks, failures, irdrive, run_json, writes_since
from kubernetes import client, config

from irdrive.lab import faults
from irdrive.lab.journal import Journal

pytestmark = pytest.mark.lab


def apps_api(lab: dict[str, Any]) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


def backend_image(lab: dict[str, Any]) -> str:
    dep = apps_api(lab).read_namespaced_deployment("backend", "platform")
    return dep.spec.template.spec.containers[0].image


def wait_rollout_started(lab: dict[str, Any], image_suffix: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not backend_image(lab).endswith(image_suffix) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_platform_outage_rolls_back_a_bad_deploy(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    good = backend_image(clean_lab)
    faults.inject(lab_cfg, clean_lab, "bad-deploy", {})
    wait_rollout_started(clean_lab, "-bad")
    time.sleep(2)  # let the new pods crash, so the diagnosis sees CrashLoopBackOff

    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, checked = run_json(lab_env, "platform-outage", "--check")
    assert rc == 0, checked
    assert writes_since(clean_lab, mark) == []

    rc, report = run_json(lab_env, "platform-outage")
    assert rc == 0, report
    assert backend_image(clean_lab) == good
    assert any(v["task"].startswith("Verify the platform") for v in report["verified"])
    assert any("Roll back" in t for t in changed_tasks(report)), changed_tasks(report)

    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, again = run_json(lab_env, "platform-outage")
    assert rc == 0 and changed_tasks(again) == [], changed_tasks(again)
    assert writes_since(clean_lab, mark) == []


def test_platform_outage_restarts_a_down_database(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, clean_lab, "db-down", {})
    try:
        rc, report = run_json(lab_env, "platform-outage")
        assert rc == 0, report
        assert "Restart the database service on its host" in changed_tasks(report)
        with urllib.request.urlopen(clean_lab["endpoints"]["platform"] + "/health") as resp:
            assert resp.status == 200
    finally:
        faults.clear(lab_cfg, clean_lab, "db-down")


def test_performance_degradation_scales_until_response_times_recover(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, clean_lab, "resource-pressure", {})
    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, checked = run_json(lab_env, "performance-degradation", "--check")
    assert rc == 0, checked
    assert writes_since(clean_lab, mark) == []

    rc, report = run_json(lab_env, "performance-degradation", "-e", "cache_key=INC-7")
    assert rc == 0, report
    dep = apps_api(clean_lab).read_namespaced_deployment("backend", "platform")
    assert dep.status.ready_replicas >= 6
    hpa = client.AutoscalingV2Api(
        config.new_client_from_config(config_file=clean_lab["kubeconfig"])
    ).read_namespaced_horizontal_pod_autoscaler("backend", "platform")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 10)
    assert any(v["task"] == "Verify the response time" for v in report["verified"])

    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, again = run_json(lab_env, "performance-degradation", "-e", "cache_key=INC-7")
    assert rc == 0 and changed_tasks(again) == [], changed_tasks(again)
    assert writes_since(clean_lab, mark) == []


def test_security_breach_contains_in_order_and_is_idempotent(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str], tmp_path: Path
) -> None:
    faults.inject(lab_cfg, clean_lab, "intrusion", {})
    # The evidence bundle goes under $HOME; SSH control sockets must keep a short path (108
    # bytes at most), which a deep pytest tmp_path under xdist exceeds.
    control_dir = tempfile.mkdtemp(prefix="cp-", dir="/tmp")
    env = dict(lab_env, HOME=str(tmp_path), ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    args = ("-e", "incident_id=INC-42", "-e", "ips=203.0.113.45,198.51.100.23")
    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, checked = run_json(env, "security-breach", "--check", *args)
    assert rc == 0, failures(checked)
    assert writes_since(clean_lab, mark) == []

    rc, report = run_json(env, "security-breach", *args)
    assert rc == 0, failures(report)
    names = [t["task"] for t in report["tasks"]]
    first_evidence = next(i for i, n in enumerate(names) if "evidence" in n.lower())
    first_switch = names.index("Set the kill switches")
    first_rotation = next(i for i, n in enumerate(names) if "otate" in n)
    assert first_switch < first_evidence < first_rotation
    verified = [v["task"] for v in report["verified"]]
    # Evidence is verified when sealed (step 2) and again after containment (step 5).
    assert verified.count("Verify the evidence bundle against its manifest") == 2, verified
    api = client.CoreV1Api(config.new_client_from_config(config_file=clean_lab["kubeconfig"]))
    switches = api.read_namespaced_config_map("kill-switches", "platform").data
    assert all(v == "disabled" for k, v in switches.items() if k != "history")

    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, again = run_json(env, "security-breach", *args)
    assert rc == 0, failures(again)
    assert changed_tasks(again) == []
    assert writes_since(clean_lab, mark) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["platform-outage", "-e", "scale_replicas=many"], "scale_replicas"),
        (["performance-degradation", "-e", "max_response_ms=fast"], "max_response_ms"),
        (["security-breach", "-e", "ips=203.0.113.45"], "incident_id"),
        (
            [
                "security-breach",
                "-e",
                "incident_id=INC-1",
                "-e",
                "ips=203.0.113.45",
                "-e",
                "upload_evidence=maybe",
            ],
            "upload_evidence",
        ),
    ],
)
def test_composite_bad_input_exit_2_and_write_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    res = irdrive(lab_env, "run", *args, "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
    assert writes_since(lab, mark) == []
