"""`irdrive lab up --web-hosts N`: the hosts' names, links and seeded files, and the lab
inventory's script (inventories/lab/lab_json.py), without starting a lab."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from irdrive_lab.control.config import MAX_WEB_HOSTS, LabConfig, host_kind, host_names
from irdrive_lab.hosts import hostdata, hosts

SCRIPT = Path(__file__).resolve().parents[3] / "inventories" / "lab" / "lab_json.py"


def test_the_default_lab_keeps_its_three_hosts_and_a_fleet_adds_web_hosts() -> None:
    assert host_names() == ["web", "db", "streaming"]
    assert host_names(4) == ["web", "db", "streaming", "web-2", "web-3", "web-4"]
    assert [host_kind(h) for h in host_names(3)] == ["web", "db", "streaming", "web", "web"]
    for bad in (0, MAX_WEB_HOSTS + 1):
        with pytest.raises(ValueError, match=f"1..{MAX_WEB_HOSTS}"):
            host_names(bad)


@pytest.mark.parametrize("port_base", [17600, 17800, 18300, 65000])
def test_the_biggest_fleet_fits_the_labs_subnet_with_unique_names(port_base: int) -> None:
    cfg = LabConfig(dir=Path("/tmp/lab-fleet"), port_base=port_base)
    names = host_names(MAX_WEB_HOSTS)
    links = hosts.links(cfg, names)
    net = ipaddress.ip_network(f"10.213.{cfg.subnet_index}.0/24")
    addresses = [ipaddress.ip_address(a) for link in links for a in (link.gateway, link.address)]
    assert len(set(addresses)) == 2 * len(names) and all(a in net for a in addresses)
    assert all(a not in (net.network_address, net.broadcast_address) for a in addresses)
    assert len({link.veth for link in links}) == len(names)
    assert max(len(link.veth) for link in links) <= 15  # IFNAMSIZ - 1
    assert len({link.netns for link in links}) == len(names)
    # The three hosts of every lab keep their addresses whatever N is.
    assert [link.address for link in links[:3]] == [link.address for link in hosts.links(cfg)]


def test_names_of_a_lab_come_back_in_start_order_from_sorted_lab_json() -> None:
    info = {name: {"name": name} for name in sorted(host_names(12))}  # as lab.json keeps them
    assert hosts.names_of(info) == host_names(12)
    assert hosts.web_hosts(info) == 12
    assert hosts.names_of({}) == ["web", "db", "streaming"]


def test_an_extra_web_host_is_seeded_like_web_with_its_own_log(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path / "lab")
    paths = hosts.host_paths(cfg, "web-7")
    assert paths["storage"].endswith("hosts/web-7/var/www/uploads")
    hostdata.reseed_host("web-7", paths)
    log = Path(paths["access_log"]).read_text().splitlines()
    assert len(log) == hostdata.SEED_LINES["web"]
    assert log != hostdata.seeded_access_log("web").splitlines()
    assert sorted(p.name for p in Path(paths["storage"]).iterdir())[0] == "avatar-000.png"


def _inventory(tmp_path: Path, lab_json: str | None) -> subprocess.CompletedProcess[str]:
    lab = tmp_path / "lab"
    lab.mkdir(exist_ok=True)
    if lab_json is not None:
        (lab / "lab.json").write_text(lab_json)
    env = {**os.environ, "IRDRIVE_LAB_DIR": str(lab)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--list"], env=env, capture_output=True, text=True
    )


def test_the_inventory_script_lists_the_fleet_from_lab_json(tmp_path: Path) -> None:
    records = {h: {"name": h, "kind": host_kind(h), "address": h} for h in host_names(11)}
    state = {"hosts": dict(sorted(records.items())), "web_hosts": 11}
    res = _inventory(tmp_path, json.dumps(state, sort_keys=True))
    assert res.returncode == 0, res.stderr
    inv = json.loads(res.stdout)
    assert inv["lab_hosts"]["hosts"] == [
        "web",
        "db",
        "streaming",
        *(f"web-{k}" for k in range(2, 12)),
    ]
    assert inv["web_hosts"]["hosts"] == ["web", *(f"web-{k}" for k in range(2, 12))]
    assert inv["_meta"]["hostvars"]["web-10"] == {
        "irdrive_host": records["web-10"],
        "ansible_host": "web-10",
        "ansible_port": 22,
        "ansible_ssh_private_key_file": "",
        "video_storage_path": "",
    }
    assert set(inv["_meta"]["hostvars"]) == set(records)
    assert inv["all"]["vars"] == {"irdrive_lab": state, "irdrive_lab_dir": str(tmp_path / "lab")}


def test_a_lab_hosts_variables_are_plain_values_from_its_record(tmp_path: Path) -> None:
    record = {
        "name": "web",
        "connection": "ssh",
        "address": "10.1.2.3",
        "port": 2222,
        "user": "root",
        "ssh_key": "/lab/pki/key",
        "ssh_args": "-o IdentitiesOnly=yes",
        "root": "/lab/hosts/web",
        "nft": True,
        "paths": {
            "access_log": "/lab/hosts/web/access.log",
            "storage": "/lab/hosts/web/uploads",
            "nginx_conf": "/lab/hosts/web/nginx.conf",
            "nginx_conf_dir": "/lab/hosts/web/conf.d",
            "nginx_deny_include": "/lab/hosts/web/conf.d/deny.conf",
        },
    }
    res = _inventory(tmp_path, json.dumps({"hosts": {"web": record}}))
    assert res.returncode == 0, res.stderr
    web = json.loads(res.stdout)["_meta"]["hostvars"]["web"]
    assert web == {
        "irdrive_host": record,
        "ansible_connection": "ssh",
        "ansible_host": "10.1.2.3",
        "ansible_port": 2222,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/lab/pki/key",
        "ansible_ssh_common_args": "-o IdentitiesOnly=yes",
        "host_root": "/lab/hosts/web",
        "access_log_path": "/lab/hosts/web/access.log",
        "storage_path": "/lab/hosts/web/uploads",
        "video_storage_path": "",
        "nginx_conf_path": "/lab/hosts/web/nginx.conf",
        "nginx_conf_dir": "/lab/hosts/web/conf.d",
        "nginx_deny_include_path": "/lab/hosts/web/conf.d/deny.conf",
        "nft_available": True,
        "irdrive_host_lock_dir": "/lab/hosts/web/var/lib/irdrive/locks",
    }


def test_the_inventory_script_without_a_lab_adds_nothing(tmp_path: Path) -> None:
    res = _inventory(tmp_path, None)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "lab_hosts": {"hosts": []},
        "web_hosts": {"hosts": []},
        "_meta": {"hostvars": {}},
    }


def test_the_inventory_script_refuses_a_broken_lab_json_naming_it(tmp_path: Path) -> None:
    res = _inventory(tmp_path, "{not json")
    assert res.returncode == 1 and "lab.json cannot be read" in res.stderr
    assert os.access(SCRIPT, os.X_OK)  # Ansible's script plugin runs it only when executable
