"""Benchmark: block-ips on a fleet of web hosts, from the intrusion fault to verified blocks.

Starts a bench lab of its own with 30 web hosts (``irdrive lab up --web-hosts 30``) and times,
each round after a lab reset and the intrusion fault (so every round makes the real change):
  hosts_3    `irdrive run block-ips --yes --json -e targets=hosts` on 3 web hosts
             (hosts_group=web_hosts[0:2])
  hosts_30   the same on all 30 web hosts (hosts_group=web_hosts)
  shell_30   bench/fleet_block.sh: the per-host commands over ssh, one host after another
Both do the hosts only (targets=hosts: no WAF or network ACL change), so they do the same work;
irdrive also checks its inputs, takes the target's locks and each host's lock, and reads every
host back and verifies it. Every timed run is checked afterwards (outside the timing): each
host's nginx deny include and nftables set hold the intrusion's addresses.
Prints the medians and the ratios hosts_30/hosts_3 (target <= 3) and hosts_30/shell_30 (target
< 1), and the median CPU-seconds each way spent on the controller (this process's children:
irdrive, ansible-playbook and its workers, ssh clients; less noisy than wall time on a busy
machine. The hosts' sshd sessions run on the same machine but are not counted). A benchmark,
not a test. ``measure`` is what `make bench` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irdrive_lab.control import manager
from irdrive_lab.control.config import LabConfig
from irdrive_lab.faults import faults

try:
    from bench.payments_failover import irdrive_run
except ModuleNotFoundError:  # run as a script (python bench/fleet.py): bench/ is on sys.path
    from payments_failover import irdrive_run  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
WEB_HOSTS = 30
FEW = 3
SHELL_LOOP = REPO / "bench" / "fleet_block.sh"
DEFAULT_PORT_BASE = 17720
ADDRESSES = list(faults.INTRUSION_IPS)
CONTROL_PATH_DIR = "ANSIBLE_SSH_CONTROL_PATH_DIR"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def web_hosts(n: int) -> list[str]:
    return ["web", *(f"web-{k}" for k in range(2, n + 1))]


def run_irdrive(cfg: LabConfig, hosts: int) -> None:
    """`irdrive run block-ips` on the first ``hosts`` web hosts; fails unless all were blocked.

    Each run starts cold, as a responder's first run does: its own ssh ControlPath folder, so
    no ssh master connection left by an earlier run (ControlPersist) is reused.
    """
    group = "web_hosts" if hosts == WEB_HOSTS else f"web_hosts[0:{hosts - 1}]"
    addresses = "addresses=" + ",".join(ADDRESSES)
    control_dir = tempfile.mkdtemp(prefix="irdrive-cp-")  # short: a socket path is <= 107 bytes
    saved = os.environ.get(CONTROL_PATH_DIR)
    os.environ[CONTROL_PATH_DIR] = control_dir
    try:
        report = irdrive_run(
            cfg, "block-ips", "-e", addresses, "-e", f"hosts_group={group}", "-e", "targets=hosts"
        )
    finally:
        if saved is None:
            os.environ.pop(CONTROL_PATH_DIR, None)
        else:
            os.environ[CONTROL_PATH_DIR] = saved
        shutil.rmtree(control_dir, ignore_errors=True)  # the masters exit when idle 60 s
    ran = set(report.get("hosts") or {}) - {"localhost"}
    if ran != set(web_hosts(hosts)):
        raise SystemExit(f"irdrive ran on {sorted(ran)}, not the first {hosts} web hosts")


def run_shell(state: dict[str, Any], hosts: int) -> None:
    ssh_config = state["hosts"]["web"]["ssh_config"]
    subprocess.run(
        [str(SHELL_LOOP), ssh_config, ",".join(ADDRESSES), *web_hosts(hosts)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def check_blocked(state: dict[str, Any], hosts: int) -> None:
    """Each host's deny include and nftables set hold every address (read from the host)."""
    for host in web_hosts(hosts):
        rec = state["hosts"][host]
        deny = Path(rec["paths"]["nginx_deny_include"]).read_text()
        missing = [a for a in ADDRESSES if f"deny {a}/32;" not in deny]
        if rec.get("nft"):
            listed = subprocess.run(
                ["ip", "netns", "exec", rec["netns"], "nft", "list", "set", "inet", "irdrive",
                 "blocked_v4"],
                capture_output=True,
                text=True,
            ).stdout  # fmt: skip
            missing += [f"nft {a}" for a in ADDRESSES if a not in listed]
        if missing:
            raise SystemExit(f"{host} is missing {', '.join(missing)} after the run")


def _lab(cfg: LabConfig) -> dict[str, Any]:
    state = cfg.read_state()
    if state and manager.is_up(cfg) and int(state.get("web_hosts") or 1) != WEB_HOSTS:
        manager.down(cfg)  # a bench lab of another size: this bench's own folder, start again
    return manager.up(cfg, web_hosts=WEB_HOSTS)


def measure(rounds: int, port_base: int, lab_dir: Path) -> dict[str, Any]:
    """Medians (seconds) of block-ips on 3 and 30 web hosts and of the shell loop on 30.

    Returns ``{"hosts_3_s", "hosts_30_s", "shell_30_s", "rounds": {name: [seconds, ...]},
    "cpu_s": {name: median controller CPU-seconds}}``.
    Starts the lab in ``lab_dir`` (ports ``port_base`` ..) and stops it at the end.
    """
    cfg = LabConfig(dir=Path(lab_dir).resolve(), port_base=port_base)
    t0 = time.monotonic()
    state = _lab(cfg)
    _log(f"fleet bench lab up with {WEB_HOSTS} web hosts in {time.monotonic() - t0:.1f}s")
    methods: dict[str, tuple[Callable[[], None], int]] = {
        "hosts_3": (lambda: run_irdrive(cfg, FEW), FEW),
        "hosts_30": (lambda: run_irdrive(cfg, WEB_HOSTS), WEB_HOSTS),
        "shell_30": (lambda: run_shell(state, WEB_HOSTS), WEB_HOSTS),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    try:
        for rnd in range(rounds):
            for name, (run, hosts) in methods.items():
                manager.reset(cfg)  # no blocks, no locks, seeded logs
                faults.inject(cfg, state, "intrusion", {})
                before = _children_cpu()
                start = time.monotonic()
                run()
                times[name].append(round(time.monotonic() - start, 3))
                cpu[name].append(round(_children_cpu() - before, 3))
                check_blocked(state, hosts)
            _log(f"round {rnd + 1}: " + ", ".join(f"{m} {t[-1]:.2f}s" for m, t in times.items()))
    finally:
        manager.down(cfg)
    medians = {f"{name}_s": round(statistics.median(ts), 3) for name, ts in times.items()}
    cpu_s = {name: round(statistics.median(cs), 3) for name, cs in cpu.items()}
    return {**medians, "rounds": times, "cpu_s": cpu_s}


def _children_cpu() -> float:
    """CPU-seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE)
    parser.add_argument("--lab-dir", default=str(REPO / ".state" / "fleet-lab"))
    parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")
    args = parser.parse_args()
    result = measure(args.rounds, args.port_base, Path(args.lab_dir))
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    few, many, shell = result["hosts_3_s"], result["hosts_30_s"], result["shell_30_s"]
    print(f"block-ips on web hosts, fault -> verified blocks, median of {args.rounds}:")
    print(f"  irdrive,  3 hosts  {few:6.2f}s")
    print(f"  irdrive, 30 hosts  {many:6.2f}s   x{many / few:4.2f} the 3-host run (target <= 3)")
    print(f"  shell,   30 hosts  {shell:6.2f}s   irdrive/shell x{many / shell:4.2f} (target < 1)")
    cpu = result["cpu_s"]
    print("  controller CPU-s:  " + ", ".join(f"{name} {cpu[name]:.2f}" for name in cpu))


if __name__ == "__main__":
    main()
