"""Benchmark: what one API step costs above an ``ansible.builtin.debug`` task.

Runs one playbook of N ``ansible.builtin.debug`` tasks and one of N ``irdrive.ops.http_health``
tasks against a local HTTP server, in-process (the action plugin on the controller, the
default) and as a module (``irdrive_in_process=false``: AnsiballZ and an interpreter per task),
each with the project's ansible.cfg. Prints, per way, the median over the rounds of
(playbook time - debug playbook time) / N; ``measure()`` is what ``python -m bench`` calls.
A benchmark, not a test; no lab needed.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def playbook(task: dict, count: int) -> str:
    tasks = [{"name": f"step {n}", **task} for n in range(count)]
    return json.dumps(
        [{"name": "steps", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    )


def run(path: Path, *extra: str) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable},",
        str(path),
        *extra,
    ]
    start = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{path.name} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure(rounds: int, steps: int = 10) -> dict[str, Any]:
    """Time the three playbooks ``rounds`` times each. Returns the medians of the debug
    playbook's time per step (``debug_step_s``) and of one API step's cost above a debug step,
    in-process and as a module, and the raw playbook seconds per way under ``rounds``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    try:
        with tempfile.TemporaryDirectory(prefix="irdrive-bench-") as folder:
            debug = Path(folder) / "debug.yml"
            debug.write_text(playbook({"ansible.builtin.debug": {"msg": "step"}}, steps))
            api = Path(folder) / "api.yml"
            api.write_text(playbook({"irdrive.ops.http_health": {"url": url}}, steps))
            ways: dict[str, tuple[Path, tuple[str, ...]]] = {
                "debug": (debug, ()),
                "in_process": (api, ()),
                "module": (api, ("-e", "irdrive_in_process=false")),
            }
            times: dict[str, list[float]] = {way: [] for way in ways}
            for rnd in range(rounds):
                for way, (path, extra) in ways.items():
                    times[way].append(run(path, *extra))
                progress(
                    f"round {rnd + 1} api step: "
                    + ", ".join(f"{w} {t[-1]:.2f}s" for w, t in times.items())
                )
    finally:
        server.shutdown()
    result: dict[str, Any] = {
        "steps": steps,
        "debug_step_s": round(statistics.median(times["debug"]) / steps, 3),
    }
    for way in ("in_process", "module"):
        above = [(t - d) / steps for t, d in zip(times[way], times["debug"], strict=True)]
        result[f"{way}_above_debug_s"] = round(statistics.median(above), 3)
    result["rounds"] = {way: [round(t, 3) for t in ts] for way, ts in times.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    res = measure(args.rounds, args.steps)
    print(f"one step above ansible.builtin.debug, median of {args.rounds} ({args.steps} steps):")
    print(f"  in-process  {res['in_process_above_debug_s']:6.3f}s a step")
    print(f"  module      {res['module_above_debug_s']:6.3f}s a step")
    print(f"  debug       {res['debug_step_s']:6.3f}s a step (whole playbook / N)")


if __name__ == "__main__":
    main()
