"""irdrive.ops.k8s_workload_health run as Ansible runs it, against the fake Kubernetes API."""

from __future__ import annotations

from ansible_collections.irdrive.ops.plugins.modules import k8s_workload_health
from collection_fakes import FakeKubeApi, deployment, pod


def seed(kube: FakeKubeApi, crashloop: bool = False) -> None:
    kube.add("deployments", deployment("backend", desired=2))
    kube.add("deployments", deployment("payment-service", desired=2, ready=1 if crashloop else 2))
    kube.add("pods", pod("backend-1", "backend"))
    kube.add("pods", pod("backend-2", "backend"))
    kube.add("pods", pod("payment-service-1", "payment-service"))
    if crashloop:
        kube.add(
            "pods",
            pod(
                "payment-service-2",
                "payment-service",
                False,
                waiting="CrashLoopBackOff",
                restarts=4,
            ),
        )
    else:
        kube.add("pods", pod("payment-service-2", "payment-service"))


def test_all_deployments_healthy(run_module, kube, kube_args) -> None:
    seed(kube)
    result, failed = run_module(k8s_workload_health, {**kube_args, "namespace": "platform"})
    assert not failed and result["healthy"] and not result["changed"]
    assert sorted(result["deployments"]) == ["backend", "payment-service"]
    assert result["unhealthy_pods"] == []
    assert kube.writes() == []


def test_crashloop_fails_with_reason(run_module, kube, kube_args) -> None:
    seed(kube, crashloop=True)
    args = {**kube_args, "namespace": "platform", "names": ["payment-service"]}
    result, failed = run_module(k8s_workload_health, args)
    assert failed and not result["healthy"]
    assert "payment-service-2: CrashLoopBackOff" in result["msg"]
    [bad] = result["unhealthy_pods"]
    assert bad["restarts"] == 4 and bad["deployment"] == "payment-service"
    assert list(result["deployments"]) == ["payment-service"]


def test_fail_on_unhealthy_false_reports_instead(run_module, kube, kube_args) -> None:
    seed(kube, crashloop=True)
    args = {**kube_args, "namespace": "platform", "fail_on_unhealthy": False}
    result, failed = run_module(k8s_workload_health, args, check_mode=True)
    assert not failed and not result["healthy"]
    assert result["deployments"]["backend"]["healthy"]
    assert not result["deployments"]["payment-service"]["healthy"]


def test_missing_named_deployment(run_module, kube, kube_args) -> None:
    seed(kube)
    args = {**kube_args, "namespace": "platform", "names": ["backend", "nope"]}
    result, failed = run_module(k8s_workload_health, args)
    assert failed and result["missing"] == ["nope"]
    assert "nope: not found" in result["msg"]


def test_unauthorized_fails_with_error_kind(run_module, kube, kube_args) -> None:
    args = {**kube_args, "api_key": "wrong", "namespace": "platform"}
    result, failed = run_module(k8s_workload_health, args)
    assert failed and result["error_kind"] == "auth"
    assert "wrong" not in result["msg"]
