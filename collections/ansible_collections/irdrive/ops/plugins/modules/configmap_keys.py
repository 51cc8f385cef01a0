# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: configmap_keys
short_description: Read or set keys of a ConfigMap, returning the values they replaced
version_added: 0.1.0
description:
  - Reads a ConfigMap, or sets some of its keys and leaves the others alone.
  - Writes are JSON merge patches carrying the C(resourceVersion) that was read; when another
    writer got there first (HTTP 409) the module reads again, recomputes and retries.
  - Returns the values the keys had before (RV(before)), so the change can be undone, and the
    C(resourceVersion) after it, which a later step can use as an idempotency key.
  - Setting keys to the values they have changes nothing.
  - Used instead of C(kubernetes.core.k8s) for this narrow job because it returns the prior
    values and starts in a fraction of the time (it needs no API discovery).
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
options:
  namespace:
    description: Namespace of the ConfigMap.
    type: str
    required: true
  name:
    description: Name of the ConfigMap.
    type: str
    required: true
  data:
    description:
      - Keys to set, with their string values; a null value removes the key.
      - Omit it to only read the ConfigMap.
    type: dict
attributes:
  check_mode:
    description: Reads the ConfigMap and computes the same result as a real run, writing nothing.
    support: full
  diff_mode:
    description: Returns the touched keys before and after.
    support: full
"""

EXAMPLES = r"""
- name: Read the payment configuration
  irdrive.ops.configmap_keys:
    namespace: platform
    name: payment-config
  register: payment_config

- name: Make segpay the primary processor
  irdrive.ops.configmap_keys:
    namespace: platform
    name: payment-config
    data:
      PRIMARY_PROCESSOR: segpay
      BACKUP_PROCESSOR: ccbill
  register: switched

- name: Undo it
  irdrive.ops.configmap_keys:
    namespace: platform
    name: payment-config
    data: "{{ switched.before }}"
"""

RETURN = r"""
data:
  description: Every key of the ConfigMap after the task (what it would be, in check mode).
  returned: always
  type: dict
  sample: {"PRIMARY_PROCESSOR": "segpay", "BACKUP_PROCESSOR": "ccbill", "RETRY_LIMIT": "2"}
before:
  description: The values the keys of O(data) had before the task; null for a key that was absent.
  returned: always
  type: dict
  sample: {"PRIMARY_PROCESSOR": "ccbill", "BACKUP_PROCESSOR": "segpay"}
resource_version:
  description: resourceVersion of the ConfigMap after the task.
  returned: always
  type: str
  sample: "10432"
diff:
  description: The keys of O(data) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"PRIMARY_PROCESSOR": "ccbill"}, "after": {"PRIMARY_PROCESSOR": "segpay"}}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        name={"type": "str", "required": True},
        data={"type": "dict"},
    )
    return spec


def wanted_data(data: dict[str, Any]) -> dict[str, str | None]:
    return {str(k): None if v is None else str(v) for k, v in data.items()}


def run_module(module: AnsibleModule, client: K8sClient) -> dict[str, Any]:
    namespace, name = module.params["namespace"], module.params["name"]
    if module.params["data"] is None:
        current = client.get_configmap(namespace, name)
        return {
            "changed": False,
            "data": dict(current.get("data") or {}),
            "before": {},
            "resource_version": str((current.get("metadata") or {}).get("resourceVersion", "")),
        }
    wanted = wanted_data(module.params["data"])

    def compute(data: dict[str, str]) -> dict[str, str | None]:
        return {k: v for k, v in wanted.items() if data.get(k) != v}

    update = client.update_configmap(namespace, name, compute, dry_run=module.check_mode)
    read = dict(update.before.get("data") or {})
    before = {k: read.get(k) for k in wanted}
    result: dict[str, Any] = {
        "changed": update.changed,
        "data": update.data,
        "before": before,
        "resource_version": update.resource_version,
    }
    if module._diff:
        result["diff"] = {"before": before, "after": {k: update.data.get(k) for k in wanted}}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        client = K8sClient.from_auth(K8sAuth.from_params(module.params))
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
