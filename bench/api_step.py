"""Benchmark: what one API step costs above an ``ansible.builtin.debug`` task.

Runs one playbook of N ``ansible.builtin.debug`` tasks and one of N ``irdrive.ops.http_health``
tasks against a local HTTP server, in-process (the action plugin on the controller, the
default) and as a module (``irdrive_in_process=false``: AnsiballZ and an interpreter per task),
each with the project's ansible.cfg. Prints, per way, the median over the rounds of
(playbook time - debug playbook time) / N. A benchmark, not a test; no lab needed.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    with tempfile.TemporaryDirectory(prefix="irdrive-bench-") as folder:
        debug = Path(folder) / "debug.yml"
        debug.write_text(playbook({"ansible.builtin.debug": {"msg": "step"}}, args.steps))
        api = Path(folder) / "api.yml"
        api.write_text(playbook({"irdrive.ops.http_health": {"url": url}}, args.steps))
        ways = {
            "debug": (debug, ()),
            "in-process": (api, ()),
            "module": (api, ("-e", "irdrive_in_process=false")),
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for rnd in range(args.rounds):
            for way, (path, extra) in ways.items():
                times[way].append(run(path, *extra))
            print(f"round {rnd + 1}: " + ", ".join(f"{w} {t[-1]:.2f}s" for w, t in times.items()))
    server.shutdown()
    print(f"\none step above ansible.builtin.debug, median of {args.rounds} ({args.steps} steps):")
    for way in ("in-process", "module"):
        above = [(t - d) / args.steps for t, d in zip(times[way], times["debug"], strict=True)]
        print(f"  {way:<11} {statistics.median(above):6.3f}s a step")
    print(
        f"  debug       {statistics.median(times['debug']) / args.steps:6.3f}s a step (whole playbook / N)"
    )


if __name__ == "__main__":
    main()
