"""A lab with four web hosts (`irdrive lab up --web-hosts 4`): plain ansible-inventory lists
them from the lab inventory, block-ips blocks on every host in one run under each host's lock,
a second run changes nothing, a different N is refused while up, and down removes every host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


@pytest.mark.parametrize("fanout", [False, True])
def test_a_held_host_lock_refuses_that_host_and_the_module_path_agrees(
    fleet: Any, fanout: bool
) -> None:
    """Plain ansible-playbook, no driver: web-3's lock file is held by another run, so web-3
    refuses and changes nothing. Per host (fanout=false): web-4 runs host_blocklist as a module
    (the fallback), the others the lean path; both return the same result keys and block the
    address. Fan-out: one controller task sends the same lean program to every host, still one
    command over ssh per host, and fails naming web-3."""
    cfg, env = fleet
    state = cfg.read_state()
    held = Path(state["hosts"]["web-3"]["paths"]["locks"]) / "web-3.json"
    now = time.time()
    lock = {"holder": "run B", "duration": 600, "acquire_time": now, "renew_time": now}
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_text(json.dumps({**lock, "transitions": 0, "version": 7}))
    address = "192.0.2.78" if fanout else "192.0.2.77"
    extra = {
        "block_ips_addresses": [address],
        "block_ips_targets": ["hosts"],
        "block_ips_hosts_group": "web_hosts",
        "block_ips_fanout": fanout,
        "irdrive_lock_wait": 0,
    }
    if not fanout:
        extra["irdrive_host_blocklist_lean"] = "{{ inventory_hostname != 'web-4' }}"
    log = cfg.dir / f"held-lock-run-{fanout}.log"  # what each host ran (-vvv, to the log only)
    res = subprocess.run(
        [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / "block-ips.yml"),
         "-e", json.dumps(extra)],
        env={**env, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOG_PATH": str(log),
             "ANSIBLE_LOG_VERBOSITY": "3"},
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert res.returncode != 0, res.stdout[-2000:]
    out = json.loads(res.stdout)
    results: dict[str, Any] = {}
    fleet_task: dict[str, Any] = {}
    for play in out["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            if name.endswith("Update the host's nftables sets and nginx deny include"):
                results.update(task["hosts"])
            elif name.endswith("Update the hosts' nftables sets and nginx deny includes"):
                fleet_task = task["hosts"]["localhost"]
                results.update(fleet_task.get("hosts") or {})
    assert sorted(results) == WEB, results
    assert results["web-3"]["failed"] and results["web-3"]["error_kind"] == "locked"
    assert "is locked by run B" in results["web-3"]["msg"]
    assert json.loads(held.read_text())["holder"] == "run B"  # left as it was
    for host in ("web", "web-2", "web-4"):
        assert results[host]["changed"] and not results[host].get("failed"), results[host]
        assert results[host]["host_lock"]["released"] == "released"
        deny = Path(state["hosts"][host]["paths"]["nginx_deny_include"]).read_text()
        assert f"deny {address}/32;" in deny, host
    web3_deny = Path(state["hosts"]["web-3"]["paths"]["nginx_deny_include"])
    assert not web3_deny.exists() or address not in web3_deny.read_text()
    if fanout:
        assert fleet_task["failed"] and fleet_task["failed_hosts"] == ["web-3"]
        assert fleet_task["msg"].startswith("Blocking failed on 1 of 4 host(s): web-3 (failed")
    # One command per host: the lean program on the inventory's python3 (-I -S, on stdin), or
    # the module's pipelined AnsiballZ on web-4; the same result keys either way.
    execs = {
        host: [ln for ln in log.read_text().splitlines() if f"<{rec['address']}> SSH: EXEC" in ln]
        for host, rec in state["hosts"].items()
        if host in WEB
    }
    assert all(len(lines) == 1 for lines in execs.values()), execs
    assert all("/usr/bin/python3 -I -S -" in execs[h][0] for h in ("web", "web-2", "web-3"))
    if fanout:
        assert "/usr/bin/python3 -I -S -" in execs["web-4"][0]
    else:
        assert "-I -S" not in execs["web-4"][0] and "/usr/bin/python3" in execs["web-4"][0]
    assert sorted(results["web-4"]) == sorted(results["web"])
    assert results["web-4"]["after"] == results["web"]["after"]
    held.unlink()


@pytest.fixture
def web4_refuses_ssh(fleet: Any) -> Iterator[None]:
    """web-4 answers every ssh packet with a TCP reset (a rule of its own, in its namespace)."""
    cfg, _env = fleet
    netns_name = cfg.read_state()["hosts"]["web-4"]["netns"]
    nft = ["ip", "netns", "exec", netns_name, "nft"]
    rules = (
        "table inet fleet_test {\n chain input {\n  type filter hook input priority -20;\n"
        "  tcp dport 22 reject with tcp reset\n }\n}\n"
    )
    subprocess.run([*nft, "-f", "-"], input=rules, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run([*nft, "delete", "table", "inet", "fleet_test"], check=False)


@pytest.mark.parametrize("fanout", ["true", "false"])
def test_an_unreachable_host_fails_the_run_naming_it_and_the_others_are_blocked(
    fleet: Any, web4_refuses_ssh: None, fanout: str, tmp_path: Path
) -> None:
    cfg, env = fleet
    state = cfg.read_state()
    address = "192.0.2.90" if fanout == "true" else "192.0.2.91"
    res = _run({**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp")}, "irdrive", "run",
               "block-ips", "--yes", "--json", "-e", f"addresses={address}", "-e", "targets=hosts",
               "-e", "hosts_group=web_hosts", "-e", f"fanout={fanout}")  # fmt: skip
    report = json.loads(res.stdout)
    assert res.returncode == 3, report["errors"]
    assert report["unreachable"] == ["web-4"]
    web4_errors = [e for e in report["errors"] if "[web-4]" in e]
    assert len(web4_errors) == 1 and "\n" not in web4_errors[0], report["errors"]
    assert len(report["errors"]) == 1, report["errors"]  # the host's, told once
    assert set(report["hosts"]) == {"localhost", *WEB}
    for host in WEB[:3]:
        deny = Path(state["hosts"][host]["paths"]["nginx_deny_include"]).read_text()
        assert f"deny {address}/32;" in deny, host
        assert report["hosts"][host].get("changed") == 1, report["hosts"]
    # What the three hosts' blocks replaced is recorded, web-4's is not (nothing was done).
    recorded = {c["target"].split("/")[1] for c in report["recorded"]["irdrive_changes"]}
    assert recorded == set(WEB[:3])


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
