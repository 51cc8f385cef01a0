# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Decisions of the cdn_failover role (P1 Video Streaming Outage, CDN issue).

``cdn_failover_plan`` reads the CDN record, the backup record (irdrive.ops.route53_record,
``state: read``, one result or a loop's) and the CloudFront distribution (irdrive.ops.cloudfront_info)
from what the role read, and works out the URLs to check; ``cdn_failover_decision`` takes that
plan and the checks' results and decides: ``none``, ``refuse``, ``converge`` or ``switch``, with
the reason the run reports and the target the record must point to. Hostnames are compared
lower-case without the trailing dot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.plugins.filter.core import to_bool


def _host(name: Any) -> str:
    return re.sub(r"\.$", "", str(name or "").lower())


def _cnames(rrsets: Iterable[Mapping[str, Any]], wanted: set[str]) -> dict[str, str]:
    """The first value of each wanted CNAME record, by record name."""
    found: dict[str, str] = {}
    for rrset in rrsets:
        name = _host(rrset.get("name", ""))
        if rrset.get("type", "") == "CNAME" and name in wanted:
            value = (rrset.get("resource_records") or [{}])[0].get("value", "")
            found[name] = _host(value)
    return found


def _record_sets(records: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The record sets of one read result, or of every result of a loop of reads."""
    if "results" in records:
        return [rrset for result in records["results"] for rrset in _record_sets(result)]
    return list(records.get("resource_record_sets") or [])


def cdn_failover_plan(
    records: Mapping[str, Any],
    *,
    record: str,
    backup_record: str,
    distribution: Mapping[str, Any] | None = None,
    primary_target: str = "",
    backup_target: str = "",
    distribution_id: str = "",
    platform_url: str = "",
    test_url: str = "",
    edge_test_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The record's current target, both CDN targets, the distribution and the URLs to check."""
    base = str(platform_url or "").rstrip("/")
    urls = edge_test_urls or {}
    record_key, backup_key = _host(record), _host(backup_record)
    found = _cnames(_record_sets(records), {record_key, backup_key})
    dist = (distribution or {}).get("distribution") or {}
    test_object = test_url or f"{base}/cdn/test.mp4"
    return {
        "record": found.get(record_key, ""),
        "record_found": record_key in found,
        "primary": _host(primary_target or dist.get("domain_name", "")),
        "backup": _host(backup_target or found.get(backup_key, "")),
        "distribution": {
            "id": distribution_id,
            "status": dist.get("status", ""),
            "enabled": bool(dist.get("enabled", False)),
        },
        "test_url": test_object,
        "checks": [
            {"name": f"test object through {record}", "url": test_object},
            {"name": "primary edge", "url": urls.get("primary", f"{base}/cdn/primary/test.mp4")},
            {"name": "backup edge", "url": urls.get("backup", f"{base}/cdn/backup/test.mp4")},
        ],
    }


def cdn_failover_decision(
    plan: Mapping[str, Any],
    health: list[Mapping[str, Any]],
    *,
    record: str,
    deployments: Iterable[str] = (),
    origin_replicas: Mapping[str, Any] | None = None,
    direction: str = "failover",
    force: Any = False,
    zone_id: str = "",
    backup_record: str = "",
    distribution_id: str = "",
    namespace: str = "platform",
) -> dict[str, Any]:
    """What the CDN failover (or failback) must do, given the plan and the three checks.

    ``deployments`` names the namespace's Deployments (irdrive.ops.k8s_workload_health's
    ``deployments`` mapping, whose keys are the names, will do)."""
    decision = _decide(
        plan,
        health,
        [str(name) for name in deployments],
        origin_replicas or {},
        direction,
        force,
        {
            "record": record,
            "zone_id": zone_id,
            "backup_record": backup_record,
            "distribution_id": distribution_id,
            "namespace": namespace,
        },
    )
    decision["old_value"] = plan.get("record", "")
    return decision


def _why(check: Mapping[str, Any]) -> str:
    return str(check.get("reason") or "unhealthy")


def _decide(
    p: Mapping[str, Any],
    health: list[Mapping[str, Any]],
    known: list[str],
    replicas: Mapping[str, Any],
    direction: str,
    force: Any,
    cfg: Mapping[str, str],
) -> dict[str, Any]:
    test_ok, primary_ok, backup_ok = (to_bool(health[i].get("healthy", False)) for i in range(3))
    failover = direction == "failover"
    missing = [name for name in replicas if name not in known]
    rec, primary, backup, current = cfg["record"], p["primary"], p["backup"], p["record"]
    if not p["record_found"]:
        return _refuse(
            f"no CNAME record {rec} in hosted zone {cfg['zone_id']}; nothing was changed"
        )
    if failover and not backup:
        return _refuse(
            f"no backup CDN target: record {cfg['backup_record']} is missing and "
            "cdn_failover_backup_target is not set; nothing was changed"
        )
    if failover and missing:
        return _refuse(
            f"unknown origin deployment(s) {', '.join(missing)} in namespace "
            f"{cfg['namespace']} (known: {', '.join(known)}); nothing was changed",
            kind="invalid_input",
        )
    if not failover and not primary:
        return _refuse(
            f"no primary CDN target: distribution {cfg['distribution_id']} has no domain name "
            "and cdn_failover_primary_target is not set; nothing was changed"
        )
    if failover and current == backup:
        if not backup_ok:
            return _refuse(
                f"{rec} already points to the backup CDN {backup} but its edge is down too "
                f"({_why(health[2])}); nothing was changed"
            )
        return _switch(
            "converge",
            f"{rec} already points to the backup CDN {backup}; checking the origin",
            "backup",
            backup,
        )
    if failover and current == primary and primary_ok and test_ok and not to_bool(force):
        return {
            "action": "none",
            "reason": f"the primary CDN {primary} serves the test object; nothing to fail over "
            "(cdn_failover_force=true fails over anyway)",
        }
    if failover and not backup_ok:
        return _refuse(
            f"both CDN edges are down: primary {primary or '?'} ({_why(health[1])}) and backup "
            f"{backup} ({_why(health[2])}); refusing to fail over, nothing was changed"
        )
    if failover:
        state = "up, failover forced" if primary_ok else f"down ({_why(health[1])})"
        return _switch(
            "switch",
            f"primary CDN {primary or '?'} is {state} and the backup {backup} answers",
            "backup",
            backup,
        )
    dist = p["distribution"]
    if not dist["enabled"]:
        return _refuse(
            f"CloudFront distribution {cfg['distribution_id']} is disabled (status "
            f"{dist['status'] or 'unknown'}); refusing to fail back, nothing was changed"
        )
    if not primary_ok:
        return _refuse(
            f"the primary CDN {primary} is still down ({_why(health[1])}); refusing to fail "
            "back, nothing was changed"
        )
    if current == primary:
        return {
            "action": "none",
            "reason": f"{rec} already points to the primary CDN {primary}; nothing to fail back",
        }
    return _switch(
        "switch",
        f"the primary CDN {primary} answers again; failing back from {current}",
        "primary",
        primary,
    )


def _refuse(reason: str, kind: str = "refused") -> dict[str, Any]:
    """``kind`` invalid_input: the request named something that does not exist (bad input);
    refused: the platform's state does not allow the change."""
    return {"action": "refuse", "reason": reason, "kind": kind}


def _switch(action: str, reason: str, edge: str, target: str) -> dict[str, Any]:
    return {"action": action, "reason": reason, "edge": edge, "target": target}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "cdn_failover_plan": cdn_failover_plan,
            "cdn_failover_decision": cdn_failover_decision,
        }
