"""The runbooks bench end to end, one runbook, one round, against the test lab: what ``make
bench`` relies on (reset, fault, ``irdrive run --json``, the report's tasks) still holds.
No timing is asserted: timings belong to the bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def test_runbooks_bench_times_payments_failover_to_a_verified_recovery(
    lab: dict[str, Any], lab_cfg: Any
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.runbooks",
            "--rounds",
            "1",
            "--only",
            "payments-failover",
            "--json",
            "--port-base",
            str(lab_cfg.port_base),
            "--lab-dir",
            str(lab_cfg.dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    res = json.loads(done.stdout)["runbooks"]
    assert list(res) == ["payments-failover"]
    figures = res["payments-failover"]
    assert len(figures["rounds"]["wall_s"]) == 1
    assert 0 < figures["run_s"] < figures["recover_s"]
    slowest = figures["slowest"]
    assert len(slowest) == 5
    assert all(s["host"] == "localhost" and s["duration_s"] >= 0 for s in slowest)
    actions = {s["action"] for s in slowest}
    assert "irdrive.ops.rollout_restart" in actions, slowest
    assert "round 1 payments-failover" in done.stderr
