"""The block_ips role's decisions: what to block where, and whether each target holds it."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.filter.block_ips import (
    FilterModule,
    block_ips_host_verify,
    block_ips_plan,
    block_ips_verify,
)

WAF = {"name": "blocked-ips", "id": "w1"}
WAF6 = {"name": "blocked-ips-v6", "id": "w6", "scope": "CLOUDFRONT"}
HOSTS = ["web", "db"]


def _plan(addresses: Any, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "waf_ip_set": WAF,
        "nacl_id": "acl-1",
        "hosts": HOSTS,
        "hosts_group": "platform_hosts",
    }
    return block_ips_plan(addresses, **{**args, **kwargs})


def test_plan_splits_the_networks_between_the_targets() -> None:
    plan = _plan("203.0.113.45, 2001:db8::/64,198.51.100.0/24", waf_ip_set_v6=WAF6)
    assert plan == {
        "networks": ["198.51.100.0/24", "203.0.113.45/32", "2001:db8::/64"],
        "v4": ["198.51.100.0/24", "203.0.113.45/32"],
        "v6": ["2001:db8::/64"],
        "targets": ["waf", "nacl", "hosts"],
        "waf_v4": {
            "name": "blocked-ips",
            "id": "w1",
            "scope": "REGIONAL",
            "addresses": ["198.51.100.0/24", "203.0.113.45/32"],
        },
        "waf_v6": {
            "name": "blocked-ips-v6",
            "id": "w6",
            "scope": "CLOUDFRONT",
            "addresses": ["2001:db8::/64"],
        },
        "nacl_id": "acl-1",
        "hosts": HOSTS,
        "problems": [],
        "notes": [],
    }


def test_plan_keeps_only_the_wanted_targets_once() -> None:
    plan = _plan(["203.0.113.45"], targets=["nacl", "waf", "nacl"], waf_ip_set={})
    assert plan["targets"] == ["nacl", "waf"] and plan["hosts"] == [] and plan["waf_v4"] == {}
    assert plan["problems"] == [
        "no WAF IP set for IPv4: set block_ips_waf_ip_set or the inventory variable"
        " irdrive_waf_ip_set ({name, id, scope})"
    ]


@pytest.mark.parametrize(
    ("addresses", "kwargs", "problems"),
    [
        ([], {}, ["no addresses to block: set block_ips_addresses (e.g. -e addresses=203.0.113.45,198.51.100.0/24)"]),
        ("", {}, ["no addresses to block: set block_ips_addresses (e.g. -e addresses=203.0.113.45,198.51.100.0/24)"]),
        (["203.0.113.45", "nope"], {}, ["invalid address to block: 'nope' is not an IPv4 or IPv6 address or CIDR"]),
        (["203.0.113.45"], {"waf_ip_set": {"name": ""}}, [
            "no WAF IP set for IPv4: set block_ips_waf_ip_set or the inventory variable irdrive_waf_ip_set"
            " ({name, id, scope})"]),
        (["203.0.113.45"], {"nacl_id": ""}, [
            "no network ACL: set block_ips_nacl_id or the inventory variable irdrive_nacl_id"]),
        (["203.0.113.45"], {"hosts": []}, [
            "no hosts in group platform_hosts: set block_ips_hosts_group, or leave hosts out of block_ips_targets"]),
        (["2001:db8::1"], {}, [
            "IPv6 addresses 2001:db8::1/128 need an IPv6 WAF IP set: set block_ips_waf_ip_set_v6, or leave"
            " waf out of block_ips_targets"]),
        (["2001:db8::1"], {"targets": ["nacl"]}, []),
        (["203.0.113.45"], {"targets": ["hosts"], "nacl_id": "", "waf_ip_set": {}}, []),
    ],
)  # fmt: skip
def test_plan_problems_refuse_the_run(addresses: Any, kwargs: dict, problems: list[str]) -> None:
    assert _plan(addresses, **kwargs)["problems"] == problems


def test_every_problem_is_listed_at_once() -> None:
    plan = _plan(["2001:db8::1", "203.0.113.45"], waf_ip_set={}, nacl_id="", hosts=[])
    assert [p.split(":")[0] for p in plan["problems"]] == [
        "no WAF IP set for IPv4",
        "IPv6 addresses 2001",
        "no network ACL",
        "no hosts in group platform_hosts",
    ]


def test_unblocking_without_an_ipv6_set_is_only_a_note() -> None:
    plan = _plan(["2001:db8::1", "203.0.113.45"], state="absent")
    assert plan["problems"] == [] and plan["waf_v6"] == {}
    assert plan["notes"] == ["no IPv6 WAF IP set configured: 2001:db8::1/128 cannot be in WAF"]


def test_the_invalid_message_comes_from_ip_networks() -> None:
    plan = _plan(["127.0.0.1", "10.0.0.0/4"])
    assert len(plan["problems"]) == 1 and plan["problems"][0].startswith(
        "invalid addresses to block"
    )
    assert "127.0.0.1" in plan["problems"][0] and "10.0.0.0/4" in plan["problems"][0]


PLAN = _plan(["203.0.113.45", "198.51.100.0/24"])


def _waf(name: str, mismatch: list[str]) -> dict[str, Any]:
    return {"ip_set": {"name": name}, "addresses": ["a", "b", "c"], "mismatch": mismatch}


@pytest.mark.parametrize(
    ("state", "waf", "nacl", "problems", "summary"),
    [
        ("present", [_waf("blocked-ips", []), {"skipped": True}],
         {"mismatch": [], "entries": [{"rule_number": 1}, {"rule_number": 2}]}, [],
         "198.51.100.0/24, 203.0.113.45/32 blocked by WAF IP set blocked-ips (3 addresses),"
         " network ACL acl-1 (deny entries 1, 2)"),
        ("present", [_waf("blocked-ips", ["203.0.113.45/32"]), {}],
         {"mismatch": ["198.51.100.0/24", "203.0.113.45/32"], "entries": []},
         ["WAF IP set blocked-ips lacks 203.0.113.45/32",
          "network ACL acl-1 has no deny entry for 198.51.100.0/24, 203.0.113.45/32"],
         "198.51.100.0/24, 203.0.113.45/32 blocked by WAF IP set blocked-ips (3 addresses),"
         " network ACL acl-1 (deny entries none)"),
        ("absent", [_waf("v4", ["203.0.113.45/32"]), _waf("v6", [])], {"skipped": True},
         ["WAF IP set v4 still holds 203.0.113.45/32"],
         "198.51.100.0/24, 203.0.113.45/32 not blocked by WAF IP set v4 (3 addresses),"
         " WAF IP set v6 (3 addresses)"),
        ("absent", [], {"mismatch": ["203.0.113.45/32"], "entries": [{"rule_number": 7}]},
         ["network ACL acl-1 still denies 203.0.113.45/32"],
         "198.51.100.0/24, 203.0.113.45/32 not blocked by network ACL acl-1 (deny entries 7)"),
    ],
)  # fmt: skip
def test_verify(state: str, waf: list, nacl: dict, problems: list[str], summary: str) -> None:
    assert block_ips_verify(PLAN, state=state, waf=waf, nacl=nacl) == {
        "problems": problems,
        "summary": summary,
    }


@pytest.mark.parametrize(
    ("state", "result", "problems", "summary"),
    [
        ("present", {"mismatch": {"nft": [], "nginx": []}}, [],
         "198.51.100.0/24, 203.0.113.45/32 blocked by web nftables sets and nginx deny include"),
        ("present", {"mismatch": {"nginx": ["203.0.113.45/32"]}},
         ["web nginx deny include lack 203.0.113.45/32"],
         "198.51.100.0/24, 203.0.113.45/32 blocked by web nginx deny include"),
        ("absent", {"mismatch": {"nft": ["198.51.100.0/24", "203.0.113.45/32"]}},
         ["web nftables sets still block 198.51.100.0/24, 203.0.113.45/32"],
         "198.51.100.0/24, 203.0.113.45/32 not blocked by web nftables sets"),
        ("present", {"mismatch": {}},
         ["web: neither nftables (nft_available is false) nor an nginx deny include"
          " (nginx_deny_include_path) is configured"],
         "198.51.100.0/24, 203.0.113.45/32 blocked by web "),
        ("present", {},
         ["web: neither nftables (nft_available is false) nor an nginx deny include"
          " (nginx_deny_include_path) is configured"],
         "198.51.100.0/24, 203.0.113.45/32 blocked by web "),
    ],
)  # fmt: skip
def test_host_verify(state: str, result: dict, problems: list[str], summary: str) -> None:
    assert block_ips_host_verify(result, plan=PLAN, host="web", state=state) == {
        "problems": problems,
        "summary": summary,
    }


def test_the_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "block_ips_plan": block_ips_plan,
        "block_ips_verify": block_ips_verify,
        "block_ips_host_verify": block_ips_host_verify,
    }
