"""Network namespaces, veth links and sshd for the lab's hosts.

Each lab host is a network namespace ``ird-<lab_id>-<host>`` linked to the root namespace by a
veth pair: ``ir<lab_id><letter>`` on the root side, ``eth0`` inside. The pair is addressed
from a /30 of ``10.213.<subnet_index>.0/24`` (root side .4k+1, host side .4k+2), so the
controller reaches every host directly and two labs with different folders use different
names and subnets. sshd runs inside the namespace with a config, keys and logs in the lab
folder; everything here is undone by :func:`teardown`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError

IP = "ip"
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
NFT = "nft"
PRIVSEP_DIR = Path("/run/sshd")
NETNS_DIR = Path("/run/netns")
HOST_LETTERS = {"web": "w", "db": "d", "streaming": "s"}


@dataclass(frozen=True)
class HostLink:
    """Names and addresses of one lab host's namespace and link."""

    host: str
    netns: str
    veth: str
    gateway: str  # root side of the veth pair
    address: str  # host side (eth0 in the namespace)
    prefix: int = 30


def host_link(cfg: LabConfig, host: str, index: int) -> HostLink:
    """The link of the ``index``-th host: the /30 ``10.213.<subnet>.4*index`` (index < 64)."""
    if not 0 <= index < 64:
        raise ValueError(f"host index {index} does not fit the lab's /24 (0..63)")
    base = 4 * index
    net = f"10.213.{cfg.subnet_index}"
    # web-k is "w<k>": ir<6-hex lab id>w60 is 11 characters, under IFNAMSIZ (15).
    letter = HOST_LETTERS.get(host) or (
        "w" + host.removeprefix("web-") if host.startswith("web-") else str(index)
    )
    return HostLink(
        host=host,
        netns=f"ird-{cfg.lab_id}-{host}",
        veth=f"ir{cfg.lab_id}{letter}",
        gateway=f"{net}.{base + 1}",
        address=f"{net}.{base + 2}",
    )


def run(argv: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short command; on failure raise LabError naming ``what`` and the command's error."""
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise LabError(f"{what}: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what}: {' '.join(argv)} timed out") from exc
    if check and res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise LabError(f"{what}: {detail[-1] if detail else f'exit {res.returncode}'}")
    return res


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def probe_netns(cfg: LabConfig) -> str | None:
    """None if this process can make network namespaces, else the reason it cannot."""
    name = f"ird-{cfg.lab_id}-probe"
    try:
        res = subprocess.run([IP, "netns", "add", name], capture_output=True, text=True)
    except FileNotFoundError:
        return "the ip command (iproute2) is not installed"
    if res.returncode != 0:
        return f"ip netns add failed: {res.stderr.strip() or res.returncode}"
    subprocess.run([IP, "netns", "del", name], capture_output=True)
    return None


def subnet_conflict(cfg: LabConfig, own_links: set[str]) -> str | None:
    """The name of a link outside this lab already holding an address in the lab's subnet."""
    prefix = f"10.213.{cfg.subnet_index}."
    res = run([IP, "-o", "-4", "addr", "show"], "checking addresses", check=False)
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[3].startswith(prefix):
            dev = parts[1].split("@")[0]
            if dev not in own_links:
                return dev
    return None


def create_link(link: HostLink) -> None:
    """Create the namespace and the veth pair, address both ends, bring them up."""
    what = f"lab host {link.host}"
    run([IP, "netns", "add", link.netns], what)
    run(
        [IP, "link", "add", link.veth, "type", "veth", "peer", "name", "eth0", "netns", link.netns],
        what,
    )
    run([IP, "addr", "add", f"{link.gateway}/{link.prefix}", "dev", link.veth], what)
    run([IP, "link", "set", link.veth, "up"], what)
    ns = [IP, "-n", link.netns]
    run([*ns, "link", "set", "lo", "up"], what)
    run([*ns, "addr", "add", f"{link.address}/{link.prefix}", "dev", "eth0"], what)
    run([*ns, "link", "set", "eth0", "up"], what)
    run([*ns, "route", "add", "default", "via", link.gateway], what)


def kill_netns_pids(netns: str, timeout: float = 3.0) -> list[int]:
    """SIGTERM (then SIGKILL) every process still inside ``netns``; return their PIDs.

    sshd puts each connection in a session of its own, so killing the listener's process group
    leaves logged-in sessions behind; they would keep the namespace alive.
    """
    if not netns_exists(netns):
        return []
    res = run([IP, "netns", "pids", netns], "listing namespace processes", check=False)
    pids = [int(p) for p in res.stdout.split() if p.isdigit() and int(p) != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(_gone(p) for p in pids):
            time.sleep(0.05)
        if all(_gone(p) for p in pids):
            break
    return pids


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts as gone; it is reaped if ours)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def teardown(link: HostLink) -> None:
    """Remove the veth pair and the namespace; fine to call when they are already gone."""
    kill_netns_pids(link.netns)
    if link_exists(link.veth):
        run([IP, "link", "del", link.veth], f"removing {link.veth}", check=False)
    if netns_exists(link.netns):
        run([IP, "netns", "del", link.netns], f"removing namespace {link.netns}")


def lab_namespaces(cfg: LabConfig) -> list[str]:
    """Every network namespace of this lab folder, whatever hosts it was started with."""
    prefix = f"ird-{cfg.lab_id}-"
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix) and not n.endswith("-probe"))


def nft_available(netns: str) -> bool:
    """True when ``nft`` works inside the namespace (its ruleset is the host's own)."""
    try:
        res = subprocess.run(
            [IP, "netns", "exec", netns, NFT, "list", "ruleset"], capture_output=True, timeout=10
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def flush_nft(netns: str) -> None:
    if netns_exists(netns):
        run([IP, "netns", "exec", netns, NFT, "flush", "ruleset"], f"flushing nft in {netns}")


# ---- ssh ---------------------------------------------------------------------------------
def ensure_keypair(path: Path, comment: str) -> str:
    """Create an ed25519 key pair at ``path`` unless present; return the public key line."""
    if not path.exists() or not path.with_suffix(".pub").exists():
        path.unlink(missing_ok=True)
        path.with_suffix(".pub").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        run(
            [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            "ssh-keygen",
        )
    path.chmod(0o600)
    return path.with_suffix(".pub").read_text().strip()


def sshd_config_text(
    link: HostLink, host_key: Path, authorized_keys: Path, pidfile: Path, root: Path
) -> str:
    return "\n".join(
        [
            "# Written by the irdrive lab; rewritten on every `irdrive lab up`.",
            f"ListenAddress {link.address}:22",
            f"HostKey {host_key}",
            f"PidFile {pidfile}",
            f"AuthorizedKeysFile {authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "X11Forwarding no",
            "PrintMotd no",
            "UseDNS no",
            # X25519 key exchange: OpenSSH's default hybrid sntrup761x25519 costs ~0.1 CPU-second
            # per connection on each side, which on a small machine with a fleet of lab hosts
            # (one connection each) is most of the run. Every client of the lab gets the same.
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
            "MaxStartups 50:30:100",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            f"SetEnv IRDRIVE_LAB_HOST={link.host} IRDRIVE_HOST_ROOT={root}",
            "",
        ]
    )


def ensure_privsep_dir() -> None:
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)


def check_sshd_config(config: Path) -> None:
    run([SSHD, "-t", "-f", str(config)], f"checking sshd config {config}")


def sshd_argv(link: HostLink, config: Path, log: Path) -> list[str]:
    # `ip netns exec` execs the command in place, so the spawned PID is sshd's own.
    return [IP, "netns", "exec", link.netns, SSHD, "-D", "-f", str(config), "-E", str(log)]


def ssh_banner(address: str, port: int = 22, timeout: float = 1.0) -> str | None:
    """The SSH identification line the server sends, or None if nothing answers."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = sock.recv(256)
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line if line.startswith("SSH-") else None
