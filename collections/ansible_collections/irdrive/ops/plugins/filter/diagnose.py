# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Decisions of the diagnose role: what to check, and what the diagnosis concludes.

``diagnose_http_checks`` lists the platform's health endpoints, each with the finding and the
runbook a failure points to. ``diagnose_summary`` adds the database's and the hosts' storage
findings to the platform's, ranks them by severity, and concludes the status and the runbooks
to suggest; platform_outage and performance_degradation choose their remedies from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SEVERITIES = ("critical", "high", "warning", "info")
_HISTORY_KEYS = ("revision", "change_cause", "images", "ready", "replicas")
_DEPENDENCY_KEYS = ("name", "url", "healthy", "status", "reason", "latency_ms")
_DATABASE_KEYS = ("reachable", "healthy", "target", "problems")


def diagnose_http_checks(platform_url: str, processors: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The platform's health endpoints under ``platform_url``; none when it is empty."""
    base = str(platform_url or "").rstrip("/")
    if not base:
        return []

    def check(name: str, path: str, finding: str, runbook: str, **extra: str) -> dict[str, Any]:
        return {
            "name": name,
            "url": base + path,
            **extra,
            "id": finding,
            "severity": "critical",
            "runbook": runbook,
        }

    return [
        check("platform", "/health", "platform-down", "platform-outage"),
        check("payments", "/payments/health", "payments-down", "payments-failover"),
        *(
            check(
                f"processor {p}", f"/processors/{p}/health", "processor-down", "payments-failover"
            )
            for p in processors
        ),
        check("streaming", "/streaming/health", "streaming-down", "streaming-outage"),
        check("cdn", "/cdn/test.mp4", "cdn-down", "cdn-failover", method="HEAD"),
    ]


def _int(value: Any) -> int:
    """Jinja's ``int``: a number from text, else 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def _database_finding(db: Mapping[str, Any]) -> dict[str, Any] | None:
    if "reachable" not in db:
        return None
    target = f"postgres/{db.get('target')}"
    problems = "; ".join(db.get("problems") or [])
    if not db["reachable"]:
        return {
            "id": "db-down",
            "severity": "critical",
            "target": target,
            "summary": f"the database does not answer: {problems}",
            "runbook": "db",
            "evidence": {"hint": "run db with db_restart=true"},
        }
    if not db.get("healthy"):
        return {
            "id": "db-slow",
            "severity": "high",
            "target": target,
            "summary": f"the database is slow: {problems}",
            "runbook": "db",
            "evidence": {
                "idle_in_transaction": db.get("idle_in_transaction"),
                "longest_queries": [q["pid"] for q in db.get("longest_queries") or []],
            },
        }
    return None


def _storage(
    host: str, hostvars: Mapping[str, Any], max_used_ratio: float, max_tmp_files: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A host's storage (``df`` line, ``*.tmp`` count) and its finding when it is too full."""
    facts = hostvars[host]
    res = facts.get("diagnose_storage_df") or {}
    lines = res.get("stdout_lines")
    if lines is None or len(lines) < 2:
        return {"error": res["msg"] if "msg" in res else res.get("stderr", "not measured")}, None
    cols = lines[0].split()
    size, used_bytes, tmp = _int(cols[1]), _int(cols[2]), _int(lines[1])
    used = used_bytes / (size or 1)
    path = facts.get("video_storage_path") or facts.get("storage_path", "/")
    storage = {
        "path": path,
        "size_bytes": size,
        "used_bytes": used_bytes,
        "used_ratio": round(used, 4),
        "mount": cols[5],
        "tmp_files": tmp,
    }
    if used < float(max_used_ratio) and tmp < int(max_tmp_files):
        return storage, None
    return storage, {
        "id": "storage-full",
        "severity": "high",
        "target": f"host/{host}:{path}",
        "summary": f"{host} {path}: {round(used * 100, 1)}% used, {tmp} *.tmp files",
        "runbook": "streaming-outage",
        "evidence": {"used_ratio": round(used, 4), "tmp_files": tmp},
    }


def _ranked(findings: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Most severe first, by id within a severity (case-insensitive, like Jinja's ``sort``)."""
    by_id = sorted(findings, key=lambda f: str(f["id"]).lower())
    return [f for severity in SEVERITIES for f in by_id if f.get("severity") == severity]


def _pick(item: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in keys}


def _deployment(d: Mapping[str, Any], history: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "healthy": d.get("healthy"),
        "ready": f"{d.get('ready')}/{d.get('desired')}",
        "revision": d.get("revision"),
        "images": d.get("images"),
        "change_cause": history[0].get("change_cause") if history else "",
        "history": [_pick(h, _HISTORY_KEYS) for h in history],
    }


def diagnose_summary(
    platform: Mapping[str, Any],
    *,
    db: Mapping[str, Any] | None = None,
    storage_hosts: Iterable[str] = (),
    hostvars: Mapping[str, Any] | None = None,
    max_used_ratio: float = 0.9,
    max_tmp_files: int = 100,
) -> dict[str, Any]:
    """The diagnosis: ranked findings, the status, the runbooks to run, and what was seen."""
    db = db or {}
    findings = list(platform.get("findings") or [])
    db_finding = _database_finding(db)
    if db_finding:
        findings.append(db_finding)
    storage: dict[str, Any] = {}
    for host in storage_hosts:
        storage[host], finding = _storage(host, hostvars or {}, max_used_ratio, max_tmp_files)
        if finding:
            findings.append(finding)
    ranked = _ranked(findings)
    runbooks: list[str] = []
    for f in ranked:
        if f.get("runbook") and f["runbook"] not in runbooks:
            runbooks.append(f["runbook"])
    history = platform.get("rollout_history") or {}
    usage = platform.get("pod_usage") or []
    database: dict[str, Any] = {"checked": False}
    if "reachable" in db:
        database = {
            **{k: db.get(k) for k in _DATABASE_KEYS},
            "connections": db.get("connections", {}),
            "idle_in_transaction": db.get("idle_in_transaction"),
            "longest_queries": db.get("longest_queries", []),
        }
    return {
        "status": ranked[0]["severity"] if ranked else "healthy",
        "findings": ranked,
        "suggested_runbooks": runbooks,
        "pods_not_ready": platform.get("pods_not_ready"),
        "deployments": {
            name: _deployment(d, history.get(name) or [])
            for name, d in (platform.get("deployments") or {}).items()
        },
        "log_errors": platform.get("log_errors"),
        "pod_usage": sorted(
            usage,
            key=lambda u: (u.get("cpu_limit_ratio") is not None, u.get("cpu_limit_ratio") or 0),
            reverse=True,
        ),
        "node_usage": platform.get("node_usage"),
        "dependencies": [_pick(c, _DEPENDENCY_KEYS) for c in platform.get("http_checks") or []],
        "database": database,
        "storage": storage,
        "notes": platform.get("notes"),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "diagnose_http_checks": diagnose_http_checks,
            "diagnose_summary": diagnose_summary,
        }
