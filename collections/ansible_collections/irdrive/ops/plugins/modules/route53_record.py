# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: route53_record
short_description: Read a Route53 record set, or UPSERT it and wait until the change is INSYNC
version_added: 0.1.0
description:
  - O(state=read) reads one simple record set (ListResourceRecordSets) and changes nothing.
  - O(state=present) reads the record set, and when its values or TTL differ from O(value) and
    O(ttl) UPSERTs it (ChangeResourceRecordSets); with O(wait=true) it then polls GetChange
    until Route53 says C(INSYNC), for at most O(wait_timeout) seconds. A record already as
    asked is not written.
  - Returns the record set before and after the task (the prior state it replaced). Hostname
    values (C(CNAME), C(NS), C(PTR)) are compared lower-case and without the trailing dot.
  - Only simple records are managed; an alias or routing-policy (weighted, latency, failover)
    record of that name and type fails the task before any write.
  - Throttling, 5xx answers and C(PriorRequestNotComplete) are retried with jittered backoff
    (bounded attempts and a total deadline); any other error fails at once, with
    RV(error_kind).
  - Replaces M(amazon.aws.route53) and M(amazon.aws.route53_info) for the CDN failover, whose
    action plugin runs it in the controller's worker instead of a module process.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.aws_conn
options:
  hosted_zone_id:
    description: Id of the hosted zone, with or without the C(/hostedzone/) prefix.
    type: str
    required: true
  name:
    description: Name of the record set, for example V(cdn.platform.com).
    type: str
    required: true
    aliases: [record]
  type:
    description: Type of the record set.
    type: str
    default: CNAME
    choices: [A, AAAA, CNAME, MX, NS, PTR, SRV, TXT]
  state:
    description: V(present) UPSERTs the record set; V(read) only reads it.
    type: str
    choices: [present, read]
    default: present
  value:
    description: The values of the record set. Required with O(state=present).
    type: list
    elements: str
  ttl:
    description: TTL of the record set, in seconds.
    type: int
    default: 300
  wait:
    description: Wait until GetChange says C(INSYNC) after a write.
    type: bool
    default: true
  wait_timeout:
    description: Most seconds to wait for C(INSYNC).
    type: int
    default: 300
  wait_sleep:
    description: Most seconds between two GetChange calls (the first ones come sooner).
    type: float
    default: 2.0
attributes:
  check_mode:
    description: Reads, and reports the change it would make; writes nothing.
    support: full
  diff_mode:
    description: Returns the record set before and after.
    support: full
"""

EXAMPLES = r"""
- name: Point the CDN record at the backup CDN and wait until Route53 says INSYNC
  irdrive.ops.route53_record:
    hosted_zone_id: Z0123456789ABCDEFGHIJ
    name: cdn.platform.com
    type: CNAME
    ttl: 60
    value: [platform.backup-cdn.net]
    wait_timeout: 120
  register: cdn_record

- name: Read the CDN record back
  irdrive.ops.route53_record:
    state: read
    hosted_zone_id: Z0123456789ABCDEFGHIJ
    name: cdn.platform.com
  register: cdn_readback
  failed_when: cdn_readback.record['values'] != ['platform.backup-cdn.net']
"""

RETURN = r"""
record:
  description: The record set after the task (as read with O(state=read); the plan in check mode); null when there is none.
  returned: always
  type: dict
  sample: {name: cdn.platform.com, type: CNAME, ttl: 60, values: [platform.backup-cdn.net]}
before:
  description: The record set the task replaced (null when there was none).
  returned: always
  type: dict
  sample: {name: cdn.platform.com, type: CNAME, ttl: 60, values: [d111111abcdef8.cloudfront.net]}
after:
  description: The record set after the task; the same as RV(before) when nothing changed.
  returned: always
  type: dict
  sample: {name: cdn.platform.com, type: CNAME, ttl: 60, values: [platform.backup-cdn.net]}
resource_record_sets:
  description: The record set in the shape of M(amazon.aws.route53_info)'s, a list of none or one.
  returned: always
  type: list
  elements: dict
  sample: [{name: cdn.platform.com., type: CNAME, ttl: 60, resource_records: [{value: platform.backup-cdn.net}]}]
change_id:
  description: Id of the Route53 change that was made.
  returned: when the record set was written
  type: str
  sample: /change/C2682N5HXP0BZ4
change_status:
  description: Status of the change when the task ended, V(INSYNC) after a wait.
  returned: when the record set was written
  type: str
  sample: INSYNC
waited:
  description: Seconds spent waiting for C(INSYNC).
  returned: always
  type: float
  sample: 0.2
msg:
  description: What was done, one line.
  returned: always
  type: str
  sample: "CNAME cdn.platform.com: d111111abcdef8.cloudfront.net -> platform.backup-cdn.net (INSYNC)"
error_kind:
  description: What kind of failure it was (auth, unreachable, invalid_input, not_found, timeout, ...).
  returned: failure
  type: str
  sample: timeout
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    aws_argument_spec,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    DeadlineExceeded,
    InvalidInputError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.route53 import (
    HOSTNAME_TYPES,
    RecordSet,
    Route53Records,
    host,
)

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("route53",)


def argument_spec() -> dict[str, Any]:
    spec = aws_argument_spec()
    spec.update(
        hosted_zone_id={"type": "str", "required": True},
        name={"type": "str", "required": True, "aliases": ["record"]},
        type={
            "type": "str",
            "default": "CNAME",
            "choices": ["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"],
        },
        state={"type": "str", "default": "present", "choices": ["present", "read"]},
        value={"type": "list", "elements": "str"},
        ttl={"type": "int", "default": 300},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 300},
        wait_sleep={"type": "float", "default": 2.0},
    )
    return spec


def wanted_record(p: dict[str, Any]) -> RecordSet:
    """The record set asked for; InvalidInputError before any call when it cannot be written."""
    values = [v.strip() for v in p["value"] or [] if v and v.strip()]
    rtype = p["type"]
    if not values:
        raise InvalidInputError(f"value: a {rtype} record needs at least one value")
    if rtype == "CNAME" and len(values) > 1:
        raise InvalidInputError(f"value: a CNAME record has one value, got {len(values)}")
    if not 0 <= p["ttl"] <= 2147483647:
        raise InvalidInputError(f"ttl must be between 0 and 2147483647, got {p['ttl']}")
    if p["wait_timeout"] <= 0 or p["wait_sleep"] <= 0:
        raise InvalidInputError("wait_timeout and wait_sleep must be positive")
    if rtype in HOSTNAME_TYPES:
        values = [host(v) for v in values]
    return RecordSet(host(p["name"]), rtype, p["ttl"], values)


def _text(record: RecordSet | None) -> str:
    return "none" if record is None else ", ".join(record.values) + f" (ttl {record.ttl})"


def run_module(module: AnsibleModule, records: Route53Records) -> dict[str, Any]:
    p = module.params
    name, rtype = host(p["name"]), p["type"]
    wanted = wanted_record(p) if p["state"] == "present" else None
    current = records.read(name, rtype)
    result: dict[str, Any] = {"changed": False, "waited": 0.0}
    after = current
    if wanted is None:
        result["msg"] = f"{rtype} {name}: {_text(current)}"
    elif current is not None and current.same_as(wanted):
        result["msg"] = f"{rtype} {name}: already {_text(current)}"
    else:
        after = wanted
        result["changed"] = True
        result["msg"] = f"{rtype} {name}: {_text(current)} -> {_text(wanted)}"
        if not module.check_mode:
            result["change_id"] = records.upsert(wanted)
            result["change_status"] = "PENDING"
            if p["wait"]:
                try:
                    result["waited"] = records.wait_insync(
                        result["change_id"], p["wait_timeout"], p["wait_sleep"]
                    )
                except DeadlineExceeded as error:
                    raise DeadlineExceeded(
                        f"{result['msg']}: written, but Route53 did not say INSYNC within "
                        f"{p['wait_timeout']}s ({error})",
                        change_id=result["change_id"],
                        before=None if current is None else current.summary(),
                    ) from error
                result["change_status"] = "INSYNC"
            result["msg"] += f" ({result['change_status']})"
    before_summary = None if current is None else current.summary()
    after_summary = None if after is None else after.summary()
    result.update(
        record=after_summary,
        before=before_summary,
        after=after_summary,
        resource_record_sets=[] if after is None else [after.as_info()],
    )
    if module._diff and p["state"] == "present":
        result["diff"] = {"before": before_summary or {}, "after": after_summary or {}}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if module.params["state"] == "present" and not module.params["value"]:
        module.fail_json(msg="state=present needs value", error_kind="invalid_input")

    def work() -> dict[str, Any]:
        conn = AwsConn(**pick(module.params, AWS_KEYS))
        zone = module.params["hosted_zone_id"]
        return run_module(module, Route53Records(conn.client("route53"), zone))

    module.exit_json(**result_or_fail(module, work))


if __name__ == "__main__":
    main()
