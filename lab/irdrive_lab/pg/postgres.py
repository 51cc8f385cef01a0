"""The lab's PostgreSQL: Debian's PostgreSQL 15 run as the postgres user, seeded with `platform`.

PostgreSQL refuses to run as root and the lab folder may sit under a root-only home, so the
cluster lives in ``/var/tmp/irdrive-pg-<lab id>`` (owned by postgres; ``data/``, ``run/`` for
the unix socket, ``log/`` for the csv log) and the lab folder links to it as ``pgdata``.
``initdb`` runs once; later starts reuse the cluster. ``destroy`` removes it.

With a db host from ``irdrive_lab.hosts.hosts`` (``ctx["hosts"]["db"] = {netns, address}``) the
server runs inside that network namespace on ``address:5432``; without one it listens on
127.0.0.1 at the lab's postgres port. The lab itself always talks to it over the unix socket.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from importlib import resources as importlib_resources
from pathlib import Path
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
from irdrive_lab.control.journal import body_digest

OS_USER = "postgres"
DATABASE = "platform"
LAB_APPNAME = "irdrive-lab"
SLOW_APPNAME = "lab-db-slow"
NETNS_PORT = 5432

SERVER_SETTINGS = """\
# Written by irdrive_lab.pg.postgres: a small, fast, observable lab server.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
compute_query_id = on
max_connections = 60
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_statement = 'mod'
logging_collector = on
log_destination = 'csvlog'
log_directory = '{log_dir}'
log_filename = 'postgresql.log'
log_file_mode = 0640
log_rotation_age = 0
log_rotation_size = 0
log_timezone = 'UTC'
timezone = 'UTC'
"""

# The lab (running as root) connects as the postgres superuser over the socket only.
PG_HBA = """\
# TYPE  DATABASE  USER      ADDRESS         METHOD
local   all       postgres                  peer map=lab
local   all       all                       scram-sha-256
host    all       all       127.0.0.1/32    scram-sha-256
host    all       all       ::1/128         scram-sha-256
host    all       all       10.213.0.0/16   scram-sha-256
"""
PG_IDENT = """\
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
lab        root             postgres
lab        postgres         postgres
"""


# ---- paths ---------------------------------------------------------------------------------
def data_root(cfg: LabConfig) -> Path:
    return Path(f"/var/tmp/irdrive-pg-{cfg.lab_id}")


def _paths(cfg: LabConfig) -> dict[str, Path]:
    root = data_root(cfg)
    return {
        "root": root,
        "data": root / "data",
        "run": root / "run",
        "log": root / "log",
    }


def _as_postgres(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid", OS_USER, "--regid", OS_USER, "--init-groups", "--", *argv]


def _check_binaries(cfg: LabConfig) -> None:
    bindir = cfg.pg_bindir
    missing = [b for b in ("initdb", "postgres", "pg_ctl") if not (bindir / b).is_file()]
    if missing:
        raise LabError(
            f"PostgreSQL binaries missing in {bindir} ({', '.join(missing)}): "
            "install Debian's postgresql-15 package"
        )
    try:
        import pwd

        pwd.getpwnam(OS_USER)
    except KeyError:
        raise LabError(f"the '{OS_USER}' user does not exist: install postgresql-15") from None


def _run_as_postgres(argv: list[str], cfg: LabConfig, timeout: float = 60) -> str:
    try:
        done = subprocess.run(
            _as_postgres(argv),
            cwd=data_root(cfg),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{Path(argv[0]).name} timed out after {timeout:.0f}s") from exc
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"{Path(argv[0]).name} failed: {last[0]}")
    return done.stdout


# ---- cluster setup -------------------------------------------------------------------------
def _ensure_cluster(cfg: LabConfig) -> bool:
    """initdb once; return True when the cluster was created now."""
    import pwd

    paths = _paths(cfg)
    user = pwd.getpwnam(OS_USER)
    for key, mode in (("root", 0o711), ("run", 0o750), ("log", 0o750)):
        paths[key].mkdir(mode=mode, exist_ok=True)
        os.chown(paths[key], user.pw_uid, user.pw_gid)
        os.chmod(paths[key], mode)
    link = cfg.dir / "pgdata"
    if not link.is_symlink():
        link.unlink(missing_ok=True)
        link.symlink_to(paths["root"])

    if (paths["data"] / "PG_VERSION").exists():
        return False
    if paths["data"].exists():
        shutil.rmtree(paths["data"])  # a half-made cluster from an interrupted initdb
    _run_as_postgres(
        [
            str(cfg.pg_bindir / "initdb"),
            "-D",
            str(paths["data"]),
            "-U",
            OS_USER,
            "--no-sync",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        cfg,
        timeout=120,
    )
    data = paths["data"]
    (data / "pg_hba.conf").write_text(PG_HBA)
    (data / "pg_ident.conf").write_text(PG_IDENT)
    conf = data / "irdrive.conf"
    conf.write_text(SERVER_SETTINGS.format(log_dir=paths["log"]))
    os.chown(conf, user.pw_uid, user.pw_gid)
    with (data / "postgresql.conf").open("a") as fh:
        fh.write("\ninclude 'irdrive.conf'\n")
    return True


def _credentials(cfg: LabConfig) -> dict[str, str]:
    return lab_credentials(cfg)


def _spawn_server(cfg: LabConfig, host: str, port: int, netns: str | None) -> dict[str, Any]:
    paths = _paths(cfg)
    argv = _as_postgres(
        [
            str(cfg.pg_bindir / "postgres"),
            "-D",
            str(paths["data"]),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={host}",
            "-c",
            f"unix_socket_directories={paths['run']}",
        ]
    )
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return proc.spawn(
        "postgres",
        argv,
        cfg.logs_dir,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/var/lib/postgresql"},
        cwd=paths["root"],
    )


def _running_postmaster(cfg: LabConfig) -> int | None:
    """PID of a live postmaster for this lab's cluster, from postmaster.pid."""
    try:
        pid = int((_paths(cfg)["data"] / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if proc.proc_start_time(pid) is not None else None


def _pg_ctl_stop(cfg: LabConfig, timeout: float = 20) -> None:
    if _running_postmaster(cfg) is None:
        return
    _run_as_postgres(
        [
            str(cfg.pg_bindir / "pg_ctl"),
            "stop",
            "-D",
            str(_paths(cfg)["data"]),
            "-m",
            "fast",
            "-w",
            "-t",
            str(int(timeout)),
        ],
        cfg,
        timeout=timeout + 5,
    )


SERVICE_SCRIPT = """#!/bin/sh
# Written by irdrive_lab.pg.postgres: the db host's stand-in for `systemctl <verb> postgresql`.
set -eu
cd {root}
pg() {{ setpriv --reuid {user} --regid {user} --init-groups -- {bindir}/pg_ctl "$@"; }}
OPTS="-p {port} -c listen_addresses={host} -c unix_socket_directories={run}"
case "${{1:-}}" in
  start)   pg start   -D {data} -w -t 30 -l {log}/pg_ctl.log -o "$OPTS" ;;
  restart) pg restart -D {data} -m fast -w -t 30 -l {log}/pg_ctl.log -o "$OPTS" ;;
  stop)    pg stop    -D {data} -m fast -w -t 30 ;;
  status)  pg status  -D {data} ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
"""


def _write_service_script(cfg: LabConfig, host: str, port: int) -> Path:
    """The db host's service command (its `systemctl restart postgresql`), for runbooks."""
    paths = _paths(cfg)
    script = cfg.host_root("db") / "usr" / "local" / "sbin" / "irdrive-postgresql"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        SERVICE_SCRIPT.format(
            root=paths["root"],
            user=OS_USER,
            bindir=cfg.pg_bindir,
            port=port,
            host=host,
            run=paths["run"],
            data=paths["data"],
            log=paths["log"],
        )
    )
    script.chmod(0o755)
    return script


def adopt_running(cfg: LabConfig, info: dict[str, Any]) -> bool:
    """Record a postmaster started outside the lab (a runbook ran the service script).

    Returns True when the running server is now the recorded one.
    """
    pid = _running_postmaster(cfg)
    if pid is None:
        return False
    if any(int(p.get("pid", 0)) == pid for p in info.get("procs", [])):
        return True
    info["procs"] = [
        {
            "name": "postgres",
            "argv0": "postgres",
            "pid": pid,
            "start_time": proc.proc_start_time(pid),
            "log": str(cfg.logs_dir / "postgres.log"),
        }
    ]
    _save_procs(cfg, info["procs"])
    return True


# ---- component interface -------------------------------------------------------------------
def start(cfg: LabConfig, ctx: dict[str, Any]) -> dict[str, Any]:
    _check_binaries(cfg)
    cfg.ensure_dirs()
    db_host = (ctx.get("hosts") or {}).get("db") or {}
    netns = db_host.get("netns")
    host = db_host.get("address") if netns else "127.0.0.1"
    port = NETNS_PORT if netns else cfg.port("postgres")
    if not host:
        raise LabError("the db host has a network namespace but no address")
    if _running_postmaster(cfg) is not None:
        _pg_ctl_stop(cfg)  # left over from an earlier run of this same lab
    if not netns and proc.port_in_use(port):
        raise LabError(f"PostgreSQL port {port} on 127.0.0.1 is already in use")
    started = time.monotonic()
    created = _ensure_cluster(cfg)
    paths = _paths(cfg)
    creds = _credentials(cfg)
    service_script = _write_service_script(cfg, host, port)
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
        "procs": [_spawn_server(cfg, host, port, netns)],
    }


def wait_ready(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    """Wait until the server accepts connections, then make sure roles and data are seeded."""
    _wait_accepting(cfg, info, timeout)
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
    _stop_slow_holder(cfg)
    with contextlib.suppress(LabError):  # then signal the recorded process
        _pg_ctl_stop(cfg)
    for record in info.get("procs", []):
        proc.stop(record, timeout=10)


def reseed(cfg: LabConfig, info: dict[str, Any]) -> None:
    """Drop and recreate the `platform` database and reset pg_stat_statements."""
    conn = _admin_connect(cfg, info)
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


# ---- connections and seed -------------------------------------------------------------------
def _admin_connect(cfg: LabConfig, info: dict[str, Any], dbname: str = "postgres") -> Any:
    """Superuser connection over the unix socket (peer auth, root mapped to postgres)."""
    import psycopg2

    conn = psycopg2.connect(
        host=info.get("socket_dir", str(_paths(cfg)["run"])),
        port=info["port"],
        user=OS_USER,
        dbname=dbname,
        connect_timeout=3,
        application_name=LAB_APPNAME,
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET log_statement = 'none'")  # the lab's own statements stay out of the log
    return conn


def _wait_accepting(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if info.get("procs") and not all(proc.is_alive(p) for p in info["procs"]):
            raise LabError(f"PostgreSQL exited during start: {_last_log_line(cfg)}")
        try:
            _admin_connect(cfg, info).close()
            return
        except psycopg2.Error as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
        time.sleep(0.05)
    raise LabError(f"PostgreSQL did not accept connections within {timeout:.0f}s: {last}")


def _last_log_line(cfg: LabConfig) -> str:
    try:
        lines = (cfg.logs_dir / "postgres.log").read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "no log"
    return lines[-1] if lines else "empty log"


def _ensure_seeded(cfg: LabConfig, info: dict[str, Any]) -> bool:
    """Create or update the roles; create and seed `platform` if missing. True if seeded now."""
    creds = _credentials(cfg)
    conn = _admin_connect(cfg, info)
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
    conn = _admin_connect(cfg, info, DATABASE)
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


# ---- journal --------------------------------------------------------------------------------
_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.DOTALL)
# csvlog columns (PostgreSQL 15)
_COL_TIME, _COL_USER, _COL_DB, _COL_PID, _COL_MESSAGE, _COL_APP = 0, 1, 2, 3, 13, 22


def journal_entries(cfg: LabConfig, info: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Mutating statements from the server's csv log (``log_statement = 'mod'``), oldest first."""
    log_dir = Path((info or {}).get("log_dir") or _paths(cfg)["log"])
    entries: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("*.csv")):
        with path.open(newline="", errors="replace") as fh:
            for row in csv.reader(fh):
                if len(row) <= _COL_APP:
                    continue
                match = _STATEMENT.match(row[_COL_MESSAGE])
                if not match:
                    continue
                statement = match.group(1).strip()
                words = statement.split(None, 1)
                entries.append(
                    {
                        "ts": _log_time(row[_COL_TIME]),
                        "source": "postgres",
                        "method": "SQL",
                        "path": words[0].upper() if words else "",
                        "body_sha256": body_digest(statement.encode()),
                        "status": None,
                        "user": row[_COL_USER],
                        "database": row[_COL_DB],
                        "pid": int(row[_COL_PID]) if row[_COL_PID].isdigit() else None,
                        "application_name": row[_COL_APP],
                    }
                )
    entries.sort(key=lambda e: e["ts"])
    return entries


def _log_time(value: str) -> float:
    try:
        return round(datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f %Z").timestamp(), 6)
    except ValueError:
        return 0.0


# ---- faults ---------------------------------------------------------------------------------
def fault_db_down(cfg: LabConfig, info: dict[str, Any]) -> dict[str, Any]:
    """Stop the server (fast shutdown) as an outage would; ``clear_db_down`` brings it back."""
    _stop_slow_holder(cfg)
    _pg_ctl_stop(cfg)
    for record in info.get("procs", []):
        proc.stop(record, timeout=5)
    return {"stopped_at": round(time.time(), 3)}


def clear_db_down(cfg: LabConfig, info: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Start the server again and wait until it serves; ``info['procs']`` gets the new PID."""
    if not adopt_running(cfg, info):
        info["procs"] = [_spawn_server(cfg, info["host"], info["port"], info.get("netns"))]
        _save_procs(cfg, info["procs"])
    _wait_accepting(cfg, info, timeout)
    return info


def _save_procs(cfg: LabConfig, procs: list[dict[str, Any]]) -> None:
    """Put the restarted server's PID into lab.json, where `down` and `status` look for it."""
    state = cfg.read_state()
    if not state:
        return
    for part in (state.get("parts", {}).get("postgres"), state.get("postgres")):
        if isinstance(part, dict):
            part["procs"] = procs
    cfg.write_state(state)


def _slow_record_file(cfg: LabConfig) -> Path:
    return cfg.run_dir / "pg-slow.json"


def fault_db_slow(cfg: LabConfig, info: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    """Start ``irdrive_lab.pg.slow``: 2 long queries, 2 idle-in-transaction sessions."""
    _stop_slow_holder(cfg)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": info.get("socket_dir", str(_paths(cfg)["run"])),
        "PGPORT": str(info["port"]),
        "PGDATABASE": info.get("dbname", DATABASE),
        "PGUSER": APP_USERS[0],
        "PGPASSWORD": _credentials(cfg)[APP_USERS[0]],
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
    conn = _admin_connect(cfg, info)
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
    _stop_slow_holder(cfg)
    for holder in (record or {}).get("procs", []):
        proc.stop(holder)
    deadline = time.monotonic() + timeout
    while True:
        conn = _admin_connect(cfg, info)
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


def _stop_slow_holder(cfg: LabConfig) -> None:
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
    conn = _admin_connect(cfg, info, info.get("dbname", DATABASE))
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
    conn = _admin_connect(cfg, info, info.get("dbname", DATABASE))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM auth_logs WHERE user_agent = %s AND ip = ANY(%s::inet[])",
                (INTRUSION_USER_AGENT, list(ips)),
            )
    finally:
        conn.close()
