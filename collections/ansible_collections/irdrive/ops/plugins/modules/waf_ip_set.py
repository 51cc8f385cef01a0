# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: waf_ip_set
short_description: Add addresses to, or remove them from, an existing WAFv2 IP set without losing concurrent changes
version_added: 0.1.0
description:
  - Adds (O(state=present)) or removes (O(state=absent)) the given addresses in an existing
    AWS WAFv2 IP set, leaving every other address in the set alone. O(state=query) only reads.
  - WAFv2's UpdateIPSet replaces the whole address list and needs the LockToken of the read it
    is based on. The module reads the set, merges the change into what it found and writes the
    merged list with that LockToken. When another writer changed the set in between, WAF answers
    C(WAFOptimisticLockException) and the module reads again, merges again and retries
    (bounded attempts, jittered backoff, a total deadline), so the other writer's change is kept.
  - Throttling and WAF internal errors are retried the same way; any other error fails at once.
  - Every address is validated first; host addresses become C(/32) or C(/128). One invalid
    address fails the task, naming it, before anything is read or written.
  - Unlike M(community.aws.wafv2_ip_set) it never deletes the IP set, never replaces its list
    with only the given addresses, and retries lock conflicts.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
options:
  name:
    description: Name of the IP set.
    type: str
    required: true
  scope:
    description: V(REGIONAL) for ALB/API Gateway web ACLs, V(CLOUDFRONT) for CloudFront.
    type: str
    choices: [REGIONAL, CLOUDFRONT]
    default: REGIONAL
  id:
    description: Id of the IP set. When omitted the set is looked up by O(name).
    type: str
  addresses:
    description:
      - IPv4 or IPv6 addresses or CIDRs. They must match the IP set's address version.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) adds the addresses, V(absent) removes them, V(query) only reads the set.
    type: str
    choices: [present, absent, query]
    default: present
  attempts:
    description: Most GET-merge-PUT cycles to try when writes conflict or are throttled.
    type: int
    default: 6
  deadline:
    description: Seconds after which no further retry starts.
    type: float
    default: 60
attributes:
  check_mode:
    description: Reads the set and computes the same merge as a real run, writing nothing.
    support: full
  diff_mode:
    description: Returns the address list before and after.
    support: full
"""

EXAMPLES = r"""
- name: Block the intrusion's addresses at the WAF
  irdrive.ops.waf_ip_set:
    name: "{{ irdrive_waf_ip_set.name }}"
    id: "{{ irdrive_waf_ip_set.id }}"
    scope: "{{ irdrive_waf_ip_set.scope }}"
    addresses: [203.0.113.45, 198.51.100.0/24]
  register: waf_block

- name: Unblock one address again
  irdrive.ops.waf_ip_set:
    name: blocked-ips
    scope: REGIONAL
    addresses: [203.0.113.45]
    state: absent

- name: Read the set
  irdrive.ops.waf_ip_set:
    name: blocked-ips
    state: query
  register: waf_now
"""

RETURN = r"""
addresses:
  description:
    - The set's addresses after the task, read back from WAF after a write (what they would
      be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["198.51.100.0/24", "203.0.113.45/32", "203.0.113.66/32"]
before:
  description: The set's addresses before the task, so that the change can be undone.
  returned: always
  type: list
  elements: str
  sample: ["203.0.113.66/32"]
added:
  description: Normalised addresses the task added (would add, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["198.51.100.0/24", "203.0.113.45/32"]
removed:
  description: Addresses the task removed, as the set spelled them.
  returned: always
  type: list
  elements: str
  sample: []
already:
  description:
    - Given addresses that were already in the wanted state (present, or absent for
      O(state=absent)); with O(state=query), those in the set.
  returned: always
  type: list
  elements: str
  sample: ["203.0.113.66/32"]
missing:
  description: Given addresses not in the set.
  returned: when O(state=query)
  type: list
  elements: str
  sample: []
mismatch:
  description:
    - Given addresses whose state in the read-back set is not the wanted one (missing for
      V(present), still there for V(absent)). Empty means verified.
  returned: when O(state) is V(present) or V(absent)
  type: list
  elements: str
  sample: []
ip_set:
  description: Name, id, scope, ARN and address version of the set.
  returned: always
  type: dict
  sample: {"name": "blocked-ips", "id": "11aca32f-7508-4398-aacc-e140b64828b5",
           "scope": "REGIONAL", "version": "IPV4",
           "arn": "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/blocked-ips/11aca32f"}
attempts:
  description: GET-merge-PUT cycles made.
  returned: always
  type: int
  sample: 2
conflicts:
  description: Cycles that lost to another writer (WAFOptimisticLockException) and were redone.
  returned: always
  type: int
  sample: 1
diff:
  description: The address list before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"addresses": ["203.0.113.66/32"]},
           "after": {"addresses": ["203.0.113.45/32", "203.0.113.66/32"]}}
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import parse_networks
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.waf import (
    IpSetRef,
    WafIpSetClient,
    converge,
    plan_addresses,
    read,
)

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("wafv2",)


def argument_spec() -> dict[str, Any]:
    return {
        "name": {"type": "str", "required": True},
        "scope": {"type": "str", "choices": ["REGIONAL", "CLOUDFRONT"], "default": "REGIONAL"},
        "id": {"type": "str"},
        "addresses": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
        "attempts": {"type": "int", "default": 6},
        "deadline": {"type": "float", "default": 60.0},
    }


def run_module(module: Any, client: Any) -> dict[str, Any]:
    params = module.params
    networks = parse_networks(params["addresses"])
    ip_sets = WafIpSetClient(client, IpSetRef(params["name"], params["scope"], params["id"] or ""))
    if params["state"] == "query":
        current = read(ip_sets)
        found = plan_addresses(current["addresses"], networks, "present")
        return {
            "changed": False,
            "addresses": current["addresses"],
            "before": current["addresses"],
            "added": [],
            "removed": [],
            "already": found.already,
            "missing": found.added,
            "ip_set": {k: current[k] for k in ("name", "id", "scope", "version")},
            "attempts": 1,
            "conflicts": 0,
        }
    outcome = converge(
        ip_sets,
        networks,
        params["state"],
        check_mode=module.check_mode,
        attempts=params["attempts"],
        deadline=params["deadline"],
    )
    plan = outcome.plan
    result: dict[str, Any] = {
        "changed": plan.changed,
        "addresses": outcome.current,
        "before": plan.before,
        "added": plan.added,
        "removed": plan.removed,
        "already": plan.already,
        "ip_set": {
            "name": outcome.ref.name,
            "id": outcome.ref.id,
            "scope": outcome.ref.scope,
            "version": outcome.version,
            "arn": outcome.arn,
        },
        "attempts": outcome.attempts,
        "conflicts": outcome.conflicts,
        "mismatch": outcome.mismatch,
    }
    if module._diff:
        result["diff"] = {
            "before": {"addresses": plan.before},
            "after": {"addresses": outcome.current},
        }
    return result


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module, module.client("wafv2"))

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
