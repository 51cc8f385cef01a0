"""The kill-switch runbook and its short form `irdrive kill-switch`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _runbook import changed_tasks, irdrive, writes_since
from kubernetes import client, config

from irdrive_lab.control.journal import Journal

pytestmark = pytest.mark.lab


def switches(lab: dict[str, Any]) -> dict[str, str]:
    api = client.CoreV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))
    return api.read_namespaced_config_map("kill-switches", "platform").data


def short(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    res = irdrive(env, "kill-switch", *args, "--json")
    return res.returncode, json.loads(res.stdout) if res.stdout.strip() else {}


def test_disable_all_verified_idempotent_and_audited(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    rc, report = short(lab_env, "disable", "all", "-r", "Security incident", "-f")
    assert rc == 0, report
    assert any(v["task"].startswith("Verify") for v in report["verified"])
    data = switches(clean_lab)
    names = [k for k in data if k != "history"]
    assert names and all(data[k] == "disabled" for k in names)
    history = json.loads(data["history"])
    assert {h["switch"] for h in history} == set(names)
    assert all(h["reason"] == "Security incident" and h["actor"] and h["at"] for h in history)
    [change] = report["changes"]
    assert change["before"] == dict.fromkeys(names, "enabled")

    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, again = short(lab_env, "disable", "all", "-r", "Security incident", "-f")
    assert rc == 0 and changed_tasks(again) == []
    assert writes_since(clean_lab, mark) == []


def test_check_mode_writes_nothing(clean_lab: dict[str, Any], lab_env: dict[str, str]) -> None:
    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, report = short(lab_env, "disable", "payments", "-r", "drill", "--check")
    assert rc == 0, report
    assert changed_tasks(report) == ["Set the kill switches"]
    assert writes_since(clean_lab, mark) == []
    assert switches(clean_lab)["payments"] == "enabled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kill-switch", "disable", "payments"], "needs a reason"),
        (["kill-switch", "explode", "payments"], "Invalid value"),
        (
            [
                "run",
                "kill-switch",
                "-e",
                "kill_switch_names=payments",
                "-e",
                "kill_switch_state=off",
            ],
            "kill_switch_state",
        ),
    ],
)
def test_bad_input_exit_2_no_writes(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    res = irdrive(lab_env, *args, "--yes") if args[0] == "run" else irdrive(lab_env, *args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
    assert writes_since(lab, mark) == []


def test_unknown_switch_fails_clearly_without_writes(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, report = short(lab_env, "disable", "teleport", "-r", "x", "-f")
    assert rc == 2  # a name that does not exist is bad input
    [failed] = [t for t in report["tasks"] if t["status"] == "failed"]
    assert "teleport" in failed["msg"] and "payments" in failed["msg"]
    assert writes_since(clean_lab, mark) == []
