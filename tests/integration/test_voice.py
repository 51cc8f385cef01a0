"""One voice against the lab: diagnose prints its findings, a symptom left unremedied is not
a success, an evidence bundle is printed with its path, and the documented YAML flow form of
a mapping works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _runbook import irdrive, run_json
from kubernetes import client, config

from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab


def _text(res: Any) -> str:
    """The output as one line of words (rich wraps long lines at the console's width)."""
    return " ".join((res.stdout + res.stderr).split())


def test_diagnose_prints_its_findings_with_the_runbook_to_run(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, clean_lab, "db-slow", {})
    res = irdrive(lab_env, "run", "diagnose", "--yes")
    text = _text(res)
    assert res.returncode == 0, text
    assert "Findings:" in text
    assert "[high] the database is slow" in text
    assert "-> irdrive run db" in text
    assert "SUCCESS" in text


@pytest.mark.timeout(600)  # a composite runbook: slow on a loaded machine
def test_performance_degradation_under_db_slow_is_not_resolved_and_names_db(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, clean_lab, "db-slow", {})
    rc, report = run_json(lab_env, "performance-degradation")
    assert rc == 1, report["errors"]
    assert report["outcome"] == "NOT RESOLVED"
    assert report["status"] == "successful" and report["errors"] == []
    assert [(f["id"], f["runbook"]) for f in report["unresolved"]] == [("db-slow", "db")]


@pytest.mark.timeout(600)  # a composite runbook: slow on a loaded machine
def test_performance_degradation_under_db_slow_says_not_resolved_and_what_to_run_next(
    clean_lab: dict[str, Any], lab_cfg: Any, lab_env: dict[str, str]
) -> None:
    faults.inject(lab_cfg, clean_lab, "db-slow", {})
    res = irdrive(lab_env, "run", "performance-degradation", "--yes", timeout=540)
    text = _text(res)
    assert res.returncode == 1, text
    assert "Not remedied by this runbook:" in text
    assert "NOT RESOLVED (successful; next: irdrive run db, exit 1)" in text
    assert "SUCCESS" not in text


@pytest.mark.timeout(600)  # a composite runbook: slow on a loaded machine
def test_performance_degradation_on_a_healthy_lab_is_a_success(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    rc, report = run_json(lab_env, "performance-degradation")
    assert rc == 0, report["errors"]
    assert report["outcome"] == "SUCCESS" and report["unresolved"] == []


def test_the_evidence_bundle_is_printed_with_its_path(
    clean_lab: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "evidence"
    args = ("-e", "incident_id=INC-7", "-e", f"root={root}", "-e", "bundle=b7")
    res = irdrive(lab_env, "run", "preserve-evidence", "--yes", *args)
    assert res.returncode == 0, _text(res)
    line = next(x for x in res.stdout.splitlines() if x.startswith("Evidence bundle: "))
    bundle = Path(line.removeprefix("Evidence bundle: "))
    assert bundle.parent == root and bundle.is_dir() and any(bundle.iterdir())


def test_a_mapping_in_yaml_flow_style_scales(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    rc, report = run_json(lab_env, "scale", "-e", "deployments={backend: 5}")
    assert rc == 0, report["errors"]
    api = config.new_client_from_config(config_file=clean_lab["kubeconfig"])
    scale = client.AppsV1Api(api).read_namespaced_deployment_scale("backend", "platform")
    assert scale.spec.replicas == 5
