from __future__ import annotations

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.workload import (
    assess,
    matches_selector,
    pod_problem,
    summarize_deployment,
)
from collection_fakes import deployment, pod


def test_rolled_out_deployment_is_healthy() -> None:
    summary = summarize_deployment(deployment("backend", desired=3))
    assert summary["healthy"]
    assert summary["desired"] == summary["ready"] == summary["available"] == 3
    assert summary["revision"] == "2"
    assert summary["images"] == ["lab/backend:1.0"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"ready": 1}, "ready 1/3"),
        ({"observed": 2}, "controller has not observed generation 3 (at 2)"),
    ],
)
def test_unhealthy_deployment_says_why(kwargs: dict, problem: str) -> None:
    summary = summarize_deployment(deployment("backend", desired=3, **kwargs))
    assert not summary["healthy"]
    assert problem in summary["problems"]


def test_empty_status_counts_as_not_ready() -> None:
    dep = deployment("backend")
    dep["status"] = {}
    summary = summarize_deployment(dep)
    assert not summary["healthy"]
    assert summary["ready"] == 0


def test_crashlooping_pod_is_reported_with_reason_restarts_node() -> None:
    problem = pod_problem(
        pod("p-1", "backend", ready=False, waiting="CrashLoopBackOff", restarts=7)
    )
    assert problem is not None
    assert problem["reason"] == "CrashLoopBackOff"
    assert problem["restarts"] == 7
    assert problem["node"] == "lab-node-1"
    assert problem["message"] == "CrashLoopBackOff for container"


def test_ready_completed_and_terminating_pods_are_fine() -> None:
    assert pod_problem(pod("p-1", "backend")) is None
    assert pod_problem(pod("p-2", "backend", phase="Succeeded", ready=False)) is None
    terminating = pod("p-3", "backend", ready=False)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_problem(terminating) is None


def test_pending_pod_without_reason_uses_phase() -> None:
    pending = pod("p-1", "backend", ready=False, phase="Pending")
    pending["status"]["containerStatuses"] = []
    assert pod_problem(pending)["reason"] == "Pending"


def test_selector_matching() -> None:
    assert matches_selector({"app": "a", "tier": "x"}, {"app": "a"})
    assert not matches_selector({"app": "b"}, {"app": "a"})
    assert not matches_selector({"app": "a"}, {})


def test_assess_attributes_pods_to_their_deployment() -> None:
    report = assess(
        [deployment("backend"), deployment("frontend")],
        [
            pod("backend-1", "backend"),
            pod("frontend-1", "frontend", ready=False, waiting="ImagePullBackOff"),
            pod("other-1", "other", ready=False, waiting="CrashLoopBackOff"),
        ],
    )
    assert not report["healthy"]
    assert [p["name"] for p in report["unhealthy_pods"]] == ["frontend-1"]
    assert report["unhealthy_pods"][0]["deployment"] == "frontend"
    assert report["deployments"]["backend"]["pods"] == 1
