"""Benchmark: payments failover, from the processor-down fault to verified recovery.

Compares, against a bench lab of its own:
  irdrive   `irdrive run payments-failover --yes --json` (ansible-runner, the real runbook)
  shell     bench/failover.sh: the playbook's kubectl + curl lines
  python    one Python process making the same API calls directly (the floor)
Prints the median of each and the ratios to the floor. A benchmark, not a test.
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
from pathlib import Path

from irdrive_lab.control import manager
from irdrive_lab.control.config import LabConfig
from irdrive_lab.faults import faults

REPO = Path(__file__).resolve().parents[1]
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
    subprocess.run([str(REPO / "bench" / "failover.sh")], env=env, check=True)


def run_irdrive(cfg: LabConfig) -> None:
    env = dict(os.environ, IRDRIVE_LAB_DIR=str(cfg.dir), IRDRIVE_LAB_PORT_BASE=str(cfg.port_base))
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "irdrive"),
            "run",
            "payments-failover",
            "--yes",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(
            f"irdrive failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port-base", type=int, default=17700)
    parser.add_argument("--lab-dir", default=str(REPO / ".state" / "bench-lab"))
    args = parser.parse_args()
    cfg = LabConfig(dir=Path(args.lab_dir).resolve(), port_base=args.port_base)
    t0 = time.monotonic()
    state = manager.up(cfg)
    print(f"bench lab up in {time.monotonic() - t0:.1f}s ({cfg.dir})")
    methods = {
        "irdrive": lambda: run_irdrive(cfg),
        "shell": lambda: run_shell(state),
        "python": lambda: python_floor(state),
    }
    times: dict[str, list[float]] = {m: [] for m in methods}
    try:
        for rnd in range(args.rounds):
            for name, fn in methods.items():
                manager.reset(cfg)
                faults.inject(cfg, state, "processor-down", {})
                start = time.monotonic()
                fn()
                times[name].append(time.monotonic() - start)
            print(f"round {rnd + 1}: " + ", ".join(f"{m} {t[-1]:.2f}s" for m, t in times.items()))
    finally:
        manager.down(cfg)
    floor = statistics.median(times["python"])
    print(f"\npayments failover, fault -> verified recovery, median of {args.rounds}:")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<8} {med:6.2f}s   x{med / floor:5.1f} the direct-API floor")


if __name__ == "__main__":
    main()
