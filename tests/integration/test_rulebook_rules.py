"""The rules of rulebooks/alertmanager.yml in ansible-rulebook's own engine, on chosen alerts.

The rulebook's conditions and throttles run as they are; only its source (a generic source
replaying alert events shaped as irdrive.ops.alertmanager makes them) and its actions (a debug
line naming what the rule would run) are swapped, so no lab and no playbook is needed. One
ansible-rulebook process (a JVM: seconds).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import requires

REPO = Path(__file__).resolve().parents[2]
RULEBOOK_BIN = Path(sys.executable).parent / "ansible-rulebook"
pytestmark = [
    pytest.mark.eda,
    requires(RULEBOOK_BIN.exists(), "ansible-rulebook (pip install -e '.[eda]')"),
    requires(shutil.which("java"), "Java 17 (Debian's openjdk-17-jre-headless)"),
]


def _event(
    runbook: str | None, severity: str | None, target: str, status: str = "firing"
) -> dict[str, Any]:
    labels = {"alertname": f"Alert-{runbook}-{severity}"}
    if severity:
        labels["severity"] = severity
    if runbook:
        labels["runbook"] = runbook
    return {
        "alert": {
            "status": status,
            "labels": labels,
            "annotations": {"summary": "s"},
            "startsAt": "2026-12-02T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{runbook}-{target}",
        },
        "group": {"status": status},
        "target": target,
    }


# (event, what runs: "<kind> <runbook> <target>" for a runbook, "incident <status> <target>"
# for the incident record). Every alert with a severity is recorded, firing or resolved, and
# never throttled (each repeat counts on its incident); runbooks are throttled.
CASES = [
    (_event("payments-failover", "P1", "a"), ["auto payments-failover a", "incident firing a"]),
    # a storm: the runbook is throttled per name and target, the incident counts the repeat
    (_event("payments-failover", "P1", "a"), ["incident firing a"]),
    (_event("payments-failover", "P1", "b"), ["auto payments-failover b", "incident firing b"]),
    # resolved: no runbook; its incident notes the resolution
    (_event("payments-failover", "P1", "c", status="resolved"), ["incident resolved c"]),
    # not the severity of its procedure: no runbook, still an incident
    (_event("payments-failover", "P3", "d"), ["incident firing d"]),
    (_event("streaming-outage", "P1", "e"), ["auto streaming-outage e", "incident firing e"]),
    (_event("security-breach", "P0", "f"), ["approval security-breach f", "incident firing f"]),
    (_event("security-breach", "P0", "g", status="resolved"), ["incident resolved g"]),
    (_event("something-else", "P2", "h"), ["auto diagnose h", "incident firing h"]),  # diagnose
    (_event(None, "P1", "i"), ["auto diagnose i", "incident firing i"]),  # no runbook label
    (_event(None, "P1", "i", status="resolved"), ["incident resolved i"]),
    (_event(None, None, "j"), ["auto diagnose j"]),  # no severity: diagnosed, no incident
    (_event(None, None, "k", status="resolved"), []),
]


def _probe_rulebook(tmp: Path) -> Path:
    data = yaml.safe_load((REPO / "rulebooks" / "alertmanager.yml").read_text())
    ruleset = copy.deepcopy(data[0])
    ruleset["sources"] = [
        {
            "name": "replay",
            "eda.builtin.generic": {
                "payload": [event for event, _ in CASES],
                "shutdown_after": 1,
            },
        }
    ]
    for rule in ruleset["rules"]:
        args = rule["action"]["run_playbook"]
        if args["name"] == "rulebooks/playbooks/request-approval.yml":
            ran = f"approval {args['extra_vars']['approval_runbook']}"
        elif args["name"] == "rulebooks/playbooks/open-incident.yml":
            ran = "incident {{ event.alert.status }}"
        else:
            ran = "auto " + args["name"].removeprefix("playbooks/").removesuffix(".yml")
        rule["action"] = {"debug": {"msg": f"RAN {ran} {{{{ event.target }}}}"}}
    path = tmp / "probe.yml"
    path.write_text(yaml.safe_dump([ruleset], sort_keys=False))
    return path


def test_the_rules_run_what_they_should_and_nothing_else(tmp_path: Path) -> None:
    probe = _probe_rulebook(tmp_path)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    res = subprocess.run(
        [str(RULEBOOK_BIN), "-r", str(probe)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ran = re.findall(r"RAN ([a-z]+ [a-z-]+ [a-z])", res.stdout)
    expected = [what for _, whats in CASES for what in whats]
    assert sorted(ran) == sorted(expected), res.stdout[-3000:]
