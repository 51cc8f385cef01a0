# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: platform_cache
short_description: Clear and warm the platform's application cache through its admin endpoint
version_added: 0.1.0
description:
  - The "Cache Optimization" step of the P2 "Performance Degradation" procedure, through the
    platform's HTTP admin endpoint (C(<url>/stats), C(<url>/clear), C(<url>/warm), with a
    bearer token) instead of C(kubectl exec deployment/backend -- npm run cache:clear).
  - Clearing is an event, not a state. With O(clear_key), the clear happens once per key; the
    key of the last clear is recorded in the annotation O(key_annotation) of the Deployment
    that owns the cache (O(key_namespace)/O(key_deployment)), so a re-run with the same key
    clears nothing. Without a key every run clears, as the playbook's command does.
  - Warming is a state. With O(warm=true) the cache is warmed when it holds fewer than
    O(warm_keys) keys, so a warm cache is left alone.
  - Reads the statistics again at the end and fails unless they show the result, C(keys) at
    least O(warm_keys) after a warm and a C(last_cleared_at) newer than before after a clear.
  - Returns the statistics before and after.
author:
  - irdrive maintainers (@irdrive)
extends_documentation_fragment:
  - irdrive.ops.k8s_auth
options:
  url:
    description: Base URL of the cache admin endpoint, for example V(https://platform.example.com/_admin/cache).
    type: str
    required: true
  bearer_token:
    description: "Admin token, sent as C(Authorization: Bearer <token>)."
    type: str
    required: true
  clear:
    description: Clear the cache.
    type: bool
    default: false
  clear_key:
    description: Identifies this clear, for example an incident id; the clear happens once per key.
    type: str
  key_namespace:
    description: Namespace of the Deployment that records the last clear's key.
    type: str
    default: platform
  key_deployment:
    description: Deployment that owns the cache and records the last clear's key.
    type: str
    default: backend
  key_annotation:
    description: Annotation (on the Deployment's metadata, not its pod template) holding the key.
    type: str
    default: irdrive.io/cache-clear-key
  warm:
    description: Warm the cache when it holds fewer than O(warm_keys) keys.
    type: bool
    default: false
  warm_keys:
    description: How many keys a warm cache holds.
    type: int
    default: 100
  timeout:
    description: Seconds to wait for each request.
    type: float
    default: 10.0
  http_validate_certs:
    description: Whether to verify the cache endpoint's TLS certificate.
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads the statistics and reports what it would do; clears and warms nothing.
    support: full
  diff_mode:
    description: Returns the statistics before and after.
    support: full
notes:
  - 429 and 5xx answers, timeouts and dropped connections are retried with jittered backoff;
    a refused token (401/403) fails at once.
"""

EXAMPLES = r"""
- name: Clear the cache once for this incident and warm it again
  irdrive.ops.platform_cache:
    url: "{{ irdrive_platform_url }}/_admin/cache"
    bearer_token: "{{ irdrive_platform_admin_token }}"
    clear: true
    clear_key: INC-2041
    key_deployment: backend
    warm: true
    warm_keys: 500
  register: cache
"""

RETURN = r"""
cleared:
  description: Whether the cache was cleared (in check mode, would be).
  returned: always
  type: bool
  sample: true
warmed:
  description: Whether the cache was warmed (in check mode, would be).
  returned: always
  type: bool
  sample: true
clear_key:
  description: The key of the last clear, as recorded on the Deployment after the task.
  returned: always
  type: str
  sample: INC-2041
before:
  description: The cache statistics before the task.
  returned: always
  type: dict
  sample: {"keys": 812, "hits": 100, "misses": 20, "last_cleared_at": null, "last_warmed_at": null}
after:
  description: The statistics after the task (in check mode, the same as before).
  returned: always
  type: dict
  sample: {"keys": 500, "hits": 100, "misses": 20, "last_cleared_at": "2026-11-27T03:12:09Z"}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    k8s_auth_argument_spec,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    UnhealthyError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.platform_cache import CacheAdmin


def argument_spec() -> dict[str, Any]:
    spec = k8s_auth_argument_spec()
    spec.update(
        {
            "url": {"type": "str", "required": True},
            "bearer_token": {"type": "str", "required": True, "no_log": True},
            "clear": {"type": "bool", "default": False},
            "clear_key": {"type": "str", "no_log": False},
            "key_namespace": {"type": "str", "default": "platform", "no_log": False},
            "key_deployment": {"type": "str", "default": "backend", "no_log": False},
            "key_annotation": {
                "type": "str",
                "default": "irdrive.io/cache-clear-key",
                "no_log": False,
            },
            "warm": {"type": "bool", "default": False},
            "warm_keys": {"type": "int", "default": 100, "no_log": False},
            "timeout": {"type": "float", "default": 10.0},
            "http_validate_certs": {"type": "bool", "default": True},
        }
    )
    return spec


STATS_KEYS = ("keys", "hits", "misses", "last_cleared_at", "last_warmed_at")


def plan(params: dict[str, Any], before: dict[str, Any], last_key: str | None) -> tuple[bool, bool]:
    """(clear, warm): what this run must do, given the statistics and the last clear's key."""
    key = params["clear_key"]
    clear = params["clear"] and (not key or key != last_key)
    keys_after_clear = 0 if clear else int(before.get("keys") or 0)
    warm = params["warm"] and keys_after_clear < params["warm_keys"]
    return clear, warm


def verify(
    params: dict[str, Any], before: dict[str, Any], after: dict[str, Any], cleared: bool
) -> None:
    if params["warm"] and int(after.get("keys") or 0) < params["warm_keys"]:
        raise UnhealthyError(
            f"the cache holds {after.get('keys')} keys after warming, fewer than {params['warm_keys']}"
        )
    last_before, last_after = before.get("last_cleared_at"), after.get("last_cleared_at")
    if cleared and (not last_after or (last_before and str(last_after) < str(last_before))):
        raise UnhealthyError(f"the cache reports no new clear (last_cleared_at {last_after!r})")


def recorded_key(deployment: dict[str, Any], annotation: str) -> str | None:
    return ((deployment.get("metadata") or {}).get("annotations") or {}).get(annotation)


def run_module(module: AnsibleModule, admin: CacheAdmin, kube: K8sClient | None) -> dict[str, Any]:
    params = module.params
    if params["warm_keys"] < 1:
        raise InvalidInputError(f"warm_keys must be at least 1, got {params['warm_keys']}")
    namespace, owner = params["key_namespace"], params["key_deployment"]
    last_key = None
    if kube is not None:
        last_key = recorded_key(kube.get_deployment(namespace, owner), params["key_annotation"])
    before = {k: v for k, v in admin.stats().items() if k in STATS_KEYS}
    clear, warm = plan(params, before, last_key)
    after = dict(before)
    if not module.check_mode:
        if clear:
            admin.clear()
            if kube is not None:
                patch = {
                    "metadata": {"annotations": {params["key_annotation"]: params["clear_key"]}}
                }
                kube.patch_deployment(namespace, owner, patch)
        if warm:
            admin.warm(params["warm_keys"])
        if clear or warm:
            after = {k: v for k, v in admin.stats().items() if k in STATS_KEYS}
        verify(params, before, after, clear)
    result: dict[str, Any] = {
        "changed": clear or warm,
        "cleared": clear,
        "warmed": warm,
        "clear_key": params["clear_key"] if clear and kube is not None else last_key,
        "before": before,
        "after": after,
    }
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    admin = CacheAdmin(
        params["url"], params["bearer_token"], params["timeout"], params["http_validate_certs"]
    )

    def work() -> dict[str, Any]:
        kube = None
        if params["clear"] and params["clear_key"]:
            kube = K8sClient.from_auth(K8sAuth.from_params(params))
        return run_module(module, admin, kube)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
