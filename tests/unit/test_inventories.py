"""The inventories load cleanly: every file in an inventory folder is an inventory source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("inventory", ["lab", "example"])
def test_the_inventory_loads_with_no_warning(inventory: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path),
        "IRDRIVE_LAB_DIR": str(tmp_path / "no-lab"),
    }
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-inventory"),
            "-i",
            f"inventories/{inventory}",
            "--list",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr, out.stderr
    assert "platform_hosts" in json.loads(out.stdout)
