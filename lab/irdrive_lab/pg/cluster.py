"""The lab's PostgreSQL cluster: its files, its server process and the lab's own connection.

PostgreSQL refuses to run as root and the lab folder may sit under a root-only home, so the
cluster lives in ``/var/tmp/irdrive-pg-<lab id>`` (owned by postgres; ``data/``, ``run/`` for
the unix socket, ``log/`` for the csv log) and the lab folder links to it as ``pgdata``.
``initdb`` runs once; later starts reuse the cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError

OS_USER = "postgres"
DATABASE = "platform"
LAB_APPNAME = "irdrive-lab"
NETNS_PORT = 5432

SERVER_SETTINGS = """\
# Written by irdrive_lab.pg.cluster: a small, fast, observable lab server.
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


def cluster_paths(cfg: LabConfig) -> dict[str, Path]:
    root = data_root(cfg)
    return {
        "root": root,
        "data": root / "data",
        "run": root / "run",
        "log": root / "log",
    }


def _as_postgres(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid", OS_USER, "--regid", OS_USER, "--init-groups", "--", *argv]


def check_binaries(cfg: LabConfig) -> None:
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
def ensure_cluster(cfg: LabConfig) -> bool:
    """initdb once; return True when the cluster was created now."""
    import pwd

    paths = cluster_paths(cfg)
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


def spawn_server(cfg: LabConfig, host: str, port: int, netns: str | None) -> dict[str, Any]:
    paths = cluster_paths(cfg)
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


def running_postmaster(cfg: LabConfig) -> int | None:
    """PID of a live postmaster for this lab's cluster, from postmaster.pid."""
    try:
        pid = int((cluster_paths(cfg)["data"] / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if proc.proc_start_time(pid) is not None else None


def pg_ctl_stop(cfg: LabConfig, timeout: float = 20) -> None:
    if running_postmaster(cfg) is None:
        return
    _run_as_postgres(
        [
            str(cfg.pg_bindir / "pg_ctl"),
            "stop",
            "-D",
            str(cluster_paths(cfg)["data"]),
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
# Written by irdrive_lab.pg.cluster: the db host's stand-in for `systemctl <verb> postgresql`.
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


def write_service_script(cfg: LabConfig, host: str, port: int) -> Path:
    """The db host's service command (its `systemctl restart postgresql`), for runbooks."""
    paths = cluster_paths(cfg)
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
    pid = running_postmaster(cfg)
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
    save_procs(cfg, info["procs"])
    return True


# ---- connections and seed -------------------------------------------------------------------
def admin_connect(cfg: LabConfig, info: dict[str, Any], dbname: str = "postgres") -> Any:
    """Superuser connection over the unix socket (peer auth, root mapped to postgres)."""
    import psycopg2

    conn = psycopg2.connect(
        host=info.get("socket_dir", str(cluster_paths(cfg)["run"])),
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


def wait_accepting(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if info.get("procs") and not all(proc.is_alive(p) for p in info["procs"]):
            raise LabError(f"PostgreSQL exited during start: {_last_log_line(cfg)}")
        try:
            admin_connect(cfg, info).close()
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


def save_procs(cfg: LabConfig, procs: list[dict[str, Any]]) -> None:
    """Put the restarted server's PID into lab.json, where `down` and `status` look for it."""
    state = cfg.read_state()
    if not state:
        return
    for part in (state.get("parts", {}).get("postgres"), state.get("postgres")):
        if isinstance(part, dict):
            part["procs"] = procs
    cfg.write_state(state)
