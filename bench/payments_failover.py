"""Benchmark: payments failover, from the processor-down fault to verified recovery.

Compares, against a bench lab of its own:
  irdrive   `irdrive run payments-failover --yes --json` (ansible-runner, the real runbook)
  shell     bench/failover.sh: the playbook's kubectl + curl lines
  floor     one Python process making the same API calls directly
Prints the median of each and the ratios to the floor; ``measure()`` is what ``python -m bench``
calls. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irdrive_lab.control import manager
from irdrive_lab.control.config import LabConfig
from irdrive_lab.faults import faults

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PORT_BASE = 17700  # the demo lab is on 17600, the test labs from 17800
DEFAULT_LAB_DIR = REPO / ".state" / "bench-lab"
NS = "platform"


def python_floor(state: dict) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=state["kubeconfig"])
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    base = state["endpoints"]["platform"]

    def get(path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    get("/payments/health")
    get("/processors/ccbill/health")
    if get("/processors/segpay/health")[0] != 200:
        raise SystemExit("backup down")
    core.patch_namespaced_config_map("kill-switches", NS, {"data": {"payments": "disabled"}})
    core.patch_namespaced_config_map(
        "payment-config",
        NS,
        {"data": {"PRIMARY_PROCESSOR": "segpay", "BACKUP_PROCESSOR": "ccbill"}},
    )
    now = dt.datetime.now(dt.UTC).isoformat()
    body = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}
        }
    }
    dep = apps.patch_namespaced_deployment("payment-service", NS, body)
    gen = dep.metadata.generation
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        d = apps.read_namespaced_deployment("payment-service", NS)
        s = d.status
        if (
            (s.observed_generation or 0) >= gen
            and s.updated_replicas == d.spec.replicas
            and s.available_replicas == d.spec.replicas
            and s.replicas == d.spec.replicas
        ):
            break
        time.sleep(0.05)
    core.patch_namespaced_config_map("kill-switches", NS, {"data": {"payments": "enabled"}})
    while time.monotonic() < deadline:
        code, body_ = get("/payments/health")
        if code == 200 and body_.get("processor") == "segpay":
            return
        time.sleep(0.05)
    raise SystemExit("not recovered")


def run_shell(state: dict) -> None:
    env = dict(
        os.environ, KUBECONFIG=state["kubeconfig"], PLATFORM_URL=state["endpoints"]["platform"]
    )
    # Its output goes to stderr: stdout is kept for the bench's one JSON object.
    subprocess.run([str(REPO / "bench" / "failover.sh")], env=env, check=True, stdout=sys.stderr)


def irdrive_run(cfg: LabConfig, runbook: str, *args: str) -> dict[str, Any]:
    """`irdrive run RUNBOOK --yes --json ARGS` against the lab ``cfg``; its report, or the bench
    stops with the run's output when it did not exit 0."""
    env = dict(os.environ, IRDRIVE_LAB_DIR=str(cfg.dir), IRDRIVE_LAB_PORT_BASE=str(cfg.port_base))
    argv = [str(Path(sys.executable).parent / "irdrive"), "run", runbook, "--yes", "--json"]
    out = subprocess.run([*argv, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(
            f"irdrive failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}"
        )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def run_irdrive(cfg: LabConfig) -> None:
    irdrive_run(cfg, "payments-failover")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure(
    rounds: int, port_base: int = DEFAULT_PORT_BASE, lab_dir: Path = DEFAULT_LAB_DIR
) -> dict[str, Any]:
    """Time the three ways ``rounds`` times each against the bench lab (started if it is not up,
    and then stopped at the end; a lab already up is left up). Returns the medians
    ``irdrive_s``, ``shell_s`` and ``floor_s`` and the raw seconds per way under ``rounds``."""
    cfg = LabConfig(dir=Path(lab_dir).resolve(), port_base=port_base)
    started = not manager.is_up(cfg)
    t0 = time.monotonic()
    manager.up(cfg)
    if started:
        progress(f"bench lab up in {time.monotonic() - t0:.1f}s ({cfg.dir})")
    ways: dict[str, Callable[[dict[str, Any]], None]] = {
        "irdrive": lambda state: run_irdrive(cfg),
        "shell": run_shell,
        "floor": python_floor,
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    try:
        for rnd in range(rounds):
            for way, fn in ways.items():
                manager.reset(cfg)
                state = manager.require_up(cfg)
                faults.inject(cfg, state, "processor-down", {})
                start = time.monotonic()
                fn(state)
                times[way].append(time.monotonic() - start)
            progress(
                f"round {rnd + 1} payments: "
                + ", ".join(f"{w} {t[-1]:.2f}s" for w, t in times.items())
            )
    finally:
        if started:
            manager.down(cfg)
    result: dict[str, Any] = {
        f"{way}_s": round(statistics.median(ts), 3) for way, ts in times.items()
    }
    result["rounds"] = {way: [round(t, 3) for t in ts] for way, ts in times.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE)
    parser.add_argument("--lab-dir", type=Path, default=DEFAULT_LAB_DIR)
    args = parser.parse_args()
    res = measure(args.rounds, args.port_base, args.lab_dir)
    floor = res["floor_s"]
    print(f"payments failover, fault -> verified recovery, median of {args.rounds}:")
    for way in ("irdrive", "shell", "floor"):
        med = res[f"{way}_s"]
        print(f"  {way:<8} {med:6.2f}s   x{med / floor:5.1f} the direct-API floor")


if __name__ == "__main__":
    main()
