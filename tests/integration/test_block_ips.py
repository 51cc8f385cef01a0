"""block-ips against the lab: blocks verified on WAF, NACL and hosts; idempotent; check-safe;
unblocks; refuses bad input; merges a concurrent WAF change instead of losing it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _runbook import (
    aws_client,
    changed_tasks,
    irdrive,
    lock_writes_since,
    run_json,
    writes_since,
)

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
INTRUSION = [f"{ip}/32" for ip in faults.INTRUSION_IPS]
SEEDED = "203.0.113.66/32"  # in the lab's WAF set from the start


@pytest.fixture
def fresh_lab(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    """The reset lab as lab.json now records it (a reset reseeds AWS with new ids)."""
    return lab_cfg.read_state()


@pytest.fixture
def intrusion(fresh_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    record = faults.inject(lab_cfg, fresh_lab, "intrusion", {})
    assert [f"{ip}/32" for ip in record["record"]["ips"]] == INTRUSION
    return fresh_lab


def waf_addresses(lab: dict[str, Any]) -> list[str]:
    ref = lab["parts"]["aws"]["resources"]["waf_ip_set"]
    got = aws_client(lab, "wafv2").get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])
    return sorted(got["IPSet"]["Addresses"])


def nacl_denies(lab: dict[str, Any]) -> dict[str, int]:
    """CIDR -> rule number of the ingress deny entries."""
    nacl_id = lab["parts"]["aws"]["resources"]["nacl_id"]
    acl = aws_client(lab, "ec2").describe_network_acls(NetworkAclIds=[nacl_id])["NetworkAcls"][0]
    return {
        e["CidrBlock"]: e["RuleNumber"]
        for e in acl["Entries"]
        if e["RuleAction"] == "deny" and not e["Egress"] and e["RuleNumber"] < 32767
    }


def host_blocks(lab: dict[str, Any], host: str) -> tuple[list[str] | None, list[str] | None]:
    """(nft set blocked_v4 elements or None when absent, deny lines or None when no file)."""
    rec = lab["parts"]["hosts"][host]
    res = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            rec["netns"],
            "nft",
            "-j",
            "list",
            "set",
            "inet",
            "irdrive",
            "blocked_v4",
        ],
        capture_output=True,
        text=True,
    )
    nft = None
    if res.returncode == 0:
        found = next(o["set"] for o in json.loads(res.stdout)["nftables"] if "set" in o)
        nft = sorted(
            e if isinstance(e, str) else f"{e['prefix']['addr']}/{e['prefix']['len']}"
            for e in found.get("elem", [])
        )
        nft = [e if "/" in e else f"{e}/32" for e in nft]
    path = Path(rec["paths"]["nginx_deny_include"])
    deny = None
    if path.exists():
        deny = [
            ln.split()[1].rstrip(";")
            for ln in path.read_text().splitlines()
            if ln.startswith("deny ")
        ]
    return nft, deny


def custom_stats(report: dict[str, Any]) -> dict[str, Any]:
    """set_stats data of the run (the playbook_on_stats event's artifact_data)."""
    for event in sorted(Path(report["run_dir"]).glob("artifacts/*/job_events/*.json")):
        data = json.loads(event.read_text())
        if data.get("event") == "playbook_on_stats":
            return data["event_data"].get("artifact_data") or {}
    raise AssertionError("no playbook_on_stats event")


def assert_locks_taken_and_released(lab: dict[str, Any], mark: int, hosts: list[str]) -> None:
    """The run took and gave back the Lease, the AWS lock object and each host's lock file.

    Each lock write is journaled lock: true (so writes_since leaves it out), and no lock is
    left held: the S3 object and the lock files name no holder.
    """
    locks = lock_writes_since(lab, mark)
    bucket = lab["parts"]["aws"]["resources"]["lock_bucket"]
    s3_key = "irdrive-locks/aws-blocklist.json"
    assert [(e["source"], e["action"]) for e in locks if e["source"] == "aws"] == [
        ("aws", "PutObject"),
        ("aws", "PutObject"),
    ]
    assert {e["path"] for e in locks if e["source"] == "aws"} == {f"/{bucket}/{s3_key}"}
    assert {e["source"] for e in locks} == {"kubernetes", "aws", "host"}
    host_files = {e["path"] for e in locks if e["source"] == "host"}
    assert {f"{h}:/var/lib/irdrive/locks/{h}.json" for h in hosts} <= host_files
    assert not [e for e in writes_since(lab, mark) if "irdrive/locks" in e["path"]]
    held = json.loads(aws_client(lab, "s3").get_object(Bucket=bucket, Key=s3_key)["Body"].read())
    assert held["holder"] == "" and held["transitions"] == 0
    for host in hosts:
        lock_dir = Path(lab["parts"]["hosts"][host]["paths"]["locks"])
        assert json.loads((lock_dir / f"{host}.json").read_text())["holder"] == "", host


# The hosts' task: one on the controller for every host (block_ips_fanout, the default), or
# one on each host (fanout=false).
HOST_TASK = {
    "true": "Update the hosts' nftables sets and nginx deny includes",
    "false": "Update the host's nftables sets and nginx deny include",
}


@pytest.mark.parametrize("fanout", ["true"])  # "false": run by hand (-k), the suite's time
def test_block_verified_everywhere_idempotent_then_unblock(
    intrusion: dict[str, Any], lab_env: dict[str, str], fanout: str
) -> None:
    lab = intrusion
    hosts = sorted(lab["parts"]["hosts"])
    addresses = ",".join([*faults.INTRUSION_IPS, "203.0.113.66"])
    mode = ["-e", f"fanout={fanout}"]
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(lab_env, "block-ips", *mode, "-e", f"addresses={addresses}")
    assert rc == 0, report
    # Every host has its own result and its prior state in the report, either way.
    assert set(report["hosts"]) == {"localhost", *hosts}
    host_changes = {c["host"] for c in report["changes"] if c["task"] == HOST_TASK[fanout]}
    assert host_changes == set(hosts)
    assert_locks_taken_and_released(lab, mark, hosts)
    wanted = sorted([*INTRUSION, SEEDED])
    assert waf_addresses(lab) == wanted
    denies = nacl_denies(lab)
    assert sorted(denies) == wanted and sorted(denies.values()) == [1, 2, 3, 4]
    for host in hosts:
        assert host_blocks(lab, host) == (wanted, wanted), host
    verified = {(v["task"], v["host"]) for v in report["verified"]}
    assert (
        "Verify the WAF IP set and the network ACL hold the wanted block",
        "localhost",
    ) in verified
    # Every host's read-back is verified at once, on the controller, after the hosts' play.
    assert ("Verify every host holds the wanted block", "localhost") in verified
    hosts_verified = next(
        v for v in report["verified"] if v["task"] == "Verify every host holds the wanted block"
    )
    assert sorted(hosts_verified["msg"].rsplit(": ", 1)[1].split(", ")) == hosts, hosts_verified
    # Prior state: the WAF set held only the seeded address; .66 was already blocked there.
    befores = {(c["task"], c["host"]): c.get("before") for c in report["changes"]}
    assert befores[("Update the WAF IP set", "localhost")] == [SEEDED]
    stats = custom_stats(report)
    waf_stat = next(
        t
        for s in stats["irdrive_block_ips"]
        for t in s["targets"]
        if t["target"].startswith("waf-ip-set/")
    )
    assert waf_stat["already"] == [SEEDED] and sorted(waf_stat["changed"]) == sorted(INTRUSION)
    assert {c["target"].split("/")[0] for c in stats["irdrive_changes"]} == {
        "waf-ip-set",
        "network-acl",
        "host",
    }

    mark = Journal(Path(lab["journal"])).mark()
    rc, again = run_json(lab_env, "block-ips", *mode, "-e", f"addresses={addresses}")
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert all(h.get("changed", 0) == 0 for h in again["hosts"].values())
    assert set(again["hosts"]) == {"localhost", *hosts}
    assert writes_since(lab, mark) == []

    rc, unblock = run_json(
        lab_env, "block-ips", *mode, "-e", "state=absent", "-e",
        "addresses=203.0.113.45,203.0.113.77",
    )  # fmt: skip
    assert rc == 0, unblock
    left = sorted(["198.51.100.23/32", SEEDED])
    assert waf_addresses(lab) == left
    assert sorted(nacl_denies(lab)) == left
    for host in hosts:
        assert host_blocks(lab, host) == (left, left), host
    assert any(v["task"].startswith("Verify") for v in unblock["verified"])


def snapshot(lab: dict[str, Any]) -> dict[str, Any]:
    """Everything block-ips could change: WAF set, NACL denies, each host's nft set and file."""
    return {
        "waf": waf_addresses(lab),
        "nacl": nacl_denies(lab),
        "hosts": {host: host_blocks(lab, host) for host in lab["parts"]["hosts"]},
    }


@pytest.mark.parametrize("fanout", ["true", "false"])
def test_check_mode_writes_nothing(
    lab_cfg: Any, lab: dict[str, Any], lab_env: dict[str, str], fanout: str
) -> None:
    lab = lab_cfg.read_state()
    before = snapshot(lab)
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(
        lab_env, "block-ips", "--check", "--diff", "-e", f"fanout={fanout}",
        "-e", "addresses=192.0.2.10,192.0.2.128/25",
    )  # fmt: skip
    assert rc == 0, report
    changed = changed_tasks(report)
    assert "Update the WAF IP set" in changed
    assert "Update the network ACL deny entries" in changed
    # Every host would change, each with its diff.
    host_changes = [c for c in report["changes"] if c["task"] == HOST_TASK[fanout]]
    assert sorted(c["host"] for c in host_changes) == sorted(lab["parts"]["hosts"])
    assert all("192.0.2.10/32" in str(c["diff"]["after"]) for c in host_changes), host_changes
    assert writes_since(lab, mark) == []
    assert lock_writes_since(lab, mark) == []  # nor any lock: check mode only reads them
    assert snapshot(lab) == before


def test_invalid_address_fails_naming_it_and_writes_nothing(
    lab_cfg: Any, lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    # The driver only knows the parameter is a list of strings, so it cannot catch a bad
    # address: the role's first check (irdrive.ops.preflight) refuses it as bad input, exit 2,
    # before any change.
    lab = lab_cfg.read_state()
    before = snapshot(lab)
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(
        lab_env, "block-ips", "-e", "addresses=192.0.2.10,203.0.113.300,198.51.100.23/16"
    )
    assert rc == 2, report
    [failed] = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed["task"] == "Check the addresses and targets before changing anything"
    assert "'203.0.113.300' is not an IPv4 or IPv6 address" in failed["msg"]
    assert "'198.51.100.23/16' has host bits set" in failed["msg"]
    assert changed_tasks(report) == []
    assert writes_since(lab, mark) == []
    assert snapshot(lab) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "addresses=203.0.113.45", "-e", "targets=firewall"], "block_ips_targets"),
        (["-e", "addresses=203.0.113.45", "-e", "state=gone"], "block_ips_state"),
        ([], "block_ips_addresses"),
    ],
)
def test_bad_parameters_exit_2_and_write_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    res = irdrive(lab_env, "run", "block-ips", "--yes", *args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
    assert writes_since(lab, mark) == []


def test_waf_lock_conflict_is_merged_not_lost(lab_cfg: Any, lab: dict[str, Any]) -> None:
    """A second writer changes the set between our GET and PUT: WAF refuses our stale
    LockToken, we re-read, merge and write again, and both changes survive."""
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.irdrive.ops.plugins.module_utils import ipblock, waf

    lab = lab_cfg.read_state()
    ref = lab["parts"]["aws"]["resources"]["waf_ip_set"]
    other = aws_client(lab, "wafv2")

    class SecondWriterBeforeOurPut:
        def __init__(self, client: Any) -> None:
            self.client = client
            self.puts = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def update_ip_set(self, **kwargs: Any) -> Any:
            self.puts += 1
            if self.puts == 1:
                cur = other.get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])
                other.update_ip_set(
                    Name=ref["name"],
                    Scope=ref["scope"],
                    Id=ref["id"],
                    Addresses=[*cur["IPSet"]["Addresses"], "192.0.2.98/32"],
                    LockToken=cur["LockToken"],
                )
            return self.client.update_ip_set(**kwargs)

    start = waf_addresses(lab)
    proxy = SecondWriterBeforeOurPut(aws_client(lab, "wafv2"))
    ip_sets = waf.WafIpSetClient(proxy, waf.IpSetRef(ref["name"], ref["scope"], ref["id"]))
    mark = Journal(Path(lab["journal"])).mark()
    outcome = waf.converge(
        ip_sets, ipblock.parse_networks(["192.0.2.97"]), "present", sleep=lambda _s: None
    )
    assert (outcome.attempts, outcome.conflicts, proxy.puts) == (2, 1, 2)
    assert outcome.plan.before == [*start, "192.0.2.98/32"]  # the retry's fresh read
    assert outcome.plan.added == ["192.0.2.97/32"] and outcome.mismatch == []
    # Neither the other writer's address nor ours nor anything before is lost.
    assert waf_addresses(lab) == sorted([*start, "192.0.2.98/32", "192.0.2.97/32"])
    updates = [e for e in writes_since(lab, mark) if e.get("action") == "UpdateIPSet"]
    assert len(updates) >= 2


def _inventory_host_address(lab: dict[str, Any]) -> str:
    return next(iter(lab["parts"]["hosts"].values()))["address"]


@pytest.mark.parametrize(
    ("address", "check", "message"),
    [
        ("0.0.0.0/0", [], "'0.0.0.0/0'"),
        ("127.0.0.1", [], "'127.0.0.1'"),
        ("10.0.0.0/8", [], "10.0.0.0/8 is a private range (10.0.0.0/8): run with --force"),
        ("10.0.0.0/8", ["--check"], "10.0.0.0/8 is a private range"),
        ("inventory host", [], "holds the inventory's own address"),
        ("inventory host", ["--force"], "holds the inventory's own address"),
    ],
)
def test_self_harm_is_refused_exit_2_and_writes_nothing(
    lab_cfg: Any,
    lab: dict[str, Any],
    lab_env: dict[str, str],
    address: str,
    check: list[str],
    message: str,
) -> None:
    lab = lab_cfg.read_state()
    if address == "inventory host":
        address = _inventory_host_address(lab)
    before = snapshot(lab)
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(lab_env, "block-ips", *check, "-e", f"addresses={address}")
    assert rc == 2, report
    [failed] = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed["task"] == "Check the addresses and targets before changing anything"
    assert message in failed["msg"], failed["msg"]
    assert changed_tasks(report) == []
    assert writes_since(lab, mark) == []
    assert snapshot(lab) == before
