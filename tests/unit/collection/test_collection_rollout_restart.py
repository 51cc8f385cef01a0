"""irdrive.ops.rollout_restart against the fake Kubernetes API."""

from __future__ import annotations

from typing import Any

from ansible_collections.irdrive.ops.plugins.modules import rollout_restart
from collection_fakes import FakeKubeApi, deployment, pod

KEY = "payment-config@1042"


def controller(obj: dict[str, Any]) -> None:
    """Roll out at once: observe the generation, bump the revision."""
    rev = int(obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) + 1
    obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(rev)
    obj["status"]["observedGeneration"] = obj["metadata"]["generation"]


def template_annotations(kube: FakeKubeApi) -> dict[str, str]:
    dep = kube.get("deployments", "platform", "payment-service")
    return dep["spec"]["template"].get("metadata", {}).get("annotations", {})


def test_restart_once_per_key_and_verify(run_module, kube, kube_args) -> None:
    kube.add("deployments", deployment("payment-service"))
    kube.on_deployment_patch = controller
    args = {**kube_args, "namespace": "platform", "name": "payment-service", "idempotency_key": KEY}
    result, failed = run_module(rollout_restart, args)
    assert not failed and result["changed"], result
    assert result["before"]["revision"] == "2" and result["before"]["restart_key"] is None
    assert result["after"]["revision"] == "3" and result["after"]["restart_key"] == KEY
    assert template_annotations(kube)["irdrive.io/restart-key"] == KEY
    assert "kubectl.kubernetes.io/restartedAt" in template_annotations(kube)
    assert len(kube.writes()) == 1
    assert kube.writes()[0]["content_type"] == "application/strategic-merge-patch+json"

    again, failed = run_module(rollout_restart, args)
    assert not failed and not again["changed"]
    assert len(kube.writes()) == 1

    other, failed = run_module(rollout_restart, {**args, "idempotency_key": "next"})
    assert not failed and other["changed"] and other["before"]["restart_key"] == KEY


def test_check_mode_writes_nothing(run_module, kube, kube_args) -> None:
    kube.add("deployments", deployment("payment-service"))
    args = {**kube_args, "namespace": "platform", "name": "payment-service", "idempotency_key": KEY}
    result, failed = run_module(rollout_restart, args, check_mode=True, diff=True)
    assert not failed and result["changed"]
    assert result["diff"]["after"]["irdrive.io/restart-key"] == KEY
    assert kube.writes() == []


def test_rollout_that_never_completes_fails_with_the_pod_reasons(
    run_module, kube, kube_args
) -> None:
    kube.add("deployments", deployment("payment-service"))
    kube.add(
        "pods",
        pod(
            "payment-service-abc",
            "payment-service",
            ready=False,
            waiting="CrashLoopBackOff",
            restarts=4,
        ),
    )
    # No controller: the new generation is never observed.
    args = {
        **kube_args,
        "namespace": "platform",
        "name": "payment-service",
        "idempotency_key": KEY,
        "wait_timeout": 1,
        "wait_sleep": 0.1,
    }
    result, failed = run_module(rollout_restart, args)
    assert failed
    assert "not complete after 1s" in result["msg"] and "CrashLoopBackOff" in result["msg"]
    assert result["error_kind"] == "timeout"


def test_missing_deployment_is_a_clear_error(run_module, kube, kube_args) -> None:
    result, failed = run_module(
        rollout_restart, {**kube_args, "namespace": "platform", "name": "nope"}
    )
    assert failed and "nope" in result["msg"] and result["error_kind"] == "not_found"
