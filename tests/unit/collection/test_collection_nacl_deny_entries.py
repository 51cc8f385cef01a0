"""irdrive.ops.nacl_deny_entries run as Ansible runs it, against moto's in-process EC2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.modules import nacl_deny_entries
from moto import mock_aws

REGION = "us-east-1"


@pytest.fixture
def acl(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        nacl_id = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
        # Someone else's entries: an allow at 100 and a deny outside our range.
        ec2.create_network_acl_entry(
            NetworkAclId=nacl_id,
            RuleNumber=100,
            Protocol="-1",
            RuleAction="allow",
            Egress=False,
            CidrBlock="0.0.0.0/0",
        )
        ec2.create_network_acl_entry(
            NetworkAclId=nacl_id,
            RuleNumber=2,
            Protocol="-1",
            RuleAction="deny",
            Egress=False,
            CidrBlock="192.0.2.0/24",
        )
        yield ec2, nacl_id


def entries(ec2: Any, nacl_id: str) -> dict[int, str]:
    acl = ec2.describe_network_acls(NetworkAclIds=[nacl_id])["NetworkAcls"][0]
    return {
        e["RuleNumber"]: e.get("CidrBlock") or e.get("Ipv6CidrBlock")
        for e in acl["Entries"]
        if not e["Egress"]
    }


def test_adds_lowest_free_numbers_then_rerun_is_unchanged(run_module, acl) -> None:
    ec2, nacl_id = acl
    args = {
        "nacl_id": nacl_id,
        "region": REGION,
        "addresses": ["203.0.113.45", "2001:db8::1"],
        "rule_range": [1, 99],
    }
    result, failed = run_module(nacl_deny_entries, args)
    assert not failed, result
    assert result["added"] == [
        {"rule_number": 1, "cidr": "203.0.113.45/32"},
        {"rule_number": 3, "cidr": "2001:db8::1/128"},
    ]
    assert entries(ec2, nacl_id) == {
        1: "203.0.113.45/32",
        2: "192.0.2.0/24",
        3: "2001:db8::1/128",
        100: "0.0.0.0/0",
    }
    assert result["mismatch"] == []
    again, _ = run_module(nacl_deny_entries, args)
    assert not again["changed"] and sorted(again["already"]) == [
        "2001:db8::1/128",
        "203.0.113.45/32",
    ]


def test_check_mode_writes_nothing(run_module, acl) -> None:
    ec2, nacl_id = acl
    before = entries(ec2, nacl_id)
    result, _ = run_module(
        nacl_deny_entries,
        {"nacl_id": nacl_id, "region": REGION, "addresses": ["203.0.113.45"]},
        check_mode=True,
    )
    assert result["changed"] and entries(ec2, nacl_id) == before


def test_absent_removes_only_our_entries(run_module, acl) -> None:
    ec2, nacl_id = acl
    base = {"nacl_id": nacl_id, "region": REGION}
    run_module(nacl_deny_entries, {**base, "addresses": ["203.0.113.45", "198.51.100.23"]})
    result, _ = run_module(
        nacl_deny_entries, {**base, "addresses": ["203.0.113.45"], "state": "absent"}
    )
    assert result["changed"] and [e["cidr"] for e in result["removed"]] == ["203.0.113.45/32"]
    assert entries(ec2, nacl_id) == {1: "198.51.100.23/32", 2: "192.0.2.0/24", 100: "0.0.0.0/0"}


def test_allow_before_the_range_warns(run_module, acl) -> None:
    _ec2, nacl_id = acl
    result, failed = run_module(
        nacl_deny_entries,
        {
            "nacl_id": nacl_id,
            "region": REGION,
            "addresses": ["203.0.113.45"],
            "rule_range": [200, 299],
        },
    )
    assert not failed and any("allow entries [100]" in w for w in result.get("warnings", []))


def test_full_range_fails_and_writes_nothing(run_module, acl) -> None:
    ec2, nacl_id = acl
    before = entries(ec2, nacl_id)
    result, failed = run_module(
        nacl_deny_entries,
        {
            "nacl_id": nacl_id,
            "region": REGION,
            "addresses": ["203.0.113.45", "203.0.113.46"],
            "rule_range": [1, 2],
        },
    )
    assert failed and "no free rule number" in result["msg"] and entries(ec2, nacl_id) == before


def test_unknown_acl_fails_not_found(run_module, acl) -> None:
    result, failed = run_module(
        nacl_deny_entries,
        {"nacl_id": "acl-0000000000000000", "region": REGION, "addresses": ["203.0.113.45"]},
    )
    assert failed and result["error_kind"] == "not_found", result
