"""Alert to remedy, all real processes: Alertmanager -> ansible-rulebook -> payments-failover.

A lab of its own (its Alertmanager also posts to the rulebook's source, beside the lab's own
receiver), ansible-rulebook running rulebooks/alertmanager.yml from the project root with the
lab inventory and the project's ansible.cfg, and the irdrive.ops.alertmanager source on a port
of this test's range. processor-down is injected; the rule runs payments-failover; payments
recover on the backup processor; the alert resolves, and its resolution runs no runbook. Beside
it, a storm (the same alert posted again) is throttled, and a security-breach alert only opens
an approval that `irdrive approvals` lists. Every alert is also recorded in the incident
records (the rulebook's incident rule): the firing alert opens an incident, the storm attaches
to it, the resolution is noted on it, and the breach opens a second one. Prints fault -> alert,
-> recovery, -> resolved.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _runbook import irdrive
from helpers import requires, wait_until

from irdrive_lab import alerts
from irdrive_lab.control.config import LabConfig
from irdrive_lab.faults import faults

REPO = Path(__file__).resolve().parents[2]
RULEBOOK_BIN = Path(sys.executable).parent / "ansible-rulebook"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.eda,
    requires(RULEBOOK_BIN.exists(), "ansible-rulebook (pip install -e '.[eda]')"),
    requires(shutil.which("java"), "Java 17 (Debian's openjdk-17-jre-headless)"),
]

RULEBOOK = "rulebooks/alertmanager.yml"
# This test's lab and source sit 50 ports above the session lab, inside the worker's range.
LAB_OFFSET, SOURCE_OFFSET = 50, 60
STARTUP_TIMEOUT = 90.0  # ansible-rulebook starts a JVM: 10-25 s on a busy 2-core machine
REMEDY_TIMEOUT = 120.0
RESOLVE_TIMEOUT = 30.0


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _post(port: int, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/alerts",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return int(resp.status)


def _notification(alertname: str, runbook: str, severity: str, fingerprint: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "lab",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "groupLabels": {"alertname": alertname},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": alertname, "runbook": runbook, "severity": severity},
                "annotations": {"summary": f"{alertname} (posted by the test)"},
                "startsAt": "2026-12-02T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }


class Recovery:
    """Polls the platform from the outside: payments healthy on the backup, and the alert."""

    def __init__(self, cfg: LabConfig, state: dict[str, Any]) -> None:
        from kubernetes import client, config

        self.cfg, self.state = cfg, state
        self.api = client.CoreV1Api(config.new_client_from_config(config_file=state["kubeconfig"]))

    def payments_recovered(self) -> bool:
        try:
            url = f"{self.state['endpoints']['platform']}/payments/health"
            with urllib.request.urlopen(url, timeout=5) as resp:
                healthy = resp.status == 200
        except (urllib.error.URLError, OSError):
            return False
        data = self.api.read_namespaced_config_map("payment-config", "platform").data or {}
        return healthy and data.get("PRIMARY_PROCESSOR") == "segpay"

    def alert_resolved(self) -> bool:
        return not alerts.active_alerts(self.cfg, "processor-down")

    def times(self, t0: float, timeout: float) -> dict[str, float]:
        """Seconds from t0 until each condition first held (polled side by side)."""
        seen: dict[str, float] = {}
        checks = {"recovered": self.payments_recovered, "resolved": self.alert_resolved}
        deadline = time.monotonic() + timeout
        while len(seen) < len(checks):
            for name, check in checks.items():
                if name not in seen and check():
                    seen[name] = time.monotonic() - t0
            if time.monotonic() > deadline:
                raise AssertionError(f"within {timeout:.0f}s only {sorted(seen)} of {list(checks)}")
            time.sleep(0.1)
        return seen


@pytest.fixture(scope="module")
def eda(lab_cfg: LabConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A lab whose Alertmanager posts to a running ansible-rulebook; both stopped at the end."""
    from irdrive_lab.control import manager

    cfg = LabConfig(
        dir=Path(f"{lab_cfg.dir}-eda"),
        port_base=lab_cfg.port_base + LAB_OFFSET,
        pod_ready_delay=lab_cfg.pod_ready_delay,
    )
    port = lab_cfg.port_base + SOURCE_OFFSET
    work = tmp_path_factory.mktemp("eda")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "IRDRIVE_LAB_DIR": str(cfg.dir),
        "IRDRIVE_EDA_PORT": str(port),
        "IRDRIVE_APPROVALS_DIR": str(work / "approvals"),
        # The incident rule's playbook runs `irdrive incident open --from-alert -` in
        # ansible-rulebook's environment: its store and the receiver's name come from there.
        "IRDRIVE_DB_URL": f"sqlite:///{work / 'history.db'}",
        "IRDRIVE_USER": "rulebook",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    log_path = work / "ansible-rulebook.log"
    argv = [str(RULEBOOK_BIN), "-r", RULEBOOK, "-i", "inventories/lab", "-v"]
    argv += ["--env-vars", "IRDRIVE_EDA_PORT,IRDRIVE_APPROVALS_DIR"]
    with log_path.open("w") as log:
        # Started first: its JVM boots while the lab comes up.
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        state = manager.up(cfg, alert_webhooks=[f"http://127.0.0.1:{port}/alerts"])
        wait_until(
            lambda: _listening(port) or proc.poll() is not None,
            timeout=STARTUP_TIMEOUT,
            what=f"ansible-rulebook's alertmanager source on port {port}",
        )
        assert proc.poll() is None, log_path.read_text()[-3000:]
        yield {"cfg": cfg, "state": state, "port": port, "env": env, "log": log_path, "work": work}
    finally:
        if proc.poll() is None:
            # SIGTERM: ansible-rulebook cancels a playbook still running (a failed test), whose
            # ansible-playbook runs in a session of its own.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        manager.down(cfg, purge=True)


def _log(eda: dict[str, Any]) -> str:
    return str(eda["log"].read_text(errors="replace"))


def _accepted(log: str, agent: str) -> int:
    """Notifications the source accepted (202, in its access log) from one kind of client."""
    return sum(
        1 for line in log.splitlines() if '"POST /alerts HTTP/1.1" 202' in line and agent in line
    )


INCIDENT_PLAY = "PLAY [Record the alert in an incident]"


def _incident_resolution_noted(eda: dict[str, Any]) -> str | None:
    """The id of the payments alert's incident once its resolution is on the timeline."""
    from irdrive.incidents.store import open_incidents

    with open_incidents(eda["env"]["IRDRIVE_DB_URL"]) as store:
        found = store.open_for_alert("PaymentProcessorDown{}")
        if found is None:
            return None
        timeline = store.timeline(found.id)
    done = any(e.kind == "alert" and e.data.get("status") == "resolved" for e in timeline)
    return found.id if done else None


def _check_incidents(eda: dict[str, Any], payments_id: str) -> None:
    """One incident for the payments alert and its storm (one alert key), another for the
    breach; the payments one still open (a person resolves it), its chain whole."""
    from irdrive.incidents.store import open_incidents

    with open_incidents(eda["env"]["IRDRIVE_DB_URL"]) as store:
        keys = [i.details["alert"]["alert_key"] for i in store.incidents()]
        assert keys.count("PaymentProcessorDown{}") == 1, keys
        assert keys.count("IntrusionSuspiciousSources{}") == 1, keys
        payments = store.get(payments_id)
        breach = store.open_for_alert("IntrusionSuspiciousSources{}")
        assert breach is not None and breach.severity == "P0"
        assert breach.runbook == "security-breach" and breach.source == "alert"
        assert payments.severity == "P1" and payments.runbook == "payments-failover"
        assert payments.status == "INVESTIGATING"
        timeline = store.timeline(payments_id)
        assert store.verify(payments_id).ok
    firing = [e for e in timeline if e.kind == "alert" and e.data["status"] == "firing"]
    assert timeline[0].kind == "opened" and firing  # the storm (and any repeat) attached
    assert [e.data["count"] for e in firing] == list(range(2, len(firing) + 2))


def test_an_alert_runs_its_runbook_and_resolves(eda: dict[str, Any]) -> None:
    cfg, state, port = eda["cfg"], eda["state"], eda["port"]
    hooks = state["parts"]["monitoring"]["alert_webhooks"]
    assert hooks == [f"http://127.0.0.1:{port}/alerts"]
    judge = Recovery(cfg, state)
    assert not judge.payments_recovered()  # seeded: payments run on the primary, ccbill

    t0 = time.monotonic()
    faults.inject(cfg, state, "processor-down", {})
    alerts.wait_for(cfg, "processor-down", firing=True, timeout=30)
    fired = time.monotonic() - t0

    # Alertmanager's notification reaches the source first (the rule runs from it). Then a
    # storm: the same alert again, from elsewhere; and a destructive runbook's alert.
    wait_until(
        lambda: _accepted(_log(eda), "Alertmanager/"), timeout=30, what="Alertmanager's post"
    )
    storm = _notification("PaymentProcessorDown", "payments-failover", "P1", "storm")
    breach = _notification("IntrusionSuspiciousSources", "security-breach", "P0", "breach")
    assert _post(port, storm) == 202
    assert _post(port, breach) == 202

    times = judge.times(t0, REMEDY_TIMEOUT)
    recovered, resolved = times["recovered"], times["resolved"]
    assert judge.payments_recovered() and judge.alert_resolved()

    # The lab's own receiver still got the firing and the resolved notification.
    def lab_saw_resolution() -> bool:
        seen = [
            (n["status"], a["labels"].get("alertname"))
            for n in alerts.notifications(cfg.alerts_file)
            for a in n["alerts"]
        ]
        return ("resolved", "PaymentProcessorDown") in seen and (
            "firing",
            "PaymentProcessorDown",
        ) in seen

    wait_until(lab_saw_resolution, timeout=RESOLVE_TIMEOUT, what="the lab receiver's resolution")

    # Both runs (the rulebook runs actions in parallel) end; the resolution must start no
    # runbook, only its note on the incident.
    approvals = eda["work"] / "approvals"
    (request_file,) = wait_until(
        lambda: list(approvals.glob("*.json")), timeout=REMEDY_TIMEOUT, what="an approval request"
    )
    wait_until(
        lambda: _log(eda).count("PLAY RECAP") - _log(eda).count(INCIDENT_PLAY) >= 2,
        timeout=60,
        what="both runbook runs ended",
    )
    # Alertmanager's firing and resolved notifications both reached the source.
    wait_until(
        lambda: _accepted(_log(eda), "Alertmanager/") >= 2,
        timeout=RESOLVE_TIMEOUT,
        what="Alertmanager's resolved notification at the source",
    )
    # The incident rule notes the resolution on the payments incident (it stays open).
    incident = wait_until(
        lambda: _incident_resolution_noted(eda),
        timeout=REMEDY_TIMEOUT,
        interval=0.5,
        what="the resolution noted on the payments incident",
    )
    time.sleep(2)  # time for the resolution to start something, if a rule took it
    log = _log(eda)
    assert log.count("PLAY [Payments failover]") == 1, log[-4000:]  # the storm was throttled
    assert log.count("PLAY [Request approval for a destructive runbook]") == 1, log[-4000:]
    assert "PLAY [Plan the security breach response]" not in log
    # The resolution ran no runbook: the runs are the two above, the incident records, and
    # one for each other lab alert that fired meanwhile (HighResponseTime on a loaded machine).
    others = {
        a["labels"].get("alertname")
        for n in alerts.notifications(cfg.alerts_file)
        for a in n["alerts"]
        if a["status"] == "firing"
    } - {"PaymentProcessorDown"}
    assert log.count("PLAY RECAP") <= 2 + log.count(INCIDENT_PLAY) + len(others), log[-4000:]
    _check_incidents(eda, incident)
    assert _accepted(log, "Python-urllib/") == 2  # the storm and the breach
    assert "failed=0" in log and "failed=1" not in log

    request = json.loads(request_file.read_text())
    assert request["runbook"] == "security-breach" and request["status"] == "pending"
    assert request["extra_vars"]["security_breach_incident_id"] == "alert-breach"
    listed = irdrive(
        {**eda["env"], "IRDRIVE_APPROVALS_DIR": str(approvals)}, "approvals", "list", "--json"
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [request["id"]]

    print(
        f"\nEDA end to end: fault -> alert firing {fired:.1f}s, -> payments recovered "
        f"{recovered:.1f}s, -> alert resolved {resolved:.1f}s"
    )
    assert fired < min(recovered, resolved) and max(recovered, resolved) < 90
