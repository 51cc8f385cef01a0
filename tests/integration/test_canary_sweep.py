"""The canary sweep: secrets fed in as every secret stay out of every output, during a run too.

Real runbooks against the lab, with a unique canary as each secret: in ``-e @FILE`` (the
runbook's secret parameters) and in the environment (AWS_SECRET_ACCESS_KEY, PGPASSWORD,
K8S_AUTH_API_KEY, which the README tells production users to set; the modules fall back to
them). While the run is in flight, every process's ``/proc/PID/cmdline`` (ansible-playbook,
its workers, ssh, the modules) and the run's state folder are sampled; after it, the CLI's
stdout and stderr and every file the run left (artifacts, job_events, report.json, history)
are swept; every run records into an incident (IRDRIVE_INCIDENT), so the history database
in the state folder, with its timeline rows, is swept too, and so is all the record feeds: the
incident's communications (printed, and the bodies a webhook received), its post-mortem, the
status page and the JSON of show, timeline and stats. The canaries are random per test
run, so a hit is a leak of this run. A file that holds a secret only while the run is in
flight is reported by its own test.

tests/integration/driver/test_env_secrets.py covers the artifacts of the fixture runbook
(no lab) and a ``kill -9``; this sweep adds real runbooks, ``-e @FILE`` secrets and the
process table.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _canary import API_KEYS, ENV_SECRETS, Sweep, current, new_canaries
from _runbook import IRDRIVE


@pytest.fixture(scope="module")
def swept(lab: dict[str, Any], lab_cfg: Any, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Runs with canaries, swept while in flight and after."""
    from irdrive_lab.control import manager

    tmp_path = tmp_path_factory.mktemp("canary")
    manager.reset(lab_cfg)
    canaries = new_canaries()
    for key in ("cache_admin_token", "maintenance_login_password"):
        (tmp_path / f"{key}.yml").write_text(f"{key}: {canaries[key]}\n")
    # payments-failover sends the backup processor's API key: canaries as its api_keys (its
    # API refuses them: the failure path), and the lab's real keys, which the inventory gives
    # (Secrets Manager's platform/<name>-api-key holds the same), in a run that succeeds.
    wrong = {p: f"CANARY{secrets.token_hex(8)}" for p in ("ccbill", "segpay")}
    canaries |= {f"api_keys.{p}": key for p, key in wrong.items()}
    (tmp_path / "api_keys.json").write_text(json.dumps({"api_keys": wrong}))
    real = {name: current(lab, name)[1] for name in API_KEYS}
    assert sorted(real.values()) == sorted(lab["platform"]["processor_api_keys"].values())
    canaries |= real
    state = tmp_path / "state"
    env = dict(os.environ)
    env |= {name: canaries[name] for name in ENV_SECRETS}
    env |= {
        "IRDRIVE_LAB_DIR": str(lab_cfg.dir),
        "IRDRIVE_LAB_PORT_BASE": str(lab_cfg.port_base),
        "KUBECONFIG": lab["kubeconfig"],
        "IRDRIVE_STATE_DIR": str(state),
    }
    # Every run records into an incident, in the history store under the swept state folder
    # (history.db there): its timeline rows are swept with the rest.
    from irdrive.incidents.store import open_incidents

    db_url = f"sqlite:///{state / 'history.db'}"
    with open_incidents(db_url) as store:
        incident = store.open(title="Canary sweep", severity="P2", actor="sweep").id
    env |= {"IRDRIVE_INCIDENT": incident, "IRDRIVE_DB_URL": db_url}
    sweep = Sweep(canaries)
    runs = [
        # the secrets in -e @FILE: cache's admin token, db's maintenance login (-vvvv)
        ["run", "cache", "-e", f"@{tmp_path}/cache_admin_token.yml", "--yes", "--json"],
        ["run", "db", "-e", "analyze=true", "-e", f"@{tmp_path}/maintenance_login_password.yml"]
        + ["--yes", "-vvvv"],
        # the environment's secrets only, through a longer read-only run
        ["run", "diagnose", "--yes", "--json"],
    ]
    # The processors' API keys, with the lab's real cluster and AWS logins (the canaries above
    # stop a run at its first Kubernetes read, before any key is sent): canary keys (refused by
    # the backup's API, exit 2), then the lab's own keys from the inventory (-vvvv, exit 0).
    key_runs = [
        ["run", "payments-failover", "-e", f"@{tmp_path}/api_keys.json", "--yes", "--json"],
        ["run", "payments-failover", "--yes", "-vvvv"],
    ]
    real_logins = {k: v for k, v in env.items() if k not in ENV_SECRETS}
    codes = []
    for args, run_env in [(a, env) for a in runs] + [(a, real_logins) for a in key_runs]:
        proc = sweep.run([IRDRIVE, *args], run_env, state)
        codes.append((args[1], proc.returncode))
    files = sweep.folder(state)
    hits = sum(len(names) for names in sweep.hits.values())
    by_phase = {
        phase: sum(len(n) for w, n in sweep.hits.items() if w.startswith(phase))
        for phase in ("during", "after", "stdout", "stderr")
    }
    print(
        f"\ncanary sweep: {len(canaries)} canaries, runs {codes}, {sweep.samples} /proc samples, "
        f"{files} files swept after: {hits} canary hits {by_phase}"
    )
    assert codes[-2:] == [("payments-failover", 2), ("payments-failover", 0)], codes
    assert sweep.saw_playbook, "no ansible-playbook seen in /proc while the runs were in flight"
    assert sweep.samples > 50
    assert files > 10 and list(state.rglob("report.json")) and list(state.rglob("job_events"))
    with open_incidents(db_url) as store:
        recorded = [e for e in store.timeline(incident) if e.kind == "run.end"]
    assert len(recorded) == len(runs) + len(key_runs), (
        "the runs were not all recorded in the incident's timeline"
    )
    fed = sweep_what_the_record_feeds(sweep, env, state, tmp_path, incident)
    print(f"canary sweep, what the incident record feeds: {fed}")
    return sweep


def sweep_what_the_record_feeds(
    sweep: Sweep, env: dict[str, str], state: Path, tmp_path: Path, incident: str
) -> str:
    """What the incident built from those runs feeds: its three communications (printed and
    sent to a local JSON webhook, whose bodies are swept), the post-mortem files, the status
    page and the JSON of show, timeline and stats. All with the canaries still in the
    environment, all swept like the runs' own output."""
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    comms = tmp_path / "comms.yml"
    comms.write_text(
        "channels:\n  default:\n    - name: hook\n"
        f"      url: json://127.0.0.1:{server.server_address[1]}/hook\n"
    )
    commands = [
        ["incident", "show", incident, "--json"],
        ["incident", "timeline", incident, "--json"],
        *(
            ["incident", "comms", incident, "--template", template, "--send"]
            for template in ("internal", "user", "stakeholder")
        ),
        ["incident", "report", incident, "--out", str(state / "postmortem")],
        ["status-page", "build", str(state / "status-page")],
        ["incident", "stats", "--json"],
    ]
    try:
        for args in commands:
            proc = sweep.run([IRDRIVE, *args], env | {"IRDRIVE_COMMS_CONFIG": str(comms)}, state)
            assert proc.returncode == 0, f"irdrive {' '.join(args)}: exit {proc.returncode}"
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 3, f"the webhook got {len(received)} notifications, not 3"
    for body in received:
        sweep.check("after notification", body)
    assert (
        list((state / "postmortem").glob("*.svg")) and (state / "status-page/index.html").exists()
    )
    files = sweep.folder(state)
    return f"{len(commands)} commands, {len(received)} notifications, {files} files swept"


def test_no_canary_in_output_command_lines_or_what_the_run_leaves(swept: Sweep) -> None:
    leaks = {w: n for w, n in swept.hits.items() if "/cmdline" in w or not w.startswith("during")}
    assert leaks == {}, f"canary hits: {leaks}"


def test_no_canary_in_the_run_folder_while_the_run_is_in_flight(swept: Sweep) -> None:
    """Secrets stay off disk, also for the seconds the playbook takes to start."""
    on_disk = {
        w: n for w, n in swept.hits.items() if w.startswith("during") and "/cmdline" not in w
    }
    assert on_disk == {}, f"canary hits in files while the run was in flight: {on_disk}"


def test_the_sweep_finds_a_canary_that_leaks(tmp_path: Path) -> None:
    """The sweep can fail: a canary on a command line and in a file is counted."""
    canaries = new_canaries()
    leak = tmp_path / "artifacts" / "command"
    leak.parent.mkdir()
    leak.write_text(f'{{"env": {{"PGPASSWORD": "{canaries["PGPASSWORD"]}"}}}}')
    sweep = Sweep(canaries)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(10)", canaries["K8S_AUTH_API_KEY"]]
    )
    try:
        while b"time.sleep" not in Path(f"/proc/{sleeper.pid}/cmdline").read_bytes():
            time.sleep(0.01)  # until it has exec'd
        sweep.proc_cmdlines()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sweep.folder(tmp_path) == 1
    assert sorted(n for names in sweep.hits.values() for n in names) == [
        "K8S_AUTH_API_KEY",
        "PGPASSWORD",
    ]


pytestmark = pytest.mark.timeout(900)
