"""A role's own input check is bad input like an argument-spec failure: exit 2, zero writes.

Each of these was an ``ansible.builtin.assert`` (no error kind, exit 1); they now go through
``irdrive.ops.preflight`` (error_kind invalid_input), before the role's first write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _runbook import changed_tasks, failures, run_json, writes_since

from irdrive_lab.control.journal import Journal

pytestmark = pytest.mark.lab

CASES = [
    (
        ["kill-switch", "-e", "names=all", "-e", "state=disabled", "-e", "reason="],
        "Refuse to disable without a reason",
        "kill_switch_reason is required",
    ),
    (["cache", "-e", "warm_keys=0"], "Check the cache runbook's input", "warm_keys (0)"),
    (["db", "-e", "ready_timeout=0"], "Check the db runbook's input", "ready_timeout (0)"),
    (
        ["preserve-evidence", "-e", "incident_id=a/b"],
        "Check the evidence request",
        '(got "a/b")',
    ),
    (
        ["cdn-failover", "-e", 'origin_replicas={"streaming-service": -1}'],
        "Check the input",
        '{"streaming-service": -1}',
    ),
    (
        ["streaming-outage", "-e", "tmp_min_age=1s"],
        "Check the storage input",
        'storage_tmp_min_age must be an age of at least one minute such as 30m, 1h or 2d (got "1s")',
    ),
    (["diagnose", "-e", "usage_threshold=0"], "Check the diagnose runbook's input", "threshold 0"),
]


@pytest.mark.parametrize(("args", "task", "message"), CASES, ids=[c[0][0] for c in CASES])
def test_role_check_is_bad_input_exit_2_with_zero_writes(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], task: str, message: str
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(lab_env, *args)
    assert rc == 2, failures(report)
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert [t["task"] for t in failed] == [task], failures(report)
    # The refusal's kind is in the task's own result (AWX and ansible-playbook see it too).
    assert failed[0]["action"] == "irdrive.ops.preflight", failed[0]
    assert failed[0]["error_kind"] == "invalid_input", failed[0]
    assert message in failed[0]["msg"]
    assert changed_tasks(report) == []
    assert writes_since(lab, mark) == []
