"""The lab's hosts web, db and streaming (and web-2 .. web-N): network namespaces over SSH.

Each host is a network namespace with Debian's sshd on its own veth address (see
:mod:`irdrive_lab.hosts.netns`) and a root folder ``cfg.host_root(host)`` holding its nginx access
log, its nginx configuration (with ``conf.d`` for deny includes) and its storage folder. The
namespaces share the machine's filesystem, so playbooks get the host paths from the inventory
(``access_log_path``, ``video_storage_path``, ...) rather than assuming ``/var/log/nginx``.

The streaming host's video storage is a small tmpfs (64 MiB) when the lab may mount one, so
``df`` on it reports real pressure under the disk-full fault; otherwise it is a plain folder
and the fault writes sparse files whose apparent size (``du --apparent-size``) shows the
pressure. When network namespaces cannot be made, the hosts are local-connection hosts with a
root folder each, and ``health`` says so.

``irdrive lab up --web-hosts N`` (``ctx["web_hosts"]``) adds web hosts web-2 .. web-N, seeded
like web (access log, nginx configuration, uploads folder), each with its own namespace, sshd
and nft. The hosts a lab has are the records in lab.json: stop, reseed and health go by them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from irdrive_lab.control import proc as lab_proc
from irdrive_lab.control.config import (
    HOST_NAMES,
    MAX_WEB_HOSTS,
    LabConfig,
    host_kind,
    host_names,
)
from irdrive_lab.control.errors import LabError, LabUsageError
from irdrive_lab.hosts import hostdata, netns

ENV_HOSTS_MODE = "IRDRIVE_LAB_HOSTS"  # auto (default) | netns | local
MODES = ("auto", "netns", "local")


# ---- names and paths --------------------------------------------------------------------
def links(cfg: LabConfig, names: list[str] | tuple[str, ...] = HOST_NAMES) -> list[netns.HostLink]:
    return [netns.host_link(cfg, host, i) for i, host in enumerate(names)]


def names_of(info: dict[str, Any] | None) -> list[str]:
    """The hosts a lab has: its records in lab.json, in start order (the default three if none).

    lab.json keeps its keys sorted, so the order is rebuilt: web, db, streaming, web-2 .. web-N.
    """
    names = [name for name, rec in (info or {}).items() if isinstance(rec, dict)]
    order = {name: i for i, name in enumerate(host_names(MAX_WEB_HOSTS))}
    return sorted(names, key=lambda n: order.get(n, len(order))) or list(HOST_NAMES)


def web_hosts(info: dict[str, Any] | None) -> int:
    """How many web hosts the lab was started with (``--web-hosts``)."""
    return sum(1 for name in names_of(info) if host_kind(name) == "web")


def ssh_key(cfg: LabConfig) -> Path:
    return cfg.pki_dir / "lab_ssh_key"


def known_hosts(cfg: LabConfig) -> Path:
    return cfg.pki_dir / "known_hosts"


def ssh_config(cfg: LabConfig) -> Path:
    return cfg.dir / "ssh_config"


def host_paths(cfg: LabConfig, host: str) -> dict[str, str]:
    root = cfg.host_root(host)
    paths = {
        "access_log": root / "var/log/nginx/access.log",
        "error_log": root / "var/log/nginx/error.log",
        "nginx_conf": root / "etc/nginx/nginx.conf",
        "nginx_conf_dir": root / "etc/nginx/conf.d",
        "nginx_deny_include": root / "etc/nginx/conf.d/irdrive-deny.conf",
        # irdrive.ops.host_lock's lock files (the journal marks their writes lock: true)
        "locks": root / "var/lib/irdrive/locks",
        "storage": root
        / {"web": "var/www/uploads", "db": "var/lib/postgresql"}.get(
            host_kind(host), "var/lib/videos"
        ),
    }
    if host == "streaming":
        paths["video_storage"] = paths["storage"]
    return {k: str(v) for k, v in paths.items()}


def _mode(ctx: dict[str, Any] | None) -> str:
    mode = str((ctx or {}).get("hosts_mode") or os.environ.get(ENV_HOSTS_MODE) or "auto")
    if mode not in MODES:
        raise LabError(f"hosts mode {mode!r} is not one of {', '.join(MODES)}")
    return mode


# ---- component interface ----------------------------------------------------------------
def start(cfg: LabConfig, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create the hosts and start their sshd; return ``{"web": {...}, "db": ..., ...}``.

    ``ctx["web_hosts"]`` (default 1) is how many web hosts: web, then web-2 .. web-N.
    """
    mode = _mode(ctx)
    try:
        names = host_names(int((ctx or {}).get("web_hosts") or 1))
    except ValueError as exc:
        raise LabUsageError(f"lab hosts: {exc}") from exc
    cfg.ensure_dirs()
    reason = "forced by the hosts mode 'local'" if mode == "local" else netns.probe_netns(cfg)
    if reason and mode == "netns":
        raise LabError(f"lab hosts: cannot make network namespaces ({reason})")
    storage_fs = _prepare_roots(cfg, names)
    if reason:
        return {h: _local_record(cfg, h, reason, storage_fs) for h in names}
    records: dict[str, Any] = {}
    try:
        _start_netns_hosts(cfg, records, storage_fs, names)
    except BaseException:
        stop(cfg, records)
        raise
    return records


def wait_ready(cfg: LabConfig, info: dict[str, Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = health(cfg, info)
        if ok:
            return
        if time.monotonic() >= deadline:
            raise LabError(f"lab hosts not ready after {timeout:g}s: {detail}")
        time.sleep(0.05)


def health(cfg: LabConfig, info: dict[str, Any]) -> tuple[bool, str]:
    problems: list[str] = []
    parts: list[str] = []
    names = names_of(info)
    for host in [*(h for h in HOST_NAMES if h not in names), *names]:
        rec = (info or {}).get(host)
        if not rec:
            problems.append(f"{host}: not started")
            continue
        if not Path(rec["paths"]["access_log"]).exists():
            problems.append(f"{host}: access log {rec['paths']['access_log']} is missing")
        if rec.get("connection") == "local":
            parts.append(host)
            continue
        if not netns.netns_exists(rec["netns"]):
            problems.append(f"{host}: network namespace {rec['netns']} is gone")
        elif not all(lab_proc.is_alive(p) for p in rec.get("procs", [])):
            problems.append(f"{host}: sshd is not running (log: {rec['procs'][0]['log']})")
        elif not netns.ssh_banner(rec["address"], rec["port"]):
            problems.append(f"{host}: sshd does not answer on {rec['address']}:{rec['port']}")
        else:
            parts.append(f"{host} {rec['address']}")
    if problems:
        return False, "; ".join(problems)
    first = info[HOST_NAMES[0]]
    if first.get("connection") == "local":
        return True, (
            f"local-connection hosts {', '.join(parts)} (no network namespaces: "
            f"{first.get('note', 'unknown reason')})"
        )
    nft = "nft in each namespace" if all(info[h].get("nft") for h in names) else "no nft"
    if len(parts) > 6:  # a fleet: the count and the first and last, not a line of 30 addresses
        parts = [f"{len(parts)} hosts ({web_hosts(info)} web): {parts[0]} .. {parts[-1]}"]
    return True, f"ssh on {', '.join(parts)}; {nft}"


def stop(cfg: LabConfig, info: dict[str, Any] | None) -> None:
    """Stop sshd by PID, remove veths and namespaces, unmount the video tmpfs. Idempotent.

    Namespaces of this lab folder that ``info`` does not name (left by a crash of a lab started
    with more web hosts) go too.
    """
    names = names_of(info)
    for host in names:
        for record in ((info or {}).get(host) or {}).get("procs", []):
            lab_proc.stop(record)
    errors: list[str] = _teardown(cfg, names)
    for host in names:
        (cfg.run_dir / f"sshd-{host}.pid").unlink(missing_ok=True)
    storage = Path(host_paths(cfg, "streaming")["video_storage"])
    if os.path.ismount(storage):
        res = subprocess.run(["umount", str(storage)], capture_output=True, text=True)
        if res.returncode != 0:
            subprocess.run(["umount", "-l", str(storage)], capture_output=True)
    if errors:
        raise LabError("; ".join(errors))


def reseed(cfg: LabConfig, info: dict[str, Any]) -> None:
    """Rewrite access logs and storage, remove deny includes and nft rules in each host."""
    for host in names_of(info):
        hostdata.reseed_host(host, host_paths(cfg, host))
        rec = (info or {}).get(host) or {}
        if rec.get("connection") == "ssh" and rec.get("nft"):
            netns.flush_nft(rec["netns"])


# ---- faults -----------------------------------------------------------------------------
def fault_disk_full(cfg: LabConfig, info: dict[str, Any], count: int = 200) -> dict[str, Any]:
    """Fill the streaming host's video storage with ``*.tmp`` files (2/3 older than 2 h)."""
    return hostdata.fill_disk(Path(host_paths(cfg, "streaming")["video_storage"]), count)


def clear_disk_full(cfg: LabConfig, info: dict[str, Any]) -> dict[str, Any]:
    return hostdata.clear_disk_full(Path(host_paths(cfg, "streaming")["video_storage"]))


def fault_intrusion_hosts(
    cfg: LabConfig, info: dict[str, Any], ips: list[str] | None = None
) -> dict[str, Any]:
    """Append bursts of 401/403 from suspicious IPs to the web host's access log."""
    return hostdata.write_intrusion(Path(host_paths(cfg, "web")["access_log"]), ips)


def clear_intrusion_hosts(
    cfg: LabConfig, info: dict[str, Any], ips: list[str] | None = None
) -> dict[str, Any]:
    return hostdata.clear_intrusion(Path(host_paths(cfg, "web")["access_log"]), ips)


# ---- internals --------------------------------------------------------------------------
def _teardown(cfg: LabConfig, names: list[str]) -> list[str]:
    """Remove the links of ``names`` and any other namespace of this lab; the errors met."""
    errors: list[str] = []
    known = links(cfg, names)
    for link in known:
        try:
            netns.teardown(link)
        except LabError as exc:
            errors.append(str(exc))
    for name in set(netns.lab_namespaces(cfg)) - {link.netns for link in known}:
        netns.kill_netns_pids(name)  # its veth goes with the namespace
        res = netns.run([netns.IP, "netns", "del", name], f"removing namespace {name}", False)
        if res.returncode != 0:
            errors.append(f"removing namespace {name}: {res.stderr.strip()}")
    return errors


def _prepare_roots(cfg: LabConfig, names: list[str]) -> dict[str, Any]:
    storage_fs: dict[str, Any] = {}
    for host in names:
        paths = host_paths(cfg, host)
        Path(paths["storage"]).mkdir(parents=True, exist_ok=True)
        if host == "streaming":
            storage_fs = hostdata.video_storage_fs(
                Path(paths["storage"]), f"ird-{cfg.lab_id}-videos"
            )
        hostdata.reseed_host(host, paths)
        hostdata.write_nginx_conf(cfg.host_root(host), paths)
    return storage_fs


def _base_record(cfg: LabConfig, host: str, storage_fs: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "name": host,
        "kind": host_kind(host),
        "root": str(cfg.host_root(host)),
        "paths": host_paths(cfg, host),
        "user": "root",
    }
    if host == "streaming":
        rec["video_storage_fs"] = storage_fs
    return rec


def _local_record(
    cfg: LabConfig, host: str, reason: str, storage_fs: dict[str, Any]
) -> dict[str, Any]:
    rec = _base_record(cfg, host, storage_fs)
    # nft would change the machine's own firewall here, so block-ips must not use it.
    rec.update(connection="local", netns=None, address="127.0.0.1", port=None, nft=False, procs=[])
    rec.update(ssh_key=None, known_hosts=None, ssh_args="", note=reason)
    return rec


def _start_netns_hosts(
    cfg: LabConfig, records: dict[str, Any], storage_fs: dict[str, Any], names: list[str]
) -> None:
    host_links = links(cfg, names)
    errors = _teardown(cfg, names)  # leftovers of this same lab folder after a crash
    if errors:
        raise LabError("lab hosts: cannot remove what a crashed lab left: " + "; ".join(errors))
    other = netns.subnet_conflict(cfg, {link.veth for link in host_links})
    if other:
        raise LabError(
            f"lab hosts: subnet 10.213.{cfg.subnet_index}.0/24 is already used by {other} "
            "(another lab?); use another lab folder"
        )
    netns.ensure_privsep_dir()
    key = ssh_key(cfg)
    client_pub = netns.ensure_keypair(key, f"irdrive-lab-{cfg.lab_id}")
    authorized = cfg.pki_dir / "authorized_keys"
    authorized.write_text(client_pub + "\n")
    ssh_args = " ".join(
        [
            f"-o UserKnownHostsFile={shlex.quote(str(known_hosts(cfg)))}",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o StrictHostKeyChecking=yes",
            "-o IdentitiesOnly=yes",
        ]
    )
    known: list[str] = []
    for link in host_links:
        root = cfg.host_root(link.host)
        etc_ssh = root / "etc/ssh"
        host_key = etc_ssh / "ssh_host_ed25519_key"
        host_pub = netns.ensure_keypair(host_key, f"{link.host}.lab")
        known.append(f"{link.address} {' '.join(host_pub.split()[:2])}")
        conf = etc_ssh / "sshd_config"
        pidfile = cfg.run_dir / f"sshd-{link.host}.pid"
        conf.write_text(netns.sshd_config_text(link, host_key, authorized, pidfile, root))
        netns.check_sshd_config(conf)
        records[link.host] = rec = _base_record(cfg, link.host, storage_fs)
        rec.update(connection="ssh", netns=link.netns, veth=link.veth, procs=[])
        netns.create_link(link)
        log = cfg.logs_dir / f"sshd-{link.host}.log"
        rec["procs"].append(
            lab_proc.spawn(f"sshd-{link.host}", netns.sshd_argv(link, conf, log), cfg.logs_dir)
        )
        rec.update(address=link.address, gateway=link.gateway, port=22, sshd_config=str(conf))
        rec.update(ssh_key=str(key), known_hosts=str(known_hosts(cfg)), ssh_args=ssh_args)
        rec.update(ssh_config=str(ssh_config(cfg)), nft=netns.nft_available(link.netns))
    known_hosts(cfg).write_text("\n".join(known) + "\n")
    _write_ssh_config(cfg, records)


def _write_ssh_config(cfg: LabConfig, records: dict[str, Any]) -> None:
    lines = [f"# Written by the irdrive lab. Use: ssh -F {ssh_config(cfg)} web", ""]
    for host in records:
        lines += [f"Host {host}", f"  HostName {records[host]['address']}", ""]
    lines += [
        "Host *",
        "  Port 22",
        "  User root",
        f"  IdentityFile {ssh_key(cfg)}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {known_hosts(cfg)}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "  LogLevel ERROR",
        "",
    ]
    ssh_config(cfg).write_text("\n".join(lines))


__all__ = [
    "clear_disk_full",
    "clear_intrusion_hosts",
    "fault_disk_full",
    "fault_intrusion_hosts",
    "health",
    "reseed",
    "start",
    "stop",
    "wait_ready",
]
