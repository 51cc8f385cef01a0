"""The cdn_failover role's decisions: where the record points, and what to do about it."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.filter.cdn_failover import (
    FilterModule,
    cdn_failover_decision,
    cdn_failover_plan,
)

RECORD, BACKUP_RECORD = "cdn.platform.com", "cdn-backup.platform.com"
PRIMARY, BACKUP = "d111.cloudfront.net", "backup.fastly.net"
ORIGIN = {"streaming-service": 10, "video-processor": 5}
# As irdrive.ops.k8s_workload_health returns them: a summary per deployment, keyed by name.
DEPLOYMENTS = {name: {"name": name} for name in ("streaming-service", "video-processor", "web")}


def _records(*rrsets: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "resource_record_sets": [
            {"name": name, "type": kind, "resource_records": [{"value": value}]}
            for name, kind, value in rrsets
        ]
    }


def _distribution(enabled: bool = True, status: str = "Deployed") -> dict[str, Any]:
    dist = {"domain_name": "D111.cloudfront.net.", "status": status, "enabled": enabled}
    return {"changed": False, "distribution": dist}  # irdrive.ops.cloudfront_info's result


def _plan(current: str | None = PRIMARY, backup: bool = True, **kwargs: Any) -> dict[str, Any]:
    rrsets = [("cdn-backup.platform.com.", "CNAME", BACKUP + ".")] if backup else []
    if current is not None:
        rrsets.append(("cdn.platform.com.", "CNAME", current))
    args: dict[str, Any] = {"distribution": _distribution(), "platform_url": "http://lab/"}
    return cdn_failover_plan(
        _records(*rrsets), record=RECORD, backup_record=BACKUP_RECORD, **{**args, **kwargs}
    )


def _health(test: bool, primary: bool, backup: bool) -> list[dict[str, Any]]:
    return [
        {"healthy": test, "reason": "" if test else "HTTP 502"},
        {"healthy": primary, "reason": "" if primary else "connection refused"},
        {"healthy": backup, "reason": "" if backup else "HTTP 503"},
    ]


def _decide(plan: dict[str, Any], health: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "record": RECORD,
        "deployments": DEPLOYMENTS,
        "origin_replicas": ORIGIN,
        "zone_id": "Z1",
        "backup_record": BACKUP_RECORD,
        "distribution_id": "E1",
    }
    return cdn_failover_decision(plan, health, **{**args, **kwargs})


def test_plan_reads_the_records_and_the_distribution() -> None:
    plan = _plan("D111.CloudFront.net.")
    assert plan == {
        "record": PRIMARY,
        "record_found": True,
        "primary": PRIMARY,
        "backup": BACKUP,
        "distribution": {"id": "", "status": "Deployed", "enabled": True},
        "test_url": "http://lab/cdn/test.mp4",
        "checks": [
            {"name": "test object through cdn.platform.com", "url": "http://lab/cdn/test.mp4"},
            {"name": "primary edge", "url": "http://lab/cdn/primary/test.mp4"},
            {"name": "backup edge", "url": "http://lab/cdn/backup/test.mp4"},
        ],
    }


def test_plan_prefers_explicit_targets_and_urls() -> None:
    plan = _plan(
        primary_target="CF.example.",
        backup_target="Other.CDN.",
        distribution_id="E9",
        test_url="https://cdn/test.mp4",
        edge_test_urls={"backup": "https://backup/test.mp4"},
    )
    assert (plan["primary"], plan["backup"], plan["distribution"]["id"]) == (
        "cf.example",
        "other.cdn",
        "E9",
    )
    assert [c["url"] for c in plan["checks"]] == [
        "https://cdn/test.mp4",
        "http://lab/cdn/primary/test.mp4",
        "https://backup/test.mp4",
    ]


@pytest.mark.parametrize(
    ("rrsets", "found", "record"),
    [
        ([], False, ""),
        ([("cdn.platform.com", "A", "192.0.2.1")], False, ""),
        ([("other.platform.com.", "CNAME", "x")], False, ""),
        ([("CDN.Platform.com", "CNAME", "Edge.Example.")], True, "edge.example"),
    ],
)
def test_plan_finds_only_the_cname_of_the_record(
    rrsets: list[tuple[str, str, str]], found: bool, record: str
) -> None:
    plan = cdn_failover_plan(
        _records(*rrsets), record="cdn.platform.com.", backup_record=BACKUP_RECORD
    )
    assert (plan["record_found"], plan["record"], plan["backup"]) == (found, record, "")


def test_plan_without_a_distribution_has_no_primary() -> None:
    plan = cdn_failover_plan(
        _records(), distribution={"skipped": True}, record=RECORD, backup_record=BACKUP_RECORD
    )
    assert plan["primary"] == "" and plan["distribution"] == {
        "id": "",
        "status": "",
        "enabled": False,
    }


FAILOVER_CASES = [
    (_plan(None), _health(False, False, True), {}, "refuse",
     "no CNAME record cdn.platform.com in hosted zone Z1; nothing was changed"),
    (_plan(backup=False), _health(False, False, True), {}, "refuse",
     "no backup CDN target: record cdn-backup.platform.com is missing and cdn_failover_backup_target"
     " is not set; nothing was changed"),
    (_plan(), _health(False, False, True), {"origin_replicas": {"streaming-service": 1, "gone": 1}},
     "refuse", "unknown origin deployment(s) gone in namespace platform (known: streaming-service,"
     " video-processor, web); nothing was changed"),
    (_plan(BACKUP), _health(False, False, False), {}, "refuse",
     "cdn.platform.com already points to the backup CDN backup.fastly.net but its edge is down too"
     " (HTTP 503); nothing was changed"),
    (_plan(BACKUP), _health(True, False, True), {}, "converge",
     "cdn.platform.com already points to the backup CDN backup.fastly.net; checking the origin"),
    (_plan(), _health(True, True, True), {}, "none",
     "the primary CDN d111.cloudfront.net serves the test object; nothing to fail over"
     " (cdn_failover_force=true fails over anyway)"),
    (_plan(), _health(False, False, False), {}, "refuse",
     "both CDN edges are down: primary d111.cloudfront.net (connection refused) and backup"
     " backup.fastly.net (HTTP 503); refusing to fail over, nothing was changed"),
    (_plan(), _health(False, False, True), {}, "switch",
     "primary CDN d111.cloudfront.net is down (connection refused) and the backup backup.fastly.net"
     " answers"),
    (_plan(), _health(True, True, True), {"force": "true"}, "switch",
     "primary CDN d111.cloudfront.net is up, failover forced and the backup backup.fastly.net answers"),
    (_plan(), _health(False, True, True), {}, "switch",
     "primary CDN d111.cloudfront.net is up, failover forced and the backup backup.fastly.net answers"),
    (_plan(distribution={}), [{"healthy": False}] * 2 + [{"healthy": True}], {}, "switch",
     "primary CDN ? is down (unhealthy) and the backup backup.fastly.net answers"),
]  # fmt: skip


@pytest.mark.parametrize(("plan", "health", "kwargs", "action", "reason"), FAILOVER_CASES)
def test_failover_decision(
    plan: dict, health: list, kwargs: dict, action: str, reason: str
) -> None:
    decision = _decide(plan, health, direction="failover", **kwargs)
    assert (decision["action"], decision["reason"]) == (action, reason)
    assert decision["old_value"] == plan["record"]
    if action in ("switch", "converge"):
        assert (decision["edge"], decision["target"]) == ("backup", BACKUP)
    else:
        assert "target" not in decision
    if action == "refuse":
        # Only a name that does not exist is bad input; the platform's state is a refusal.
        unknown = reason.startswith("unknown origin deployment")
        assert decision["kind"] == ("invalid_input" if unknown else "refused")


FAILBACK_CASES = [
    (_plan(None), _health(True, True, True), "refuse",
     "no CNAME record cdn.platform.com in hosted zone Z1; nothing was changed"),
    (_plan(BACKUP, distribution={}), _health(True, True, True), "refuse",
     "no primary CDN target: distribution E1 has no domain name and cdn_failover_primary_target"
     " is not set; nothing was changed"),
    (_plan(BACKUP, distribution=_distribution(enabled=False, status="")), _health(True, True, True),
     "refuse", "CloudFront distribution E1 is disabled (status unknown); refusing to fail back,"
     " nothing was changed"),
    (_plan(BACKUP), _health(True, False, True), "refuse",
     "the primary CDN d111.cloudfront.net is still down (connection refused); refusing to fail"
     " back, nothing was changed"),
    (_plan(PRIMARY), _health(True, True, False), "none",
     "cdn.platform.com already points to the primary CDN d111.cloudfront.net; nothing to fail back"),
    (_plan(BACKUP), _health(True, True, False), "switch",
     "the primary CDN d111.cloudfront.net answers again; failing back from backup.fastly.net"),
]  # fmt: skip


@pytest.mark.parametrize(("plan", "health", "action", "reason"), FAILBACK_CASES)
def test_failback_decision(plan: dict, health: list, action: str, reason: str) -> None:
    # A failback reads no deployments and scales nothing: unknown origins do not matter.
    decision = _decide(plan, health, direction="failback", deployments=[])
    assert (decision["action"], decision["reason"]) == (action, reason)
    if action == "switch":
        assert (decision["edge"], decision["target"]) == ("primary", PRIMARY)


def test_the_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "cdn_failover_plan": cdn_failover_plan,
        "cdn_failover_decision": cdn_failover_decision,
    }


def test_plan_reads_the_records_from_a_loop_of_reads() -> None:
    """The role reads the record and the backup record with one route53_record task looping
    over both; a missing record is a read with no record set."""
    loop = {
        "results": [
            _records(("cdn.platform.com.", "CNAME", PRIMARY + ".")),
            _records(("cdn-backup.platform.com.", "CNAME", BACKUP.upper())),
            {"resource_record_sets": [], "record": None},
        ]
    }
    plan = cdn_failover_plan(loop, record=RECORD, backup_record=BACKUP_RECORD)
    assert (plan["record_found"], plan["record"], plan["backup"]) == (True, PRIMARY, BACKUP)
