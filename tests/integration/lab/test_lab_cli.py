"""`irdrive lab` as a user runs it: up/down leave nothing behind; bad input starts nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _ports import port_base

IRDRIVE = str(Path(sys.executable).parent / "irdrive")


def _irdrive(lab_dir: Path, port_base: int, *args: str, env: dict | None = None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("IRDRIVE_LAB_DIR", None)
    return subprocess.run(
        [IRDRIVE, "lab", "--lab-dir", str(lab_dir), "--port-base", str(port_base), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            raw = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in raw and "pytest" not in raw:
            found.append(raw)
    return found


def _netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _port_free(port: int) -> bool:
    """Nothing listens on the port (connections the server closed may linger in TIME_WAIT)."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_up_then_down_leaves_no_process_port_or_namespace(tmp_path: Path) -> None:
    lab_dir, base = tmp_path / "lab-a", port_base(1)
    up = _irdrive(lab_dir, base, "up")
    assert up.returncode == 0, up.stderr
    assert "Kubeconfig:" in up.stdout
    state = json.loads((lab_dir / "lab.json").read_text())
    lab_id = state["lab_id"]
    st = _irdrive(lab_dir, base, "status", "--json")
    assert st.returncode == 0, st.stdout
    status = json.loads(st.stdout)
    assert status["up"] is True and status["parts"]["monitoring"]["healthy"] is True
    assert status["alertmanager_url"] == state["alertmanager_url"] == f"http://127.0.0.1:{base + 5}"
    assert status["prometheus_url"] == state["prometheus_url"] == f"http://127.0.0.1:{base + 4}"
    assert not _port_free(base) and not _port_free(base + 2)
    assert lab_id in _netns_list()

    down = _irdrive(lab_dir, base, "down")
    assert down.returncode == 0, down.stderr
    assert _processes_mentioning(str(lab_dir)) == []
    assert _processes_mentioning(f"irdrive-pg-{lab_id}") == []
    assert all(_port_free(base + off) for off in range(6))  # Prometheus +4, Alertmanager +5
    assert lab_id not in _netns_list()
    assert (lab_dir / "monitoring" / "prometheus-data").is_dir()  # kept, like the cluster
    st = _irdrive(lab_dir, base, "status")
    assert st.returncode == 1 and "not running" in st.stdout
    # The cluster is kept for a fast next `up`, until --purge deletes it.
    cluster = Path(f"/var/tmp/irdrive-pg-{lab_id}")
    assert cluster.is_dir()
    purged = _irdrive(lab_dir, base, "down", "--purge")
    assert purged.returncode == 0 and "deleted" in purged.stdout, purged.stderr
    assert not cluster.exists() and not (lab_dir / "pgdata").is_symlink()
    assert not (lab_dir / "monitoring").exists()


def test_unknown_fault_is_one_clear_line(tmp_path: Path) -> None:
    res = _irdrive(tmp_path / "lab-x", port_base(2), "fault", "meteor-strike")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown fault 'meteor-strike'" in lines[0]
    assert "processor-down" in lines[0]


def test_port_in_use_starts_nothing(tmp_path: Path) -> None:
    lab_dir, base = tmp_path / "lab-b", port_base(3)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 2))
        blocker.listen()
        res = _irdrive(lab_dir, base, "up")
    assert res.returncode == 2
    assert f"port {base + 2}" in res.stderr and "already in use" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (lab_dir / "lab.json").exists()
    assert _processes_mentioning(str(lab_dir)) == []


def test_missing_postgres_binaries_starts_nothing(tmp_path: Path) -> None:
    lab_dir, base = tmp_path / "lab-c", port_base(4)
    res = _irdrive(lab_dir, base, "up", env={"IRDRIVE_PG_BINDIR": str(tmp_path / "nowhere")})
    assert res.returncode == 2
    assert "missing PostgreSQL binaries" in res.stderr
    assert not (lab_dir / "lab.json").exists()
    assert _processes_mentioning(str(lab_dir)) == []


def test_missing_monitoring_binaries_is_one_line_naming_the_packages(tmp_path: Path) -> None:
    lab_dir, base = tmp_path / "lab-d", port_base(5)
    nowhere = str(tmp_path / "nowhere")
    res = _irdrive(
        lab_dir, base, "up", env={"IRDRIVE_PROMETHEUS": nowhere, "IRDRIVE_ALERTMANAGER": nowhere}
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "prometheus prometheus-alertmanager" in lines[0], res.stderr
    assert not (lab_dir / "lab.json").exists()
    assert _processes_mentioning(str(lab_dir)) == []


@pytest.mark.parametrize("base", ["80", "notaport"])
def test_bad_port_base_is_usage_error(tmp_path: Path, base: str) -> None:
    res = subprocess.run(
        [IRDRIVE, "lab", "--lab-dir", str(tmp_path), "--port-base", base, "status"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
