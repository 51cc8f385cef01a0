"""Local approvals: the rulebook's request playbook writes a request, `irdrive approvals` decides.

The request is written by the real playbook (rulebooks/playbooks/request-approval.yml, through
ansible-playbook with the event as ansible-rulebook passes it), then listed, shown, approved and
rejected through the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from irdrive import approvals as store
from irdrive import params
from irdrive.catalog import Catalog
from irdrive.cli import cli
from irdrive.paths import Project

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "rulebooks" / "playbooks" / "request-approval.yml"


def _event(fingerprint: str, starts: str = "2026-12-02T08:00:00Z") -> dict[str, Any]:
    return {
        "alert": {
            "status": "firing",
            "labels": {
                "alertname": "IntrusionSuspiciousSources",
                "runbook": "security-breach",
                "severity": "P0",
            },
            "annotations": {"summary": "Addresses the WAF does not block fail logins"},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint,
        },
        "target": "IntrusionSuspiciousSources",
    }


def _request(
    folder: Path, tmp: Path, event: dict[str, Any], approval_vars: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the request playbook as the rulebook does; return the play's stats."""
    extra = {
        "approvals_dir": str(folder),
        "approval_runbook": "security-breach",
        "approval_extra_vars": approval_vars
        or {"security_breach_incident_id": f"alert-{event['alert']['fingerprint']}"},
        "ansible_eda": {"ruleset": "rs", "rule": "security-breach waits", "event": event},
    }
    vars_file = tmp / "vars.json"
    vars_file.write_text(json.dumps(extra))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
    }
    bindir = Path(sys.executable).parent
    res = subprocess.run(
        # localhost alone: the playbook needs nothing else (the lab inventory costs seconds here)
        [str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(PLAYBOOK)]
        + ["-e", f"@{vars_file}", "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    stats: dict[str, Any] = json.loads(res.stdout)["stats"]["localhost"]
    return stats


@pytest.fixture
def project_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the catalog (required parameters) comes from the project


def test_request_approve_reject_through_the_playbook_and_cli(
    tmp_path: Path, project_env: None
) -> None:
    folder = tmp_path / "approvals"
    assert _request(folder, tmp_path, _event("fp1"))["changed"] == 2
    (path,) = folder.glob("*.json")
    data = json.loads(path.read_text())
    assert data["status"] == "pending" and data["runbook"] == "security-breach"
    assert data["id"] == path.stem and data["id"].startswith("security-breach-")
    assert data["extra_vars"] == {"security_breach_incident_id": "alert-fp1"}
    assert data["alert"]["labels"]["severity"] == "P0"
    assert data["reason"].startswith("IntrusionSuspiciousSources (P0): Addresses")
    # A second request, as the same alert firing again later would open (another start).
    second = folder / "security-breach-000000000002.json"
    second.write_text(
        json.dumps({**data, "id": second.stem, "requested_at": "2026-12-03T00:00:00Z"})
    )
    first = path

    runner = CliRunner()
    args = ["approvals", "--dir", str(folder)]
    listed = runner.invoke(cli, [*args, "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {r["id"] for r in json.loads(listed.output)} == {first.stem, second.stem}

    shown = runner.invoke(cli, [*args, "show", data["id"]])
    assert shown.exit_code == 0, shown.output
    assert "irdrive run security-breach -e security_breach_incident_id=alert-fp1" in shown.output

    # security_breach_ips is required and no alert gives it: no approval without it.
    refused = runner.invoke(cli, [*args, "approve", data["id"], "--by", "ana"])
    assert refused.exit_code == 2
    assert "needs security_breach_ips" in refused.output
    assert json.loads(path.read_text())["status"] == "pending"

    approved = runner.invoke(
        cli, [*args, "approve", data["id"], "--by", "ana", "-e", "ips=203.0.113.7,198.51.100.0/24"]
    )
    assert approved.exit_code == 0, approved.output
    assert f"Approved {data['id']} (was pending)" in approved.output
    assert (
        "irdrive run security-breach -e ips=203.0.113.7,198.51.100.0/24 "
        "-e security_breach_incident_id=alert-fp1" in approved.output
    )
    decided = json.loads(path.read_text())
    assert decided["status"] == "approved" and decided["decided_by"] == "ana"
    assert decided["prior_status"] == "pending"
    assert decided["alert"] == data["alert"]  # the rest of the request is kept

    # A decision is final; the playbook does not reopen an approved request either.
    again = runner.invoke(cli, [*args, "reject", data["id"]])
    assert again.exit_code == 2 and "already approved (by ana at" in again.output
    assert _request(folder, tmp_path, _event("fp1"))["changed"] == 0
    assert json.loads(path.read_text())["status"] == "approved"

    rejected = runner.invoke(cli, [*args, "reject", second.stem, "--note", "a load test"])
    assert rejected.exit_code == 0, rejected.output
    pending = runner.invoke(cli, [*args, "list"])
    assert "No pending approval requests" in pending.output
    every = runner.invoke(cli, [*args, "list", "--all", "--json"])
    assert sorted(r["status"] for r in json.loads(every.output)) == ["approved", "rejected"]


def _rulebook_vars(event: dict[str, Any]) -> dict[str, Any]:
    """approval_extra_vars of the local rulebook's security-breach rule, rendered by
    ansible-rulebook's own substitution for ``event``."""
    util = pytest.importorskip("ansible_rulebook.util")
    rules = yaml.safe_load((REPO / "rulebooks" / "alertmanager.yml").read_text())[0]["rules"]
    (rule,) = [r for r in rules if "security-breach" in r["name"]]
    args = rule["action"]["run_playbook"]["extra_vars"]["approval_extra_vars"]
    rendered: dict[str, Any] = util.substitute_variables(args, {"event": event})
    return rendered


def test_the_alerts_addresses_ride_with_the_request(tmp_path: Path, project_env: None) -> None:
    folder = tmp_path / "approvals"
    event = _event("fp2")
    event["alert"]["annotations"]["addresses"] = "198.51.100.7\n2001:db8::6"
    assert _request(folder, tmp_path, event, _rulebook_vars(event))["changed"] == 2
    (path,) = folder.glob("*.json")
    data = json.loads(path.read_text())
    assert data["extra_vars"] == {
        "security_breach_incident_id": "alert-fp2",
        "security_breach_ips": "198.51.100.7\n2001:db8::6",
        "security_breach_reason": (
            "IntrusionSuspiciousSources: Addresses the WAF does not block fail logins"
        ),
    }
    runner = CliRunner()
    args = ["approvals", "--dir", str(folder)]
    approved = runner.invoke(cli, [*args, "approve", data["id"], "--by", "ana"])
    assert approved.exit_code == 0, approved.output
    request = store.get(folder, data["id"])
    # What `irdrive run` gets: the text, one address a line, is the list the role declares.
    given = params.parse_extra_vars(store.run_args(request)[3::2])
    runbook = Catalog(Project(REPO)).get("security-breach")
    assert params.validate(runbook, given)["security_breach_ips"] == [
        "198.51.100.7",
        "2001:db8::6",
    ]

    # An alert without the annotation: the request leaves the addresses to the approver.
    bare = _event("fp3")
    assert _request(folder, tmp_path, bare, _rulebook_vars(bare))["changed"] == 1
    (third,) = [r for r in store.requests(folder) if r.id != data["id"]]
    assert "security_breach_ips" not in third.extra_vars
    refused = runner.invoke(cli, [*args, "approve", third.id])
    assert refused.exit_code == 2 and "needs security_breach_ips" in refused.output


def test_unknown_and_broken_requests_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["approvals", "--dir", str(tmp_path)]
    missing = runner.invoke(cli, [*args, "show", "nope"])
    assert missing.exit_code == 2
    assert "no approval request 'nope'" in missing.output
    (tmp_path / "bad.json").write_text("{")
    broken = runner.invoke(cli, [*args, "list"])
    assert broken.exit_code == 2 and "bad.json is unreadable" in broken.output
    (tmp_path / "bad.json").write_text(json.dumps({"status": "maybe", "runbook": "x"}))
    assert "needs a runbook and a status" in runner.invoke(cli, [*args, "list"]).output


def test_approve_run_runs_the_runbook_with_the_request_vars(
    tmp_path: Path, project_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "r1.json").write_text(
        json.dumps(
            {
                "id": "r1",
                "runbook": "security-breach",
                "status": "pending",
                "extra_vars": {
                    "security_breach_incident_id": "alert-x",
                    "security_breach_ips": ["203.0.113.7"],
                },
            }
        )
    )
    seen: list[list[str]] = []
    monkeypatch.setattr("irdrive.cli.main", lambda argv: seen.append(argv))
    res = CliRunner().invoke(cli, ["approvals", "--dir", str(tmp_path), "approve", "r1", "--run"])
    assert res.exit_code == 0, res.output
    assert seen == [
        [
            "run",
            "security-breach",
            "-e",
            "security_breach_incident_id=alert-x",
            "-e",
            'security_breach_ips=["203.0.113.7"]',
            "--yes",
        ]
    ]
    assert store.get(tmp_path, "r1").status == store.APPROVED


def test_default_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.ENV_APPROVALS_DIR, str(tmp_path / "a"))
    assert store.default_dir() == tmp_path / "a"
    monkeypatch.delenv(store.ENV_APPROVALS_DIR)
    monkeypatch.setenv("IRDRIVE_STATE_DIR", str(tmp_path / "state"))
    assert store.default_dir() == tmp_path / "state" / "approvals"


def test_a_secret_given_at_approval_is_refused_and_nothing_is_recorded(
    tmp_path: Path, project_env: None
) -> None:
    """An approval keeps its -e values in the request file and prints them in the run command,
    so a secret parameter (no_log) given there is refused in one line, before the decision."""
    request = {"id": "r2", "runbook": "rotate-secrets", "status": "pending", "extra_vars": {}}
    (tmp_path / "r2.json").write_text(json.dumps(request))
    before = (tmp_path / "r2.json").read_text()
    res = CliRunner().invoke(
        cli,
        ["approvals", "--dir", str(tmp_path), "approve", "r2"]
        + ["-e", "rotation_id=INC-9", "-e", "db_admin_password=hunter2-canary"],
    )
    assert res.exit_code == 2, res.output
    assert "rotate_secrets_db_admin_password is secret" in res.output
    assert "hunter2-canary" not in res.output
    assert (tmp_path / "r2.json").read_text() == before
    assert store.get(tmp_path, "r2").status == "pending"
