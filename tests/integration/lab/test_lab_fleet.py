"""A lab with four web hosts (`irdrive lab up --web-hosts 4`): plain ansible-inventory lists
them from the lab inventory, block-ips blocks on every host in one run under each host's lock,
a second run changes nothing, a different N is refused while up, and down removes every host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ports import port_base

from irdrive_lab.control.config import LabConfig
from irdrive_lab.faults import faults
from irdrive_lab.hosts import netns

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
WEB = ["web", "web-2", "web-3", "web-4"]
ADDRESSES = [f"{ip}/32" for ip in faults.INTRUSION_IPS]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabConfig, dict[str, str]]]:
    cfg = LabConfig(dir=tmp_path_factory.mktemp("fleet-lab").resolve(), port_base=port_base(1))
    env = {
        **os.environ,
        "IRDRIVE_LAB_DIR": str(cfg.dir),
        "IRDRIVE_LAB_PORT_BASE": str(cfg.port_base),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    }
    up = _run(env, "irdrive", "lab", "up", "--web-hosts", "4")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield cfg, env
    finally:
        _run(env, "irdrive", "lab", "down", "--purge")


def _run(env: dict[str, str], tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args], env=env, capture_output=True, text=True, timeout=300
    )


def _block(env: dict[str, str]) -> dict[str, Any]:
    res = _run(env, "irdrive", "run", "block-ips", "--yes", "--json", "-e",
               "addresses=" + ",".join(faults.INTRUSION_IPS))  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    return dict(json.loads(res.stdout))


def test_the_lab_inventory_lists_the_web_hosts_without_the_driver(fleet: Any) -> None:
    cfg, env = fleet
    state = cfg.read_state()
    assert state["web_hosts"] == 4
    assert list(state["hosts"]) == sorted(["web", "db", "streaming", *WEB[1:]])
    assert len({rec["address"] for rec in state["hosts"].values()}) == 6
    status = _run(env, "irdrive", "lab", "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["web_hosts"] == 4
    inv = _run(env, "ansible-inventory", "-i", str(REPO / "inventories" / "lab"), "--list")
    assert inv.returncode == 0, inv.stderr
    groups = json.loads(inv.stdout)
    assert groups["web_hosts"]["hosts"] == WEB
    assert set(WEB[1:]) <= set(groups["lab_hosts"]["hosts"])  # so in platform_hosts
    assert "lab_hosts" in groups["platform_hosts"]["children"]
    web3 = groups["_meta"]["hostvars"]["web-3"]["irdrive_host"]
    assert web3["address"] == state["hosts"]["web-3"]["address"] and web3["kind"] == "web"


def test_block_ips_blocks_on_every_host_in_one_run_then_changes_nothing(fleet: Any) -> None:
    cfg, env = fleet
    state = cfg.read_state()
    hosts = sorted(state["hosts"])
    report = _block(env)
    assert set(report["hosts"]) == {"localhost", *hosts}
    # One controller task verifies every host's read-back, and names them.
    [verify] = [v for v in report["verified"] if v["task"].startswith("Verify every host")]
    assert sorted(verify["msg"].rsplit(": ", 1)[1].split(", ")) == hosts
    for host in hosts:
        rec = state["hosts"][host]
        deny = Path(rec["paths"]["nginx_deny_include"]).read_text()
        assert all(f"deny {a};" in deny for a in ADDRESSES), host
        listed = subprocess.run(
            ["ip", "netns", "exec", rec["netns"], "nft", "list", "set", "inet", "irdrive",
             "blocked_v4"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert all(a.split("/")[0] in listed.stdout for a in ADDRESSES), (host, listed)
        # Taken and given back by host_blocklist itself: the host_lock file, no holder left.
        lock = json.loads((Path(rec["paths"]["locks"]) / f"{host}.json").read_text())
        assert lock["holder"] == "" and lock["version"] == 2, (host, lock)

    again = _block(env)
    assert [t["task"] for t in again["tasks"] if t["status"] == "changed"] == []
    assert all(h.get("changed", 0) == 0 for h in again["hosts"].values())


def test_another_number_of_web_hosts_is_refused_while_up(fleet: Any) -> None:
    cfg, env = fleet
    res = _run(env, "irdrive", "lab", "up", "--web-hosts", "2")
    assert res.returncode == 2
    assert "is up with 4 web host(s), not 2" in res.stderr and "irdrive lab down" in res.stderr
    assert cfg.read_state()["web_hosts"] == 4


def test_down_removes_every_hosts_namespace(fleet: Any) -> None:
    cfg, env = fleet
    assert len(netns.lab_namespaces(cfg)) == 6
    down = _run(env, "irdrive", "lab", "down")
    assert down.returncode == 0, down.stderr
    assert netns.lab_namespaces(cfg) == []
