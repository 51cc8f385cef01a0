"""module_utils.evidence and module_utils.drift: windows, hashing, sealing, verification, drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible_collections.irdrive.ops.plugins.module_utils import drift, evidence
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError

COLLECTION = Path(__file__).resolve().parents[3] / "collections/ansible_collections/irdrive/ops"


@pytest.mark.parametrize(
    ("window", "seconds"),
    [("24h", 86400), ("30m", 1800), ("7d", 604800), ("90s", 90), ("3600", 3600), ("1w", 604800)],
)
def test_window_seconds(window: str, seconds: int) -> None:
    assert evidence.window_seconds(window) == seconds


@pytest.mark.parametrize("window", ["", "0h", "-1h", "24x", "h", "1.5h"])
def test_bad_window_is_invalid_input(window: str) -> None:
    with pytest.raises(InvalidInputError, match="not a duration"):
        evidence.window_seconds(window)


@pytest.mark.parametrize("incident", ["", "../x", "a b", "x" * 129, "-lead"])
def test_bad_incident_id(incident: str) -> None:
    with pytest.raises(InvalidInputError):
        evidence.check_incident_id(incident)


@pytest.mark.parametrize("path", ["/etc/passwd", "../up", "a/../../b", ".", ""])
def test_artifact_paths_stay_inside(path: str) -> None:
    with pytest.raises(InvalidInputError):
        evidence.safe_relpath(path)


def test_collection_version_matches_galaxy() -> None:
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert galaxy["version"] == evidence.COLLECTION_VERSION


def _sealed(tmp_path: Path) -> Path:
    bundle = tmp_path / "INC-1-b"
    evidence.write_file(bundle / "k8s/state/pods.yaml", "items: []\n")
    evidence.write_file(bundle / "db/auth_logs.csv", "id,ip\n1,203.0.113.45\n")
    files = evidence.hash_artifacts(bundle)
    data = json.dumps({"incident_id": "INC-1", "files": files}).encode()
    evidence.write_file(bundle / evidence.MANIFEST_JSON, data)
    evidence.write_file(bundle / evidence.MANIFEST_SHA256, evidence.sha256sum_text(files))
    evidence.append_custody(
        bundle, {"event": "sealed", "manifest_sha256": evidence.sha256_bytes(data)}
    )
    return bundle


def test_verify_passes_then_names_a_flipped_byte(tmp_path: Path) -> None:
    bundle = _sealed(tmp_path)
    report = evidence.verify_bundle(bundle, "INC-1")
    assert report["ok"] and report["files"] == 2 and report["custody_entries"] == 1
    target = bundle / "db/auth_logs.csv"
    data = bytearray(target.read_bytes())
    data[3] ^= 0x01
    target.write_bytes(bytes(data))
    report = evidence.verify_bundle(bundle)
    assert not report["ok"] and report["altered"] == ["db/auth_logs.csv"]
    assert report["problems"][0].startswith("db/auth_logs.csv: altered")


def test_verify_names_missing_unlisted_and_wrong_incident(tmp_path: Path) -> None:
    bundle = _sealed(tmp_path)
    (bundle / "k8s/state/pods.yaml").unlink()
    (bundle / "extra.txt").write_text("planted\n")
    report = evidence.verify_bundle(bundle, "INC-2")
    problems = " | ".join(report["problems"])
    assert "k8s/state/pods.yaml: missing" in problems
    assert "extra.txt: not in the manifest" in problems
    assert "bundle of incident 'INC-1', not 'INC-2'" in problems


def test_rewritten_manifest_and_broken_chain_are_caught(tmp_path: Path) -> None:
    bundle = _sealed(tmp_path)
    evidence.append_custody(bundle, {"event": "uploaded"})
    assert evidence.verify_bundle(bundle)["ok"]
    # Someone alters an artifact and "fixes" the manifest to match: the custody log disagrees.
    evidence.write_file(bundle / "db/auth_logs.csv", "id,ip\n")
    files = evidence.hash_artifacts(bundle)
    evidence.write_file(
        bundle / evidence.MANIFEST_JSON, json.dumps({"incident_id": "INC-1", "files": files})
    )
    evidence.write_file(bundle / evidence.MANIFEST_SHA256, evidence.sha256sum_text(files))
    report = evidence.verify_bundle(bundle)
    assert "manifest.json" in report["altered"]
    lines = (bundle / evidence.CUSTODY_LOG).read_text().splitlines()
    (bundle / evidence.CUSTODY_LOG).write_text(lines[1] + "\n" + lines[0] + "\n")
    assert any("breaks the chain" in p for p in evidence.verify_bundle(bundle)["problems"])


DESIRED = """
apiVersion: v1
kind: ConfigMap
metadata: {name: payment-config, namespace: platform}
data: {PRIMARY_PROCESSOR: ccbill}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata: {name: db, namespace: platform}
    data: {password: b2xk}
"""


def test_load_manifests_expands_lists_and_rejects_nameless() -> None:
    objects = drift.load_manifests(DESIRED, "a.yaml")
    assert [o["kind"] for o in objects] == ["ConfigMap", "Secret"]
    with pytest.raises(InvalidInputError, match="no metadata.name"):
        drift.load_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "b.yaml")


def test_only_fields_the_manifest_sets_count() -> None:
    desired = drift.load_manifests(DESIRED, "a.yaml")[0]
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "payment-config",
            "namespace": "platform",
            "uid": "u",
            "resourceVersion": "9",
        },
        "data": {"PRIMARY_PROCESSOR": "ccbill", "OTHER": "x"},
    }
    assert drift.compare(desired, live, "cm")["status"] == "in_sync"
    live["data"]["PRIMARY_PROCESSOR"] = "evil"
    result = drift.compare(desired, live, "cm")
    assert result["status"] == "drifted"
    assert "-  PRIMARY_PROCESSOR: evil\n+  PRIMARY_PROCESSOR: ccbill" in result["diff"]
    assert drift.compare(desired, None, "cm")["status"] == "missing"


def test_list_items_compare_by_position_and_extra_items_show() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "X",
        "metadata": {"name": "a"},
        "spec": {"env": [{"name": "A", "value": "1"}]},
    }
    live = {
        "apiVersion": "v1",
        "kind": "X",
        "metadata": {"name": "a"},
        "spec": {"env": [{"name": "A", "value": "1", "extra": 0}, {"name": "EVIL", "value": "1"}]},
    }
    result = drift.compare(desired, live, "x")
    assert (
        result["status"] == "drifted" and "EVIL" in result["diff"] and "extra" not in result["diff"]
    )


def test_secret_values_never_appear_in_a_diff() -> None:
    desired = drift.load_manifests(DESIRED, "a.yaml")[1]
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "platform"},
        "data": {"password": "bmV3LXNlY3JldA=="},
    }
    result = drift.compare(desired, live, "secret")
    assert result["status"] == "drifted"
    assert "bmV3" not in result["diff"] and "b2xk" not in result["diff"]
    assert drift.REDACTED_DIFFERS in result["diff"]
