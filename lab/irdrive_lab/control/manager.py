"""Bring a whole lab up and down, report its health, reset it and inject faults.

The parts (hosts, labd, aws, postgres) follow the component interface of
docs/lab-design.md. ``up`` starts them in dependency order, waits until every part is
healthy and writes ``lab.json``; if anything fails, it stops what it started, so a failed
``up`` leaves nothing half-started.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import MAX_WEB_HOSTS, PORT_OFFSETS, LabConfig, host_kind
from irdrive_lab.control.errors import LabError, LabUsageError
from irdrive_lab.control.journal import Journal

# Start order; stop runs in reverse. postgres runs inside the db host, so it comes after hosts.
# monitoring (Prometheus, Alertmanager) only spawns in start, so it waits alongside the others.
PARTS = ("hosts", "labd", "aws", "postgres", "monitoring")
READY_TIMEOUT = 30.0


# Each part's module, which follows the component interface of docs/lab-design.md.
PART_MODULES = {
    "hosts": "irdrive_lab.hosts.hosts",
    "labd": "irdrive_lab.control.labd",
    "aws": "irdrive_lab.aws.aws",
    "postgres": "irdrive_lab.pg.postgres",
    "monitoring": "irdrive_lab.monitoring.monitoring",
}


def _part(name: str) -> ModuleType:
    return importlib.import_module(PART_MODULES[name])


def _preflight(cfg: LabConfig) -> None:
    if os.geteuid() != 0:
        raise LabUsageError("the lab needs root (network namespaces, PostgreSQL as postgres)")
    for binary in (cfg.pg_bindir / "postgres", cfg.pg_bindir / "initdb"):
        if not binary.exists():
            raise LabUsageError(
                f"missing PostgreSQL binaries ({binary}); install Debian's postgresql package"
            )
    if not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists():
        raise LabUsageError("missing sshd; install Debian's openssh-server package")
    from irdrive_lab.monitoring import monitoring

    monitoring.check_binaries()
    for name in PORT_OFFSETS:
        if name == "postgres":
            continue
        port = cfg.port(name)
        if proc.port_in_use(port):
            raise LabUsageError(
                f"port {port} ({name}) is already in use; choose another --port-base"
            )


def is_up(cfg: LabConfig) -> bool:
    state = cfg.read_state()
    if not state:
        return False
    # A part stopped on purpose by a fault (db-down stops PostgreSQL) does not make the lab down.
    from irdrive_lab.faults import faults

    stopped_by_fault = {"postgres"} if "db-down" in faults.active(cfg) else set()
    pg = state.get("parts", {}).get("postgres")
    if pg and not stopped_by_fault:
        from irdrive_lab.pg import cluster

        cluster.adopt_running(cfg, pg)  # a runbook may have restarted it via the service
        state = cfg.read_state() or state
    return all(proc.is_alive(p) for p in _all_procs(state, skip=stopped_by_fault))


def _all_procs(state: dict[str, Any], skip: set[str] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in PARTS:
        if skip and name in skip:
            continue
        part = state.get("parts", {}).get(name) or {}
        out.extend(part.get("procs", []))
        if name == "hosts":  # one record per host, each with its own sshd
            for host in part.values():
                if isinstance(host, dict):
                    out.extend(host.get("procs", []))
    return out


def up(
    cfg: LabConfig,
    timeout: float = READY_TIMEOUT,
    web_hosts: int | None = None,
    alert_webhooks: list[str] | None = None,
) -> dict[str, Any]:
    """Start the lab (or confirm it is up); return the lab.json dict.

    ``web_hosts``: how many web hosts (web, web-2 .. web-N; default 1). A lab that is up with
    another number is not changed: LabUsageError says so (``down`` first, then ``up`` again).
    ``alert_webhooks``: URLs Alertmanager also posts to (default: IRDRIVE_LAB_ALERT_WEBHOOKS).
    """
    if web_hosts is not None and not 1 <= web_hosts <= MAX_WEB_HOSTS:
        raise LabUsageError(f"--web-hosts must be 1..{MAX_WEB_HOSTS}, not {web_hosts}")
    from irdrive_lab.monitoring.monitoring import alert_webhooks as checked_webhooks

    alert_webhooks = checked_webhooks(alert_webhooks)  # a bad URL fails before anything starts
    if is_up(cfg):
        state = cfg.read_state()
        assert state is not None
        running = int(state.get("web_hosts") or 1)
        if web_hosts is not None and web_hosts != running:
            raise LabUsageError(
                f"the lab in {cfg.dir} is up with {running} web host(s), not {web_hosts}; "
                f"run `irdrive lab down`, then `irdrive lab up --web-hosts {web_hosts}`"
            )
        return state
    existing = cfg.read_state()
    if existing:  # a lab left half-running (e.g. killed): clean it before starting again
        down(cfg)
    _preflight(cfg)
    cfg.ensure_dirs()
    started: dict[str, dict[str, Any]] = {}
    t0 = time.monotonic()
    try:
        ctx: dict[str, Any] = {"web_hosts": web_hosts or 1, "alert_webhooks": alert_webhooks}
        for name in PARTS:
            info = _part(name).start(cfg, ctx)
            started[name] = info
            ctx[name] = info
            # Persist what runs so far, so that `down` can stop it even if `up` dies here.
            cfg.write_state(_compose(cfg, started, partial=True))
        deadline = time.monotonic() + timeout
        for name in PARTS:
            _part(name).wait_ready(cfg, started[name], max(1.0, deadline - time.monotonic()))
            cfg.write_state(_compose(cfg, started, partial=True))
    except BaseException:
        for name in reversed(list(started)):
            # Best-effort teardown: the error that stopped `up` is the one to report.
            with contextlib.suppress(Exception):
                _part(name).stop(cfg, started[name])
        cfg.state_file.unlink(missing_ok=True)
        raise
    state = _compose(cfg, started, partial=False)
    state["up_seconds"] = round(time.monotonic() - t0, 2)
    cfg.write_state(state)
    Journal(cfg.journal_file).collect(host_source="lab")  # the journal's host baseline
    return state


def _compose(cfg: LabConfig, parts: dict[str, dict[str, Any]], partial: bool) -> dict[str, Any]:
    labd = parts.get("labd", {})
    aws = parts.get("aws", {})
    pg = parts.get("postgres", {})
    mon = parts.get("monitoring", {})
    return {
        "version": 1,
        "dir": str(cfg.dir),
        "port_base": cfg.port_base,
        "lab_id": cfg.lab_id,
        "partial": partial,
        "kubeconfig": str(cfg.kubeconfig),
        "journal": str(cfg.journal_file),
        "endpoints": {
            "kubernetes": labd.get("kubernetes"),
            "platform": labd.get("platform"),
            "aws": aws.get("endpoint"),
            "postgres": _pg_url(pg) if pg else None,
            "prometheus": mon.get("prometheus"),
            "alertmanager": mon.get("alertmanager"),
        },
        # the ALERTS contract: playbooks see irdrive_lab.prometheus_url / .alertmanager_url
        "prometheus_url": mon.get("prometheus"),
        "alertmanager_url": mon.get("alertmanager"),
        "hosts": parts.get("hosts", {}),
        # `irdrive lab up --web-hosts N`: web, web-2 .. web-N (the inventory script lists them)
        "web_hosts": sum(1 for h in parts.get("hosts", {}) if host_kind(h) == "web") or 1,
        "aws": aws,
        "postgres": pg,
        "platform": labd.get("platform_info", {}),
        "parts": parts,
    }


def _pg_url(pg: dict[str, Any]) -> str | None:
    if not pg.get("host"):
        return None
    return f"postgresql://{pg.get('user', 'irdrive')}@{pg['host']}:{pg.get('port', 5432)}/" + str(
        pg.get("dbname", "platform")
    )


def down(cfg: LabConfig, purge: bool = False) -> list[str]:
    """Stop every part the lab started; return the names of the parts that were stopped.

    ``purge`` also deletes what a later ``up`` would reuse outside the lab folder: the
    PostgreSQL cluster in ``/var/tmp/irdrive-pg-<lab id>`` (for throw-away labs, e.g. tests).
    """
    state = cfg.read_state()
    if not state:
        if purge:
            _part("postgres").destroy(cfg)
            _part("monitoring").destroy(cfg)
        return []
    stopped = []
    errors = []
    for name in reversed(PARTS):
        info = state.get("parts", {}).get(name)
        if not info:
            continue
        try:
            _part(name).stop(cfg, info)
            stopped.append(name)
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            errors.append(f"{name}: {exc}")
    if errors:
        raise LabError("could not stop everything: " + "; ".join(errors))
    cfg.state_file.unlink(missing_ok=True)
    cfg.faults_file.unlink(missing_ok=True)
    if purge:
        _part("postgres").destroy(cfg)
        _part("monitoring").destroy(cfg)
    return stopped


def status(cfg: LabConfig) -> dict[str, Any]:
    state = cfg.read_state()
    if not state:
        return {"dir": str(cfg.dir), "up": False, "parts": {}}
    parts = {}
    for name in PARTS:
        info = state.get("parts", {}).get(name)
        if info is None:
            parts[name] = {"healthy": False, "detail": "not started"}
            continue
        try:
            ok, detail = _part(name).health(cfg, info)
        except Exception as exc:  # noqa: BLE001 - status reports, never raises
            ok, detail = False, str(exc)
        parts[name] = {"healthy": ok, "detail": detail}
    from irdrive_lab.faults import faults

    return {
        "dir": str(cfg.dir),
        "up": all(p["healthy"] for p in parts.values()),
        "parts": parts,
        "endpoints": state.get("endpoints", {}),
        "prometheus_url": state.get("prometheus_url"),
        "alertmanager_url": state.get("alertmanager_url"),
        "kubeconfig": state.get("kubeconfig"),
        "web_hosts": state.get("web_hosts", 1),
        "faults": faults.active(cfg),
    }


def reset(cfg: LabConfig) -> None:
    state = require_up(cfg)
    from irdrive_lab.faults import faults

    Journal(
        cfg.journal_file
    ).collect()  # writes made before the reset stay attributed to their makers
    faults.clear_all(cfg, state)
    # While the parts reseed, lab.json says so: the platform's synthetic traffic pauses, so
    # the moments when moto is empty (no hosted zone, no CDN record) raise no alert.
    cfg.write_state({**state, "resetting": True})
    try:
        for name in PARTS:
            if name in state["parts"]:  # a lab started before a part existed lacks it
                _part(name).reseed(cfg, state["parts"][name])
    finally:
        # Reseeding gives some parts new ids (moto's hosted zone, for one): record them.
        fresh = _compose(cfg, state["parts"], partial=False)
        fresh["up_seconds"] = state.get("up_seconds")
        cfg.write_state(fresh)
    Journal(cfg.journal_file).collect(host_source="lab")


def require_up(cfg: LabConfig) -> dict[str, Any]:
    state = cfg.read_state()
    if not state or state.get("partial") or not is_up(cfg):
        raise LabUsageError(f"the lab in {cfg.dir} is not up; run `irdrive lab up` first")
    return state
