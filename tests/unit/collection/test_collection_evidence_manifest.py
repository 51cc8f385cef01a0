"""irdrive.ops.evidence_manifest: seal once, verify, check mode, flipped byte."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.irdrive.ops.plugins.modules import evidence_manifest


def _bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "INC-7-b"
    (bundle / "k8s").mkdir(parents=True)
    (bundle / "k8s/pods.yaml").write_text("items: []\n")
    return bundle


def test_seal_once_then_verify_and_no_change(run_module, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    args = {
        "path": str(bundle),
        "incident_id": "INC-7",
        "actor": "alice",
        "artifacts": [{"path": "hosts/web/access-4xx.log", "content": "x 401\n"}],
        "metadata": {"window": "24h"},
    }
    result, failed = run_module(evidence_manifest, args)
    assert (
        not failed and result["changed"] and result["before"] == {"sealed": False, "exists": True}
    )
    assert {f["path"] for f in result["files"]} == {"k8s/pods.yaml", "hosts/web/access-4xx.log"}
    custody = [json.loads(line) for line in (bundle / "custody.jsonl").read_text().splitlines()]
    assert custody[0]["actor"] == "alice" and custody[0]["tool_version"] == "0.1.0"
    assert custody[0]["manifest_sha256"] == result["manifest_sha256"]
    assert "hosts/web/access-4xx.log" in (bundle / "MANIFEST.sha256").read_text()

    again, failed = run_module(evidence_manifest, args)
    assert not failed and not again["changed"] and again["verification"]["ok"]
    assert len((bundle / "custody.jsonl").read_text().splitlines()) == 1

    verified, failed = run_module(evidence_manifest, {"path": str(bundle), "state": "verified"})
    assert not failed and not verified["changed"]


def test_flipped_byte_fails_naming_the_file_and_is_never_resealed(run_module, tmp_path) -> None:
    bundle = _bundle(tmp_path)
    run_module(evidence_manifest, {"path": str(bundle), "incident_id": "INC-7"})
    target = bundle / "k8s/pods.yaml"
    target.write_bytes(b"itemz: []\n")
    result, failed = run_module(evidence_manifest, {"path": str(bundle), "state": "verified"})
    assert failed and "k8s/pods.yaml: altered" in result["msg"]
    assert result["error_kind"] == "invalid_state"
    result, failed = run_module(evidence_manifest, {"path": str(bundle), "incident_id": "INC-7"})
    assert failed and "k8s/pods.yaml" in result["msg"]


def test_check_mode_writes_nothing(run_module, tmp_path: Path) -> None:
    bundle = tmp_path / "new"
    args = {
        "path": str(bundle),
        "incident_id": "INC-7",
        "artifacts": [{"path": "hosts/web/a.log", "content": "x\n"}],
    }
    result, failed = run_module(evidence_manifest, args, check_mode=True)
    assert not failed and result["changed"] and result["files"][0]["path"] == "hosts/web/a.log"
    assert not bundle.exists()


def test_verify_missing(run_module, tmp_path: Path) -> None:
    args = {"path": str(tmp_path / "none"), "state": "verified"}
    result, failed = run_module(evidence_manifest, {**args, "missing_ok": True})
    assert not failed and result["sealed"] is False
    result, failed = run_module(evidence_manifest, args)
    assert failed and result["error_kind"] == "not_found"


def test_bad_input(run_module, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    result, failed = run_module(evidence_manifest, {"path": str(bundle), "incident_id": "a b"})
    assert failed and "incident id" in result["msg"]
    result, failed = run_module(
        evidence_manifest,
        {"path": str(bundle), "incident_id": "I-1", "artifacts": [{"path": "../x", "content": ""}]},
    )
    assert failed and "inside the bundle" in result["msg"]
    assert not (bundle / "manifest.json").exists()
