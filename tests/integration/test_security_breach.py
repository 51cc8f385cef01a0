"""The P0 security-breach runbook, which chains the building blocks (kill switches, evidence,
block-ips, rotate-secrets). Apart from the other composites so that test workers share the load."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from _runbook import (
    aws_client,
    changed_tasks,
    failures,
    run_json,
    writes_since,
)
from kubernetes import client, config

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab


def test_security_breach_contains_in_order_and_is_idempotent(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str], tmp_path: Path
) -> None:
    faults.inject(lab_cfg, clean_lab, "intrusion", {})
    # The evidence bundle goes under $HOME; SSH control sockets must keep a short path (108
    # bytes at most), which a deep pytest tmp_path under xdist exceeds.
    control_dir = tempfile.mkdtemp(prefix="cp-", dir="/tmp")
    env = dict(lab_env, HOME=str(tmp_path), ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    args = ("-e", "incident_id=INC-42", "-e", "ips=203.0.113.45,198.51.100.23")
    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, checked = run_json(env, "security-breach", "--check", *args)
    assert rc == 0, failures(checked)
    assert writes_since(clean_lab, mark) == []

    rc, report = run_json(env, "security-breach", *args)
    assert rc == 0, failures(report)
    names = [t["task"] for t in report["tasks"]]
    first_evidence = next(i for i, n in enumerate(names) if "evidence" in n.lower())
    first_switch = names.index("Set the kill switches")
    first_rotation = next(i for i, n in enumerate(names) if "otate" in n)
    assert first_switch < first_evidence < first_rotation
    verified = [v["task"] for v in report["verified"]]
    # Evidence is verified when sealed (step 2) and again after containment (step 5).
    assert verified.count("Verify the evidence bundle against its manifest") == 2, verified
    api = client.CoreV1Api(config.new_client_from_config(config_file=clean_lab["kubeconfig"]))
    switches = api.read_namespaced_config_map("kill-switches", "platform").data
    assert all(v == "disabled" for k, v in switches.items() if k != "history")

    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, again = run_json(env, "security-breach", *args)
    assert rc == 0, failures(again)
    assert changed_tasks(again) == []
    assert writes_since(clean_lab, mark) == []


def test_security_breach_contains_nothing_when_evidence_fails_then_resumes(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """The evidence store is gone mid-incident: the run stops at step 2, after the kill switches
    and before any containment; once the store is back, the same command finishes the job."""
    lab = clean_lab
    faults.inject(lab_cfg, lab, "intrusion", {})
    control_dir = tempfile.mkdtemp(prefix="cp-", dir="/tmp")
    env = dict(lab_env, HOME=str(tmp_path), ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    bucket = lab["parts"]["aws"]["resources"]["bucket"]
    s3 = aws_client(lab, "s3")
    s3.delete_bucket(Bucket=bucket)
    ref = lab["parts"]["aws"]["resources"]["waf_ip_set"]
    waf = aws_client(lab, "wafv2")

    def blocked() -> list[str]:
        got = waf.get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])
        return sorted(got["IPSet"]["Addresses"])

    secrets = aws_client(lab, "secretsmanager")

    def current_version() -> str:
        got = secrets.get_secret_value(SecretId="platform/db-password", VersionStage="AWSCURRENT")
        return str(got["VersionId"])

    db_version = current_version()
    waf_before = blocked()
    args = ("-e", "incident_id=INC-43", "-e", "ips=203.0.113.45", "-e", "upload_evidence=true")
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(env, "security-breach", *args)
    assert rc == 1, failures(report)
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed and failed[0]["role"] == "evidence", failures(report)
    assert bucket in failed[0]["msg"] or "NoSuchBucket" in failed[0]["msg"], failed[0]["msg"]
    # Step 1 happened (and recorded what it replaced); nothing of steps 3-4 did.
    api = client.CoreV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))
    switches = api.read_namespaced_config_map("kill-switches", "platform").data
    assert all(v == "disabled" for k, v in switches.items() if k != "history")
    recorded = {c["target"] for c in report["recorded"].get("irdrive_changes", [])}
    assert any("kill-switches" in t for t in recorded), recorded
    writes = writes_since(lab, mark)
    assert not [w for w in writes if w.get("service") in ("wafv2", "ec2", "secretsmanager", "iam")]
    assert not [w for w in writes if w["source"] == "host"]
    assert not [w for w in writes if "/secrets/" in w["path"] or "/deployments/" in w["path"]]
    assert blocked() == waf_before
    assert current_version() == db_version

    # The store is back: the same command converges; the kill switches are not touched again.
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rc, again = run_json(env, "security-breach", *args)
    assert rc == 0, failures(again)
    assert "Set the kill switches" not in changed_tasks(again)
    assert "203.0.113.45/32" in blocked()
    assert current_version() != db_version
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert any(o["Key"].endswith("manifest.json") for o in listed), listed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-e", "ips=0.0.0.0/0"], "'0.0.0.0/0' is wider than /8"),
        (["-e", "ips=10.0.0.0/8"], "10.0.0.0/8"),
        (["-e", "ips=203.0.113.45", "-e", "rotate_targets=[]"], "targets must not be empty"),
        (["-e", "ips=203.0.113.45", "-e", "incident_id=bad id"], "incident_id must be 1-100"),
    ],
)
def test_security_breach_refuses_bad_input_before_any_kill_switch(
    clean_lab: dict[str, Any], lab_env: dict[str, str], extra: list[str], message: str
) -> None:
    """Issue 9 Why #2: the whole chain is preflighted in the first play, before step 1."""
    mark = Journal(Path(clean_lab["journal"])).mark()
    for check in ([], ["--check"]):
        rc, report = run_json(lab_env, "security-breach", "-e", "incident_id=INC-9", *extra, *check)
        assert rc == 2, failures(report)
        failed = [t for t in report["tasks"] if t["status"] == "failed"]
        assert len(failed) == 1 and message in failed[0]["msg"], failures(report)
        assert changed_tasks(report) == []
        assert "Set the kill switches" not in [t["task"] for t in report["tasks"]]
    assert writes_since(clean_lab, mark) == []
    api = client.CoreV1Api(config.new_client_from_config(config_file=clean_lab["kubeconfig"]))
    switches = api.read_namespaced_config_map("kill-switches", "platform").data
    assert not [k for k, v in switches.items() if k != "history" and v == "disabled"]
