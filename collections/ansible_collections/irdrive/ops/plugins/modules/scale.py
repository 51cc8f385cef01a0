# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: scale
short_description: Set Deployment replicas and a HorizontalPodAutoscaler, without fighting one
version_added: 0.1.0
description:
  - Does what C(kubectl scale deployment NAME --replicas=N) does for several Deployments, and
    what C(kubectl autoscale deployment NAME --min --max --cpu-percent) does, as an
    C(autoscaling/v2) HorizontalPodAutoscaler created or updated in place.
  - Reads everything first and writes nothing when the input is wrong; an unknown Deployment,
    a negative replica count or an HPA whose minimum exceeds its maximum fails the task.
  - Refuses to set the replicas of a Deployment that an existing HPA controls, naming the HPA,
    unless O(force=true); the HPA would undo the change. The Deployment of O(hpa) is the
    exception; its replicas are set while it has no HPA yet, and once the HPA exists they are
    the HPA's, so a re-run leaves them alone.
  - Idempotent; nothing is written when replicas and the HPA spec are already as asked.
  - With O(wait=true) it waits until every Deployment it touched has all its replicas updated,
    ready and available, and verifies that each one has the replicas asked for (or, for the
    HPA's Deployment, a count within the HPA's range).
  - kubernetes.core.k8s_scale and kubernetes.core.k8s do not fit; k8s_scale does not know about
    HPAs, and k8s with O(kubernetes.core.k8s#module:state=present) sends a PATCH for an unchanged HPA on every run.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
  - irdrive.ops.k8s_wait
options:
  namespace:
    description: Namespace of the Deployments.
    type: str
    required: true
  replicas:
    description:
      - Deployment name to replicas, as a mapping, a list of C({name, replicas}), or a string
        V(backend=5,frontend=3).
    type: raw
  hpa:
    description: The HPA to create or update for one Deployment.
    type: dict
    suboptions:
      deployment:
        description: The Deployment it scales. The HPA is named after it.
        type: str
        required: true
      min:
        description: Minimum replicas.
        type: int
        default: 1
      max:
        description: Maximum replicas.
        type: int
        required: true
      cpu_percent:
        description: Target average CPU utilization, percent of the pods' CPU request.
        type: int
        default: 80
  force:
    description: Set replicas even on a Deployment an HPA controls.
    type: bool
    default: false
  max_factor:
    description:
      - Refuse, before any write, to set more than this many times a Deployment's current
        replicas (a Deployment at 0 counts as 1), unless O(force_ceilings=true).
    type: int
    default: 10
  max_replicas:
    description: Refuse, before any write, to set more replicas than this, unless O(force_ceilings=true).
    type: int
    default: 100
  force_ceilings:
    description: Exceed O(max_factor) and O(max_replicas).
    type: bool
    default: false
attributes:
  check_mode:
    description: Plans and reports the replicas and HPA it would set; writes nothing.
    support: full
  diff_mode:
    description: Returns replicas per Deployment and the HPA spec before and after.
    support: full
"""

EXAMPLES = r"""
- name: Scale up on resource pressure (the P0 outage procedure)
  irdrive.ops.scale:
    namespace: platform
    replicas: {backend: 5}

- name: Scale applications and enable autoscaling (the P2 degradation procedure)
  irdrive.ops.scale:
    namespace: platform
    replicas: {backend: 8, frontend: 5}
    hpa: {deployment: backend, min: 3, max: 10, cpu_percent: 70}
"""

RETURN = r"""
deployments:
  description: Per Deployment, the replicas before and after and what was done.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: backend, action: scale, before: 3, after: 5, reason: "3 -> 5 replicas"}
hpa:
  description: The HPA before and after, and whether it was created, updated or left.
  returned: when O(hpa) is given
  type: dict
  sample: {name: backend, action: create, before: null,
           after: {name: backend, deployment: backend, min: 3, max: 10, cpu_percent: 70}}
before:
  description: The prior state this task replaced; replicas per Deployment and the HPA.
  returned: always
  type: dict
  sample: {"replicas": {"backend": 3}, "hpa": null}
after:
  description: The same after the task (the plan in check mode).
  returned: always
  type: dict
  sample: {"replicas": {"backend": 5},
           "hpa": {"name": "backend", "deployment": "backend", "min": 3, "max": 10,
                   "cpu_percent": 70}}
msg:
  description: One line per Deployment and one for the HPA.
  returned: always
  type: str
  sample: "backend: 3 -> 5 replicas"
waited:
  description: Seconds spent waiting for the pods.
  returned: always
  type: float
  sample: 1.5
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    check_wait,
    k8s_auth_argument_spec,
    wait_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    NotFoundError,
    RefusedError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.rollout import (
    RolloutClient,
    wait_for_rollouts,
)
from ansible_collections.irdrive.ops.plugins.module_utils.scale import (
    hpa_spec,
    hpa_summary,
    hpas_by_deployment,
    parse_replicas,
    replica_refusals,
    spec_differs,
)


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        replicas={"type": "raw"},
        hpa={
            "type": "dict",
            "options": {
                "deployment": {"type": "str", "required": True},
                "min": {"type": "int", "default": 1},
                "max": {"type": "int", "required": True},
                "cpu_percent": {"type": "int", "default": 80},
            },
        },
        force={"type": "bool", "default": False},
        max_factor={"type": "int", "default": 10},
        max_replicas={"type": "int", "default": 100},
        force_ceilings={"type": "bool", "default": False},
    )
    spec.update(wait_argument_spec(180))
    return spec


def validate_hpa(hpa: dict[str, Any] | None) -> None:
    if hpa is None:
        return
    if hpa["min"] < 1 or hpa["max"] < hpa["min"]:
        raise InvalidInputError(
            f"hpa for {hpa['deployment']}: need 1 <= min <= max, got min {hpa['min']} "
            f"and max {hpa['max']}"
        )
    if hpa["cpu_percent"] < 1:
        raise InvalidInputError(f"hpa: cpu_percent must be at least 1, got {hpa['cpu_percent']}")


def read(
    client: RolloutClient, namespace: str, names: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    deployments, missing = {}, []
    for name in names:
        try:
            deployments[name] = client.get_deployment(namespace, name)
        except NotFoundError:
            missing.append(name)
    if missing:
        known = sorted(d["metadata"]["name"] for d in client.list_deployments(namespace))
        raise InvalidInputError(
            f"deployment {', '.join(missing)} not found in namespace {namespace} "
            f"(deployments: {', '.join(known) or 'none'}); nothing was changed"
        )
    return deployments, hpas_by_deployment(client.list_hpas(namespace))


def check_ceilings(
    wanted: dict[str, int], deployments: dict[str, dict[str, Any]], p: dict[str, Any]
) -> None:
    """Refuse, before any write, replicas above the ceilings (bad input: exit 2)."""
    if p["max_factor"] < 1 or p["max_replicas"] < 1:
        raise InvalidInputError(
            f"max_factor and max_replicas must be at least 1, got {p['max_factor']} "
            f"and {p['max_replicas']}"
        )
    if p["force_ceilings"]:
        return
    current = {name: (deployments[name].get("spec") or {}).get("replicas", 1) for name in wanted}
    refusals = replica_refusals(wanted, current, p["max_factor"], p["max_replicas"])
    if refusals:
        raise InvalidInputError(
            "refused: " + "; ".join(refusals) + "; nothing was changed. Raise scale_max_factor"
            " or scale_max_replicas, or run with --force (extra var irdrive_force=true)"
        )


def plan_replicas(
    wanted: dict[str, int],
    deployments: dict[str, dict[str, Any]],
    hpas: dict[str, dict[str, Any]],
    hpa: dict[str, Any] | None,
    force: bool,
) -> list[dict[str, Any]]:
    plans, refusals = [], []
    for name, want in wanted.items():
        have = (deployments[name].get("spec") or {}).get("replicas", 1)
        controller = hpa_summary(hpas.get(name))
        plan = {"name": name, "before": have, "after": want, "action": "scale"}
        ours = hpa is not None and hpa["deployment"] == name
        if ours and not hpa["min"] <= want <= hpa["max"]:
            raise InvalidInputError(
                f"replicas for {name} ({want}) lie outside the HPA's range "
                f"{hpa['min']}..{hpa['max']}; the HPA would undo them"
            )
        if have == want:
            plan.update(action="none", reason=f"already {have} replicas")
        elif controller and ours and not force:
            plan.update(
                action="autoscaled",
                after=have,
                reason=f"{have} replicas, left to HPA {controller['name']} "
                f"({hpa['min']}..{hpa['max']})",
            )
        elif controller and not force:
            refusals.append(
                f"{name} is controlled by HPA {controller['name']} "
                f"(min {controller['min']}, max {controller['max']}): setting {want} replicas "
                f"would fight it; change the HPA instead, or set force"
            )
        else:
            plan["reason"] = f"{have} -> {want} replicas" + (
                f" (forced over HPA {controller['name']})" if controller else ""
            )
        plans.append(plan)
    if refusals:
        raise RefusedError("refused: " + "; ".join(refusals) + "; nothing was changed")
    return plans


def plan_hpa(
    namespace: str, hpa: dict[str, Any] | None, hpas: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    if hpa is None:
        return None
    desired = hpa_spec(hpa["deployment"], hpa["min"], hpa["max"], hpa["cpu_percent"])
    existing = hpas.get(hpa["deployment"])
    if existing is None:
        body = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": hpa["deployment"], "namespace": namespace},
            "spec": desired,
        }
        return {"action": "create", "name": hpa["deployment"], "before": None, "body": body}
    name = existing["metadata"]["name"]
    action = "update" if spec_differs(existing.get("spec") or {}, desired) else "none"
    return {
        "action": action,
        "name": name,
        "before": hpa_summary(existing),
        "spec": desired,
        "resource_version": existing["metadata"].get("resourceVersion"),
    }


def run_module(module: AnsibleModule, client: RolloutClient) -> dict[str, Any]:
    p = module.params
    namespace, hpa = p["namespace"], p["hpa"]
    wanted = parse_replicas(p["replicas"])
    validate_hpa(hpa)
    if not wanted and hpa is None:
        raise InvalidInputError("nothing to do: give replicas, hpa, or both")
    names = list(dict.fromkeys([*wanted, *([hpa["deployment"]] if hpa else [])]))
    deployments, hpas = read(client, namespace, names)
    check_ceilings(wanted, deployments, p)
    plans = plan_replicas(wanted, deployments, hpas, hpa, p["force"])
    hpa_plan = plan_hpa(namespace, hpa, hpas)
    to_scale = [plan for plan in plans if plan["action"] == "scale"]
    hpa_after = None
    if hpa_plan is not None:
        spec = hpa_spec(hpa["deployment"], hpa["min"], hpa["max"], hpa["cpu_percent"])
        hpa_after = hpa_summary({"metadata": {"name": hpa_plan["name"]}, "spec": spec})
    waited = 0.0
    if not module.check_mode:
        for plan in to_scale:
            client.set_replicas(namespace, plan["name"], plan["after"])
        if hpa_plan is not None and hpa_plan["action"] == "create":
            client.create_hpa(namespace, hpa_plan["body"])
        elif hpa_plan is not None and hpa_plan["action"] == "update":
            client.patch_hpa(
                namespace, hpa_plan["name"], hpa_plan["spec"], hpa_plan["resource_version"]
            )
        if p["wait"]:
            waited = wait_and_verify(client, namespace, plans, hpa, p)
    changed = bool(to_scale) or (hpa_plan is not None and hpa_plan["action"] != "none")
    lines = [f"{plan['name']}: {plan['reason']}" for plan in plans]
    if hpa_plan is not None:
        lines.append(
            f"HPA {hpa_plan['name']}: {hpa_plan['action']}, "
            f"{_hpa_text(hpa_plan['before'])} -> {_hpa_text(hpa_after)}"
        )
    result: dict[str, Any] = {
        "changed": changed,
        "deployments": plans,
        "before": {
            "replicas": {plan["name"]: plan["before"] for plan in to_scale},
            "hpa": hpa_plan["before"] if hpa_plan and hpa_plan["action"] != "none" else None,
        },
        "after": {
            "replicas": {plan["name"]: plan["after"] for plan in to_scale},
            "hpa": hpa_after if hpa_plan and hpa_plan["action"] != "none" else None,
        },
        "msg": "\n".join(lines),
        "waited": waited,
    }
    if hpa_plan is not None:
        result["hpa"] = {
            "name": hpa_plan["name"],
            "action": hpa_plan["action"],
            "before": hpa_plan["before"],
            "after": hpa_after,
        }
    if module._diff:
        result["diff"] = {"before": result["before"], "after": result["after"]}
    return result


def _hpa_text(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "none"
    return f"min {summary['min']}, max {summary['max']}, cpu {summary['cpu_percent']}%"


def wait_and_verify(
    client: RolloutClient,
    namespace: str,
    plans: list[dict[str, Any]],
    hpa: dict[str, Any] | None,
    p: dict[str, Any],
) -> float:
    """Wait until the pods are ready; verify the replicas (within the HPA range for its target)."""
    wanted = {plan["name"]: plan["after"] for plan in plans}
    names = [*wanted, *([hpa["deployment"]] if hpa else [])]

    def check(deployment: dict[str, Any]) -> str | None:
        name = deployment["metadata"]["name"]
        have = (deployment.get("spec") or {}).get("replicas", 1)
        if hpa is not None and hpa["deployment"] == name:
            if hpa["min"] <= have <= hpa["max"]:
                return None
            return f"{have} replicas, outside the HPA range {hpa['min']}..{hpa['max']}"
        if have != wanted[name]:
            return f"{have} replicas, expected {wanted[name]} (changed by someone else?)"
        return None

    _, waited = wait_for_rollouts(
        client, namespace, names, p["wait_timeout"], p["wait_sleep"], check
    )
    return waited


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        check_wait(module.params)
        client = RolloutClient.from_auth(K8sAuth.from_params(module.params))
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
