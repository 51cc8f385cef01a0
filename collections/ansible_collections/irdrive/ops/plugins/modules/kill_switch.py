# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kill_switch
short_description: Read or set the platform's kill switches, keeping their history
version_added: 0.1.0
description:
  - The kill switches live in a ConfigMap with one key per feature valued C(enabled) or
    C(disabled), and a C(history) key holding a JSON list of C({switch, from, to, reason, actor,
    at}) entries (newest last, the last 100 kept).
  - Setting a switch to the value it has changes nothing and adds no history. A re-run with an
    O(idempotency_key) already in the history changes nothing either, whatever the switches say
    now.
  - Writes are JSON merge patches carrying the C(resourceVersion) that was read; when another
    writer got there first (HTTP 409) the module reads again, recomputes and retries.
  - An unknown switch name fails, listing the known switches, and writes nothing.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
options:
  namespace:
    description: Namespace of the kill-switch ConfigMap.
    type: str
    default: platform
  configmap:
    description: Name of the kill-switch ConfigMap.
    type: str
    default: kill-switches
  name:
    description:
      - Switch name, or a list of them. V(all) means every switch in the ConfigMap.
    type: list
    elements: str
    required: true
    aliases: [switch, names]
  state:
    description:
      - V(enabled) turns the feature on, V(disabled) turns it off, V(query) only reads.
    type: str
    choices: [enabled, disabled, query]
    default: query
  reason:
    description: Why the switch changes. Required with O(state=disabled).
    type: str
  actor:
    description:
      - Who changes the switch, recorded in the history.
      - Defaults to the E(IRDRIVE_ACTOR) or E(USER) environment variable, then V(irdrive).
    type: str
  idempotency_key:
    description:
      - Identifies this change (for example a run id). Stored in the history entries; when an
        entry with this key is already in the history the module changes nothing.
    type: str
attributes:
  check_mode:
    description: Reads the ConfigMap and computes the same result as a real run, writing nothing.
    support: full
  diff_mode:
    description: Returns the switches before and after.
    support: full
"""

EXAMPLES = r"""
- name: Disable payments for the failover
  irdrive.ops.kill_switch:
    name: payments
    state: disabled
    reason: "P1 payments failover: ccbill down, switching to segpay"
    actor: "{{ irdrive_actor | default(omit) }}"
    idempotency_key: "{{ irdrive_run_id }}-disable-payments"
  register: payments_switch

- name: Re-enable payments (restores what was there before)
  irdrive.ops.kill_switch:
    name: payments
    state: "{{ payments_switch.before.payments }}"
    reason: payments failover verified

- name: Read every switch
  irdrive.ops.kill_switch:
    name: all
  register: switches

- name: Freeze uploads and signups together
  irdrive.ops.kill_switch:
    kubeconfig: ~/.kube/prod
    name: [uploads, signups]
    state: disabled
    reason: intrusion response, INC-2211
"""

RETURN = r"""
switches:
  description: Every switch and its value after the task (what it would be, in check mode).
  returned: always
  type: dict
  sample: {"messaging": "enabled", "payments": "disabled", "signups": "enabled",
           "streaming": "enabled", "uploads": "enabled"}
before:
  description:
    - The value each named switch had before the task, so that the change can be undone.
  returned: always
  type: dict
  sample: {"payments": "enabled"}
history_entries:
  description: The history entries the task added (would add, in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - switch: payments
      from: enabled
      to: disabled
      reason: "P1 payments failover: ccbill down, switching to segpay"
      actor: oncall
      at: "2026-11-27T03:12:09Z"
      idempotency_key: run-42-disable-payments
replayed:
  description: True when O(idempotency_key) was already in the history, so nothing was done.
  returned: always
  type: bool
  sample: false
resource_version:
  description: resourceVersion of the ConfigMap after the task.
  returned: always
  type: str
  sample: "10432"
diff:
  description: The switches before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"payments": "enabled"}, "after": {"payments": "disabled"}}
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.kill_switch import (
    SwitchPlan,
    now_iso,
    plan_change,
    read_switches,
    resolve_names,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        namespace={"type": "str", "default": "platform"},
        configmap={"type": "str", "default": "kill-switches"},
        name={"type": "list", "elements": "str", "required": True, "aliases": ["switch", "names"]},
        state={"type": "str", "choices": ["enabled", "disabled", "query"], "default": "query"},
        reason={"type": "str"},
        actor={"type": "str"},
        idempotency_key={"type": "str", "no_log": False},
    )
    return spec


def default_actor() -> str:
    return os.environ.get("IRDRIVE_ACTOR") or os.environ.get("USER") or "irdrive"


def run_module(module: AnsibleModule, client: K8sClient) -> dict[str, Any]:
    params = module.params
    namespace, configmap = params["namespace"], params["configmap"]
    if params["state"] == "query":
        current = client.get_configmap(namespace, configmap)
        data = current.get("data") or {}
        names = resolve_names(data, params["name"])
        switches = read_switches(data)
        return {
            "changed": False,
            "switches": switches,
            "before": {name: switches[name] for name in names},
            "history_entries": [],
            "replayed": False,
            "resource_version": (current.get("metadata") or {}).get("resourceVersion", ""),
        }

    actor = params["actor"] or default_actor()
    at = now_iso()
    plans: list[SwitchPlan] = []

    def compute(data: dict[str, str]) -> dict[str, str | None]:
        plan = plan_change(
            data,
            params["name"],
            params["state"],
            params["reason"],
            actor,
            at,
            params["idempotency_key"],
        )
        plans.append(plan)
        return dict(plan.patch)

    update = client.update_configmap(namespace, configmap, compute, dry_run=module.check_mode)
    plan = plans[-1]
    result: dict[str, Any] = {
        "changed": update.changed,
        "switches": read_switches(update.data),
        "before": plan.before,
        "history_entries": plan.entries,
        "replayed": plan.replayed,
        "resource_version": update.resource_version,
    }
    if module._diff:
        result["diff"] = {
            "before": read_switches(update.before.get("data") or {}),
            "after": result["switches"],
        }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "disabled", ["reason"])],
        supports_check_mode=True,
    )

    def work() -> dict[str, Any]:
        client = K8sClient.from_auth(K8sAuth.from_params(module.params))
        return run_module(module, client)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
