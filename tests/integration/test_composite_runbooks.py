"""The P0/P2 runbooks that chain building blocks: platform-outage, performance-degradation."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _runbook import (
    changed_tasks,
    crashlooping_pods,
    failures,
    irdrive,
    run_json,
    writes_since,
)
from helpers import wait_until
from kubernetes import client, config

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab


def apps_api(lab: dict[str, Any]) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


def backend_image(lab: dict[str, Any]) -> str:
    dep = apps_api(lab).read_namespaced_deployment("backend", "platform")
    return dep.spec.template.spec.containers[0].image


def wait_rollout_started(lab: dict[str, Any], image_suffix: str, timeout: float = 20) -> None:
    wait_until(
        lambda: backend_image(lab).endswith(image_suffix),
        timeout=timeout,
        interval=0.2,
        what=f"backend's image to end in {image_suffix}",
    )


def wait_crashloop(lab: dict[str, Any], timeout: float = 20) -> None:
    """Until the bad image's pods crash, so the diagnosis sees CrashLoopBackOff."""
    wait_until(
        lambda: crashlooping_pods(lab, "backend"),
        timeout=timeout,
        interval=0.2,
        what="a backend pod in CrashLoopBackOff",
    )


def test_platform_outage_rolls_back_a_bad_deploy(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    good = backend_image(clean_lab)
    faults.inject(lab_cfg, clean_lab, "bad-deploy", {})
    wait_rollout_started(clean_lab, "-bad")
    wait_crashloop(clean_lab)

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


def test_platform_outage_stops_at_a_failed_database_restart_then_resumes(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    """A bad deploy and a down database; the db host's service manager is broken. The run rolls
    back, fails at the restart without claiming recovery, and a re-run after the host is fixed
    restarts the database without touching the finished rollback."""
    lab = clean_lab
    good = backend_image(lab)
    faults.inject(lab_cfg, lab, "bad-deploy", {})
    wait_rollout_started(lab, "-bad")
    wait_crashloop(lab)
    faults.inject(lab_cfg, lab, "db-down", {})
    script = Path(lab["postgres"]["service_script"])
    mode = script.stat().st_mode
    script.chmod(0o644)  # `systemctl` itself is broken on the db host
    try:
        rc, report = run_json(lab_env, "platform-outage")
        assert rc == 1, failures(report)
        failed = [t for t in report["tasks"] if t["status"] == "failed"]
        assert failed[0]["task"] == "Restart the database service on its host", failures(report)
        # delegated to the db host from the db runbook's one play, so that its locks span it
        assert failed[0]["host"] == "localhost"
        assert backend_image(lab) == good  # the rollback before it stands, and is recorded
        assert any("Roll back" in t for t in changed_tasks(report))
        assert not any(v["task"].startswith("Verify the platform") for v in report["verified"])
        assert report["status"] == "failed"

        script.chmod(mode)
        rc, again = run_json(lab_env, "platform-outage")
        assert rc == 0, failures(again)
        changed = changed_tasks(again)
        assert "Restart the database service on its host" in changed
        assert not any("Roll back" in t for t in changed), changed
        assert any(v["task"].startswith("Verify the platform") for v in again["verified"])
    finally:
        script.chmod(mode)
        faults.clear(lab_cfg, lab, "db-down")


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["platform-outage", "-e", "scale_replicas=100000"],
            "scale_replicas must be a number from 1 to 100 (got 100000)",
        ),
        (["platform-outage", "-e", "verify_timeout=0"], "verify_timeout must be a number from 1"),
        (
            ["performance-degradation", "-e", 'scale={"backend": 100000}'],
            "scale.backend must be a number from 0 to 100 (got 100000)",
        ),
        (
            ["performance-degradation", "-e", 'hpa={"deployment": "backend", "min": 5, "max": 2}'],
            "hpa.max must be a number from 5 to 100 (got 2)",
        ),
        (["performance-degradation", "-e", "max_response_ms=-1"], "max_response_ms must be"),
    ],
)
def test_composite_ranges_refused_in_the_first_play(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    """Ranges the argument spec cannot carry are checked before the chain's first write."""
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(lab_env, *args)
    assert rc == 2, failures(report)
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1 and message in failed[0]["msg"], failures(report)
    assert failed[0]["task"].startswith("Check the ")
    assert writes_since(lab, mark) == []
