"""db, cache and diagnose against the lab: each from its lab fault, verified, idempotent, check-safe."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _runbook import (
    changed_tasks,
    crashlooping_pods,
    http_json,
    irdrive,
    lock_writes_since,
    run_json,
    writes_since,
)
from helpers import wait_until

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults
from irdrive_lab.pg import faults as pg_faults
from irdrive_lab.pg import journal as pg_journal
from irdrive_lab.pg import postgres

pytestmark = pytest.mark.lab


def _mark(lab: dict[str, Any]) -> int:
    return Journal(Path(lab["journal"])).mark()


def _pg_writes(lab_cfg: Any, lab: dict[str, Any]) -> int:
    return len(pg_journal.journal_entries(lab_cfg, lab["parts"]["postgres"]))


def _vars(tmp_path: Path, **values: Any) -> str:
    path = tmp_path / "vars.json"
    path.write_text(json.dumps(values))
    return f"@{path}"


def _idle_in_transaction_for(lab: dict[str, Any], seconds: float) -> int:
    """How many of the db-slow fault's sessions have been idle in a transaction that long."""
    conn = _admin(lab)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND state = 'idle in transaction' "
                "AND state_change < clock_timestamp() - make_interval(secs => %s)",
                (pg_faults.SLOW_APPNAME, seconds),
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _admin(lab: dict[str, Any]) -> Any:
    pg = lab["parts"]["postgres"]
    conn = psycopg2.connect(
        host=pg["socket_dir"], port=pg["port"], user="postgres", dbname="platform"
    )
    conn.autocommit = True
    return conn


def _last_analyze(lab: dict[str, Any], table: str) -> Any:
    conn = _admin(lab)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", (table,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def _diagnosis(report: dict[str, Any]) -> dict[str, Any]:
    return report["recorded"]["irdrive_diagnosis"]


# ---- diagnose ----------------------------------------------------------------------------
def test_diagnose_clean_lab_finds_nothing_and_changes_nothing(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    mark, pg_before = _mark(clean_lab), _pg_writes(lab_cfg, clean_lab)
    rc, report = run_json(lab_env, "diagnose", "--check")
    assert rc == 0, report
    diagnosis = _diagnosis(report)
    assert diagnosis["findings"] == [], diagnosis["findings"]
    assert diagnosis["status"] == "healthy"
    assert diagnosis["deployments"]["backend"]["history"][0]["revision"] >= 2
    assert {c["name"] for c in diagnosis["dependencies"]} >= {"platform", "cdn", "payments"}
    assert (
        diagnosis["database"]["reachable"] and diagnosis["storage"]["streaming"]["used_ratio"] < 0.9
    )
    assert changed_tasks(report) == []
    assert all(h.get("changed", 0) == 0 for h in report["hosts"].values())
    assert writes_since(clean_lab, mark) == []
    assert _pg_writes(lab_cfg, clean_lab) == pg_before


def test_diagnose_finds_each_fault_and_suggests_its_runbook(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    for name in ("bad-deploy", "processor-down", "db-slow", "disk-full"):
        faults.inject(lab_cfg, clean_lab, name, {})
    wait_until(
        lambda: crashlooping_pods(clean_lab, "backend"),
        timeout=20,
        what="the bad image's pods in CrashLoopBackOff",
    )
    mark = _mark(clean_lab)
    rc, report = run_json(lab_env, "diagnose")
    assert rc == 0, report
    diagnosis = _diagnosis(report)
    found = {(f["id"], f["runbook"]) for f in diagnosis["findings"]}
    assert ("bad-deploy", "rollback") in found, diagnosis["findings"]
    assert ("processor-down", "payments-failover") in found
    assert ("db-slow", "db") in found
    assert ("storage-full", "streaming-outage") in found
    bad = next(f for f in diagnosis["findings"] if f["id"] == "bad-deploy")
    assert bad["target"] == "deployment/platform/backend" and bad["severity"] == "critical"
    assert diagnosis["status"] == "critical"
    assert {"rollback", "payments-failover", "db"} <= set(diagnosis["suggested_runbooks"])
    assert changed_tasks(report) == []
    assert writes_since(clean_lab, mark) == []


# ---- db ----------------------------------------------------------------------------------
def test_db_slow_terminates_idle_in_transaction_only(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str], tmp_path: Path
) -> None:
    faults.inject(lab_cfg, clean_lab, "db-slow", {})
    pg = clean_lab["parts"]["postgres"]
    conn = _admin(clean_lab)
    with conn.cursor() as cur:  # stale statistics for one table: ANALYZE has work to do
        cur.execute("SELECT pg_stat_reset_single_table_counters('public.payments'::regclass)")
    conn.close()
    extra = _vars(
        tmp_path,
        db_maintenance_login_user=pg["app_user"],
        db_maintenance_login_password=pg["app_password"],
    )
    args = ("-e", "idle_min_seconds=1", "-e", "analyze=true", "-e", extra)
    wait_until(
        lambda: _idle_in_transaction_for(clean_lab, 1) == 2,
        timeout=10,
        what="the fault's two sessions idle in a transaction for over 1 s",
    )

    mark, pg_before = _mark(clean_lab), _pg_writes(lab_cfg, clean_lab)
    rc, check = run_json(lab_env, "db", "--check", *args)
    assert rc == 0, check
    assert "Terminate sessions stuck idle in a transaction" in changed_tasks(check)
    assert writes_since(clean_lab, mark) == []
    assert _pg_writes(lab_cfg, clean_lab) == pg_before
    assert pg_faults.slow_sessions(lab_cfg, pg)["idle in transaction"] == 2
    assert _last_analyze(clean_lab, "payments") is None

    rc, report = run_json(lab_env, "db", *args)
    assert rc == 0, report
    db = report["recorded"]["irdrive_db"]
    assert sorted(s["state"] for s in db["terminated"]) == ["idle in transaction"] * 2
    assert all(s["application_name"] == pg_faults.SLOW_APPNAME for s in db["terminated"])
    assert "public.payments" in db["analyzed"]
    assert db["slow_queries"] and db["slow_queries_available"]
    assert db["slow_queries"][0]["mean_ms"] >= db["slow_queries"][-1]["mean_ms"]
    sessions = pg_faults.slow_sessions(lab_cfg, pg)
    assert sessions["idle in transaction"] == 0 and sessions["active"] == 2
    assert _last_analyze(clean_lab, "payments") is not None
    assert any(v["task"].startswith("Verify") for v in report["verified"])
    befores = {c["target"] for c in report["recorded"]["irdrive_changes"]}
    assert any(t.endswith("/sessions") for t in befores)

    rc, again = run_json(lab_env, "db", *args)
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert pg_faults.slow_sessions(lab_cfg, pg)["active"] == 2


def test_db_down_is_restarted_and_verified(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str], tmp_path: Path
) -> None:
    faults.inject(lab_cfg, clean_lab, "db-down", {})
    rc, refused = run_json(lab_env, "db")
    assert rc == 3, refused  # unreachable and no restart asked for
    assert changed_tasks(refused) == []

    # The restart runs the db host's service command (the lab's irdrive-postgresql script),
    # under the db host's lock file, taken and given back (journaled lock: true).
    mark = _mark(clean_lab)
    rc, report = run_json(lab_env, "db", "-e", "restart=true")
    assert rc == 0, report
    assert "Restart the database service on its host" in changed_tasks(report)
    names = [t["task"] for t in report["tasks"] if t["status"] != "skipped"]
    restart = names.index("Restart the database service on its host")
    assert names[restart - 1 : restart + 2] == [
        "Lock the database host (one remediation at a time)",
        "Restart the database service on its host",
        "Release the database host's lock",
    ]
    host_locks = [e["path"] for e in lock_writes_since(clean_lab, mark) if e["source"] == "host"]
    # The lock file, and the flock file beside it that a release or takeover is made under.
    lock_file = "db:/var/lib/irdrive/locks/db.json"
    assert lock_file in host_locks, host_locks
    assert set(host_locks) <= {lock_file, f"{lock_file}.flock"}, host_locks
    lock_file = Path(clean_lab["parts"]["hosts"]["db"]["paths"]["locks"]) / "db.json"
    assert json.loads(lock_file.read_text())["holder"] == ""
    assert any(
        v["task"] == "Verify the restarted database accepts connections" for v in report["verified"]
    )
    assert postgres.health(lab_cfg, clean_lab["parts"]["postgres"])[0]

    try:
        rc, again = run_json(lab_env, "db", "-e", "restart=true")
        assert rc == 0 and changed_tasks(again) == [], again
    finally:
        faults.clear(lab_cfg, clean_lab, "db-down")  # the lab adopts the restarted server
    assert postgres.health(lab_cfg, lab_cfg.read_state()["parts"]["postgres"])[0]


def test_db_bad_input_fails_clearly_and_writes_nothing(
    lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    mark, pg_before = _mark(lab), _pg_writes(lab_cfg, lab)
    rc, report = run_json(lab_env, "db", "-e", "idle_min_seconds=-5")
    assert rc == 2, report  # the role's own check is bad input too (irdrive.ops.preflight)
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1 and "idle_min_seconds (-5)" in failed[0]["msg"]
    res = irdrive(lab_env, "run", "db", "--yes", "-e", "idle_min_seconds=soon")
    assert res.returncode == 2 and "idle_min_seconds" in res.stderr
    assert writes_since(lab, mark) == [] and _pg_writes(lab_cfg, lab) == pg_before


# ---- cache -------------------------------------------------------------------------------
def test_cache_clear_and_warm_once_per_key(
    clean_lab: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    platform = clean_lab["endpoints"]["platform"]
    token = _vars(tmp_path, cache_admin_token=clean_lab["platform"]["admin_token"])
    key = f"INC-{time.time_ns()}"
    mark = _mark(clean_lab)
    rc, check = run_json(lab_env, "cache", "--check", "-e", f"idempotency_key={key}", "-e", token)
    assert rc == 0 and "Clear and warm the application cache" in changed_tasks(check), check
    assert writes_since(clean_lab, mark) == []

    rc, report = run_json(lab_env, "cache", "-e", f"idempotency_key={key}", "-e", token)
    assert rc == 0, report
    stats = report["recorded"]["irdrive_cache"]
    assert stats["keys"] >= 100 and stats["last_cleared_at"]
    actions = [e.get("action") for e in writes_since(clean_lab, mark) if e["source"] == "platform"]
    assert actions == ["cache.clear", "cache.warm"]

    mark = _mark(clean_lab)
    rc, again = run_json(lab_env, "cache", "-e", f"idempotency_key={key}", "-e", token)
    assert rc == 0 and changed_tasks(again) == [], again
    assert writes_since(clean_lab, mark) == []
    assert clean_lab["platform"]["admin_token"] not in json.dumps(again)
    assert http_json(f"{platform}/health")[0] == 200
