# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_info
short_description: Read what a CDN failover needs of a CloudFront distribution
version_added: 0.1.0
description:
  - Reads one CloudFront distribution (GetDistribution) and returns its domain name, status,
    whether it is enabled, and its aliases. Changes nothing.
  - Replaces M(community.aws.cloudfront_distribution_info) for the CDN failover, whose action
    plugin runs it in the controller's worker instead of a module process.
  - A distribution that does not exist fails with RV(error_kind=not_found); throttling and 5xx
    answers are retried with jittered backoff, anything else fails at once.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.aws_conn
  - irdrive.ops.read_only
options:
  distribution_id:
    description: Id of the distribution.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Read the CloudFront distribution in front of the video CDN
  irdrive.ops.cloudfront_info:
    distribution_id: E2QWRUHAPOMQZL
  register: cdn_distribution
"""

RETURN = r"""
distribution:
  description: The distribution's id, domain name (lower case, no trailing dot), status, enabled flag and aliases.
  returned: success
  type: dict
  sample:
    id: E2QWRUHAPOMQZL
    domain_name: d111111abcdef8.cloudfront.net
    status: Deployed
    enabled: true
    aliases: [cdn.platform.com]
error_kind:
  description: What kind of failure it was (not_found, auth, unreachable, ...).
  returned: failure
  type: str
  sample: not_found
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    AWS_KEYS,
    aws_argument_spec,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.aws_clients import AwsConn
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.route53 import distribution_info

#: The boto3 clients whose set-up the in-process runner does before forking the worker.
AWS_SERVICES = ("cloudfront",)


def argument_spec() -> dict[str, Any]:
    spec = aws_argument_spec()
    spec.update(distribution_id={"type": "str", "required": True})
    return spec


def run_module(module: AnsibleModule) -> dict[str, Any]:
    conn = AwsConn(**pick(module.params, AWS_KEYS))
    distribution = distribution_info(conn.client("cloudfront"), module.params["distribution_id"])
    return {"changed": False, "distribution": distribution}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**result_or_fail(module, lambda: run_module(module)))


if __name__ == "__main__":
    main()
