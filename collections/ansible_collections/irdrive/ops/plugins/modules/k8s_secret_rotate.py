# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_secret_rotate
short_description: Write new values into a Kubernetes Secret once per rotation id, and name its consumers
version_added: 0.1.0
description:
  - Sets the keys of O(data) and fills the keys of O(generate) with new random values in one
    merge patch guarded by the Secret's C(resourceVersion), and records O(rotation_id) in the
    annotation C(irdrive.io/rotation-id).
  - When the Secret already carries the same rotation id nothing is written, so a re-run reports
    no change; the values are never returned.
  - Returns the Deployments of the namespace whose pod template consumes the Secret (C(envFrom),
    C(env[].valueFrom.secretKeyRef), volumes and projected volumes) in RV(consumers), so the
    caller can restart them (M(irdrive.ops.rollout_restart) with the same rotation id).
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
options:
  namespace:
    description: Namespace of the Secret.
    type: str
    required: true
  name:
    description: Name of the Secret. It must exist.
    type: str
    required: true
  rotation_id:
    description: Identifies this rotation; the Secret is written once per id.
    type: str
    required: true
  data:
    description: Keys to set to the given values (plain text, encoded here).
    type: dict
    default: {}
  generate:
    description: Keys to set to new random values of O(length) characters.
    type: list
    elements: str
    default: []
  length:
    description: Length of generated values.
    type: int
    default: 48
attributes:
  check_mode:
    description: Reads the Secret and its consumers and reports whether it would write; writes nothing.
    support: full
  diff_mode:
    description: Returns the rotation annotation and the key names before and after (never values).
    support: full
"""

EXAMPLES = r"""
- name: Rotate the JWT signing key and find what uses it
  irdrive.ops.k8s_secret_rotate:
    namespace: platform
    name: jwt-signing-key
    rotation_id: INC-4711
    generate: [signing-key]
  register: jwt
  no_log: true

- name: Restart its consumers, once per rotation
  irdrive.ops.rollout_restart:
    namespace: platform
    name: "{{ item }}"
    idempotency_key: "secrets@INC-4711"
  loop: "{{ jwt.consumers }}"
"""

RETURN = r"""
before:
  description: The Secret's rotation id, resourceVersion and key names before the task.
  returned: always
  type: dict
  sample: {"rotation_id": null, "resource_version": "412", "keys": ["signing-key"]}
after:
  description: The same after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {"rotation_id": "INC-4711", "resource_version": "530", "keys": ["signing-key"]}
keys_rotated:
  description: The keys given new values (none when the rotation id was already there).
  returned: always
  type: list
  elements: str
  sample: [signing-key]
consumers:
  description: Deployments in the namespace whose pod template references the Secret.
  returned: always
  type: list
  elements: str
  sample: [backend, frontend]
"""

import base64
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import MERGE_PATCH, K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.scram import generate_password

ROTATION_ID = "irdrive.io/rotation-id"


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        name={"type": "str", "required": True},
        rotation_id={"type": "str", "required": True, "no_log": False},
        data={"type": "dict", "default": {}, "no_log": True},
        generate={"type": "list", "elements": "str", "default": [], "no_log": False},
        length={"type": "int", "default": 48},
    )
    return spec


def secret_state(secret: dict[str, Any]) -> dict[str, Any]:
    meta = secret.get("metadata") or {}
    return {
        "rotation_id": (meta.get("annotations") or {}).get(ROTATION_ID),
        "resource_version": meta.get("resourceVersion"),
        "keys": sorted((secret.get("data") or {}).keys()),
    }


def consumes(pod_spec: dict[str, Any], secret: str) -> bool:
    """Whether a pod spec references ``secret`` by envFrom, env, volume or projected volume."""
    containers = (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])
    for container in containers:
        for source in container.get("envFrom") or []:
            if (source.get("secretRef") or {}).get("name") == secret:
                return True
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") == secret:
                return True
    for volume in pod_spec.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName") == secret:
            return True
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name") == secret:
                return True
    return False


def find_consumers(deployments: list[dict[str, Any]], secret: str) -> list[str]:
    return sorted(
        d["metadata"]["name"]
        for d in deployments
        if consumes(((d.get("spec") or {}).get("template") or {}).get("spec") or {}, secret)
    )


def run_module(module: AnsibleModule, client: K8sClient) -> dict[str, Any]:
    p = module.params
    namespace, name, rotation_id = p["namespace"], p["name"], p["rotation_id"]
    secret = client.get_secret(namespace, name)
    before = secret_state(secret)
    consumers = find_consumers(client.list_deployments(namespace), name)
    needed = before["rotation_id"] != rotation_id
    keys = sorted(set(p["data"]) | set(p["generate"]))
    after = dict(before)
    if needed:
        after.update(rotation_id=rotation_id, keys=sorted(set(before["keys"]) | set(keys)))
        if not module.check_mode:
            values = {k: str(v) for k, v in p["data"].items()}
            values.update({k: generate_password(p["length"]) for k in p["generate"]})
            body = {
                "metadata": {
                    "resourceVersion": before["resource_version"],
                    "annotations": {ROTATION_ID: rotation_id},
                },
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
            }
            written = client.patch_secret(namespace, name, body, MERGE_PATCH)
            after = secret_state(written)
    result: dict[str, Any] = {
        "changed": needed,
        "before": before,
        "after": after,
        "keys_rotated": keys if needed else [],
        "consumers": consumers,
    }
    if module._diff:
        result["diff"] = {
            "before": {ROTATION_ID: before["rotation_id"], "keys": before["keys"]},
            "after": {ROTATION_ID: after["rotation_id"], "keys": after["keys"]},
        }
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not p["rotation_id"].strip():
        module.fail_json(msg="rotation_id must not be empty")
    if not p["data"] and not p["generate"]:
        module.fail_json(msg="give the keys to rotate in data or generate")
    if p["generate"] and p["length"] < 16:
        module.fail_json(msg="length must be at least 16")

    def work() -> dict[str, Any]:
        client = K8sClient.from_auth(K8sAuth.from_params(p))
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
