"""The target of a real run is named and must be there: the first line names the lab's folder
and Kubernetes API server (``--json`` keeps stdout pure JSON), and a lab that was stopped is
refused, not started afresh to report green on state nobody saw fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

IRDRIVE = str(Path(sys.executable).parent / "irdrive")


def irdrive(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [IRDRIVE, *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_a_lab_run_names_the_lab_and_its_api_server(
    lab: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    config = yaml.safe_load(Path(lab["kubeconfig"]).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    env = dict(lab_env, IRDRIVE_STATE_DIR=str(tmp_path / "state"))
    done = irdrive("run", "diagnose", "--json", "--yes", env=env)
    report = json.loads(done.stdout)  # stdout is the report alone
    assert report["runbook"] == "diagnose" and report["target"] == "lab"
    first = done.stderr.splitlines()[0]
    assert first == f"Target: lab ({lab_env['IRDRIVE_LAB_DIR']}; Kubernetes API {server})"


def test_a_stopped_lab_is_refused_and_not_restarted(lab_cfg: Any, tmp_path: Path) -> None:
    from irdrive_lab.control import manager
    from irdrive_lab.control.config import LabConfig

    # A lab of its own: the last slot of this test run's ports (tests/integration/lab/_ports.py).
    cfg = LabConfig(dir=(tmp_path / "lab").resolve(), port_base=lab_cfg.port_base + 90)
    env = dict(
        os.environ,
        IRDRIVE_LAB_DIR=str(cfg.dir),
        IRDRIVE_LAB_PORT_BASE=str(cfg.port_base),
        IRDRIVE_STATE_DIR=str(tmp_path / "state"),
    )
    try:
        manager.up(cfg)
        manager.down(cfg)  # stopped, its folder kept: as after `irdrive lab down`
        journal = cfg.journal_file.read_bytes() if cfg.journal_file.exists() else b""
        done = irdrive("run", "payments-failover", "--yes", env=env, timeout=120)
        assert done.returncode == 3, done.stdout + done.stderr
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            f"Error: the lab at {cfg.dir} is not up: start it with `irdrive lab up`"
        ]
        assert not manager.is_up(cfg)
        assert (cfg.journal_file.read_bytes() if cfg.journal_file.exists() else b"") == journal
        assert not (tmp_path / "state").exists()  # no run folder: nothing ran
    finally:
        manager.down(cfg, purge=True)
