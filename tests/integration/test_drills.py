"""The drills of the five incident runbooks, run as `irdrive drill` runs them (molecule test
per scenario) against the test lab: each starts from its fault's alert in the lab's
Alertmanager and ends with recovery verified from the outside and the alert resolved.
The chaos variants and a broken runbook are in test_drills_chaos.py (the other test worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _drills import DRILLS, check_drills, drill_env_for

pytestmark = pytest.mark.lab

INCIDENT_DRILLS = [name for name, (_, variant) in DRILLS.items() if not variant]


@pytest.fixture
def drill_env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return drill_env_for(lab_env, tmp_path)


@pytest.mark.timeout(2400)  # five molecule scenarios, one after another
def test_every_incident_drill_recovers_verified_and_is_recorded(drill_env: dict[str, str]) -> None:
    check_drills(drill_env, INCIDENT_DRILLS)
