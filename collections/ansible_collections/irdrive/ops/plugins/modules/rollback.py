# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback
short_description: Roll Deployments back to their previous or a named revision, and verify it
version_added: 0.1.0
description:
  - Does what C(kubectl rollout undo) does for one Deployment, a list, or every Deployment of a
    namespace; the target revision's ReplicaSet template (without its C(pod-template-hash)
    label) and annotations replace the Deployment's, and the controller then reuses that
    ReplicaSet and gives it the next revision number.
  - Plans every Deployment before it writes anything; an unknown Deployment or a revision that
    is not in the history fails the task and changes nothing.
  - Idempotent. A Deployment already running the target template is skipped. Each rollback
    records itself in the Deployment annotation C(irdrive.io/rollback) (from and to revision,
    images, and the target template's hash), so a re-run with O(revision=0) finds the rollback
    done instead of rolling back again to the bad revision, which after an undo has become the
    "previous" one. A new deploy changes the template, and then O(revision=0) rolls back again.
  - With O(wait=true) it waits until every rolled-back Deployment is complete, the way
    C(kubectl rollout status) judges it, and verifies that available equals desired and that
    the images are the target revision's. Otherwise the task fails and names each Deployment's
    state.
  - Returns each Deployment's current and target revision and images, also in check mode.
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
  names:
    description: Deployments to roll back. Give either O(names) or O(all=true).
    type: list
    elements: str
  all:
    description:
      - Roll back every Deployment of the namespace (the incident playbook's
        C(emergency-rollback.sh full)). Deployments without an earlier revision are skipped.
    type: bool
    default: false
  revision:
    description:
      - The revision to roll back to, as C(kubectl rollout history) lists it. V(0) means the
        previous revision.
      - A named revision needs exactly one Deployment.
    type: int
    default: 0
attributes:
  check_mode:
    description: Plans and reports the current and target revision and images; writes nothing.
    support: full
  diff_mode:
    description: Returns revision and images per Deployment before and after.
    support: full
"""

EXAMPLES = r"""
- name: Roll backend back to its previous revision and verify it
  irdrive.ops.rollback:
    namespace: platform
    names: [backend]

- name: Roll the whole platform back (emergency-rollback.sh full)
  irdrive.ops.rollback:
    namespace: platform
    all: true
    wait_timeout: 300

- name: Roll frontend back to revision 3
  irdrive.ops.rollback:
    namespace: platform
    names: [frontend]
    revision: 3
"""

RETURN = r"""
deployments:
  description: The plan and outcome per Deployment.
  returned: always
  type: list
  elements: dict
  sample:
    - name: backend
      action: rollback
      reason: revision 3 -> revision 2
      current: {revision: 3, images: ["registry.platform.com/backend:2.4.1-bad"]}
      target: {revision: 2, images: ["registry.platform.com/backend:2.4.1"]}
before:
  description: Revision, images and replicas of each rolled-back Deployment before the task.
  returned: always
  type: dict
  sample: {"backend": {"revision": 3, "images": ["registry.platform.com/backend:2.4.1-bad"],
           "replicas": 3}}
after:
  description: The same after the task (the plan's target in check mode).
  returned: always
  type: dict
  sample: {"backend": {"revision": 4, "images": ["registry.platform.com/backend:2.4.1"],
           "replicas": 3}}
rolled_back:
  description: Names of the Deployments rolled back (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [backend]
msg:
  description: One line per Deployment, current and target revision and images.
  returned: always
  type: str
  sample: "backend: roll back revision 3 (registry.platform.com/backend:2.4.1-bad) to revision 2
    (registry.platform.com/backend:2.4.1)"
waited:
  description: Seconds spent waiting for the rollouts.
  returned: always
  type: float
  sample: 2.5
"""

from datetime import datetime, timezone
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    check_wait,
    k8s_auth_argument_spec,
    wait_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry
from ansible_collections.irdrive.ops.plugins.module_utils.rollout import (
    RolloutClient,
    images,
    plan_rollback,
    rollback_operations,
    state_of,
    template_of,
    wait_for_rollouts,
)


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        names={"type": "list", "elements": "str"},
        all={"type": "bool", "default": False},
        revision={"type": "int", "default": 0},
    )
    spec.update(wait_argument_spec(180))
    return spec


def _show(side: dict[str, Any] | None) -> str:
    if not side:
        return "-"
    return f"revision {side['revision']} ({', '.join(side['images'])})"


def plan_line(plan: dict[str, Any], check_mode: bool) -> str:
    if plan["action"] == "rollback":
        verb = "would roll back" if check_mode else "rolled back"
        return f"{plan['name']}: {verb} {_show(plan['current'])} to {_show(plan['target'])}"
    return f"{plan['name']}: {plan['action']}, {_show(plan['current'])}: {plan['reason']}"


def load_plans(
    client: RolloutClient, namespace: str, names: list[str], every: bool, revision: int
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Read the deployments and their ReplicaSets; plan each one. Writes nothing."""
    if every:
        deployments = {
            d["metadata"]["name"]: d
            for d in sorted(client.list_deployments(namespace), key=lambda d: d["metadata"]["name"])
        }
        if not deployments:
            raise InvalidInputError(f"namespace {namespace} has no deployments to roll back")
    else:
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
    replicasets = client.list_replicasets(namespace)
    plans = [plan_rollback(d, replicasets, revision) for d in deployments.values()]
    return deployments, plans


def roll_back_one(
    client: RolloutClient, namespace: str, name: str, revision: int, now: str
) -> dict[str, Any]:
    """Patch one deployment; on a 409 re-read and re-plan (the plan may now be to skip)."""

    def attempt() -> dict[str, Any]:
        deployments, plans = load_plans(client, namespace, [name], False, revision)
        plan = plans[0]
        if plan["action"] == "rollback":
            operations = rollback_operations(deployments[name], plan, now)
            client.json_patch_deployment(namespace, name, operations)
        return plan

    return retry(attempt, transient=(ConflictError,), attempts=5, base_delay=0.05, max_delay=1.0)


def run_module(module: AnsibleModule, client: RolloutClient) -> dict[str, Any]:
    p = module.params
    namespace, revision = p["namespace"], p["revision"]
    names = list(dict.fromkeys(p["names"] or []))
    if revision < 0:
        raise InvalidInputError(
            f"revision must be 0 (previous) or a revision number, not {revision}"
        )
    if p["all"] and names:
        raise InvalidInputError("give either names or all=true, not both")
    if not p["all"] and not names:
        raise InvalidInputError("name at least one deployment, or set all=true")
    if revision and (p["all"] or len(names) != 1):
        raise InvalidInputError(
            f"a named revision ({revision}) needs exactly one deployment, not "
            + ("all of them" if p["all"] else f"{len(names)}: {', '.join(names)}")
        )
    deployments, plans = load_plans(client, namespace, names, p["all"], revision)
    impossible = [plan for plan in plans if plan["action"] == "impossible"]
    if impossible and not p["all"]:
        raise InvalidInputError(
            "; ".join(plan["reason"] for plan in impossible) + "; nothing was changed"
        )
    to_roll = [plan for plan in plans if plan["action"] == "rollback"]
    before = {plan["name"]: state_of(deployments[plan["name"]]) for plan in to_roll}
    after = {plan["name"]: {**before[plan["name"]], **plan["target"]} for plan in to_roll}
    waited = 0.0
    if to_roll and not module.check_mode:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for plan in to_roll:
            done = roll_back_one(client, namespace, plan["name"], revision, now)
            if done["action"] != "rollback":  # someone else rolled it back meanwhile
                plan.update(action=done["action"], reason=done["reason"])
        rolled = [plan["name"] for plan in to_roll if plan["action"] == "rollback"]
        targets = {plan["name"]: plan["target"]["images"] for plan in to_roll}
        if p["wait"] and rolled:

            def check(deployment: dict[str, Any]) -> str | None:
                have = images(template_of(deployment))
                want = targets[deployment["metadata"]["name"]]
                return None if have == want else f"images {have}, expected {want}"

            final, waited = wait_for_rollouts(
                client, namespace, rolled, p["wait_timeout"], p["wait_sleep"], check
            )
        else:
            final = {name: client.get_deployment(namespace, name) for name in rolled}
        after = {name: state_of(final[name]) for name in rolled}
    rolled_back = [plan["name"] for plan in plans if plan["action"] == "rollback"]
    report = []
    for plan in plans:
        entry = {k: plan[k] for k in ("name", "action", "reason", "current", "target")}
        if plan["name"] in after and not module.check_mode:
            entry["after"] = after[plan["name"]]
        report.append(entry)
    result: dict[str, Any] = {
        "changed": bool(rolled_back),
        "deployments": report,
        "rolled_back": rolled_back,
        "before": {name: before[name] for name in rolled_back},
        "after": {name: after[name] for name in rolled_back},
        "msg": "\n".join(plan_line(plan, module.check_mode) for plan in plans),
        "waited": waited,
    }
    if module._diff:
        result["diff"] = {"before": result["before"], "after": result["after"]}
    return result


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
