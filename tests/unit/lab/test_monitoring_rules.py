"""The lab's alert rules and monitoring configuration, checked by Prometheus' own tools.

promtool checks the rules and runs their unit tests (alert_rules_test.yml: each alert fires on
its fault's symptom and resolves once the runbook's remedy removes it); promtool and amtool
check the configurations the lab writes. No lab needed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import require

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabUsageError
from irdrive_lab.faults.faults import FAULTS
from irdrive_lab.monitoring import monitoring

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
RULES = REPO / "lab" / "irdrive_lab" / "monitoring" / "rules.yml"
CHAOS_FAULTS = {"api-flaky"}  # no runbook remedies a flaky API: drills use it, no alert


def _tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    require(Path(path).exists(), f"{name} (Debian's prometheus / prometheus-alertmanager)")
    return path


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=60)


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _runbook_severity(runbook: str) -> str:
    plays = yaml.safe_load((REPO / "playbooks" / f"{runbook}.yml").read_text())
    return str(plays[0]["vars"]["irdrive_runbook"]["severity"])


def test_promtool_checks_the_rules() -> None:
    res = _run([_tool("promtool"), "check", "rules", str(RULES)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in res.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    res = _run([_tool("promtool"), "test", "rules", "alert_rules_test.yml"], cwd=HERE)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_carries_severity_runbook_and_fault() -> None:
    rules = _rules()
    assert rules and all("alert" in r for r in rules)
    for rule in rules:
        labels = rule["labels"]
        assert labels["severity"] in {"P0", "P1", "P2", "P3"}, rule["alert"]
        assert (REPO / "playbooks" / f"{labels['runbook']}.yml").is_file(), rule["alert"]
        assert labels["fault"] in FAULTS, rule["alert"]
        # the severity of the procedure the runbook implements, as its playbook declares it
        assert labels["severity"] == _runbook_severity(labels["runbook"]), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_fault_but_the_chaos_one_has_an_alert() -> None:
    covered = {r["labels"]["fault"] for r in _rules()}
    assert covered == set(FAULTS) - CHAOS_FAULTS


def test_the_written_configurations_pass_promtool_and_amtool(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=20000)
    root = monitoring.write_configs(cfg)
    res = _run([_tool("promtool"), "check", "config", str(root / "prometheus.yml")])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 8 rules found" in res.stdout
    prom = yaml.safe_load((root / "prometheus.yml").read_text())
    assert prom["global"]["scrape_interval"] == prom["global"]["evaluation_interval"] == "1s"
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:20002"]
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:20005"
    ]
    res = _run([_tool("amtool"), "check-config", str(root / "alertmanager.yml")])
    assert res.returncode == 0, res.stdout + res.stderr
    am = yaml.safe_load((root / "alertmanager.yml").read_text())
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook == {
        "url": "http://127.0.0.1:20002/_lab/alerts",
        "send_resolved": True,
        "max_alerts": 0,
    }


def test_missing_binaries_fail_with_one_line_naming_the_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(monitoring.ENV_PROMETHEUS, str(tmp_path / "no-prometheus"))
    monkeypatch.setenv(monitoring.ENV_ALERTMANAGER, str(tmp_path / "no-alertmanager"))
    with pytest.raises(LabUsageError) as err:
        monitoring.check_binaries()
    message = str(err.value)
    assert "\n" not in message
    assert "prometheus prometheus-alertmanager" in message
    monkeypatch.delenv(monitoring.ENV_PROMETHEUS)
    require(Path("/usr/bin/prometheus").exists(), "Debian's prometheus")
    with pytest.raises(LabUsageError, match=r"package\(s\) prometheus-alertmanager "):
        monitoring.check_binaries()
