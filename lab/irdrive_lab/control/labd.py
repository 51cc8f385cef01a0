"""labd: the lab process that serves the Kubernetes API and the platform HTTP endpoints.

Run as ``python -m irdrive_lab.control.labd --dir DIR --port-base N``. As a lab component (see
docs/lab-design.md) this module also starts, checks and stops that process.
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from irdrive_lab.control import proc
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabError


# ---- component interface (runs in the CLI process) --------------------------------------
def start(cfg: LabConfig, ctx: dict[str, Any]) -> dict[str, Any]:
    from irdrive_lab.control.credentials import processor_api_keys
    from irdrive_lab.kube import pki
    from irdrive_lab.platform.cache import resolve_admin_token

    pki.write_kubeconfig(cfg, pki.ensure_pki(cfg))
    admin_token = resolve_admin_token(cfg, None)
    record = proc.spawn(
        "labd",
        [
            sys.executable,
            "-m",
            "irdrive_lab.control.labd",
            "--dir",
            str(cfg.dir),
            "--port-base",
            str(cfg.port_base),
            "--pod-ready-delay",
            str(cfg.pod_ready_delay),
        ],
        cfg.logs_dir,
    )
    return {
        "procs": [record],
        "kubernetes": f"https://127.0.0.1:{cfg.port('kubernetes')}",
        "platform": f"http://127.0.0.1:{cfg.port('platform')}",
        "kubeconfig": str(cfg.kubeconfig),
        "platform_info": {
            "admin_token": admin_token,
            "processor_api_keys": processor_api_keys(cfg),
        },
    }


def _get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def health(cfg: LabConfig, info: dict[str, Any]) -> tuple[bool, str]:
    if not all(proc.is_alive(p) for p in info.get("procs", [])):
        return False, "labd is not running"
    try:
        code, _ = _get(f"{info['kubernetes']}/readyz")
        if code != 200:
            return False, f"Kubernetes API /readyz answered {code}"
        code, body = _get(f"{info['platform']}/_lab/state")
        if code != 200:
            return False, f"lab control API answered {code}"
    except OSError as exc:
        return False, f"labd not answering: {exc}"
    return True, f"Kubernetes API {info['kubernetes']}, platform {info['platform']}"


def wait_ready(cfg: LabConfig, info: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    detail = ""
    while time.monotonic() < deadline:
        ok, detail = health(cfg, info)
        if ok:
            return
        if not all(proc.is_alive(p) for p in info.get("procs", [])):
            break
        time.sleep(0.05)
    log = Path(info["procs"][0]["log"]) if info.get("procs") else None
    tail = log.read_text().strip().splitlines()[-1:] if log and log.exists() else []
    raise LabError(f"labd did not become ready: {detail}" + (f" ({tail[0]})" if tail else ""))


def stop(cfg: LabConfig, info: dict[str, Any]) -> None:
    for record in info.get("procs", []):
        proc.stop(record)


def reseed(cfg: LabConfig, info: dict[str, Any]) -> None:
    req = urllib.request.Request(f"{info['platform']}/_lab/reset", method="POST", data=b"{}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
    except OSError as exc:
        raise LabError(f"labd could not reset: {exc}") from exc


def control(
    info: dict[str, Any], method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call labd's control API (``/_lab/...``); raise LabError with its message on failure."""
    data = json.dumps(body or {}).encode() if method != "GET" else None
    req = urllib.request.Request(
        f"{info['platform']}/_lab/{path}",
        method=method,
        data=data,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            msg = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            msg = exc.reason
        raise LabError(str(msg)) from exc
    except OSError as exc:
        raise LabError(f"labd is not answering at {info['platform']}: {exc}") from exc


# ---- the process itself -------------------------------------------------------------------
def serve(cfg: LabConfig) -> None:
    from irdrive_lab.control.journal import Journal
    from irdrive_lab.control.state import LabState
    from irdrive_lab.kube.server import make_server
    from irdrive_lab.kube.sim import Simulation
    from irdrive_lab.kube.store import Store
    from irdrive_lab.platform.server import make_platform_server

    store = Store()
    state = LabState()
    journal = Journal(cfg.journal_file)
    sim = Simulation(store, state, cfg)
    sim.seed()
    sim.start()

    def on_reset() -> None:
        with state.lock:
            state.processors_down.clear()
            state.cdn_down = False
            state.bad_images.clear()
            state.pressure = False
            state.extra_latency_ms = 0
            state.flaky_remaining = 0
            state.faults.clear()
        sim.reseed()

    k8s = make_server(store, state, cfg, journal, sim)
    platform = make_platform_server(store, state, cfg, cfg.read_state, on_reset=on_reset)
    k8s.serve_in_thread()
    platform.serve_in_thread()

    stopping = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"labd ready: k8s :{cfg.port('kubernetes')} platform :{cfg.port('platform')}", flush=True)
    stopping.wait()
    k8s.shutdown()
    platform.shutdown()
    sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="irdrive-labd")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-base", type=int, required=True)
    parser.add_argument("--pod-ready-delay", type=float, default=0.5)
    args = parser.parse_args(argv)
    cfg = LabConfig(
        dir=Path(args.dir), port_base=args.port_base, pod_ready_delay=args.pod_ready_delay
    )
    serve(cfg)


if __name__ == "__main__":
    main()
