"""The lab's faults: inject one with ``irdrive lab fault NAME``, clear it with ``--clear``.

Faults that live in labd (the Kubernetes API and platform endpoints) go through labd's
control API; the others act on PostgreSQL and the hosts directly. Active faults are kept in
``faults.json`` in the lab folder so ``status`` can show them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError, LabUsageError
from irdrive_lab.control.journal import Journal

# The suspicious addresses of the intrusion fault (documentation ranges: text only).
INTRUSION_IPS = ("203.0.113.45", "203.0.113.77", "198.51.100.23")


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    inject: Callable[[LabConfig, dict[str, Any], dict[str, Any]], dict[str, Any] | None]
    clear: Callable[[LabConfig, dict[str, Any], dict[str, Any]], None]
    defaults: dict[str, Any]


def _labd_inject(
    name: str,
) -> Callable[[LabConfig, dict[str, Any], dict[str, Any]], dict[str, Any]]:
    def inject(cfg: LabConfig, state: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from irdrive_lab.control.labd import control

        return control(state["parts"]["labd"], "POST", f"faults/{name}", params)

    return inject


def _labd_clear(name: str) -> Callable[[LabConfig, dict[str, Any], dict[str, Any]], None]:
    def clear(cfg: LabConfig, state: dict[str, Any], record: dict[str, Any]) -> None:
        from irdrive_lab.control.labd import control

        control(state["parts"]["labd"], "DELETE", f"faults/{name}")

    return clear


def _db_down(cfg: LabConfig, state: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from irdrive_lab.pg import faults as pg_faults

    pg_faults.fault_db_down(cfg, state["parts"]["postgres"])
    return {}


def _db_up(cfg: LabConfig, state: dict[str, Any], record: dict[str, Any]) -> None:
    from irdrive_lab.pg import faults as pg_faults

    pg_faults.clear_db_down(cfg, state["parts"]["postgres"])


def _db_slow(cfg: LabConfig, state: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from irdrive_lab.pg import faults as pg_faults

    return pg_faults.fault_db_slow(cfg, state["parts"]["postgres"]) or {}


def _db_slow_clear(cfg: LabConfig, state: dict[str, Any], record: dict[str, Any]) -> None:
    from irdrive_lab.pg import faults as pg_faults

    pg_faults.clear_db_slow(cfg, state["parts"]["postgres"], record)


def _disk_full(cfg: LabConfig, state: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from irdrive_lab.hosts import hosts

    return hosts.fault_disk_full(cfg, state["parts"]["hosts"], **params) or {}


def _disk_full_clear(cfg: LabConfig, state: dict[str, Any], record: dict[str, Any]) -> None:
    from irdrive_lab.hosts import hosts

    hosts.clear_disk_full(cfg, state["parts"]["hosts"])


def _intrusion(cfg: LabConfig, state: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from irdrive_lab.hosts import hosts
    from irdrive_lab.pg import faults as pg_faults

    ips = list(params.get("ips") or INTRUSION_IPS)
    hosts.fault_intrusion_hosts(cfg, state["parts"]["hosts"], ips)
    rows = pg_faults.fault_intrusion_db(cfg, state["parts"]["postgres"], ips)
    return {"ips": ips, "auth_log_rows": rows}


def _intrusion_clear(cfg: LabConfig, state: dict[str, Any], record: dict[str, Any]) -> None:
    from irdrive_lab.hosts import hosts
    from irdrive_lab.pg import faults as pg_faults

    ips = list(record.get("ips") or INTRUSION_IPS)
    hosts.clear_intrusion_hosts(cfg, state["parts"]["hosts"])
    pg_faults.clear_intrusion_db(cfg, state["parts"]["postgres"], ips)


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "processor-down",
            "the primary payment processor (ccbill) stops answering",
            _labd_inject("processor-down"),
            _labd_clear("processor-down"),
            {"processor": "ccbill"},
        ),
        Fault(
            "bad-deploy",
            "a new backend revision whose pods CrashLoopBackOff",
            _labd_inject("bad-deploy"),
            _labd_clear("bad-deploy"),
            {"deployment": "backend"},
        ),
        Fault(
            "cdn-down",
            "the primary CDN (CloudFront) edge answers 502",
            _labd_inject("cdn-down"),
            _labd_clear("cdn-down"),
            {},
        ),
        Fault(
            "disk-full",
            "the streaming host's video storage fills with *.tmp files",
            _disk_full,
            _disk_full_clear,
            {},
        ),
        Fault("db-down", "the lab's PostgreSQL is stopped", _db_down, _db_up, {}),
        Fault(
            "resource-pressure",
            "pods at their CPU and memory limits; latency rises",
            _labd_inject("resource-pressure"),
            _labd_clear("resource-pressure"),
            {},
        ),
        Fault(
            "db-slow",
            "long-running queries and idle-in-transaction sessions",
            _db_slow,
            _db_slow_clear,
            {},
        ),
        Fault(
            "intrusion",
            "suspicious IPs hammering 401/403, rows in auth_logs",
            _intrusion,
            _intrusion_clear,
            {},
        ),
        Fault(
            "api-flaky",
            "the Kubernetes API answers 500, 409 or slowly for N requests",
            _labd_inject("api-flaky"),
            _labd_clear("api-flaky"),
            {"count": 10},
        ),
    )
}


def _load(cfg: LabConfig) -> dict[str, Any]:
    try:
        return json.loads(cfg.faults_file.read_text())
    except FileNotFoundError:
        return {}


def _save(cfg: LabConfig, faults: dict[str, Any]) -> None:
    cfg.faults_file.write_text(json.dumps(faults, indent=2, sort_keys=True))


def get(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise LabUsageError(
            f"unknown fault {name!r}; known faults: {', '.join(sorted(FAULTS))}"
        ) from None


def inject(
    cfg: LabConfig, state: dict[str, Any], name: str, params: dict[str, Any]
) -> dict[str, Any]:
    fault = get(name)
    merged = {**fault.defaults, **params}
    Journal(cfg.journal_file).collect()  # earlier writes stay attributed to their makers
    record = fault.inject(cfg, state, merged) or {}
    Journal(cfg.journal_file).collect(host_source="lab")
    faults = _load(cfg)
    faults[name] = {"params": merged, "record": record, "since": time.time()}
    _save(cfg, faults)
    return faults[name]


def clear(cfg: LabConfig, state: dict[str, Any], name: str) -> None:
    fault = get(name)
    faults = _load(cfg)
    entry = faults.get(name, {})
    Journal(cfg.journal_file).collect()
    fault.clear(cfg, state, entry.get("record", {}) | {"params": entry.get("params", {})})
    Journal(cfg.journal_file).collect(host_source="lab")
    faults.pop(name, None)
    _save(cfg, faults)


def active(cfg: LabConfig) -> dict[str, Any]:
    return _load(cfg)


def clear_all(cfg: LabConfig, state: dict[str, Any]) -> None:
    errors = []
    for name in list(_load(cfg)):
        try:
            clear(cfg, state, name)
        except LabError as exc:
            errors.append(f"{name}: {exc}")
    if errors:
        raise LabError("could not clear faults: " + "; ".join(errors))
