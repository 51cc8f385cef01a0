# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Decisions of the processor_failover role (P1 Payment System Failure).

``processor_failover_plan`` reads the processors named in the payment ConfigMap and works out
the health endpoints to check, and each processor's own API health endpoint (checked with the
processor's API key); ``processor_failover_key_problems`` says, in the preflight, what is wrong
with the backup processor's API key; ``processor_failover_decision`` takes the plan and the
checks' results and decides: ``none``, ``refuse``, ``converge`` or ``failover``, with the reason
the run reports and the ConfigMap data before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.plugins.filter.core import to_bool


def _base(url: Any) -> str:
    return str(url or "").rstrip("/")


def processor_failover_plan(
    data: Mapping[str, Any],
    *,
    platform_url: str = "",
    primary_key: str = "PRIMARY_PROCESSOR",
    backup_key: str = "BACKUP_PROCESSOR",
    payments_health_url: str = "",
    processor_health_urls: Mapping[str, str] | None = None,
    processor_api_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The processors the ConfigMap names and the URLs that tell whether each is healthy."""
    base = _base(platform_url)
    urls = processor_health_urls or {}
    api_urls = processor_api_urls or {}
    primary = data.get(primary_key, "")
    backup = data.get(backup_key, "")
    payments_url = payments_health_url or f"{base}/payments/health"
    checks: dict[str, str] = {"payments": payments_url}
    for name in (primary, backup):
        if name:
            checks[f"processor:{name}"] = urls.get(name, f"{base}/processors/{name}/health")
    return {
        "primary": primary,
        "backup": backup,
        "data": dict(data),
        "payments_url": payments_url,
        "checks": checks,
        "api_urls": {
            name: api_urls.get(name, f"{base}/processors/{name}/api/health")
            for name in (primary, backup)
            if name
        },
    }


def processor_failover_key_problems(
    plan: Mapping[str, Any],
    *,
    api_keys: Mapping[str, Any] | None = None,
    api_check: Mapping[str, Any] | None = None,
) -> list[str]:
    """What is wrong with the backup processor's API key: none given, or refused by its API.

    ``api_check`` is the result of the authenticated check of the backup's API (the
    ``irdrive.ops.http_health`` result, skipped when there was no key to check with). A backup
    that is down (no answer, 5xx) is not a key problem: the decision refuses that failover.
    """
    backup = plan.get("backup", "")
    if not backup:
        return []  # the ConfigMap names no backup: refused by the ConfigMap's own check
    if not str((api_keys or {}).get(backup) or ""):
        return [
            f"no API key for the backup processor {backup}: give api_keys.{backup} "
            "(processor_failover_api_keys; the inventory's irdrive_processor_api_keys, in AWX "
            "the credential 'irdrive processor API keys')"
        ]
    status = (api_check or {}).get("status")
    if status in (401, 403):
        url = (api_check or {}).get("url") or plan.get("api_urls", {}).get(backup, "")
        return [
            f"the backup processor {backup} refused its API key (HTTP {status} from {url}): "
            "the key given is wrong or revoked"
        ]
    return []


def processor_failover_decision(
    plan: Mapping[str, Any],
    checks: Mapping[str, Any],
    *,
    primary_key: str = "PRIMARY_PROCESSOR",
    backup_key: str = "BACKUP_PROCESSOR",
    namespace: str = "platform",
    configmap: str = "payment-config",
    deployment: str = "payment-service",
    backup_api: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the failover must do, given the plan and the health checks' results (by name).

    ``backup_api`` is the result of the check of the backup processor's own API, authenticated
    with its key: a failover needs it healthy too (None: not checked, as before the check).
    """
    primary, backup = plan.get("primary", ""), plan.get("backup", "")
    if not primary or not backup:
        return _refuse(
            f"ConfigMap {namespace}/{configmap} is missing or does not name both "
            f"{primary_key} and {backup_key}"
        )
    payments = checks.get("payments") or {}
    payments_json = payments.get("json") or {}
    primary_ok = to_bool(checks.get(f"processor:{primary}", {}).get("healthy", False))
    backup_ok = to_bool(checks.get(f"processor:{backup}", {}).get("healthy", False))
    active = payments_json.get("processor", "")
    old_data = {primary_key: primary, backup_key: backup}
    if primary_ok and to_bool(payments.get("healthy", False)) and active == primary:
        return {
            "action": "none",
            "reason": f"payments are healthy on the primary processor {primary}; nothing to do",
        }
    if primary_ok and active != primary:
        return {
            "action": "converge",
            "reason": f"the primary {primary} is healthy but payments run on "
            f"{active or 'no processor'}; restarting {deployment}",
            "backup": primary,
            "old_data": old_data,
            "new_data": dict(old_data),
        }
    if primary_ok:
        status = payments_json.get("status", payments.get("status", "unreachable"))
        return _refuse(
            f"the primary processor {primary} is healthy but payments are not ({status}); "
            "a processor failover would not help: see the payment service"
        )
    if not backup_ok:
        return _refuse(
            f"both processors are down: primary {primary} and backup {backup} fail their "
            "health checks; refusing to fail over, nothing was changed"
        )
    if backup_api is not None and not to_bool(backup_api.get("healthy", False)):
        why = backup_api.get("reason") or ("not checked" if backup_api.get("skipped") else "")
        return _refuse(
            f"the primary processor {primary} is down and the backup {backup} does not answer "
            f"healthy on its API with its key ({why or 'unhealthy'}); refusing to fail over, "
            "nothing was changed"
        )
    return {
        "action": "failover",
        "reason": f"primary {primary} is down and backup {backup} is healthy",
        "backup": backup,
        "old_data": old_data,
        "new_data": {primary_key: backup, backup_key: primary},
    }


def _refuse(reason: str) -> dict[str, Any]:
    return {"action": "refuse", "reason": reason}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "processor_failover_plan": processor_failover_plan,
            "processor_failover_decision": processor_failover_decision,
            "processor_failover_key_problems": processor_failover_key_problems,
        }
