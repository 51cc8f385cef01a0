"""The drills of the five incident runbooks, run as `irdrive drill` runs them (molecule test
per scenario) against the test lab: each starts from its fault's alert in the lab's
Alertmanager and ends with recovery verified from the outside and the alert resolved.
The chaos variants and a broken runbook are in test_drills_chaos.py (the other test worker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _canary import Sweep, secret_values
from _drills import DRILLS, check_drills, drill_env_for

pytestmark = pytest.mark.lab

INCIDENT_DRILLS = [name for name, (_, variant) in DRILLS.items() if not variant]


@pytest.fixture
def drill_env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return drill_env_for(lab_env, tmp_path)


@pytest.mark.timeout(2400)  # five molecule scenarios, one after another
def test_every_incident_drill_recovers_verified_and_is_recorded(
    drill_env: dict[str, str], lab: dict[str, Any]
) -> None:
    """...and the canary sweep of what the drills leave: the secrets in the lab before the
    drills and the ones security-breach rotated (it runs last) appear in no drill event log,
    molecule output, history record, JSON result or stderr."""
    before = secret_values(lab, seeded=True)
    results, stderr = check_drills(drill_env, INCIDENT_DRILLS)
    after = secret_values(lab)
    assert set(after) - set(before), "security-breach rotated no secret"
    sweep = Sweep({f"secret{i}": value for i, value in enumerate({*before, *after})})
    state = Path(drill_env["IRDRIVE_STATE_DIR"])
    files = sweep.folder(state)
    event_logs = list(state.glob("drills/*/*.events.jsonl"))
    assert len(event_logs) == len(INCIDENT_DRILLS) and files > 2 * len(INCIDENT_DRILLS)
    sweep.check("stdout", json.dumps(results).encode())
    sweep.check("stderr", stderr.encode())
    assert sweep.hits == {}, f"secret values in what the drills left: {sweep.hits}"
