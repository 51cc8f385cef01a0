"""module_utils.diagnose and irdrive.ops.platform_diagnose: facts in, findings out."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import diagnose
from ansible_collections.irdrive.ops.plugins.module_utils.errors import NotFoundError
from ansible_collections.irdrive.ops.plugins.modules import platform_diagnose
from collection_fakes import deployment, pod


@pytest.mark.parametrize(
    ("quantity", "cores"),
    [("250m", 0.25), ("1", 1.0), ("59780335n", 0.059780335), ("1500u", 0.0015), (None, None)],
)
def test_cpu_quantities(quantity: Any, cores: float | None) -> None:
    if cores is None:
        assert diagnose.cpu_cores(quantity) is None
    else:
        assert diagnose.cpu_cores(quantity) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("quantity", "size"), [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1000k", 10**6), ("64", 64)]
)
def test_memory_quantities(quantity: str, size: int) -> None:
    assert diagnose.mem_bytes(quantity) == size


def test_bad_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="not a CPU quantity"):
        diagnose.cpu_cores("lots")


def replicaset(name: str, revision: int, image: str, template_hash: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{name}-{template_hash}",
            "labels": {"app": name, "pod-template-hash": template_hash},
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": f"deploy {image}",
            },
            "ownerReferences": [{"kind": "Deployment", "name": name}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"readyReplicas": 1},
    }


def with_hash(p: dict[str, Any], template_hash: str) -> dict[str, Any]:
    p["metadata"]["labels"]["pod-template-hash"] = template_hash
    return p


def test_rollout_history_is_newest_first_and_skips_strangers() -> None:
    history = diagnose.rollout_history(
        [deployment("backend")],
        [
            replicaset("backend", 1, "b:1", "a1"),
            replicaset("backend", 3, "b:3", "c3"),
            replicaset("backend", 2, "b:2", "b2"),
            replicaset("other", 1, "o:1", "o1"),
        ],
    )
    assert list(history) == ["backend"]
    assert [r["revision"] for r in history["backend"]] == [3, 2, 1]
    assert history["backend"][0]["change_cause"] == "deploy b:3"


def test_crashing_newest_revision_is_a_bad_deploy() -> None:
    deployments = [deployment("backend", desired=2, ready=1)]
    history = diagnose.rollout_history(
        deployments,
        [replicaset("backend", 1, "b:1", "old"), replicaset("backend", 2, "b:2-bad", "new")],
    )
    pods = [
        with_hash(pod("backend-old", "backend"), "old"),
        with_hash(pod("backend-new", "backend", False, waiting="CrashLoopBackOff"), "new"),
    ]
    unhealthy = [p for p in map(diagnose_pod_problem, pods) if p]
    found = diagnose.deployment_findings(deployments, history, unhealthy, pods, "platform")
    assert [(f["id"], f["runbook"], f["severity"]) for f in found] == [
        ("bad-deploy", "rollback", "critical")
    ]
    assert found[0]["evidence"]["previous_revision"] == 1


def test_without_an_older_revision_it_is_only_pods_not_ready() -> None:
    deployments = [deployment("backend", desired=1, ready=0)]
    history = diagnose.rollout_history(deployments, [replicaset("backend", 1, "b:1", "h")])
    pods = [with_hash(pod("backend-1", "backend", False, waiting="CrashLoopBackOff"), "h")]
    unhealthy = [p for p in map(diagnose_pod_problem, pods) if p]
    found = diagnose.deployment_findings(deployments, history, unhealthy, pods, "platform")
    assert [(f["id"], f["runbook"]) for f in found] == [("pods-not-ready", "")]


def diagnose_pod_problem(p: dict[str, Any]) -> dict[str, Any] | None:
    from ansible_collections.irdrive.ops.plugins.module_utils.workload import pod_problem

    return pod_problem(p)


def limited_pod(name: str, app: str) -> dict[str, Any]:
    p = pod(name, app)
    p["spec"]["containers"] = [
        {"name": app, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    ]
    return p


def test_usage_at_the_limits_is_pressure_and_suggests_scale() -> None:
    pods = [limited_pod("backend-1", "backend"), limited_pod("frontend-1", "frontend")]
    metrics = [
        {
            "metadata": {"name": "backend-1"},
            "containers": [{"name": "backend", "usage": {"cpu": "950m", "memory": "512Mi"}}],
        },
        {
            "metadata": {"name": "frontend-1"},
            "containers": [{"name": "frontend", "usage": {"cpu": "100m", "memory": "100Mi"}}],
        },
    ]
    usage = diagnose.pod_usage(pods, metrics)
    assert usage[0]["cpu_limit_ratio"] == 0.95 and usage[0]["memory_limit_ratio"] == 0.5
    nodes = diagnose.node_usage(
        [{"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}}],
        [{"metadata": {"name": "n1"}, "usage": {"cpu": "3900m", "memory": "1Gi"}}],
    )
    found = diagnose.pressure_findings(usage, nodes, 0.9, "platform")
    assert [(f["id"], f["target"], f["runbook"]) for f in found] == [
        ("resource-pressure", "deployment/platform/backend", "scale"),
        ("node-pressure", "node/n1", "scale"),
    ]


def test_error_rate_needs_both_count_and_share() -> None:
    pattern = re.compile(r"\bERROR\b")
    assert diagnose.count_errors("a ERROR x\nINFO y\n\nERRORS z\n", pattern) == (1, 3)
    errors = {
        "payment-service": {"errors": 40, "lines": 50, "ratio": 0.8, "window_seconds": 300},
        "backend": {"errors": 12, "lines": 300, "ratio": 0.04, "window_seconds": 300},
        "nginx": {"errors": 3, "lines": 4, "ratio": 0.75, "window_seconds": 300},
    }
    found = diagnose.error_findings(errors, 10, 0.2, "platform")
    assert [f["target"] for f in found] == ["deployment/platform/payment-service"]


def test_findings_sort_by_severity() -> None:
    found = diagnose.sort_findings(
        [
            diagnose.finding("b", "warning", "t", "s"),
            diagnose.finding("a", "critical", "t", "s"),
            diagnose.finding("c", "high", "t", "s"),
        ]
    )
    assert [f["severity"] for f in found] == ["critical", "high", "warning"]


# ---- the module, with a fake client and a real HTTP server --------------------------------
class FakeClient:
    def __init__(self, pods: list[dict[str, Any]], logs: dict[str, str]) -> None:
        self.pods = pods
        self.logs = logs

    def list_deployments(self, namespace: str) -> list[dict[str, Any]]:
        return [deployment("payment-service", desired=1)]

    def list_all_pods(self) -> list[dict[str, Any]]:
        return self.pods

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        return [p for p in self.pods if p["metadata"]["namespace"] == namespace]

    def list_replicasets(self, namespace: str) -> list[dict[str, Any]]:
        return []

    def pod_log(self, namespace: str, name: str, container: str, since: int, tail: int) -> str:
        if name not in self.logs:
            raise NotFoundError(f"pod {name} not found")
        return self.logs[name]

    def pod_metrics(self, namespace: str) -> list[dict[str, Any]]:
        raise NotFoundError("metrics.k8s.io: HTTP 404")

    node_metrics = list_nodes = pod_metrics


class Module:
    def __init__(self, **params: Any) -> None:
        spec = platform_diagnose.argument_spec()
        self.params = {k: v.get("default") for k, v in spec.items()}
        self.params.update(params)
        self.check_mode = False


@pytest.fixture
def health_server() -> Any:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            code = 503 if "ccbill" in self.path else 200
            body = json.dumps({"status": "down" if code == 503 else "ok", "error": "timeout"})
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_module_reports_failed_dependency_errors_and_missing_metrics(health_server: str) -> None:
    pods = [pod("payment-service-1", "payment-service")]
    dns = pod("coredns-1", "coredns", False, waiting="CrashLoopBackOff")
    dns["metadata"]["namespace"] = "kube-system"
    logs = {"payment-service-1": "x ERROR processor ccbill timeout\n" * 30 + "INFO ok\n" * 5}
    checks = [
        {
            "name": n,
            "url": f"{health_server}/processors/{n}/health",
            "method": "GET",
            "expected_status": [200],
            "id": "processor-down",
            "severity": "critical",
            "runbook": "payments-failover",
        }
        for n in ("ccbill", "segpay")
    ]
    result = platform_diagnose.run_module(
        Module(http_checks=checks), FakeClient([*pods, dns], logs)
    )
    assert result["changed"] is False
    ids = [(f["id"], f["runbook"]) for f in result["findings"]]
    assert ("processor-down", "payments-failover") in ids
    assert ("error-rate", "") in ids and ("pods-not-ready", "") in ids
    down = [c for c in result["http_checks"] if not c["healthy"]]
    assert [c["name"] for c in down] == ["ccbill"] and "timeout" in down[0]["reason"]
    assert result["log_errors"]["payment-service"]["errors"] == 30
    assert any("metrics.k8s.io" in n for n in result["notes"])
    assert result["pods_not_ready"][0]["namespace"] == "kube-system"
