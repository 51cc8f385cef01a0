"""irdrive.ops.waf_ip_set run as Ansible runs it, against moto's in-process WAFv2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import waf
from ansible_collections.irdrive.ops.plugins.module_utils.errors import ConflictError
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import parse_networks
from ansible_collections.irdrive.ops.plugins.modules import waf_ip_set

REGION = "us-east-1"


@pytest.fixture
def wafv2(mocked_aws: str) -> Iterator[Any]:
    client = boto3.client("wafv2", region_name=REGION)
    client.create_ip_set(
        Name="blocked-ips",
        Scope="REGIONAL",
        IPAddressVersion="IPV4",
        Addresses=["203.0.113.66/32"],
        Description="kept across updates",
    )
    yield client


def addresses(client: Any) -> list[str]:
    summary = client.list_ip_sets(Scope="REGIONAL")["IPSets"][0]
    got = client.get_ip_set(Name="blocked-ips", Scope="REGIONAL", Id=summary["Id"])["IPSet"]
    return sorted(got["Addresses"])


ARGS = {"name": "blocked-ips", "scope": "REGIONAL", "region": REGION}


def test_add_merges_then_rerun_is_unchanged(run_module, wafv2) -> None:
    args = {**ARGS, "addresses": ["203.0.113.45", "203.0.113.66"]}
    result, failed = run_module(waf_ip_set, args)
    assert not failed, result
    assert result["changed"] and result["added"] == ["203.0.113.45/32"]
    assert result["already"] == ["203.0.113.66/32"] and result["before"] == ["203.0.113.66/32"]
    assert result["mismatch"] == [] and result["attempts"] == 1
    assert addresses(wafv2) == ["203.0.113.45/32", "203.0.113.66/32"]
    summary = wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"][0]
    kept = wafv2.get_ip_set(Name="blocked-ips", Scope="REGIONAL", Id=summary["Id"])["IPSet"]
    assert kept["Description"] == "kept across updates"

    again, failed = run_module(waf_ip_set, args)
    assert not failed and not again["changed"] and again["added"] == []


def test_check_mode_computes_the_same_and_writes_nothing(run_module, wafv2) -> None:
    args = {**ARGS, "addresses": ["198.51.100.0/24"]}
    checked, _ = run_module(waf_ip_set, args, check_mode=True, diff=True)
    assert checked["changed"] and addresses(wafv2) == ["203.0.113.66/32"]
    assert checked["diff"]["after"]["addresses"] == ["198.51.100.0/24", "203.0.113.66/32"]
    real, _ = run_module(waf_ip_set, args, diff=True)
    assert real["diff"] == checked["diff"] and real["added"] == checked["added"]


def test_absent_removes_only_the_given_addresses(run_module, wafv2) -> None:
    run_module(waf_ip_set, {**ARGS, "addresses": ["203.0.113.45"]})
    result, _ = run_module(waf_ip_set, {**ARGS, "addresses": ["203.0.113.45"], "state": "absent"})
    assert result["changed"] and result["removed"] == ["203.0.113.45/32"]
    assert addresses(wafv2) == ["203.0.113.66/32"]


def test_invalid_address_fails_before_any_call(run_module, wafv2) -> None:
    result, failed = run_module(waf_ip_set, {**ARGS, "addresses": ["203.0.113.999"]})
    assert failed and "'203.0.113.999'" in result["msg"] and result["error_kind"] == "invalid_input"


def test_ipv6_into_an_ipv4_set_is_refused(run_module, wafv2) -> None:
    result, failed = run_module(waf_ip_set, {**ARGS, "addresses": ["2001:db8::1"]})
    assert failed and "IPV4" in result["msg"] and "2001:db8::1/128" in result["msg"]
    assert addresses(wafv2) == ["203.0.113.66/32"]


def test_query_reports_missing(run_module, wafv2) -> None:
    result, _ = run_module(
        waf_ip_set, {**ARGS, "addresses": ["203.0.113.66", "192.0.2.1"], "state": "query"}
    )
    assert not result["changed"] and result["missing"] == ["192.0.2.1/32"]


def test_unknown_set_fails_not_found(run_module, wafv2) -> None:
    result, failed = run_module(waf_ip_set, {**ARGS, "name": "nope", "addresses": ["192.0.2.1"]})
    assert failed and result["error_kind"] == "not_found" and "nope" in result["msg"]


class RacingClient:
    """Lets another writer change the set between our GET and each of our first N PUTs."""

    def __init__(self, client: Any, races: int) -> None:
        self.client, self.races, self.puts = client, races, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_ip_set(self, **kwargs: Any) -> Any:
        self.puts += 1
        if self.puts <= self.races:
            cur = self.client.get_ip_set(
                Name=kwargs["Name"], Scope=kwargs["Scope"], Id=kwargs["Id"]
            )
            self.client.update_ip_set(
                Name=kwargs["Name"],
                Scope=kwargs["Scope"],
                Id=kwargs["Id"],
                Addresses=[*cur["IPSet"]["Addresses"], f"192.0.2.{self.puts}/32"],
                LockToken=cur["LockToken"],
            )
        return self.client.update_ip_set(**kwargs)


def test_lock_conflict_rereads_and_merges(wafv2) -> None:
    racing = RacingClient(wafv2, races=2)
    ip_sets = waf.WafIpSetClient(racing, waf.IpSetRef("blocked-ips", "REGIONAL"))
    delays: list[float] = []
    outcome = waf.converge(
        ip_sets, parse_networks(["203.0.113.45"]), "present", sleep=delays.append
    )
    assert (outcome.attempts, outcome.conflicts, len(delays)) == (3, 2, 2)
    assert addresses(wafv2) == [
        "192.0.2.1/32",
        "192.0.2.2/32",
        "203.0.113.45/32",
        "203.0.113.66/32",
    ]


def test_lock_conflicts_are_bounded(wafv2) -> None:
    racing = RacingClient(wafv2, races=10)
    ip_sets = waf.WafIpSetClient(racing, waf.IpSetRef("blocked-ips", "REGIONAL"))
    with pytest.raises(ConflictError) as caught:
        waf.converge(
            ip_sets, parse_networks(["203.0.113.45"]), "present", attempts=3, sleep=lambda _s: None
        )
    assert caught.value.attempts == 3 and "WAFOptimisticLockException" in str(caught.value)
    assert "203.0.113.45/32" not in addresses(wafv2)
