"""The lab's PostgreSQL part: Debian's PostgreSQL 15 run as the postgres user, seeded with
`platform`. The component interface of docs/lab-design.md (start, wait_ready, health, stop,
reseed) and ``destroy``, which removes the cluster.

With a db host from ``irdrive_lab.hosts.hosts`` (``ctx["hosts"]["db"] = {netns, address}``) the
server runs inside that network namespace on ``address:5432``; without one it listens on
127.0.0.1 at the lab's postgres port. The lab itself always talks to it over the unix socket.
The cluster's files and process are in ``cluster``, its faults in ``faults``, its journal
entries in ``journal``.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from importlib import resources as importlib_resources
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.credentials import (
    APP_GROUP,
    APP_USERS,
    DBA_ROLE,
    RESPONDER_ROLE,
    ROTATOR_ROLE,
    lab_credentials,
)
from irdrive_lab.control.errors import LabError
from irdrive_lab.pg.cluster import (
    DATABASE,
    LAB_APPNAME,
    NETNS_PORT,
    admin_connect,
    check_binaries,
    cluster_paths,
    data_root,
    ensure_cluster,
    pg_ctl_stop,
    running_postmaster,
    spawn_server,
    wait_accepting,
    write_service_script,
)
from irdrive_lab.pg.faults import stop_slow_holder


# ---- component interface -------------------------------------------------------------------
def start(cfg: LabConfig, ctx: dict[str, Any]) -> dict[str, Any]:
    check_binaries(cfg)
    cfg.ensure_dirs()
    db_host = (ctx.get("hosts") or {}).get("db") or {}
    netns = db_host.get("netns")
    host = db_host.get("address") if netns else "127.0.0.1"
    port = NETNS_PORT if netns else cfg.port("postgres")
    if not host:
        raise LabError("the db host has a network namespace but no address")
    if running_postmaster(cfg) is not None:
        pg_ctl_stop(cfg)  # left over from an earlier run of this same lab
    if not netns and proc.port_in_use(port):
        raise LabError(f"PostgreSQL port {port} on 127.0.0.1 is already in use")
    started = time.monotonic()
    created = ensure_cluster(cfg)
    paths = cluster_paths(cfg)
    creds = lab_credentials(cfg)
    service_script = write_service_script(cfg, host, port)
    return {
        "service_script": str(service_script),
        "host": host,
        "port": port,
        "netns": netns,
        "socket_dir": str(paths["run"]),
        "data_root": str(paths["root"]),
        "data_dir": str(paths["data"]),
        "log_dir": str(paths["log"]),
        "dbname": DATABASE,
        # the responder's login; the application's seeded login (one of two alternating roles
        # of the NOLOGIN owner platform_app); the maintenance login; the password rotator's
        "user": RESPONDER_ROLE,
        "password": creds[RESPONDER_ROLE],
        "app_group": APP_GROUP,
        "app_users": list(APP_USERS),
        "app_user": APP_USERS[0],
        "app_password": creds[APP_USERS[0]],
        "maintenance_user": DBA_ROLE,
        "maintenance_password": creds[DBA_ROLE],
        "rotation_user": ROTATOR_ROLE,
        "rotation_password": creds[ROTATOR_ROLE],
        "dsn": f"host={host} port={port} dbname={DATABASE} user={RESPONDER_ROLE}",
        "initdb": created,
        "init_seconds": round(time.monotonic() - started, 3),
        "procs": [spawn_server(cfg, host, port, netns)],
    }


def wait_ready(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    """Wait until the server accepts connections, then make sure roles and data are seeded."""
    wait_accepting(cfg, info, timeout)
    started = time.monotonic()
    info["seeded_now"] = _ensure_seeded(cfg, info)
    info["seed_seconds"] = round(time.monotonic() - started, 3)


def health(cfg: LabConfig, info: dict[str, Any]) -> tuple[bool, str]:
    import psycopg2

    try:
        conn = psycopg2.connect(
            host=info["host"],
            port=info["port"],
            dbname=info.get("dbname", DATABASE),
            user=info.get("user", RESPONDER_ROLE),
            password=info.get("password"),
            connect_timeout=2,
            application_name=LAB_APPNAME,
        )
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, f"PostgreSQL unreachable at {info['host']}:{info['port']}: {reason}"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        version = conn.server_version
    finally:
        conn.close()
    return True, f"PostgreSQL {version // 10000}.{version % 100} on {info['host']}:{info['port']}"


def stop(cfg: LabConfig, info: dict[str, Any]) -> None:
    stop_slow_holder(cfg)
    with contextlib.suppress(LabError):  # then signal the recorded process
        pg_ctl_stop(cfg)
    for record in info.get("procs", []):
        proc.stop(record, timeout=10)


def reseed(cfg: LabConfig, info: dict[str, Any]) -> None:
    """Drop and recreate the `platform` database and reset pg_stat_statements."""
    conn = admin_connect(cfg, info)
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS platform WITH (FORCE)")
    finally:
        conn.close()
    _ensure_seeded(cfg, info)


def destroy(cfg: LabConfig, info: dict[str, Any] | None = None) -> None:
    """Stop the server if it runs and remove the cluster and the lab's `pgdata` link."""
    stop(cfg, info or {})
    shutil.rmtree(data_root(cfg), ignore_errors=True)
    link = cfg.dir / "pgdata"
    if link.is_symlink():
        link.unlink()


# ---- seed -----------------------------------------------------------------------------------
def _ensure_seeded(cfg: LabConfig, info: dict[str, Any]) -> bool:
    """Create or update the roles; create and seed `platform` if missing. True if seeded now."""
    creds = lab_credentials(cfg)
    conn = admin_connect(cfg, info)
    try:
        with conn.cursor() as cur:
            _ensure_role(cur, APP_GROUP, "NOLOGIN PASSWORD NULL")
            for role in (*APP_USERS, DBA_ROLE):
                _ensure_role(cur, role, "LOGIN", creds[role])
                cur.execute(f"GRANT {APP_GROUP} TO {role}")
            _ensure_role(cur, RESPONDER_ROLE, "LOGIN", creds[RESPONDER_ROLE])
            cur.execute(f"GRANT pg_monitor, pg_signal_backend TO {RESPONDER_ROLE}")
            # PostgreSQL 15: CREATEROLE may set any non-superuser role's password; kept off
            # the responder's everyday login.
            _ensure_role(cur, ROTATOR_ROLE, "LOGIN CREATEROLE", creds[ROTATOR_ROLE])
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is not None:
                return False
            cur.execute(f"CREATE DATABASE {DATABASE} OWNER {APP_GROUP}")
    finally:
        conn.close()

    sql = importlib_resources.files("irdrive_lab.pg").joinpath("data/platform.sql").read_text()
    conn = admin_connect(cfg, info, DATABASE)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            cur.execute(f"GRANT CONNECT ON DATABASE {DATABASE} TO {RESPONDER_ROLE}")
            cur.execute(f"SET ROLE {APP_GROUP}")
            cur.execute(sql)
            cur.execute("RESET ROLE")
            cur.execute("SELECT pg_stat_statements_reset()")
    finally:
        conn.close()
    return True


def _ensure_role(cur: Any, role: str, attributes: str, password: str | None = None) -> None:
    """Create ``role`` or bring it to ``attributes`` and ``password`` (the lab's own values)."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    verb = "ALTER" if cur.fetchone() is not None else "CREATE"
    if password is None:
        cur.execute(f"{verb} ROLE {role} WITH {attributes}")
    else:
        cur.execute(f"{verb} ROLE {role} WITH {attributes} PASSWORD %s", (password,))
