# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_workload_health
short_description: Report the health of Kubernetes deployments and their pods
version_added: 0.1.0
description:
  - For each deployment, compares the desired replicas with the updated, ready and available
    ones, checks that the controller observed the latest generation, and reports the revision
    and images.
  - Lists the deployments' pods that are not Running and Ready, with the reason (for example
    C(CrashLoopBackOff)), restart count and node. Pods being deleted and completed pods are
    ignored.
  - Read-only; never reports a change.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.read_only
  - irdrive.ops.k8s_auth
options:
  namespace:
    description: Namespace of the deployments.
    type: str
    required: true
  names:
    description: Deployments to check. All deployments of the namespace when empty.
    type: list
    elements: str
    default: []
  label_selector:
    description: Only deployments (and pods) with these labels, for example V(tier=payments).
    type: str
  fail_on_unhealthy:
    description:
      - Fail the task when a deployment or pod is unhealthy or a named deployment is missing.
        With V(false) the task succeeds and reports RV(healthy=false).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check that payment-service rolled out
  irdrive.ops.k8s_workload_health:
    kubeconfig: "{{ irdrive_kubeconfig }}"
    namespace: platform
    names: [payment-service]

- name: Survey the whole namespace without failing
  irdrive.ops.k8s_workload_health:
    namespace: platform
    fail_on_unhealthy: false
  register: platform_health

- name: Show the pods in trouble
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.reason }} ({{ item.restarts }} restarts)"
  loop: "{{ platform_health.unhealthy_pods }}"
"""

RETURN = r"""
healthy:
  description: True when every deployment is fully rolled out and none of their pods is in trouble.
  returned: always
  type: bool
  sample: false
deployments:
  description: A summary per deployment name.
  returned: always
  type: dict
  sample:
    payment-service:
      name: payment-service
      desired: 3
      replicas: 3
      updated: 3
      ready: 2
      available: 2
      unavailable: 1
      generation: 4
      observed_generation: 4
      revision: "3"
      images: ["registry.local/payment-service:1.4.2"]
      paused: false
      pods: 3
      unhealthy_pods: 1
      healthy: false
      problems: ["ready 2/3", "available 2/3", "1 unavailable"]
unhealthy_pods:
  description: Pods of these deployments that are not Running and Ready.
  returned: always
  type: list
  elements: dict
  sample:
    - name: payment-service-7d9c6b5f4-x2x1z
      deployment: payment-service
      phase: Running
      ready: false
      reason: CrashLoopBackOff
      reasons: [CrashLoopBackOff]
      restarts: 7
      node: node-1
      message: back-off 5m0s restarting failed container
missing:
  description: Names given in O(names) that do not exist.
  returned: always
  type: list
  elements: str
  sample: []
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.workload import assess


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        names={"type": "list", "elements": "str", "default": []},
        label_selector={"type": "str"},
        fail_on_unhealthy={"type": "bool", "default": True},
    )
    return spec


def run_module(module: AnsibleModule, client: K8sClient) -> dict[str, Any]:
    params = module.params
    namespace = params["namespace"]
    selector = params["label_selector"]
    missing: list[str] = []
    if params["names"]:
        deployments = []
        for name in dict.fromkeys(params["names"]):
            try:
                deployments.append(client.get_deployment(namespace, name))
            except NotFoundError:
                missing.append(name)
    else:
        deployments = client.list_deployments(namespace, label_selector=selector)
    pods = client.list_pods(namespace, label_selector=selector) if deployments else []
    report = assess(deployments, pods)
    report["healthy"] = report["healthy"] and not missing
    return {"changed": False, "namespace": namespace, "missing": missing, **report}


def summary_line(result: dict[str, Any]) -> str:
    parts = [
        f"{name}: {', '.join(d['problems'])}"
        for name, d in result["deployments"].items()
        if d["problems"]
    ]
    parts += [f"{p['name']}: {p['reason']}" for p in result["unhealthy_pods"]]
    parts += [f"{name}: not found" for name in result["missing"]]
    return f"workloads in {result['namespace']} are unhealthy: " + "; ".join(parts)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        client = K8sClient.from_auth(K8sAuth.from_params(module.params))
        return run_module(module, client)

    result = result_or_fail(module, work)
    if not result["healthy"] and module.params["fail_on_unhealthy"]:
        module.fail_json(msg=summary_line(result), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
