"""What the drill test files share: the scenarios, `irdrive drill --json` and the history it
recorded. The drills are split in two files (the incident runbooks; the chaos variants and a
broken runbook) so that the two test workers run them side by side."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from _runbook import IRDRIVE

REPO = Path(__file__).resolve().parents[2]
DRILLS = {
    # scenario: (runbook, variant)
    "payments-failover": ("payments-failover", ""),
    "platform-outage": ("platform-outage", ""),
    "streaming-outage": ("streaming-outage", ""),
    "performance-degradation": ("performance-degradation", ""),
    # last: the secrets it rotates stay in the lab for the canary sweep of the drills' files
    "security-breach": ("security-breach", ""),
    "payments-failover-flaky": ("payments-failover", "api-flaky"),
    "platform-outage-flaky": ("platform-outage", "api-flaky"),
}
# What the project copy needs to run a drill: the Ansible content and the scenarios.
# The broken copy names the new primary as the backup too.
FAILED_CHECK = "verify: Check: payments run on the backup processor"
PROJECT_PARTS = ("ansible.cfg", "playbooks", "roles", "collections", "inventories", "configs")


def drill(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    res = subprocess.run(
        [IRDRIVE, "drill", *args, "--json"],
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


def check_drills(env: dict[str, str], names: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Run the drills ``names`` through `irdrive drill`: each passed, was timed against its
    severity, left its event log beside molecule's output (with no CRITICAL "glob failed" line:
    the default scenario answers molecule's lookup), and is in the history. Returns the results and the
    command's stderr."""
    rc, results, stderr = drill(env, *names)
    by_name = {r["scenario"]: r for r in results}
    assert set(by_name) == set(names), stderr
    failed = {n: (r["outcome"], r["failed_check"]) for n, r in by_name.items() if not r["passed"]}
    assert rc == 0 and not failed, failed
    for name in names:
        runbook, variant = DRILLS[name]
        result = by_name[name]
        assert (result["runbook"], result["variant"]) == (runbook, variant)
        assert result["passed"], (name, result["failed_check"], result["safe_failures"])
        if variant:
            assert result["outcome"] in ("recovered", "failed-safe"), result
        else:
            assert result["outcome"] == "recovered" and result["failed_check"] is None
            assert result["recover_s"] is not None and result["recover_s"] > 0
        assert result["detect_s"] is not None and result["detect_s"] >= 0, result
        assert result["alert"].get("fault"), result
        assert result["respond_target_s"] < result["resolve_target_s"]
        assert result["breached"] is False
        assert {"prepare", "converge", "verify", "cleanup"} <= set(result["steps"]), result
        output = Path(result["output"])
        assert output.with_suffix(".events.jsonl").stat().st_size > 0
        assert "glob failed" not in output.read_text(), f"{name}: molecule's CRITICAL line"
    print(
        "drill durations:",
        {n: (round(r["duration_s"]), r["steps"]) for n, r in by_name.items()},
    )
    recorded = history(env)
    assert sorted(r[0] for r in recorded) == sorted(names)
    assert all(r[1] for r in recorded)
    return results, stderr


def drill_env_for(lab_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return dict(lab_env, IRDRIVE_STATE_DIR=str(tmp_path / "state"))
