"""One remediation per target: two runs on one deployment, a stale lock, plain ansible-playbook.

The judge is the kubernetes client (the Lease, the Deployment) and the lab's journal.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _runbook import ANSIBLE_PLAYBOOK, lock_writes_since, run_json, writes_since
from helpers import wait_until
from kubernetes import client, config

from irdrive_lab.control.journal import Journal

pytestmark = pytest.mark.lab

LEASE = "irdrive-lock-platform"


def _api(lab: dict[str, Any]) -> client.ApiClient:
    return config.new_client_from_config(config_file=lab["kubeconfig"])


def _lease(lab: dict[str, Any]) -> Any:
    try:
        return client.CoordinationV1Api(_api(lab)).read_namespaced_lease(LEASE, "platform")
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _holder(lab: dict[str, Any]) -> str:
    lease = _lease(lab)
    return (lease.spec.holder_identity or "") if lease is not None else ""


def _replicas(lab: dict[str, Any], name: str = "backend") -> int:
    apps = client.AppsV1Api(_api(lab))
    return int(apps.read_namespaced_deployment(name, "platform").spec.replicas)


def _micro(moment: datetime.datetime) -> str:
    moment = moment.replace(microsecond=moment.microsecond or 1)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hold(lab: dict[str, Any], holder: str, renewed: datetime.datetime, duration: int) -> None:
    """Make the platform's lock held by ``holder`` since ``renewed`` (another run, or a dead one)."""
    # A MicroTime needs its six fraction digits: the client writes none for a zero fraction.
    renewed = renewed.replace(microsecond=renewed.microsecond or 1)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name=LEASE, namespace="platform"),
        spec=client.V1LeaseSpec(
            holder_identity=holder,
            lease_duration_seconds=duration,
            acquire_time=renewed,
            renew_time=renewed,
            lease_transitions=2,
        ),
    )
    client.CoordinationV1Api(_api(lab)).create_namespaced_lease("platform", lease)


def _lock_result(report: dict[str, Any]) -> dict[str, Any]:
    """The lock task's whole result, from the run's job events."""
    for path in sorted(Path(report["run_dir"]).glob("artifacts/*/job_events/*.json")):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and str(data.get("task")).startswith("Lock the"):
            return dict(data["res"])
    raise AssertionError(f"no lock task result in {report['run_dir']}")


def _scale_changes(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["changes"] if "replicas" in (c.get("before") or {})]


def test_second_scale_waits_and_records_the_firsts_after_as_its_before(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    start = _replicas(clean_lab)
    first_value, second_value = start + 1, start + 2
    results: dict[str, Any] = {}

    def first() -> None:
        results["first"] = run_json(lab_env, "scale", "-e", f"deployments=backend={first_value}")

    thread = threading.Thread(target=first)
    thread.start()
    # The second starts once the first holds the lock.
    wait_until(lambda: _holder(clean_lab), timeout=60, what="the first run to take the lock")
    code, second = run_json(lab_env, "scale", "-e", f"deployments=backend={second_value}")
    thread.join(300)
    first_code, first_report = results["first"]
    assert first_code == 0, first_report.get("errors")
    assert code == 0, second.get("errors")
    lock_task = next(t for t in second["tasks"] if t["task"].startswith("Lock the target"))
    assert lock_task["status"] == "ok"
    (first_change,) = _scale_changes(first_report)
    (second_change,) = _scale_changes(second)
    assert first_change["before"]["replicas"] == {"backend": start}
    # The second acted on live state read after it took the lock: the first's after.
    assert second_change["before"]["replicas"] == {"backend": first_value}
    assert _replicas(clean_lab) == second_value
    lease = _lease(clean_lab)
    assert not lease.spec.holder_identity  # both released


def test_second_scale_refuses_naming_the_holder_and_writes_nothing(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    since = datetime.datetime.now(datetime.UTC)
    _hold(clean_lab, "AWX job 4242 (ops@awx:7)", since, 600)
    mark = Journal(Path(clean_lab["journal"])).mark()
    begun = time.monotonic()
    code, report = run_json(lab_env, "scale", "--lock-wait", "2", "-e", "deployments=backend=4")
    assert code == 1
    assert time.monotonic() - begun < 60
    (error,) = report["errors"]
    assert "locked by AWX job 4242 (ops@awx:7)" in error
    assert f"since {_micro(since)}" in error
    assert writes_since(clean_lab, mark) == []
    assert lock_writes_since(clean_lab, mark) == []  # a held lock is only read
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed and failed[0]["error_kind"] == "locked"
    assert _lease(clean_lab).spec.holder_identity == "AWX job 4242 (ops@awx:7)"


def test_a_stale_lock_is_taken_over_and_says_whose(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    dead = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=30)
    _hold(clean_lab, "root@killed:999", dead, 600)
    start = _replicas(clean_lab)
    code, report = run_json(lab_env, "scale", "-e", f"deployments=backend={start + 1}")
    assert code == 0, report.get("errors")
    assert _replicas(clean_lab) == start + 1
    lease = _lease(clean_lab)
    assert lease.spec.lease_transitions == 3  # taken over once: 2 + 1
    assert not lease.spec.holder_identity  # and released
    lock = _lock_result(report)
    assert lock["msg"].startswith("took over the stale lock of root@killed:999 (since ")
    assert lock["took_over"]["holder"] == "root@killed:999"
    assert lock["lease"]["transitions"] == 3


def test_check_mode_reads_the_lock_and_writes_nothing(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    _hold(clean_lab, "root@other:1", datetime.datetime.now(datetime.UTC), 600)
    mark = Journal(Path(clean_lab["journal"])).mark()
    code, report = run_json(lab_env, "scale", "--check", "-e", "deployments=backend=5")
    assert code == 0, report.get("errors")
    assert lock_writes_since(clean_lab, mark) == []
    assert writes_since(clean_lab, mark) == []
    lock = _lock_result(report)
    assert lock["state"] == "would_wait"
    assert lock["msg"].startswith("held by root@other:1 (since ")


def test_plain_ansible_playbook_takes_the_lock(
    clean_lab: dict[str, Any], lab_env: dict[str, str], repo_root: Path
) -> None:
    _hold(clean_lab, "root@other:1", datetime.datetime.now(datetime.UTC), 600)
    env = dict(lab_env, ANSIBLE_CONFIG=str(repo_root / "ansible.cfg"))
    res = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            "inventories/lab",
            "playbooks/scale.yml",
            "-e",
            '{"scale_deployments": {"backend": 6}, "irdrive_lock_wait": 1}',
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0
    assert "locked by root@other:1" in res.stdout
    assert _replicas(clean_lab) != 6
    client.CoordinationV1Api(_api(clean_lab)).delete_namespaced_lease(LEASE, "platform")
    res = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            "inventories/lab",
            "playbooks/scale.yml",
            "-e",
            '{"scale_deployments": {"backend": 6}}',
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    lease = _lease(clean_lab)
    assert lease is not None and lease.spec.lease_transitions == 0
    assert not lease.spec.holder_identity
    assert _replicas(clean_lab) == 6
