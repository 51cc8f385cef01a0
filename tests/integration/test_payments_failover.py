"""payments-failover against the lab: recovers verified, idempotent, check-safe, refuses, restores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _runbook import (
    ANSIBLE_PLAYBOOK,
    IRDRIVE,
    changed_tasks,
    http_json,
    irdrive,
    run_json,
    writes_since,
)
from helpers import wait_until
from kubernetes import client, config

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab


@pytest.fixture
def core(lab: dict[str, Any]) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


@pytest.fixture
def apps(lab: dict[str, Any]) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


@pytest.fixture
def ccbill_down(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, clean_lab, "processor-down", {"processor": "ccbill"})
    return clean_lab


def _payment_config(core: client.CoreV1Api) -> dict[str, str]:
    return core.read_namespaced_config_map("payment-config", "platform").data


def _switches(core: client.CoreV1Api) -> dict[str, str]:
    return core.read_namespaced_config_map("kill-switches", "platform").data


def test_failover_recovers_verified_then_second_run_changes_nothing(
    ccbill_down: dict[str, Any], lab_env: dict[str, str], core: client.CoreV1Api
) -> None:
    platform = ccbill_down["endpoints"]["platform"]
    assert http_json(f"{platform}/payments/health")[0] == 503

    rc, report = run_json(lab_env, "payments-failover")
    assert rc == 0, report
    assert report["status"] == "successful"
    assert any(v["task"].startswith("Verify payments") for v in report["verified"])
    code, health = http_json(f"{platform}/payments/health")
    assert (code, health["processor"], health["status"]) == (200, "segpay", "ok")
    assert _payment_config(core)["PRIMARY_PROCESSOR"] == "segpay"
    assert _payment_config(core)["BACKUP_PROCESSOR"] == "ccbill"
    switches = _switches(core)
    assert switches["payments"] == "enabled"
    history = json.loads(switches["history"])
    assert [(h["switch"], h["to"]) for h in history[-2:]] == [
        ("payments", "disabled"),
        ("payments", "enabled"),
    ]
    assert history[-2]["reason"] == "Primary processor down"
    # Every change reports the prior state it replaced.
    befores = {c["task"]: c.get("before") for c in report["changes"]}
    assert befores["Disable payments with the kill switch"] == {"payments": "enabled"}
    assert befores["Restart the payment service and wait until it is available"]["revision"]
    recorded = {c["target"]: c for c in report["recorded"]["irdrive_changes"]}
    assert recorded["configmap/platform/payment-config"]["before"]["PRIMARY_PROCESSOR"] == "ccbill"
    assert recorded["configmap/platform/payment-config"]["after"]["PRIMARY_PROCESSOR"] == "segpay"

    mark = Journal(Path(ccbill_down["journal"])).mark()
    rc, again = run_json(lab_env, "payments-failover")
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert all(h.get("changed", 0) == 0 for h in again["hosts"].values())
    assert writes_since(ccbill_down, mark) == []


def test_check_mode_writes_nothing(
    ccbill_down: dict[str, Any], lab_env: dict[str, str], core: client.CoreV1Api
) -> None:
    before_cfg, before_sw = _payment_config(core), _switches(core)
    mark = Journal(Path(ccbill_down["journal"])).mark()
    rc, report = run_json(lab_env, "payments-failover", "--check", "--diff")
    assert rc == 0, report
    assert "Disable payments with the kill switch" in changed_tasks(report)
    assert "Make the backup processor the primary" in changed_tasks(report)
    assert writes_since(ccbill_down, mark) == []
    assert _payment_config(core) == before_cfg and _switches(core) == before_sw


def test_backup_down_too_is_refused_and_changes_nothing(
    ccbill_down: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, ccbill_down, "processor-down", {"processor": "segpay"})
    mark = Journal(Path(ccbill_down["journal"])).mark()
    rc, report = run_json(lab_env, "payments-failover")
    assert rc == 1
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1 and "both processors are down" in failed[0]["msg"]
    # The backup's own API was asked with its key, and answered that it is down (no key problem).
    (check,) = _api_checks(report)
    assert check["status"] == "ok"
    assert changed_tasks(report) == []
    assert writes_since(ccbill_down, mark) == []


def _api_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        t for t in report["tasks"] if t["task"] == "Check the backup processor's API with its key"
    ]


def test_the_right_key_from_extra_vars_fails_over_and_stays_out_of_the_report(
    ccbill_down: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    """The keys given as the runbook's secret parameter (-e @FILE); the backup's API is asked
    with the backup's key, and no key reaches the report, stdout or the run's folder."""
    keys = ccbill_down["platform"]["processor_api_keys"]
    extra = tmp_path / "keys.json"
    extra.write_text(json.dumps({"api_keys": keys}))
    state = tmp_path / "state"
    env = dict(lab_env, IRDRIVE_STATE_DIR=str(state))
    res = irdrive(env, "run", "payments-failover", "--yes", "--json", "-e", f"@{extra}", "-vvv")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads(res.stdout)
    (check,) = _api_checks(report)
    assert check["status"] == "ok"
    code, health = http_json(f"{ccbill_down['endpoints']['platform']}/payments/health")
    assert (code, health["processor"]) == (200, "segpay")
    left = [p.read_bytes() for p in state.rglob("*") if p.is_file()]
    for key in keys.values():
        assert key not in res.stdout and key not in res.stderr
        assert not any(key.encode() in data for data in left)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"ccbill": "CANARY-ccbill-key-0c4a", "segpay": "CANARY-wrong-segpay-key-5b1e"},
            "the backup processor segpay refused its API key (HTTP 401 from ",
        ),
        ({"ccbill": "CANARY-ccbill-only-key-77d2"}, "no API key for the backup processor segpay"),
    ],
)
def test_a_wrong_or_missing_backup_key_is_bad_input_and_changes_nothing(
    ccbill_down: dict[str, Any],
    lab_env: dict[str, str],
    core: client.CoreV1Api,
    tmp_path: Path,
    keys: dict[str, str],
    message: str,
) -> None:
    extra = tmp_path / "keys.json"
    extra.write_text(json.dumps({"api_keys": keys}))
    before_cfg, before_sw = _payment_config(core), _switches(core)
    mark = Journal(Path(ccbill_down["journal"])).mark()
    for more in ([], ["--check"]):
        res = irdrive(
            lab_env, "run", "payments-failover", "--yes", "--json", "-e", f"@{extra}", *more
        )
        assert res.returncode == 2, res.stdout[-3000:] + res.stderr[-3000:]
        report = json.loads(res.stdout)
        failed = [t for t in report["tasks"] if t["status"] == "failed"]
        assert len(failed) == 1 and failed[0]["msg"].startswith(message), failed
        assert failed[0]["task"] == "Check the inputs and the targets before any change"
        assert changed_tasks(report) == []
        for key in keys.values():
            assert key not in res.stdout and key not in res.stderr
    assert writes_since(ccbill_down, mark) == []
    assert _payment_config(core) == before_cfg and _switches(core) == before_sw


def test_failure_after_disabling_restores_switch_and_config(
    ccbill_down: dict[str, Any],
    lab_env: dict[str, str],
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
) -> None:
    # A paused deployment never rolls out the restart: the wait fails after payments were
    # disabled and payment-config was changed, and the rescue must put both back.
    apps.patch_namespaced_deployment("payment-service", "platform", {"spec": {"paused": True}})
    before_cfg = _payment_config(core)
    rc, report = run_json(lab_env, "payments-failover", "-e", "rollout_timeout=3")
    assert rc == 1, report
    assert _payment_config(core) == before_cfg
    assert _switches(core)["payments"] == "enabled"
    final = [t for t in report["tasks"] if t["status"] == "failed"][-1]
    assert "restored to" in final["msg"] and "not complete after 3s" in final["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "payment-failover"], "unknown runbook"),
        (["run", "payments-failover", "-e", "colour=blue"], "unknown parameter"),
        (["run", "payments-failover", "-e", "rollout_timeout=soon"], "rollout_timeout"),
    ],
)
def test_bad_parameters_exit_2_and_write_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    res = irdrive(lab_env, *args, "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
    assert writes_since(lab, mark) == []


def test_playbook_runs_without_the_driver(
    ccbill_down: dict[str, Any], lab_env: dict[str, str], repo_root: Path, tmp_path: Path
) -> None:
    """The way AWX runs it: a copy of the project, plain ansible-playbook, no irdrive."""
    project = tmp_path / "project"
    project.mkdir()
    for part in ("ansible.cfg", "playbooks", "roles", "collections", "inventories"):
        src = repo_root / part
        if src.is_dir():
            shutil.copytree(src, project / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, project / part)
    # Anything that imports the driver fails loudly.
    blocker = tmp_path / "blocker" / "irdrive"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('the driver must not be needed')\n")
    env = dict(lab_env, PYTHONPATH=str(blocker.parent), ANSIBLE_CONFIG=str(project / "ansible.cfg"))
    env.pop("IRDRIVE_HOME", None)
    # AWX's credential injects irdrive_processor_api_keys as an extra var: a wrong key given so
    # reaches the role, which refuses before any change (exit 2, the key not shown).
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"irdrive_processor_api_keys": {"segpay": "CANARY-awx-9c3f"}}))
    res = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "inventories/lab", "playbooks/payments-failover.yml"]
        + ["-e", f"@{wrong}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, res.stdout[-3000:] + res.stderr[-3000:]
    assert "the backup processor segpay refused its API key (HTTP 401" in res.stdout
    assert "CANARY-awx-9c3f" not in res.stdout + res.stderr
    res = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "inventories/lab", "playbooks/payments-failover.yml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "failed=0" in res.stdout
    code, health = http_json(f"{ccbill_down['endpoints']['platform']}/payments/health")
    assert (code, health["processor"]) == (200, "segpay")
    assert not (project / "driver").exists() and os.environ.get("IRDRIVE_HOME") is None


def test_unreachable_cluster_exits_3(tmp_path: Path, lab: dict[str, Any]) -> None:
    """A cluster that does not answer is exit 3 with one readable failure, nothing changed."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
        f"  vars:\n    irdrive_kubeconfig: {kubeconfig}\n"
        "    irdrive_platform_url: http://127.0.0.1:9\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRDRIVE_LAB")}
    rc, report = run_json(env, "payments-failover", "-i", str(inventory))
    assert rc == 3, report
    assert changed_tasks(report) == []


def test_negative_rollout_timeout_refused_before_payments_are_disabled(
    ccbill_down: dict[str, Any], lab_env: dict[str, str], core: client.CoreV1Api
) -> None:
    """Issue 9 Why #2: the range is checked in the preflight, before the kill switch is touched."""
    before_sw = _switches(core)
    mark = Journal(Path(ccbill_down["journal"])).mark()
    for extra in ([], ["--check"]):
        rc, report = run_json(lab_env, "payments-failover", "-e", "rollout_timeout=-5", *extra)
        assert rc == 2, report
        assert changed_tasks(report) == []
        failed = [t for t in report["tasks"] if t["status"] == "failed"]
        assert [t["msg"] for t in failed] == [
            "rollout_timeout must be a number from 1 to 3600 (got -5)"
        ]
    assert writes_since(ccbill_down, mark) == []
    assert _switches(core) == before_sw


def test_missing_targets_are_named_and_refused_before_any_write(
    ccbill_down: dict[str, Any], lab_env: dict[str, str]
) -> None:
    mark = Journal(Path(ccbill_down["journal"])).mark()
    rc, report = run_json(
        lab_env, "payments-failover", "-e", "configmap=nope", "-e", "deployment=ghost"
    )
    assert rc == 2, report
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["msg"] == (
        "ConfigMap platform/nope does not exist; Deployment platform/ghost does not exist"
    )
    assert writes_since(ccbill_down, mark) == []


def test_flaky_api_rescue_says_what_it_restored_and_what_is_off(
    ccbill_down: dict[str, Any], lab_env: dict[str, str], core: client.CoreV1Api
) -> None:
    """Issue 9 Why #8: the rescue itself used to fail on an undefined registered variable.

    The API turns flaky once the run holds the target's lock (its Lease appears), so the
    failure lands in the failover's block and its rescue runs (a run that cannot take the lock
    changes nothing and has nothing to restore)."""
    coordination = client.CoordinationV1Api(core.api_client)

    def locked() -> bool:
        leases = coordination.list_namespaced_lease("platform").items
        return any(lease.spec and lease.spec.holder_identity for lease in leases)

    proc = subprocess.Popen(
        [IRDRIVE, "run", "payments-failover", "--yes", "--json"],
        env=lab_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(locked, timeout=120, what="the run's lock on the platform namespace")
        res = irdrive(lab_env, "lab", "fault", "api-flaky", "-p", "count=200")
        assert res.returncode == 0, res.stderr
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)
        irdrive(lab_env, "lab", "fault", "api-flaky", "--clear")
    rc, report = proc.returncode, json.loads(out)
    assert rc == 1, report
    text = json.dumps(report)
    assert "is undefined" not in text
    final = [t for t in report["tasks"] if t["status"] == "failed"][-1]
    assert final["task"] == "Fail and say what was restored"
    assert final["msg"].startswith("Payments failover to segpay failed at ")
    # What the run left is said, and it is what the cluster holds.
    switch = _switches(core)["payments"]
    assert "Kill switch payments: " in final["msg"]
    if switch == "enabled":
        assert "STILL DISABLED" not in final["msg"] and "is disabled now" not in final["msg"]
    else:
        assert "STILL DISABLED" in final["msg"] or "is disabled now" in final["msg"]
    assert "ConfigMap payment-config: " in final["msg"]
    if _payment_config(core)["PRIMARY_PROCESSOR"] == "ccbill":
        assert "NOT RESTORED" not in final["msg"]
