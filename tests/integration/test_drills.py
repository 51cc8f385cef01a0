"""The drills themselves, run as `irdrive drill` runs them (molecule test per scenario) against
the test lab, and a deliberately broken copy of a runbook whose drill must fail by name.

Each drill waits for its fault's alert in the lab's Alertmanager. IRDRIVE_TEST_DRILL_NO_ALERTS=1
runs them with `--no-alerts` (a lab without Alertmanager, while developing); CI never sets it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _runbook import IRDRIVE

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ALERT_ARGS = ("--no-alerts",) if os.environ.get("IRDRIVE_TEST_DRILL_NO_ALERTS") == "1" else ()
DRILLS = {
    # scenario: (runbook, variant)
    "payments-failover": ("payments-failover", ""),
    "platform-outage": ("platform-outage", ""),
    "security-breach": ("security-breach", ""),
    "streaming-outage": ("streaming-outage", ""),
    "performance-degradation": ("performance-degradation", ""),
    "payments-failover-flaky": ("payments-failover", "api-flaky"),
    "platform-outage-flaky": ("platform-outage", "api-flaky"),
}
# What the project copy needs to run a drill: the Ansible content and the scenarios.
# The broken copy names the new primary as the backup too.
FAILED_CHECK = "verify: Check: payments run on the backup processor"
PROJECT_PARTS = ("ansible.cfg", "playbooks", "roles", "collections", "inventories", "configs")


def drill(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    res = subprocess.run(
        [IRDRIVE, "drill", *args, "--json", *ALERT_ARGS],
        env=env,
        capture_output=True,
        text=True,
        timeout=3500,
    )
    try:
        results = json.loads(res.stdout)
    except ValueError:
        raise AssertionError(
            f"no JSON (rc {res.returncode}):\n{res.stdout}\n{res.stderr}"
        ) from None
    return res.returncode, results, res.stderr


def history(env: dict[str, str]) -> list[Any]:
    """The drills the history store holds, in the state folder the drills ran with."""
    code = (
        "import json; from irdrive.history import open_store; s = open_store(); "
        "print(json.dumps([[d.scenario, d.passed, d.failed_check, d.outcome, d.detect_s, "
        "d.recover_s, d.commit] for d in s.drills()])); s.close()"
    )
    res = subprocess.run(
        [str(Path(IRDRIVE).parent / "python"), "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(res.stdout)


@pytest.fixture
def drill_env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return dict(lab_env, IRDRIVE_STATE_DIR=str(tmp_path / "state"))


@pytest.mark.timeout(3600)  # seven molecule scenarios, one after another
def test_every_drill_recovers_verified_and_is_recorded(drill_env: dict[str, str]) -> None:
    rc, results, stderr = drill(drill_env, "--all")
    by_name = {r["scenario"]: r for r in results}
    assert set(by_name) == set(DRILLS), stderr
    failed = {n: (r["outcome"], r["failed_check"]) for n, r in by_name.items() if not r["passed"]}
    assert rc == 0 and not failed, failed
    for name, (runbook, variant) in DRILLS.items():
        result = by_name[name]
        assert (result["runbook"], result["variant"]) == (runbook, variant)
        assert result["passed"], (name, result["failed_check"], result["safe_failures"])
        if variant:
            assert result["outcome"] in ("recovered", "failed-safe"), result
        else:
            assert result["outcome"] == "recovered" and result["failed_check"] is None
            assert result["recover_s"] is not None and result["recover_s"] > 0
        if not ALERT_ARGS:
            assert result["detect_s"] is not None and result["detect_s"] >= 0, result
            assert result["alert"].get("fault"), result
        assert result["respond_target_s"] < result["resolve_target_s"]
        assert result["breached"] is False
        assert {"prepare", "converge", "verify", "cleanup"} <= set(result["steps"]), result
    print(
        "drill durations:",
        {n: (round(r["duration_s"]), r["steps"]) for n, r in by_name.items()},
    )
    recorded = history(drill_env)
    assert sorted(r[0] for r in recorded) == sorted(DRILLS)
    assert all(r[1] for r in recorded)


@pytest.mark.timeout(900)  # one molecule scenario
def test_a_broken_runbook_copy_fails_its_drill_by_name_and_is_recorded(
    drill_env: dict[str, str], tmp_path: Path
) -> None:
    """A copy of the project whose processor_failover writes the new primary as the backup too
    (the way back to the old processor is lost). Payments are healthy, so the run's own
    verification passes and a second run changes nothing: only the drill's checks from the
    outside catch it."""
    copy = tmp_path / "project"
    copy.mkdir()
    for part in PROJECT_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, copy / part)
    shutil.copytree(REPO / "molecule", copy / "molecule")
    work = copy / "roles" / "processor_failover" / "tasks" / "work.yml"
    text = work.read_text()
    right = 'data: "{{ processor_failover_decision.new_data }}"'
    wrong = (
        'data: "{{ processor_failover_decision.new_data | combine({processor_failover_backup_key:'
        ' processor_failover_decision.backup}) }}"'
    )
    assert text.count(right) == 1
    work.write_text(text.replace(right, wrong))
    env = dict(drill_env, IRDRIVE_HOME=str(copy))

    rc, results, stderr = drill(env, "payments-failover")
    assert rc == 1, (results, stderr)
    (result,) = results
    assert not result["passed"] and result["outcome"] == "failed"
    assert result["failed_check"] == FAILED_CHECK
    assert result["steps"].get("idempotence") is not None  # converge and idempotence passed
    assert result["commit"] is None  # the copy is no git checkout
    (recorded,) = history(env)
    assert recorded[:4] == ["payments-failover", False, FAILED_CHECK, "failed"]
