# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nacl_deny_entries
short_description: Add or remove network ACL deny entries for addresses, one per network, in a reserved rule range
version_added: 0.1.0
description:
  - Makes sure each given network has (O(state=present)) or has no (O(state=absent)) deny entry
    in an existing network ACL. O(state=query) only reads.
  - The entries live in a reserved rule number range (O(rule_range)); new entries take the
    lowest free numbers in it, a network that already has a matching deny entry in the range
    gets no second one, and entries outside the range are never touched.
  - A network ACL is evaluated from the lowest rule number up and the first match wins, so the
    range must lie below the allow entries the denies should override. The default range 1-99
    lies below the customary allow rules (100, 110, ...). The module warns when an allow entry
    comes before the deny entries it adds.
  - This is what the incident playbook's C(aws ec2 authorize-security-group-ingress ...
    --rule-action deny) means to do; security groups only allow, so a deny needs a network ACL
    (or WAF, see M(irdrive.ops.waf_ip_set)).
  - Unlike M(amazon.aws.ec2_vpc_nacl), which makes the ACL hold exactly the entries it is given
    (removing all others, egress included), this module only adds and removes its own entries.
  - A rule number taken by another writer between the read and the write makes the module read
    again and re-plan (bounded, jittered retries); throttling is retried; other errors fail.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
options:
  nacl_id:
    description: Id of the network ACL (C(acl-...)).
    type: str
    required: true
  addresses:
    description: IPv4 or IPv6 addresses or CIDRs; host addresses become C(/32) or C(/128).
    type: list
    elements: str
    default: []
  state:
    description: V(present) adds deny entries, V(absent) removes them, V(query) only reads.
    type: str
    choices: [present, absent, query]
    default: present
  rule_range:
    description: Lowest and highest rule number reserved for these deny entries.
    type: list
    elements: int
    default: [1, 99]
  protocol:
    description:
      - V(all) denies every protocol (EC2 protocol C(-1)); V(tcp) or V(udp) deny O(port_range)
        only.
    type: str
    choices: [all, tcp, udp]
    default: all
  port_range:
    description: First and last port, for V(tcp) and V(udp).
    type: list
    elements: int
  egress:
    description: Manage outbound entries instead of inbound ones.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reads the ACL and computes the same plan as a real run, writing nothing.
    support: full
  diff_mode:
    description: Returns the deny entries in the range before and after.
    support: full
"""

EXAMPLES = r"""
- name: Deny the intrusion's addresses at the subnet boundary
  irdrive.ops.nacl_deny_entries:
    nacl_id: "{{ irdrive_nacl_id }}"
    addresses: [203.0.113.45, 198.51.100.23]
  register: nacl_block

- name: Deny HTTPS only, in a range of your own
  irdrive.ops.nacl_deny_entries:
    nacl_id: acl-0123456789abcdef0
    addresses: [198.51.100.0/24]
    protocol: tcp
    port_range: [443, 443]
    rule_range: [20, 49]

- name: Unblock
  irdrive.ops.nacl_deny_entries:
    nacl_id: "{{ irdrive_nacl_id }}"
    addresses: [203.0.113.45]
    state: absent
"""

RETURN = r"""
entries:
  description:
    - The deny entries in the range after the task, read back after a write (what they would
      be, in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - {rule_number: 1, cidr: 203.0.113.45/32, protocol: "-1", rule_action: deny, egress: false}
before:
  description: The deny entries in the range before the task, so that the change can be undone.
  returned: always
  type: list
  elements: dict
  sample: []
added:
  description: Entries created (would be created, in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{rule_number: 1, cidr: 203.0.113.45/32}]
removed:
  description: Entries deleted (would be deleted, in check mode).
  returned: always
  type: list
  elements: dict
  sample: []
already:
  description:
    - Given networks already in the wanted state; with O(state=query), those that have a deny
      entry.
  returned: always
  type: list
  elements: str
  sample: ["198.51.100.23/32"]
missing:
  description: Given networks without a matching deny entry in the range.
  returned: when O(state=query)
  type: list
  elements: str
  sample: []
mismatch:
  description:
    - Given networks whose read-back state is not the wanted one (no matching deny entry for
      V(present), still an entry for V(absent)). Empty means verified.
  returned: when O(state) is V(present) or V(absent)
  type: list
  elements: str
  sample: []
diff:
  description: The entries in the range before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"entries": []}, "after": {"entries": [{rule_number: 1, cidr: 203.0.113.45/32}]}}
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import parse_networks
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.nacl_deny_entries import (
    PROTOCOLS,
    EntrySpec,
    NaclClient,
    converge,
    query,
)

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("ec2",)


def argument_spec() -> dict[str, Any]:
    return {
        "nacl_id": {"type": "str", "required": True},
        "addresses": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
        "rule_range": {"type": "list", "elements": "int", "default": [1, 99]},
        "protocol": {"type": "str", "choices": ["all", "tcp", "udp"], "default": "all"},
        "port_range": {"type": "list", "elements": "int"},
        "egress": {"type": "bool", "default": False},
    }


def entry_spec(params: dict[str, Any]) -> EntrySpec:
    rule_range = params["rule_range"]
    if len(rule_range) != 2:
        raise InvalidInputError(f"rule_range needs two numbers (low, high), got {rule_range}")
    ports = params["port_range"] or []
    if ports and len(ports) != 2:
        raise InvalidInputError(f"port_range needs two numbers (from, to), got {ports}")
    protocol = PROTOCOLS[params["protocol"]]
    return EntrySpec(
        protocol=protocol,
        port_from=ports[0] if ports and protocol != "-1" else None,
        port_to=ports[1] if ports and protocol != "-1" else None,
        egress=params["egress"],
        rule_min=rule_range[0],
        rule_max=rule_range[1],
    )


def run_module(module: Any, client: Any) -> dict[str, Any]:
    params = module.params
    networks = parse_networks(params["addresses"])
    spec = entry_spec(params)
    nacl = NaclClient(client, params["nacl_id"])
    if params["state"] == "query":
        found = query(nacl.entries(), networks, spec)
        return {
            "changed": False,
            "entries": found["entries"],
            "before": found["entries"],
            "added": [],
            "removed": [],
            "already": found["present"],
            "missing": found["missing"],
        }
    plan = converge(nacl, networks, params["state"], spec, check_mode=module.check_mode)
    for warning in plan.warnings:
        module.warn(warning)
    after = plan.current
    before = plan.prior if plan.prior is not None else plan.before
    result: dict[str, Any] = {
        "changed": plan.changed,
        "entries": after,
        "before": before,
        "added": [{"rule_number": n, "cidr": str(net)} for n, net in plan.create],
        "removed": plan.delete,
        "already": plan.already,
        "mismatch": plan.mismatch,
    }
    if module._diff:
        result["diff"] = {"before": {"entries": before}, "after": {"entries": after}}
    return result


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        required_if=[("protocol", "tcp", ["port_range"]), ("protocol", "udp", ["port_range"])],
        supports_check_mode=True,
    )

    def work() -> dict[str, Any]:
        return run_module(module, module.client("ec2"))

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
