"""The chaos drills (payments-failover and platform-outage with the lab's api-flaky fault on:
recovered through bounded retries, or failed with the platform left safe) and a deliberately
broken copy of a runbook whose drill must fail by the check's name, recorded in the history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _drills import (
    DRILLS,
    FAILED_CHECK,
    PROJECT_PARTS,
    REPO,
    check_drills,
    drill,
    drill_env_for,
    history,
)

pytestmark = pytest.mark.lab

CHAOS_DRILLS = [name for name, (_, variant) in DRILLS.items() if variant]


@pytest.fixture
def drill_env(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return drill_env_for(lab_env, tmp_path)


@pytest.mark.timeout(1200)  # two molecule scenarios
def test_chaos_drills_recover_or_fail_safe_and_are_recorded(drill_env: dict[str, str]) -> None:
    check_drills(drill_env, CHAOS_DRILLS)


@pytest.mark.chaos_drill  # make drills; make test leaves it out (CI's 25-minute budget)
@pytest.mark.timeout(900)  # one molecule scenario
def test_a_chaos_drill_whose_retries_run_out_fails_safe_and_says_so(
    drill_env: dict[str, str],
) -> None:
    """The Kubernetes API answers every request with a 500 during the converge: the runbook's
    bounded retries run out and it fails; the drill finds the platform left safe (no kill switch
    off, no lock held, the payments configuration whole) and says failed-safe, a pass for a
    chaos variant, recorded as such."""
    rc, results, stderr = drill(
        drill_env, "payments-failover-flaky", "--chaos", "count=400", "--chaos", 'modes=["500"]'
    )
    (result,) = results
    assert (rc, result["outcome"], result["passed"]) == (0, "failed-safe", True), (result, stderr)
    assert result["failed_check"].startswith("converge: "), result
    assert result["safe_failures"] == [] and result["recover_s"] is None
    assert "verify" not in result["steps"] and "cleanup" in result["steps"]
    (recorded,) = history(drill_env)
    assert recorded[:4] == ["payments-failover-flaky", True, result["failed_check"], "failed-safe"]


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
