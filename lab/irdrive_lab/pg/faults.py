"""The PostgreSQL side of the lab's faults: db-down, db-slow and the intrusion's failed logins."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.credentials import APP_USERS, lab_credentials
from irdrive_lab.control.errors import LabError
from irdrive_lab.pg.cluster import (
    DATABASE,
    admin_connect,
    adopt_running,
    cluster_paths,
    pg_ctl_stop,
    save_procs,
    spawn_server,
    wait_accepting,
)

# The db-slow fault's sessions (application_name), as the responder sees them.
SLOW_APPNAME = "lab-db-slow"


def fault_db_down(cfg: LabConfig, info: dict[str, Any]) -> dict[str, Any]:
    """Stop the server (fast shutdown) as an outage would; ``clear_db_down`` brings it back."""
    stop_slow_holder(cfg)
    pg_ctl_stop(cfg)
    for record in info.get("procs", []):
        proc.stop(record, timeout=5)
    return {"stopped_at": round(time.time(), 3)}


def clear_db_down(cfg: LabConfig, info: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Start the server again and wait until it serves; ``info['procs']`` gets the new PID."""
    if not adopt_running(cfg, info):
        info["procs"] = [spawn_server(cfg, info["host"], info["port"], info.get("netns"))]
        save_procs(cfg, info["procs"])
    wait_accepting(cfg, info, timeout)
    return info


def _slow_record_file(cfg: LabConfig) -> Path:
    return cfg.run_dir / "pg-slow.json"


def fault_db_slow(cfg: LabConfig, info: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    """Start ``irdrive_lab.pg.slow``: 2 long queries, 2 idle-in-transaction sessions."""
    stop_slow_holder(cfg)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": info.get("socket_dir", str(cluster_paths(cfg)["run"])),
        "PGPORT": str(info["port"]),
        "PGDATABASE": info.get("dbname", DATABASE),
        "PGUSER": APP_USERS[0],
        "PGPASSWORD": lab_credentials(cfg)[APP_USERS[0]],
        "PGAPPNAME": SLOW_APPNAME,
    }
    if "PYTHONPATH" in os.environ:  # the holder imports this package: find it where we did
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    record = proc.spawn(
        "pg-slow",
        [sys.executable, "-m", "irdrive_lab.pg.slow", "--dir", str(cfg.dir)],
        cfg.logs_dir,
        env=env,
    )
    _slow_record_file(cfg).write_text(json.dumps(record))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.is_alive(record):
            raise LabError(f"the db-slow holder exited; see {record['log']}")
        counts = slow_sessions(cfg, info)
        if counts["active"] >= 2 and counts["idle in transaction"] >= 2:
            return {"procs": [record], "sessions": counts}
        time.sleep(0.1)
    proc.stop(record)
    raise LabError(f"db-slow sessions did not appear within {timeout:.0f}s")


def slow_sessions(cfg: LabConfig, info: dict[str, Any]) -> dict[str, int]:
    """Count the fault's sessions by state (``active``, ``idle in transaction``, ...)."""
    conn = admin_connect(cfg, info)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT state, count(*) FROM pg_stat_activity WHERE application_name = %s "
                "GROUP BY state",
                (SLOW_APPNAME,),
            )
            counts = {state: n for state, n in cur.fetchall()}
    finally:
        conn.close()
    counts.setdefault("active", 0)
    counts.setdefault("idle in transaction", 0)
    return counts


def clear_db_slow(
    cfg: LabConfig, info: dict[str, Any], record: dict[str, Any] | None = None, timeout: float = 10
) -> None:
    """Stop the holder and terminate any of its sessions the server still runs."""
    stop_slow_holder(cfg)
    for holder in (record or {}).get("procs", []):
        proc.stop(holder)
    deadline = time.monotonic() + timeout
    while True:
        conn = admin_connect(cfg, info)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (SLOW_APPNAME,),
                )
                (left,) = cur.fetchone()
        finally:
            conn.close()
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{left} db-slow sessions are still open after {timeout:.0f}s")
        time.sleep(0.1)


def stop_slow_holder(cfg: LabConfig) -> None:
    path = _slow_record_file(cfg)
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    proc.stop(record)
    path.unlink(missing_ok=True)


INTRUSION_USER_AGENT = "python-requests/2.31.0 lab-intrusion"


def fault_intrusion_db(
    cfg: LabConfig, info: dict[str, Any], ips: list[str], per_ip: int = 40
) -> int:
    """Add a burst of failed logins from ``ips`` to auth_logs (last 10 minutes); return rows."""
    conn = admin_connect(cfg, info, info.get("dbname", DATABASE))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO auth_logs (user_id, ip, event, user_agent, created_at) "
                "SELECT 1 + (g * 19) %% 200, ip::inet, "
                "CASE WHEN g %% 8 = 0 THEN 'mfa_failed' ELSE 'login_failed' END, %s, "
                "now() - make_interval(secs => g * 600.0 / %s) "
                "FROM unnest(%s::text[]) AS ip, generate_series(1, %s) AS g",
                (INTRUSION_USER_AGENT, per_ip, list(ips), per_ip),
            )
            return int(cur.rowcount)
    finally:
        conn.close()


def clear_intrusion_db(cfg: LabConfig, info: dict[str, Any], ips: list[str]) -> None:
    """Remove the rows ``fault_intrusion_db`` added (and only those)."""
    conn = admin_connect(cfg, info, info.get("dbname", DATABASE))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM auth_logs WHERE user_agent = %s AND ip = ANY(%s::inet[])",
                (INTRUSION_USER_AGENT, list(ips)),
            )
    finally:
        conn.close()
