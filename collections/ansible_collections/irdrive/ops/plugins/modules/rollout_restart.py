# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollout_restart
short_description: Restart a Deployment's rollout once per idempotency key, and verify it
version_added: 0.1.0
description:
  - Does what C(kubectl rollout restart) does, by setting the pod template annotation
    C(kubectl.kubernetes.io/restartedAt), and records O(idempotency_key) in the template
    annotation C(irdrive.io/restart-key).
  - When the template already carries the same key the restart is not repeated, so a re-run
    reports no change; a different key restarts again.
  - With O(wait=true) it waits until the rollout is complete and verifies it, the way
    C(kubectl rollout status) judges it; the controller observed the new generation, every
    replica is updated and available, no old replica remains, and the revision now serving
    carries the key. Otherwise the task fails, naming what was not ready.
  - Returns the prior revision and annotations in RV(before), so the restart can be reported
    and undone.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
  - irdrive.ops.k8s_wait
options:
  namespace:
    description: Namespace of the Deployment.
    type: str
    required: true
  name:
    description: Name of the Deployment.
    type: str
    required: true
  idempotency_key:
    description:
      - Identifies this restart, for example the ConfigMap version it applies or an incident
        id. The restart happens once per key.
      - Without a key every run restarts, like C(kubectl rollout restart).
    type: str
  wait_timeout:
    description: Seconds to wait for the rollout; must be positive.
    type: int
    default: 120
attributes:
  check_mode:
    description: Reads the Deployment and reports whether it would restart; writes nothing.
    support: full
  diff_mode:
    description: Returns the template annotations before and after.
    support: full
"""

EXAMPLES = r"""
- name: Restart payment-service for the new processor configuration
  irdrive.ops.rollout_restart:
    namespace: platform
    name: payment-service
    idempotency_key: "payment-config@{{ patched.result.metadata.resourceVersion }}"
    wait_timeout: 180

- name: Restart the consumers of a rotated secret, once per rotation
  irdrive.ops.rollout_restart:
    namespace: platform
    name: "{{ item }}"
    idempotency_key: "db-credentials@{{ rotation_id }}"
  loop: [backend, payment-service]
"""

RETURN = r"""
before:
  description: The Deployment's revision and restart annotations before the task.
  returned: always
  type: dict
  sample: {"revision": "3", "restarted_at": null, "restart_key": null, "generation": 4}
after:
  description: The revision and annotations after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {"revision": "4", "restarted_at": "2026-11-27T03:12:09Z",
           "restart_key": "payment-config@1042", "generation": 5}
status:
  description: The rollout status when the task ended.
  returned: always
  type: dict
  sample: {"replicas": 2, "updated": 2, "ready": 2, "available": 2, "observed_generation": 5}
waited:
  description: Seconds spent waiting for the rollout.
  returned: always
  type: float
  sample: 3.2
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
    IrdriveOpsError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.rollout import (
    RESTART_KEY,
    RESTARTED_AT,
    REVISION,
    wait_for_rollouts,
)


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        name={"type": "str", "required": True},
        idempotency_key={"type": "str", "no_log": False},
    )
    spec.update(wait_argument_spec(120))
    return spec


def restart_state(deployment: dict[str, Any]) -> dict[str, Any]:
    meta = deployment.get("metadata") or {}
    template_ann = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    template_ann = template_ann.get("annotations") or {}
    return {
        "revision": (meta.get("annotations") or {}).get(REVISION),
        "restarted_at": template_ann.get(RESTARTED_AT),
        "restart_key": template_ann.get(RESTART_KEY),
        "generation": meta.get("generation"),
    }


def rollout_status(deployment: dict[str, Any]) -> dict[str, Any]:
    status = deployment.get("status") or {}
    return {
        "desired": (deployment.get("spec") or {}).get("replicas", 1),
        "replicas": status.get("replicas", 0),
        "updated": status.get("updatedReplicas", 0),
        "ready": status.get("readyReplicas", 0),
        "available": status.get("availableReplicas", 0),
        "observed_generation": status.get("observedGeneration", 0),
    }


def run_module(module: AnsibleModule, client: K8sClient) -> dict[str, Any]:
    p = module.params
    namespace, name, key = p["namespace"], p["name"], p["idempotency_key"]
    deployment = client.get_deployment(namespace, name)
    before = restart_state(deployment)
    needed = key is None or before["restart_key"] != key
    after = dict(before)
    if needed:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        annotations = {RESTARTED_AT: now}
        if key is not None:
            annotations[RESTART_KEY] = key
        if module.check_mode:
            after.update(restarted_at=now, restart_key=key)
        else:
            body = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
            deployment = client.patch_deployment(namespace, name, body)
            after = restart_state(deployment)
    waited = 0.0
    if p["wait"] and not module.check_mode:
        done, waited = wait_for_rollouts(
            client, namespace, [name], p["wait_timeout"], p["wait_sleep"]
        )
        deployment = done[name]
        after = restart_state(deployment)
        if key is not None and after["restart_key"] != key:
            raise IrdriveOpsError(
                f"deployment {namespace}/{name} finished rolling out a template without restart "
                f"key {key!r} (found {after['restart_key']!r}): another change overtook this one"
            )
    result: dict[str, Any] = {
        "changed": needed,
        "before": before,
        "after": after,
        "status": rollout_status(deployment),
        "waited": waited,
    }
    if module._diff:
        result["diff"] = {
            "before": {RESTARTED_AT: before["restarted_at"], RESTART_KEY: before["restart_key"]},
            "after": {RESTARTED_AT: after["restarted_at"], RESTART_KEY: after["restart_key"]},
        }
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        check_wait(module.params)
        client = K8sClient.from_auth(K8sAuth.from_params(module.params))
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
