"""The diagnose role's decisions: what to check, and what the findings conclude."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.filter.diagnose import (
    FilterModule,
    diagnose_http_checks,
    diagnose_summary,
)


def test_http_checks_cover_every_endpoint_of_the_platform() -> None:
    checks = diagnose_http_checks("https://api.platform.com//", ["ccbill"])
    assert [(c["name"], c["url"], c["id"], c["runbook"]) for c in checks] == [
        ("platform", "https://api.platform.com/health", "platform-down", "platform-outage"),
        ("payments", "https://api.platform.com/payments/health", "payments-down", "payments-failover"),
        ("processor ccbill", "https://api.platform.com/processors/ccbill/health", "processor-down", "payments-failover"),
        ("streaming", "https://api.platform.com/streaming/health", "streaming-down", "streaming-outage"),
        ("cdn", "https://api.platform.com/cdn/test.mp4", "cdn-down", "cdn-failover"),
    ]  # fmt: skip
    assert {c["severity"] for c in checks} == {"critical"}
    assert [c.get("method") for c in checks] == [None, None, None, None, "HEAD"]


@pytest.mark.parametrize("url", ["", None, "/"])
def test_no_platform_url_means_no_http_checks(url: Any) -> None:
    assert diagnose_http_checks(url, ["ccbill"]) == []


def _finding(fid: str, severity: str, runbook: str = "") -> dict[str, Any]:
    return {
        "id": fid,
        "severity": severity,
        "target": f"t/{fid}",
        "summary": fid,
        "runbook": runbook,
    }


def _platform(*findings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "findings": list(findings),
        "pods_not_ready": [],
        "deployments": {},
        "rollout_history": {},
        "log_errors": {},
        "pod_usage": [],
        "node_usage": [],
        "http_checks": [],
        "notes": [],
        **extra,
    }


def test_a_platform_without_findings_is_healthy() -> None:
    summary = diagnose_summary(_platform())
    assert (summary["status"], summary["findings"], summary["suggested_runbooks"]) == (
        "healthy",
        [],
        [],
    )
    assert summary["database"] == {"checked": False} and summary["storage"] == {}


def test_findings_are_ranked_by_severity_then_id_and_runbooks_follow() -> None:
    summary = diagnose_summary(
        _platform(
            _finding("resource-pressure", "high", "scale"),
            _finding("log-errors", "warning"),
            _finding("Bad-deploy", "critical", "rollback"),
            _finding("crashloop", "critical", "rollback"),
            _finding("odd", "unknown", "ignored"),
            _finding("cdn-down", "critical", "cdn-failover"),
        )
    )
    assert [f["id"] for f in summary["findings"]] == [
        "Bad-deploy",
        "cdn-down",
        "crashloop",
        "resource-pressure",
        "log-errors",
    ]
    assert summary["status"] == "critical"
    assert summary["suggested_runbooks"] == ["rollback", "cdn-failover", "scale"]


DB = {"target": "db:5432/platform", "problems": ["2 sessions idle in transaction"]}


@pytest.mark.parametrize(
    ("db", "finding"),
    [
        ({**DB, "reachable": False, "healthy": False}, {
            "id": "db-down", "severity": "critical", "target": "postgres/db:5432/platform",
            "summary": "the database does not answer: 2 sessions idle in transaction", "runbook": "db",
            "evidence": {"hint": "run db with db_restart=true"}}),
        ({**DB, "reachable": True, "healthy": False, "idle_in_transaction": 2,
          "longest_queries": [{"pid": 7, "seconds": 90}, {"pid": 9, "seconds": 70}]}, {
            "id": "db-slow", "severity": "high", "target": "postgres/db:5432/platform",
            "summary": "the database is slow: 2 sessions idle in transaction", "runbook": "db",
            "evidence": {"idle_in_transaction": 2, "longest_queries": [7, 9]}}),
        ({**DB, "reachable": True, "healthy": True}, None),
        ({"skipped": True}, None),
    ],
)  # fmt: skip
def test_database_findings(db: dict[str, Any], finding: dict[str, Any] | None) -> None:
    summary = diagnose_summary(_platform(), db=db)
    assert summary["findings"] == ([finding] if finding else [])
    checked = "reachable" in db
    assert summary["database"].get("checked", True) is checked
    if checked:
        assert summary["database"]["target"] == "db:5432/platform"


def _host(df: str | None, tmp: str = "3", **paths: str) -> dict[str, Any]:
    result = {"stdout_lines": [df, tmp]} if df else {"msg": "host unreachable"}
    return {"diagnose_storage_df": result, "storage_path": "/srv", **paths}


@pytest.mark.parametrize(
    ("facts", "storage", "summary"),
    [
        (_host("/dev/sda1 1000 500 500 50% /"), {
            "path": "/srv", "size_bytes": 1000, "used_bytes": 500, "used_ratio": 0.5, "mount": "/", "tmp_files": 3}, None),
        (_host("/dev/sda1 1000 935 65 94% /data", video_storage_path="/videos"), {
            "path": "/videos", "size_bytes": 1000, "used_bytes": 935, "used_ratio": 0.935, "mount": "/data",
            "tmp_files": 3}, "streaming /videos: 93.5% used, 3 *.tmp files"),
        (_host("/dev/sda1 1000 10 990 1% /", tmp=" 100"), {
            "path": "/srv", "size_bytes": 1000, "used_bytes": 10, "used_ratio": 0.01, "mount": "/", "tmp_files": 100},
         "streaming /srv: 1.0% used, 100 *.tmp files"),
        (_host(None), {"error": "host unreachable"}, None),
        ({"storage_path": "/srv"}, {"error": "not measured"}, None),
    ],
)  # fmt: skip
def test_storage_findings(
    facts: dict[str, Any], storage: dict[str, Any], summary: str | None
) -> None:
    result = diagnose_summary(
        _platform(), storage_hosts=["streaming"], hostvars={"streaming": facts}
    )
    assert result["storage"] == {"streaming": storage}
    if summary is None:
        assert result["findings"] == []
        return
    (finding,) = result["findings"]
    assert finding["summary"] == summary and finding["runbook"] == "streaming-outage"
    assert finding["target"] == f"host/streaming:{storage['path']}" and result["status"] == "high"


def test_storage_thresholds_are_parameters() -> None:
    facts = {"streaming": _host("/dev/sda1 1000 500 500 50% /", tmp="4")}
    quiet = diagnose_summary(_platform(), storage_hosts=["streaming"], hostvars=facts)
    strict = diagnose_summary(
        _platform(),
        storage_hosts=["streaming"],
        hostvars=facts,
        max_used_ratio=0.5,
        max_tmp_files=5,
    )
    assert quiet["findings"] == [] and [f["id"] for f in strict["findings"]] == ["storage-full"]


def test_what_was_seen_is_reported() -> None:
    platform = _platform(
        deployments={
            "backend": {
                "healthy": False,
                "ready": 1,
                "desired": 3,
                "revision": 4,
                "images": ["b:4"],
            }
        },
        rollout_history={
            "backend": [
                {
                    "revision": 4,
                    "change_cause": "deploy 4",
                    "images": ["b:4"],
                    "ready": 1,
                    "replicas": 3,
                    "rs": "x",
                },
                {"revision": 3, "images": ["b:3"]},
            ]
        },
        pod_usage=[
            {"pod": "a", "cpu_limit_ratio": None},
            {"pod": "b", "cpu_limit_ratio": 0.4},
            {"pod": "c", "cpu_limit_ratio": 0.97},
        ],
        http_checks=[
            {"name": "platform", "url": "u", "healthy": True, "status": 200, "id": "platform-down"}
        ],
    )
    summary = diagnose_summary(platform)
    assert summary["deployments"] == {
        "backend": {
            "healthy": False,
            "ready": "1/3",
            "revision": 4,
            "images": ["b:4"],
            "change_cause": "deploy 4",
            "history": [
                {
                    "revision": 4,
                    "change_cause": "deploy 4",
                    "images": ["b:4"],
                    "ready": 1,
                    "replicas": 3,
                },
                {"revision": 3, "images": ["b:3"]},
            ],
        }
    }
    assert [u["pod"] for u in summary["pod_usage"]] == ["c", "b", "a"]
    assert summary["dependencies"] == [
        {"name": "platform", "url": "u", "healthy": True, "status": 200}
    ]


def test_the_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "diagnose_http_checks": diagnose_http_checks,
        "diagnose_summary": diagnose_summary,
    }
