# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: targets_present
short_description: Refuse a run whose targets do not exist, before its first write
version_added: 0.1.0
description:
  - Reads, once each, the objects a runbook is about to change, and fails as bad input
    (RV(error_kind=invalid_input)) naming every one that does not exist, in one message.
    A runbook's preflight runs it before its target lock, so a wrong name changes nothing.
  - Reads a Route53 hosted zone (GetHostedZone), Secrets Manager secrets (DescribeSecret, never
    their values; a secret scheduled for deletion counts as missing), WAFv2 IP sets, a network
    ACL, and Kubernetes Secrets in one namespace. Only what is given is read; the Kubernetes
    connection is opened only when O(k8s_secrets) names a Secret.
  - Any other failure (credentials refused, an API that does not answer) fails with its own
    RV(error_kind) (auth, unreachable, ...), never as bad input.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.aws_conn
  - irdrive.ops.k8s_auth
  - irdrive.ops.read_only
options:
  hosted_zone_id:
    description: Route53 hosted zone id (with or without the C(/hostedzone/) prefix).
    type: str
  secrets:
    description: Secrets Manager secret names or ARNs.
    type: list
    elements: str
    default: []
  waf_ip_sets:
    description: WAFv2 IP sets, C({name, scope, id}); without an id the set is looked up by name.
    type: list
    elements: dict
    default: []
  nacl_id:
    description: Id of a VPC network ACL.
    type: str
  namespace:
    description: Namespace of O(k8s_secrets).
    type: str
    default: default
  k8s_secrets:
    description: Names of Kubernetes Secrets in O(namespace).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Read the secrets the rotation will change
  irdrive.ops.targets_present:
    secrets: [platform/ccbill-api-key, platform/db-password]
    namespace: platform
    k8s_secrets: [db-credentials]

- name: Read the hosted zone of the CDN record
  irdrive.ops.targets_present:
    hosted_zone_id: Z0123456789ABCDEFGHIJ
"""

RETURN = r"""
present:
  description: What was read and exists, one line each.
  returned: always
  type: list
  elements: str
  sample: ["Route53 hosted zone Z0123456789ABCDEFGHIJ"]
missing:
  description: What does not exist (or is scheduled for deletion), one line each.
  returned: always
  type: list
  elements: str
  sample: ["Secrets Manager secret platform/nosuch-key does not exist"]
error_kind:
  description: V(invalid_input) when something named does not exist.
  returned: failure
  type: str
  sample: invalid_input
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    aws_argument_spec,
    k8s_auth_argument_spec,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.targets_present import Wanted, check

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("ec2", "route53", "secretsmanager", "wafv2")


def argument_spec() -> dict[str, Any]:
    spec = aws_argument_spec()
    spec.update(k8s_auth_argument_spec())
    spec.update(
        hosted_zone_id={"type": "str"},
        secrets={"type": "list", "elements": "str", "default": [], "no_log": False},
        waf_ip_sets={"type": "list", "elements": "dict", "default": []},
        nacl_id={"type": "str"},
        namespace={"type": "str", "default": "default"},
        k8s_secrets={"type": "list", "elements": "str", "default": [], "no_log": False},
    )
    return spec


def run_module(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    wanted = Wanted(
        hosted_zone_id=p["hosted_zone_id"] or "",
        secrets=p["secrets"],
        waf_ip_sets=p["waf_ip_sets"],
        nacl_id=p["nacl_id"] or "",
        namespace=p["namespace"],
        k8s_secrets=p["k8s_secrets"],
    )
    conn = AwsConn(**pick(p, AWS_KEYS))
    found = check(wanted, conn.client, lambda: K8sClient.from_auth(K8sAuth.from_params(p)))
    if found.missing:
        raise InvalidInputError(
            "; ".join(found.missing) + ": nothing was changed",
            missing=found.missing,
            present=found.present,
        )
    return {"changed": False, "present": found.present, "missing": []}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    for options in module.params["waf_ip_sets"]:
        if not options.get("name"):
            module.fail_json(msg="every waf_ip_sets entry needs a name", error_kind="invalid_input")
    module.exit_json(**result_or_fail(module, lambda: run_module(module)))


if __name__ == "__main__":
    main()
