# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: platform_diagnose
short_description: Diagnose the platform in one call, Kubernetes and HTTP dependencies
version_added: 0.1.0
description:
  - Gathers, in one process and in parallel where it can, what the P0 "Platform Outage" and
    P2 "Performance Degradation" procedures ask a responder to look at.
  - Pods that are not Running and Ready (in O(namespace), or in every namespace with
    O(all_namespaces=true)), each deployment's rollout health and rollout history (revision,
    change cause, images), error lines in the recent logs of each app's running pods, and
    CPU and memory use from C(metrics.k8s.io) against the containers' limits and the nodes'
    allocatable resources.
  - Probes the HTTP health endpoints given in O(http_checks).
  - Returns the raw facts and a list of RV(findings), each with a severity and the runbook that
    remedies it (a bad deploy suggests C(rollback), resource pressure C(scale), a failed
    dependency the runbook its check names).
  - Read-only; never reports a change. When C(metrics.k8s.io) is not served the usage part is
    skipped and RV(notes) says so.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.read_only
  - irdrive.ops.k8s_auth
options:
  namespace:
    description: Namespace of the platform's deployments.
    type: str
    default: platform
  all_namespaces:
    description: Look for pods that are not Running and Ready in every namespace.
    type: bool
    default: true
  log_window:
    description: Seconds of logs to read from each running pod (C(kubectl logs --since)).
    type: int
    default: 300
  log_tail_lines:
    description: At most this many of the newest lines per pod.
    type: int
    default: 2000
  error_pattern:
    description: Regular expression (Python C(re.search)) a log line matches when it is an error.
    type: str
    default: '\b(ERROR|FATAL|CRITICAL)\b|"level":\s*"error"|level=error'
  error_min_count:
    description: Errors of an app in the window at or above which it becomes a finding.
    type: int
    default: 10
  error_min_ratio:
    description: Share of error lines of an app at or above which it becomes a finding.
    type: float
    default: 0.2
  usage_threshold:
    description:
      - Share of a container's limits (pods) or of allocatable resources (nodes) at or above
        which the usage becomes a resource-pressure finding.
    type: float
    default: 0.9
  metrics:
    description: Read C(metrics.k8s.io).
    type: bool
    default: true
  http_checks:
    description: HTTP health endpoints of the platform and its external dependencies.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name shown in the report.
        type: str
        required: true
      url:
        description: URL to probe.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        choices: [GET, HEAD]
        default: GET
      expected_status:
        description: Statuses that count as healthy.
        type: list
        elements: int
        default: [200]
      id:
        description: Finding id when the check fails.
        type: str
        default: dependency-down
      severity:
        description: Severity of the finding when the check fails.
        type: str
        choices: [critical, high, warning, info]
        default: critical
      runbook:
        description: Runbook suggested when the check fails.
        type: str
        default: ""
  http_timeout:
    description: Seconds to wait for each HTTP check.
    type: float
    default: 5.0
  workers:
    description: How many requests run at the same time.
    type: int
    default: 8
notes:
  - A production cluster may refuse the log and metrics reads to a narrow role; each such
    refusal is reported in RV(notes) and the rest of the diagnosis still runs.
"""

EXAMPLES = r"""
- name: Diagnose the platform
  irdrive.ops.platform_diagnose:
    kubeconfig: "{{ irdrive_kubeconfig }}"
    namespace: platform
    http_checks:
      - name: platform
        url: "{{ irdrive_platform_url }}/health"
        runbook: platform-outage
      - name: processor ccbill
        url: "{{ irdrive_platform_url }}/processors/ccbill/health"
        id: processor-down
        runbook: payments-failover
  register: diagnosis

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ item.severity }} {{ item.summary }} -> {{ item.runbook or 'no runbook' }}"
  loop: "{{ diagnosis.findings }}"
"""

RETURN = r"""
findings:
  description: What looks wrong, most severe first, each with the runbook that remedies it.
  returned: always
  type: list
  elements: dict
  sample:
    - id: bad-deploy
      severity: critical
      target: deployment/platform/backend
      summary: "backend revision 3 (registry.platform.com/backend:2.4.1-bad): 1 pod(s) CrashLoopBackOff"
      runbook: rollback
      evidence: {"revision": 3, "previous_revision": 2}
pods_not_ready:
  description: Pods not Running and Ready, with namespace, reason and restarts.
  returned: always
  type: list
  elements: dict
  sample: [{"namespace": "platform", "name": "backend-6c9-x", "reason": "CrashLoopBackOff", "restarts": 4}]
deployments:
  description: Rollout health per deployment (as irdrive.ops.k8s_workload_health returns it).
  returned: always
  type: dict
  sample: {"backend": {"desired": 3, "available": 2, "revision": "3", "healthy": false}}
rollout_history:
  description: Per deployment, its revisions newest first.
  returned: always
  type: dict
  sample:
    backend:
      - revision: 3
        change_cause: deploy registry.platform.com/backend:2.4.2 (CHG-4151)
        images: ["registry.platform.com/backend:2.4.2"]
        replicas: 3
        ready: 0
log_errors:
  description: Per app, error lines and lines read in the window.
  returned: always
  type: dict
  sample: {"payment-service": {"errors": 42, "lines": 60, "ratio": 0.7, "pods": 2, "window_seconds": 300}}
pod_usage:
  description: CPU and memory per measured pod and their share of the limits.
  returned: always
  type: list
  elements: dict
  sample: [{"pod": "backend-1", "app": "backend", "cpu_cores": 0.98, "cpu_limit_ratio": 0.98}]
node_usage:
  description: CPU and memory per node and their share of allocatable.
  returned: always
  type: list
  elements: dict
  sample: [{"node": "node-1", "cpu_ratio": 0.15, "memory_ratio": 0.11}]
http_checks:
  description: The result of each HTTP check.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "platform", "url": "http://127.0.0.1:7002/health", "healthy": true, "status": 200}]
notes:
  description: Parts of the diagnosis that could not be made, and why.
  returned: always
  type: list
  elements: str
  sample: ["metrics.k8s.io is not served: HTTP 404"]
"""

import contextlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils import diagnose
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.diagnose import DiagnoseClient
from ansible_collections.irdrive.ops.plugins.module_utils.errors import IrdriveOpsError
from ansible_collections.irdrive.ops.plugins.module_utils.http import request
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.workload import assess, pod_problem


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "default": "platform"},
        all_namespaces={"type": "bool", "default": True},
        log_window={"type": "int", "default": 300},
        log_tail_lines={"type": "int", "default": 2000},
        error_pattern={
            "type": "str",
            "default": r'\b(ERROR|FATAL|CRITICAL)\b|"level":\s*"error"|level=error',
        },
        error_min_count={"type": "int", "default": 10},
        error_min_ratio={"type": "float", "default": 0.2},
        usage_threshold={"type": "float", "default": 0.9},
        metrics={"type": "bool", "default": True},
        http_checks={
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "url": {"type": "str", "required": True},
                "method": {"type": "str", "choices": ["GET", "HEAD"], "default": "GET"},
                "expected_status": {"type": "list", "elements": "int", "default": [200]},
                "id": {"type": "str", "default": "dependency-down"},
                "severity": {
                    "type": "str",
                    "choices": list(diagnose.SEVERITIES),
                    "default": "critical",
                },
                "runbook": {"type": "str", "default": ""},
            },
        },
        http_timeout={"type": "float", "default": 5.0},
        workers={"type": "int", "default": 8},
    )
    return spec


def probe(check: dict[str, Any], timeout: float) -> dict[str, Any]:
    result = {k: check[k] for k in ("name", "url", "id", "severity", "runbook")}
    try:
        response = request(check["url"], method=check["method"], timeout=timeout)
    except IrdriveOpsError as error:
        return {**result, "healthy": False, "status": None, "reason": str(error)}
    healthy = response.status in check["expected_status"]
    result.update(healthy=healthy, status=response.status, latency_ms=response.latency_ms)
    result["reason"] = "" if healthy else f"status {response.status}"
    if response.content_type.endswith("json"):
        with contextlib.suppress(ValueError):
            result["json"] = json.loads(response.text())
            detail = result["json"].get("error") if isinstance(result["json"], dict) else None
            if not healthy and detail:
                result["reason"] += f": {detail}"
    return result


def running_containers(pod: dict[str, Any]) -> list[str]:
    return [
        s["name"]
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if (s.get("state") or {}).get("running")
    ]


def gather_logs(
    client: DiagnoseClient,
    pods: list[dict[str, Any]],
    params: dict[str, Any],
    pool: ThreadPoolExecutor,
    notes: list[str],
) -> dict[str, dict[str, Any]]:
    pattern = re.compile(params["error_pattern"])
    jobs = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        for container in running_containers(pod):
            future = pool.submit(
                client.pod_log,
                meta.get("namespace"),
                meta.get("name"),
                container,
                params["log_window"],
                params["log_tail_lines"],
            )
            jobs.append((diagnose.app_of(pod), meta.get("name"), future))
    errors: dict[str, dict[str, Any]] = {}
    for app, pod_name, future in jobs:
        try:
            text = future.result()
        except IrdriveOpsError as error:
            notes.append(f"logs of pod {pod_name} not read: {error}")
            continue
        count, lines = diagnose.count_errors(text, pattern)
        entry = errors.setdefault(
            app, {"errors": 0, "lines": 0, "pods": 0, "window_seconds": params["log_window"]}
        )
        entry["errors"] += count
        entry["lines"] += lines
        entry["pods"] += 1
    for entry in errors.values():
        entry["ratio"] = round(entry["errors"] / entry["lines"], 4) if entry["lines"] else 0.0
    return errors


def gather_usage(
    client: DiagnoseClient, namespace: str, pods: list[dict[str, Any]], notes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        pod_metrics = client.pod_metrics(namespace)
        node_metrics = client.node_metrics()
        nodes = client.list_nodes()
    except IrdriveOpsError as error:
        notes.append(f"metrics.k8s.io not read: {error}")
        return [], []
    return diagnose.pod_usage(pods, pod_metrics), diagnose.node_usage(nodes, node_metrics)


def run_module(module: AnsibleModule, client: DiagnoseClient) -> dict[str, Any]:
    params = module.params
    namespace = params["namespace"]
    notes: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, params["workers"])) as pool:
        http_futures = [
            pool.submit(probe, c, params["http_timeout"]) for c in params["http_checks"]
        ]
        deployments = client.list_deployments(namespace)
        if params["all_namespaces"]:
            all_pods = client.list_all_pods()
            pods = [p for p in all_pods if (p.get("metadata") or {}).get("namespace") == namespace]
        else:
            all_pods = pods = client.list_pods(namespace)
        replicasets = client.list_replicasets(namespace)
        log_errors = gather_logs(client, pods, params, pool, notes)
        pod_usage, node_usage = (
            gather_usage(client, namespace, pods, notes) if params["metrics"] else ([], [])
        )
        checks = [future.result() for future in http_futures]
    health = assess(deployments, pods)
    history = diagnose.rollout_history(deployments, replicasets)
    not_ready = []
    for pod in all_pods:
        problem = pod_problem(pod)
        if problem:
            problem["namespace"] = (pod.get("metadata") or {}).get("namespace")
            not_ready.append(problem)
    elsewhere = [p for p in not_ready if p["namespace"] != namespace]
    findings = (
        [
            diagnose.finding(
                "pods-not-ready",
                "warning",
                f"pod/{p['namespace']}/{p['name']}",
                f"pod {p['namespace']}/{p['name']} is not Running and Ready ({p['reason']})",
                restarts=p["restarts"],
            )
            for p in elsewhere
        ]
        + diagnose.deployment_findings(
            deployments, history, health["unhealthy_pods"], pods, namespace
        )
        + diagnose.pressure_findings(pod_usage, node_usage, params["usage_threshold"], namespace)
        + diagnose.error_findings(
            log_errors, params["error_min_count"], params["error_min_ratio"], namespace
        )
        + diagnose.http_findings(checks)
    )
    return {
        "changed": False,
        "namespace": namespace,
        "findings": diagnose.sort_findings(findings),
        "pods_not_ready": not_ready,
        "deployments": health["deployments"],
        "rollout_history": history,
        "log_errors": log_errors,
        "pod_usage": pod_usage,
        "node_usage": node_usage,
        "http_checks": checks,
        "notes": notes,
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    for key in ("log_window", "log_tail_lines", "error_min_count", "workers"):
        if params[key] < (1 if key == "workers" else 0):
            module.fail_json(msg=f"{key} must not be negative, got {params[key]}")
    try:
        re.compile(params["error_pattern"])
    except re.error as error:
        module.fail_json(msg=f"error_pattern is not a valid regular expression: {error}")

    def work() -> dict[str, Any]:
        client = DiagnoseClient.from_auth(K8sAuth.from_params(params))
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
