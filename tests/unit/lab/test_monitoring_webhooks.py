"""Further Alertmanager receivers (``irdrive lab up --alert-webhook``), checked by amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import require

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.errors import LabUsageError
from irdrive_lab.monitoring import monitoring

LAB_HOOK = {"url": "http://127.0.0.1:20002/_lab/alerts", "send_resolved": True, "max_alerts": 0}


def _webhook_urls(root: Path) -> list[str]:
    am = yaml.safe_load((root / "alertmanager.yml").read_text())
    assert [r["name"] for r in am["receivers"]] == ["lab"]
    hooks = am["receivers"][0]["webhook_configs"]
    assert hooks[0] == LAB_HOOK  # the lab's own receiver stays first, unchanged
    assert all(h["send_resolved"] is True and h["max_alerts"] == 0 for h in hooks)
    return [h["url"] for h in hooks]


def test_further_webhooks_sit_beside_the_labs_own(tmp_path: Path) -> None:
    amtool = shutil.which("amtool") or "/usr/bin/amtool"
    require(Path(amtool).exists(), "amtool (Debian's prometheus-alertmanager)")
    cfg = LabConfig(dir=tmp_path, port_base=20000)
    urls = ["http://127.0.0.1:20050/alerts", "https://eda.example:5000/"]
    root = monitoring.write_configs(cfg, monitoring.alert_webhooks(urls))
    res = subprocess.run(
        [amtool, "check-config", str(root / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert _webhook_urls(root) == [LAB_HOOK["url"], *urls]


def test_webhooks_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(monitoring.ENV_ALERT_WEBHOOKS, "http://a:1/x, http://b:2/y")
    assert monitoring.alert_webhooks() == ["http://a:1/x", "http://b:2/y"]
    assert monitoring.alert_webhooks([]) == []  # given explicitly: the environment is not read
    monkeypatch.delenv(monitoring.ENV_ALERT_WEBHOOKS)
    assert monitoring.alert_webhooks() == []
    root = monitoring.write_configs(LabConfig(dir=tmp_path, port_base=20000))
    assert _webhook_urls(root) == [LAB_HOOK["url"]]


@pytest.mark.parametrize("url", ["ftp://x/y", "127.0.0.1:5000", 'http://x/"y', "http:///path"])
def test_a_bad_webhook_url_is_one_usage_error(url: str) -> None:
    with pytest.raises(LabUsageError, match="is not an http\\(s\\) URL"):
        monitoring.alert_webhooks([url])


def test_lab_up_refuses_a_bad_webhook_before_starting_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from irdrive.cli import cli

    args = ["lab", "--lab-dir", str(tmp_path / "lab"), "--port-base", "20000", "up"]
    res = CliRunner().invoke(cli, [*args, "--alert-webhook", "ftp://x/y"])
    assert res.exit_code == 2, res.output
    assert "alert webhook 'ftp://x/y' is not an http(s) URL" in res.output
    assert not (tmp_path / "lab").exists()
