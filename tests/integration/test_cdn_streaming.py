"""cdn-failover and streaming-outage against the lab: recover verified, idempotent, check-safe."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _runbook import (
    aws_client,
    changed_tasks,
    http_json,
    irdrive,
    lock_writes_since,
    run_json,
    writes_since,
)
from helpers import wait_until
from kubernetes import client, config

from irdrive_lab.control import manager
from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab

BACKUP = "platform.backup-cdn.net"


@pytest.fixture
def apps(lab: dict[str, Any]) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))


def cdn_record(lab: dict[str, Any]) -> str:
    aws = lab["aws"]
    route53 = aws_client(lab, "route53")
    page = route53.list_resource_record_sets(
        HostedZoneId=aws["resources"]["hosted_zone_id"],
        StartRecordName="cdn.platform.com",
        StartRecordType="CNAME",
        MaxItems="1",
    )
    rrset = page["ResourceRecordSets"][0]
    assert rrset["Name"] == "cdn.platform.com."
    return rrset["ResourceRecords"][0]["Value"].rstrip(".")


def cdn_object(lab: dict[str, Any]) -> tuple[int, str | None]:
    """Status and X-Lab-Edge of GET /cdn/test.mp4."""
    try:
        with urllib.request.urlopen(f"{lab['endpoints']['platform']}/cdn/test.mp4", timeout=5) as r:
            return r.status, r.headers.get("X-Lab-Edge")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("X-Lab-Edge")


def cdn_answers(lab: dict[str, Any], status: int, edge: str | None = None) -> None:
    """Until the CDN object answers ``status`` (through ``edge``): the platform caches the
    record 0.5 s."""
    wait_until(
        lambda: (a := cdn_object(lab))[0] == status and (edge is None or a[1] == edge),
        timeout=5,
        what=f"the CDN test object to answer {status} through edge {edge or 'any'}",
    )


def mark(lab: dict[str, Any]) -> int:
    return Journal(Path(lab["journal"])).mark()


def video_tmp_files(lab: dict[str, Any]) -> list[tuple[str, float]]:
    root = Path(lab["hosts"]["streaming"]["paths"]["video_storage"])
    now = time.time()
    return sorted((p.name, now - p.stat().st_mtime) for p in root.rglob("*.tmp"))


@pytest.fixture
def fresh_lab(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    """The reset lab's lab.json read again: a reset seeds new AWS resources (zone, CDN)."""
    return manager.require_up(lab_cfg)


@pytest.fixture
def cdn_down(fresh_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, fresh_lab, "cdn-down", {})
    return fresh_lab


@pytest.fixture
def disk_full(fresh_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, fresh_lab, "disk-full", {})
    return fresh_lab


def test_cdn_failover_check_recover_idempotent_failback(
    cdn_down: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    lab = cdn_down
    primary = lab["aws"]["resources"]["distribution_domain"]
    assert cdn_record(lab) == primary
    cdn_answers(lab, 502)

    # --check shows the UPSERT and the scaling and writes nothing.
    start = mark(lab)
    rc, report = run_json(lab_env, "cdn-failover", "--check", "--diff")
    assert rc == 0, report
    assert "UPSERT the CDN record and wait until Route53 says INSYNC" in changed_tasks(report)
    assert "Scale the origin deployments and wait until their pods are ready" in changed_tasks(
        report
    )
    assert writes_since(lab, start) == [] and cdn_record(lab) == primary

    rc, report = run_json(lab_env, "cdn-failover")
    assert rc == 0, report
    verified = [v["task"] for v in report["verified"]]
    assert f"Verify the CDN record points to {BACKUP}" in verified
    assert "Verify the CDN test object answers 200 through edge backup" in verified
    assert "Verify the origin deployments are ready" in verified
    assert cdn_record(lab) == BACKUP
    cdn_answers(lab, 200, "backup")
    for name, replicas in (("streaming-service", 10), ("video-processor", 5)):
        status = apps.read_namespaced_deployment(name, "platform").status
        assert (status.replicas, status.ready_replicas) == (replicas, replicas)

    # A second run finds the record on the backup and the origin scaled: nothing to do.
    start = mark(lab)
    rc, again = run_json(lab_env, "cdn-failover")
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert writes_since(lab, start) == []

    # Failing back while the primary edge is still down is refused and changes nothing.
    start = mark(lab)
    rc, refused = run_json(lab_env, "cdn-failover", "-e", "direction=failback")
    assert rc == 1, refused
    failed = [t for t in refused["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1 and "is still down" in failed[0]["msg"]
    assert writes_since(lab, start) == [] and cdn_record(lab) == BACKUP

    faults.clear(lab_cfg, lab, "cdn-down")
    rc, back = run_json(lab_env, "cdn-failover", "-e", "direction=failback")
    assert rc == 0, back
    assert f"Verify the CDN record points to {primary}" in [v["task"] for v in back["verified"]]
    assert cdn_record(lab) == primary
    cdn_answers(lab, 200, "primary")


def test_streaming_outage_check_then_cleans_storage_and_is_green(
    disk_full: dict[str, Any], lab_env: dict[str, str]
) -> None:
    lab = disk_full
    platform = lab["endpoints"]["platform"]
    path = lab["hosts"]["streaming"]["paths"]["video_storage"]
    code, health = http_json(f"{platform}/streaming/health")
    assert code == 503 and not health["checks"]["video_storage"]["ok"]
    assert health["checks"]["cdn"]["ok"] and health["checks"]["streaming-service"]["ok"]
    before = video_tmp_files(lab)
    fresh_before = [name for name, age in before if age < 3600]

    # --check lists the old files and deletes nothing.
    start = mark(lab)
    rc, report = run_json(lab_env, "streaming-outage", "--check", "--diff")
    assert rc == 0, report
    assert changed_tasks(report) == [f"Clean old temporary files from {path}"]
    change = next(c for c in report["changes"] if c["task"].startswith("Clean old temporary"))
    listed = change["diff"]["before"].split()
    assert len(listed) == len(before) - len(fresh_before)
    assert all(name.endswith(".tmp") for name in listed)
    assert change["before"]["stale_files"] == len(listed)
    assert video_tmp_files(lab)[0][0] == before[0][0] and len(video_tmp_files(lab)) == len(before)
    assert writes_since(lab, start) == []

    # Only the storage branch runs: the CDN and the origin are healthy.
    rc, report = run_json(lab_env, "streaming-outage")
    assert rc == 0, report
    assert changed_tasks(report) == [f"Clean old temporary files from {path}"]
    verified = {v["task"]: v.get("msg", "") for v in report["verified"]}
    assert "removed" in verified["Verify no old temporary files are left and disk use dropped"]
    assert "Verify streaming health is green" in verified
    assert [name for name, _ in video_tmp_files(lab)] == fresh_before  # in-progress files kept
    assert http_json(f"{platform}/streaming/health")[0] == 200

    # Now healthy: a second run changes nothing, anywhere.
    start = mark(lab)
    rc, again = run_json(lab_env, "streaming-outage")
    assert rc == 0, again
    assert changed_tasks(again) == [] and writes_since(lab, start) == []
    assert [name for name, _ in video_tmp_files(lab)] == fresh_before


def test_streaming_outage_scales_a_down_origin_under_the_lock(
    fresh_lab: dict[str, Any], lab_env: dict[str, str], apps: client.AppsV1Api
) -> None:
    """An origin issue alone (the CDN up): the origin is scaled under the target's Lease, which
    is given back; nothing else changes."""
    lab = fresh_lab
    platform = lab["endpoints"]["platform"]
    apps.patch_namespaced_deployment_scale(
        "streaming-service", "platform", {"spec": {"replicas": 0}}
    )
    wait_until(
        lambda: (
            not http_json(f"{platform}/streaming/health")[1]["checks"]["streaming-service"]["ok"]
        ),
        timeout=30,
        what="streaming-service to have no ready pod",
    )
    start = mark(lab)
    rc, report = run_json(lab_env, "streaming-outage")
    assert rc == 0, report.get("errors")
    assert changed_tasks(report) == [
        "Scale the origin deployments and wait until their pods are ready"
    ]
    # The prior state it replaced, recorded for the report (and undo).
    recorded = {c["target"]: c for c in report["recorded"]["irdrive_changes"]}
    origin = recorded["deployment/platform/streaming-service"]
    assert origin["before"] == {"replicas": 0} and origin["after"] == {"replicas": 10}
    locks = lock_writes_since(lab, start)
    assert locks and all(e["source"] == "kubernetes" for e in locks), locks
    lease = client.CoordinationV1Api(
        config.new_client_from_config(config_file=lab["kubeconfig"])
    ).read_namespaced_lease("irdrive-lock-platform", "platform")
    assert not lease.spec.holder_identity  # given back
    assert (
        apps.read_namespaced_deployment_scale("streaming-service", "platform").spec.replicas == 10
    )
    assert http_json(f"{platform}/streaming/health")[0] == 200


BAD_INPUT = [
    ("cdn-failover", ["-e", "direction=sideways"], 2, "must be one of failover, failback"),
    ("streaming-outage", ["-e", "tmp_min_age=soon"], 2, "storage_tmp_min_age must be"),
    ("streaming-outage", ["-e", "tmp_min_age=0h"], 2, "at least one minute"),
    ("cdn-failover", ["-e", "origin_replicas=streaming-service=many"], 2, "replica counts"),
]


def test_bad_input_fails_clearly_and_writes_nothing(
    disk_full: dict[str, Any], lab_env: dict[str, str]
) -> None:
    before = [name for name, _ in video_tmp_files(disk_full)]
    for runbook, args, code, message in BAD_INPUT:
        start = mark(disk_full)
        res = irdrive(lab_env, "run", runbook, "--yes", *args)
        assert res.returncode == code, (args, res.stdout + res.stderr)
        assert message in res.stdout + res.stderr, args
        assert writes_since(disk_full, start) == [], args
        assert [name for name, _ in video_tmp_files(disk_full)] == before, args
