"""preserve-evidence against the lab: a sealed, verified bundle of every artifact kind, drift,
Object Lock upload, a flipped byte caught, idempotent re-run, check mode writes nothing."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from _runbook import aws_client, changed_tasks, irdrive, run_json, writes_since
from kubernetes import client, config

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults
from irdrive_lab.kube.sim.seed import SECRETS

pytestmark = pytest.mark.lab

INCIDENT = "INC-4242"
TAMPERED = "registry.example.invalid/backdoor:latest"


def _journal_mark(lab: dict[str, Any]) -> int:
    return Journal(Path(lab["journal"])).mark()


def _s3(lab: dict[str, Any]) -> Any:
    return aws_client(lab, "s3")


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def collected(
    lab: dict[str, Any], lab_cfg: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """From the intrusion fault plus a tampered ConfigMap and image: one collection, uploaded."""
    from irdrive_lab.control import manager

    manager.reset(lab_cfg)
    faults.inject(lab_cfg, lab, "intrusion", {})
    api = config.new_client_from_config(config_file=lab["kubeconfig"])
    client.CoreV1Api(api).patch_namespaced_config_map(
        "payment-config", "platform", {"data": {"PRIMARY_PROCESSOR": "attacker-pay"}}
    )
    client.AppsV1Api(api).patch_namespaced_deployment(
        "nginx",
        "platform",
        {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": TAMPERED}]}}}},
    )
    root = tmp_path_factory.mktemp("evidence")
    env = {
        **os.environ,
        "IRDRIVE_LAB_DIR": str(lab_cfg.dir),
        "IRDRIVE_LAB_PORT_BASE": str(lab_cfg.port_base),
        "KUBECONFIG": lab["kubeconfig"],
    }
    args = ("-e", f"incident_id={INCIDENT}", "-e", f"root={root}", "-e", "bundle=b1")
    rc, report = run_json(env, "preserve-evidence", *args, "-e", "upload=true")
    core = client.CoreV1Api(api)
    secrets = [
        {
            k: base64.b64decode(v).decode()
            for k, v in (core.read_namespaced_secret(n, "platform").data or {}).items()
        }
        for n in SECRETS
    ]
    return {
        "secrets": secrets,
        "rc": rc,
        "report": report,
        "bundle": root / "b1",
        "root": root,
        "env": env,
        "args": args,
    }


def test_bundle_holds_every_artifact_kind_sealed_and_verified(collected: dict[str, Any]) -> None:
    rc, report, bundle = collected["rc"], collected["report"], collected["bundle"]
    assert rc == 0, report
    assert any(v["task"].startswith("Verify the evidence bundle") for v in report["verified"])
    files = _tree(bundle)
    for expected in (
        "k8s/state/pods.yaml",
        "k8s/state/deployments.yaml",
        "k8s/state/replicasets.yaml",
        "k8s/state/services.yaml",
        "k8s/state/configmaps.yaml",
        "k8s/state/secrets.yaml",
        "k8s/state/events.yaml",
        "k8s/state/horizontalpodautoscalers.yaml",
        "k8s/logs/index.json",
        "db/auth_logs.csv",
        "db/auth_logs.json",
        "db/audit_log.csv",
        "db/audit_log.json",
        "hosts/web/access-4xx.log",
        "drift/report.diff",
        "drift/report.json",
        "manifest.json",
        "MANIFEST.sha256",
        "custody.jsonl",
    ):
        assert expected in files, expected
    logs = [p for p in files if p.startswith("k8s/logs/platform/")]
    assert any("/backend-" in p for p in logs) and any("/payment-service-" in p for p in logs)
    # The intrusion's traffic is in the access log lines and in auth_logs.
    web = files["hosts/web/access-4xx.log"].decode()
    assert "203.0.113.45" in web and all(
        ('" 401 ' in line or '" 403 ' in line or '" 404 ' in line) for line in web.splitlines()
    )
    assert "lab-intrusion" in files["db/auth_logs.csv"].decode()
    # Secrets: key names only, never a value, anywhere in the bundle.
    assert b"password" in files["k8s/state/secrets.yaml"]
    for values in collected["secrets"]:
        for key, value in values.items():
            if key == "username":  # a role name (also in audit_log and pg logs): not a secret
                continue
            for form in (value.encode(), base64.b64encode(value.encode())):
                assert not any(form in data for data in files.values()), key
    # Manifest: every artifact hashed; the custody log says who, when, with what.
    manifest = json.loads(files["manifest.json"])
    listed = {f["path"] for f in manifest["files"]}
    assert listed == {
        p for p in files if p not in ("manifest.json", "MANIFEST.sha256", "custody.jsonl")
    }
    custody = [json.loads(line) for line in files["custody.jsonl"].splitlines()]
    assert [c["event"] for c in custody] == ["sealed", "uploaded"]
    sealed = custody[0]
    assert sealed["incident_id"] == INCIDENT and sealed["tool"] == "irdrive.ops.evidence_manifest"
    assert sealed["tool_version"] and sealed["actor"] and sealed["host"] and sealed["at"]
    recorded = report["recorded"]["irdrive_changes"]
    assert recorded[0]["target"] == "evidence/b1" and recorded[0]["before"]["sealed"] is False
    assert recorded[0]["after"]["s3"] == "s3://platform-evidence/evidence/b1/"
    changes = {c["task"]: c for c in report["changes"]}
    assert changes["Seal the bundle with its SHA-256 manifest and custody entry"]["before"] == {
        "sealed": False,
        "exists": True,
    }


def test_drift_report_shows_the_tampered_objects(collected: dict[str, Any]) -> None:
    bundle = collected["bundle"]
    report = json.loads((bundle / "drift/report.json").read_text())
    assert sorted(report["summary"]["drifted_objects"]) == [
        "ConfigMap/platform/payment-config",
        "Deployment/platform/nginx",
    ]
    diff = (bundle / "drift/report.diff").read_text()
    assert "-  PRIMARY_PROCESSOR: attacker-pay\n+  PRIMARY_PROCESSOR: ccbill" in diff
    assert f"-        image: {TAMPERED}" in diff


def test_upload_has_object_lock_and_checksums(
    collected: dict[str, Any], lab: dict[str, Any]
) -> None:
    s3 = _s3(lab)
    manifest = json.loads((collected["bundle"] / "manifest.json").read_text())
    bucket = lab["aws"]["resources"]["bucket"]
    for entry in manifest["files"][:5] + [{"path": "manifest.json", "sha256": None}]:
        head = s3.head_object(
            Bucket=bucket, Key=f"evidence/b1/{entry['path']}", ChecksumMode="ENABLED"
        )
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"].year >= 2026
        assert head["ChecksumSHA256"]
        if entry["sha256"]:
            assert base64.b64decode(head["ChecksumSHA256"]).hex() == entry["sha256"]


def test_rerun_with_the_same_bundle_changes_nothing(
    collected: dict[str, Any], lab: dict[str, Any]
) -> None:
    before = _tree(collected["bundle"])
    mark = _journal_mark(lab)
    rc, again = run_json(
        collected["env"], "preserve-evidence", *collected["args"], "-e", "upload=true"
    )
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert any(v["task"].startswith("Verify the evidence bundle") for v in again["verified"])
    assert writes_since(lab, mark) == []
    assert _tree(collected["bundle"]) == before


def test_flipped_byte_fails_verification_naming_the_file(
    collected: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(collected["bundle"], copy)
    target = copy / "db/auth_logs.csv"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    rc, bad = run_json(
        collected["env"],
        "preserve-evidence",
        "-e",
        f"incident_id={INCIDENT}",
        "-e",
        f"verify={copy}",
    )
    assert rc == 1, bad
    failed = [t for t in bad["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1 and "db/auth_logs.csv: altered" in failed[0]["msg"]


def test_check_mode_writes_nothing(collected: dict[str, Any], lab: dict[str, Any]) -> None:
    root = collected["root"]
    before = sorted(p.name for p in root.iterdir())
    mark = _journal_mark(lab)
    rc, report = run_json(
        collected["env"],
        "preserve-evidence",
        "-e",
        f"incident_id={INCIDENT}",
        "-e",
        f"root={root}",
        "-e",
        "bundle=dry",
        "-e",
        "upload=true",
        "--check",
    )
    assert rc == 0, report
    assert "Dump the cluster state, pod logs and drift report" in changed_tasks(report)
    assert writes_since(lab, mark) == []
    assert sorted(p.name for p in root.iterdir()) == before


def test_missing_incident_id_exits_2_and_writes_nothing(
    collected: dict[str, Any], lab: dict[str, Any]
) -> None:
    root = collected["root"]
    before = sorted(p.name for p in root.iterdir())
    mark = _journal_mark(lab)
    res = irdrive(collected["env"], "run", "preserve-evidence", "-e", f"root={root}", "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "evidence_incident_id" in res.stderr
    assert writes_since(lab, mark) == []
    assert sorted(p.name for p in root.iterdir()) == before
