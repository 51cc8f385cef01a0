"""The lab's hosts: namespaces reached over SSH, the lab inventory, host faults, teardown."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ports import port_base
from helpers import require, requires, wait_until

from irdrive_lab.control.config import HOST_NAMES, LabConfig
from irdrive_lab.control.errors import LabError
from irdrive_lab.hosts import hostdata, hosts, netns

REPO = Path(__file__).resolve().parents[3]
ANSIBLE = Path(sys.executable).parent / "ansible"
LOG_RE = re.compile(
    r'^(?P<ip>\S+) - - \[(?P<ts>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" '
    r'(?P<status>\d{3}) (?P<size>\d+) "[^"]*" "[^"]*"$'
)

can_netns = (
    os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("sshd") is not None
)
needs_netns = requires(can_netns, "root, iproute2 (ip) and openssh-server (sshd)")

Lab = tuple[LabConfig, dict[str, Any]]


def write_lab_json(cfg: LabConfig, info: dict[str, Any]) -> None:
    """The part of lab.json the inventory reads, as the manager writes it."""
    base = "http://127.0.0.1"
    cfg.write_state(
        {
            "dir": str(cfg.dir),
            "kubeconfig": str(cfg.kubeconfig),
            "endpoints": {
                "kubernetes": f"https://127.0.0.1:{cfg.port('kubernetes')}",
                "aws": f"{base}:{cfg.port('aws')}",
                "platform": f"{base}:{cfg.port('platform')}",
            },
            "hosts": info,
        }
    )


def ansible(cfg: LabConfig, pattern: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, IRDRIVE_LAB_DIR=str(cfg.dir), ANSIBLE_NOCOLOR="1")
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(cfg.run_dir / "cp")
    argv = [str(ANSIBLE), "-i", str(REPO / "inventories/lab"), pattern, *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def ssh(cfg: LabConfig, host: str, command: str) -> str:
    res = subprocess.run(
        ["ssh", "-F", str(hosts.ssh_config(cfg)), host, command],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def leftovers(cfg: LabConfig) -> list[str]:
    """Namespaces, links, mounts and sshd processes of this lab that still exist."""
    found = [ln.netns for ln in hosts.links(cfg) if netns.netns_exists(ln.netns)]
    found += [ln.veth for ln in hosts.links(cfg) if netns.link_exists(ln.veth)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link line: {line}" for line in links.splitlines() if f"ir{cfg.lab_id}" in line]
    netns_list = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns: {line}" for line in netns_list.splitlines() if cfg.lab_id in line]
    if str(cfg.dir) in Path("/proc/self/mounts").read_text():
        found.append("a mount below the lab folder")
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "sshd" in cmdline and str(cfg.dir) in cmdline:
            found.append(f"process {pid_dir.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require(can_netns, "root, iproute2 (ip) and openssh-server (sshd)")
    cfg = LabConfig(dir=Path(tmp_path_factory.mktemp("hosts-lab")), port_base=port_base(1))
    started = time.monotonic()
    info = hosts.start(cfg, {"hosts_mode": "netns"})
    try:
        hosts.wait_ready(cfg, info, timeout=10)
        print(f"hosts start+ready: {time.monotonic() - started:.2f}s")
        write_lab_json(cfg, info)
        yield cfg, info
    finally:
        hosts.stop(cfg, info)


# ---- seeded data (no lab needed) --------------------------------------------------------
@pytest.mark.parametrize("host", HOST_NAMES)
def test_seeded_access_log_is_24h_of_combined_format(host: str) -> None:
    now = time.time()
    lines = hostdata.seeded_access_log(host, now=now).splitlines()
    assert len(lines) == hostdata.SEED_LINES[host]
    parsed = [LOG_RE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m][:3]
    statuses = [int(m["status"]) for m in parsed if m]
    assert statuses.count(200) / len(statuses) > 0.85
    assert not {401, 403} & set(statuses)
    if host == "web":
        assert 0 < statuses.count(404) < len(statuses) * 0.1
        assert len({m["ip"] for m in parsed if m}) > 50
    stamps = [time.mktime(time.strptime(m["ts"], "%d/%b/%Y:%H:%M:%S +0000")) for m in parsed if m]
    assert max(stamps) - min(stamps) <= 86400


# ---- a running lab ----------------------------------------------------------------------
@needs_netns
def test_record_names_hosts_by_namespace_address_and_paths(lab: Lab) -> None:
    cfg, info = lab
    assert set(info) == set(HOST_NAMES)
    addresses = {info[h]["address"] for h in HOST_NAMES}
    assert len(addresses) == 3
    for host in HOST_NAMES:
        rec = info[host]
        assert rec["connection"] == "ssh" and rec["port"] == 22
        assert rec["netns"] == f"ird-{cfg.lab_id}-{host}" and netns.netns_exists(rec["netns"])
        assert len(rec["veth"]) <= 15
        assert rec["address"].startswith(f"10.213.{cfg.subnet_index}.")
        assert Path(rec["paths"]["access_log"]).is_file()
        assert Path(rec["paths"]["nginx_conf_dir"]).is_dir()
        assert rec["nft"] is True
    videos = Path(info["streaming"]["paths"]["video_storage"])
    assert sorted(p.name for p in videos.iterdir()) == sorted(f"{v}.mp4" for v in hostdata.VIDEOS)
    ok, detail = hosts.health(cfg, info)
    assert ok, detail
    assert info["web"]["address"] in detail


@needs_netns
@pytest.mark.parametrize("host", HOST_NAMES)
def test_ssh_lands_inside_the_hosts_own_namespace(lab: Lab, host: str) -> None:
    cfg, info = lab
    out = ssh(cfg, host, "ip -4 -o addr show; echo host=$IRDRIVE_LAB_HOST")
    assert f"inet {info[host]['address']}/30" in out
    others = {info[h]["address"] for h in HOST_NAMES if h != host}
    assert not any(f"inet {a}/" in out for a in others)
    assert f"host={host}" in out


@needs_netns
def test_inventory_reaches_every_host_over_ssh(lab: Lab) -> None:
    cfg, info = lab
    ping = ansible(cfg, "lab_hosts", "-m", "ansible.builtin.ping")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert ping.stdout.count("pong") == 3
    res = ansible(cfg, "lab_hosts", "-o", "-m", "ansible.builtin.command", "-a", "ip -4 -o addr")
    assert res.returncode == 0, res.stdout + res.stderr
    for host in HOST_NAMES:
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith(f"{host} |"))
        assert f"inet {info[host]['address']}/30" in line


@needs_netns
def test_inventory_exports_lab_vars(lab: Lab) -> None:
    cfg, info = lab
    res = ansible(
        cfg,
        "localhost",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg='{{ irdrive_platform_url }}|{{ irdrive_kubeconfig }}|{{ irdrive_k8s_namespace }}"
        "|{{ hostvars.streaming.video_storage_path }}|{{ hostvars.web.nginx_deny_include_path }}'",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    expected = "|".join(
        [
            f"http://127.0.0.1:{cfg.port('platform')}",
            str(cfg.kubeconfig),
            "platform",
            info["streaming"]["paths"]["video_storage"],
            info["web"]["paths"]["nginx_deny_include"],
        ]
    )
    assert expected in res.stdout.replace("\n        ", "")


@needs_netns
def test_nft_over_ssh_changes_only_that_host(lab: Lab) -> None:
    cfg, info = lab
    ssh(cfg, "web", "nft add table inet irdrive_probe")
    try:
        assert "irdrive_probe" in ssh(cfg, "web", "nft list tables")
        assert "irdrive_probe" not in ssh(cfg, "db", "nft list tables")
        root = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert "irdrive_probe" not in root
    finally:
        hosts.reseed(cfg, info)
    assert "irdrive_probe" not in ssh(cfg, "web", "nft list tables")


@needs_netns
def test_disk_full_fills_video_storage_and_clears(lab: Lab) -> None:
    cfg, info = lab
    storage = info["streaming"]["paths"]["video_storage"]
    summary = hosts.fault_disk_full(cfg, info, count=200)
    try:
        assert summary["files"] > 100 and summary["older_than_2h"] > 0 and summary["fresh"] > 0
        old = ssh(cfg, "streaming", f"find {storage} -name '*.tmp' -mmin +120 | wc -l")
        fresh = ssh(cfg, "streaming", f"find {storage} -name '*.tmp' -mmin -60 | wc -l")
        assert int(old) == summary["older_than_2h"] and int(fresh) == summary["fresh"]
        if info["streaming"]["video_storage_fs"]["type"] == "tmpfs":
            pcent = ssh(cfg, "streaming", f"df --output=pcent {storage} | tail -1")
            assert int(pcent.strip().rstrip("%")) >= 90
        else:
            apparent = ssh(cfg, "streaming", f"du -sb --apparent-size {storage}").split()[0]
            assert int(apparent) > 10 * 2**30
    finally:
        cleared = hosts.clear_disk_full(cfg, info)
    assert cleared["removed"] == summary["files"]
    assert not list(Path(storage).glob("*.tmp"))
    assert len(list(Path(storage).glob("*.mp4"))) == len(hostdata.VIDEOS)
    assert hosts.clear_disk_full(cfg, info)["removed"] == 0


@needs_netns
def test_intrusion_appends_401_403_bursts_and_clears(lab: Lab) -> None:
    cfg, info = lab
    log = Path(info["web"]["paths"]["access_log"])
    before = log.read_bytes()
    ips = ["203.0.113.7", "198.51.100.200"]
    summary = hosts.fault_intrusion_hosts(cfg, info, ips)
    try:
        grep = ssh(cfg, "web", f"grep -E '\" (401|403) ' {log} | tail -100")
        lines = grep.splitlines()
        assert len(lines) == 100
        assert {line.split()[0] for line in lines} == set(ips)
        assert summary["lines"] == 120
    finally:
        hosts.clear_intrusion_hosts(cfg, info, None)
    assert log.read_bytes() == before


@needs_netns
def test_intrusion_rejects_a_bad_address_and_writes_nothing(lab: Lab) -> None:
    cfg, info = lab
    log = Path(info["web"]["paths"]["access_log"])
    before = log.read_bytes()
    with pytest.raises(LabError, match="not an IP address"):
        hosts.fault_intrusion_hosts(cfg, info, ["203.0.113.5", "not-an-ip"])
    assert log.read_bytes() == before


@needs_netns
def test_reseed_restores_logs_storage_and_removes_deny_includes(lab: Lab) -> None:
    cfg, info = lab
    web, streaming = info["web"]["paths"], info["streaming"]["paths"]
    Path(web["nginx_deny_include"]).write_text("deny 203.0.113.7;\n")
    Path(web["access_log"]).write_text("truncated\n")
    Path(streaming["video_storage"], "stray.bin").write_bytes(b"x")
    hosts.reseed(cfg, info)
    assert not Path(web["nginx_deny_include"]).exists()
    assert len(Path(web["access_log"]).read_text().splitlines()) == hostdata.SEED_LINES["web"]
    names = sorted(p.name for p in Path(streaming["video_storage"]).iterdir())
    assert names == sorted(f"{v}.mp4" for v in hostdata.VIDEOS)


@needs_netns
def test_deny_include_is_valid_nginx(lab: Lab) -> None:
    cfg, info = lab
    require(shutil.which("nginx"), "nginx is not on PATH")
    paths = info["web"]["paths"]
    Path(paths["nginx_deny_include"]).write_text("deny 203.0.113.7;\n")
    try:
        res = subprocess.run(["nginx", "-t", "-c", paths["nginx_conf"]], capture_output=True)
        assert res.returncode == 0, res.stderr
    finally:
        Path(paths["nginx_deny_include"]).unlink()


# ---- lifecycle ----------------------------------------------------------------------------
@needs_netns
def test_second_lab_runs_beside_the_first_and_stops_clean(lab: Lab, tmp_path: Path) -> None:
    first_cfg, first_info = lab
    cfg = LabConfig(dir=tmp_path / "second", port_base=port_base(2))  # another base: another subnet
    assert cfg.subnet_index != first_cfg.subnet_index
    t0 = time.monotonic()
    info = hosts.start(cfg, {"hosts_mode": "netns"})
    try:
        hosts.wait_ready(cfg, info, timeout=10)
        started = time.monotonic() - t0
        assert hosts.health(first_cfg, first_info)[0]
        assert {info[h]["netns"] for h in HOST_NAMES}.isdisjoint(
            {first_info[h]["netns"] for h in HOST_NAMES}
        )
        assert f"inet {info['db']['address']}/30" in ssh(cfg, "db", "ip -4 -o addr")
        os.kill(info["web"]["procs"][0]["pid"], 9)
        wait_until(
            lambda: (
                not (h := hosts.health(cfg, info))[0]
                and h[1].startswith("web: sshd is not running")
            ),
            timeout=5,
            what="the health check to see web's sshd not running",
        )
    finally:
        t1 = time.monotonic()
        hosts.stop(cfg, info)
        stopped = time.monotonic() - t1
    print(f"3 hosts: start+ready {started:.2f}s, stop {stopped:.2f}s")
    assert started < 5 and stopped < 5
    assert leftovers(cfg) == []
    hosts.stop(cfg, info)  # idempotent
    hosts.stop(cfg, {})
    assert hosts.health(first_cfg, first_info)[0]


@needs_netns
def test_stop_ends_logged_in_sessions_too(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path / "lab", port_base=port_base(3))
    info = hosts.start(cfg, {"hosts_mode": "netns"})
    try:
        hosts.wait_ready(cfg, info, timeout=10)
        session = subprocess.Popen(
            ["ssh", "-F", str(hosts.ssh_config(cfg)), "web", "sleep 300"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: "sleep" in _netns_commands(info["web"]["netns"]),
            timeout=5,
            interval=0.05,
            what="the ssh session's sleep in web's namespace",
        )
    finally:
        hosts.stop(cfg, info)
    session.wait(timeout=10)
    assert leftovers(cfg) == []


def _netns_commands(name: str) -> str:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
    out = []
    for pid in pids.split():
        with contextlib.suppress(OSError):
            out.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return " ".join(out)


@needs_netns
def test_subnet_taken_by_another_lab_is_refused_and_nothing_is_left(
    lab: Lab, tmp_path: Path
) -> None:
    first_cfg, first_info = lab
    # Bases 2000 apart share a subnet: the second lab must refuse, not steal the first one's.
    cfg = LabConfig(dir=tmp_path / "clash", port_base=first_cfg.port_base + 2000)
    assert cfg.subnet_index == first_cfg.subnet_index
    with pytest.raises(LabError, match=r"subnet 10\.213\.\d+\.0/24 is already used by ir"):
        hosts.start(cfg, {"hosts_mode": "netns"})
    assert leftovers(cfg) == []
    assert hosts.health(first_cfg, first_info)[0]


@needs_netns
def test_missing_sshd_fails_in_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = LabConfig(dir=tmp_path / "lab", port_base=port_base(5))
    monkeypatch.setattr(netns, "SSHD", "/nonexistent/sbin/sshd")
    with pytest.raises(LabError) as err:
        hosts.start(cfg, {"hosts_mode": "netns"})
    assert "/nonexistent/sbin/sshd is not installed" in str(err.value)
    assert "\n" not in str(err.value)
    assert leftovers(cfg) == []


def test_local_fallback_hosts_work_through_the_inventory(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path / "lab", port_base=port_base(6))
    info = hosts.start(cfg, {"hosts_mode": "local"})
    try:
        hosts.wait_ready(cfg, info, timeout=5)
        ok, detail = hosts.health(cfg, info)
        assert ok and detail.startswith("local-connection hosts") and "forced" in detail
        assert all(info[h]["connection"] == "local" and info[h]["nft"] is False for h in info)
        write_lab_json(cfg, info)
        res = ansible(cfg, "lab_hosts", "-m", "ansible.builtin.ping")
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.count("pong") == 3
        summary = hosts.fault_disk_full(cfg, info, count=30)
        assert summary["files"] == 30
        assert hosts.clear_disk_full(cfg, info)["removed"] == 30
    finally:
        hosts.stop(cfg, info)
    if os.geteuid() == 0:
        assert leftovers(cfg) == []


def test_unknown_hosts_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="hosts mode 'bogus'"):
        hosts.start(LabConfig(dir=tmp_path / "lab"), {"hosts_mode": "bogus"})
