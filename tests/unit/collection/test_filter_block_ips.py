"""The block_ips role's decisions: what to block where, and whether each target holds it."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.action.preflight import preflight_result
from ansible_collections.irdrive.ops.plugins.filter.block_ips import (
    FilterModule,
    blast_refusals,
    block_ips_host_verify,
    block_ips_hosts_verify,
    block_ips_plan,
    block_ips_verify,
    controller_addresses,
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
        "controller": [],
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
        "aws": True,
        "hosts": HOSTS,
        "problems": [],
        "notes": [],
    }


@pytest.mark.parametrize(
    ("targets", "aws"),
    [(["hosts"], False), (["waf", "hosts"], True), (["nacl"], True), (["waf"], True)],
)
def test_plan_says_whether_aws_is_changed(targets: list[str], aws: bool) -> None:
    # The AWS lock object is taken only for a run that changes a WAF IP set or the NACL.
    assert _plan(["203.0.113.45"], targets=targets)["aws"] is aws
    assert _plan(["2001:db8::1"], targets=["waf"], state="absent")["aws"] is False  # no v6 set


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


def test_hosts_verify_checks_every_planned_host_at_once() -> None:
    plan = {**PLAN, "hosts": ["web", "web-2", "web-3", "web-4"]}
    good = {"mismatch": {"nft": [], "nginx": []}}
    results = {
        "web": good,
        "web-2": {"mismatch": {"nft": ["203.0.113.45/32"], "nginx": []}},
        "web-3": {"failed": True, "msg": "lock file web-3:/l/web-3.json is locked by run B"},
        # web-4: no result registered (unreachable)
        "db": good,  # not in the plan: not looked at
    }
    # The failed and the unreachable host failed the run in their own task: not told again.
    assert block_ips_hosts_verify(results, plan=plan) == {
        "problems": ["web-2 nftables sets lack 203.0.113.45/32"],
        "verified": ["web"],
        "not_run": ["web-3", "web-4"],
        "summary": "198.51.100.0/24, 203.0.113.45/32 blocked by 1 host(s): web"
        " (not verified, failed or unreachable: web-3, web-4)",
    }
    every = block_ips_hosts_verify({h: good for h in plan["hosts"]}, plan=plan, state="absent")
    assert every["problems"] == [] and every["verified"] == plan["hosts"]
    assert every["summary"].endswith("not blocked by 4 host(s): web, web-2, web-3, web-4")


def test_hosts_verify_checks_only_the_hosts_one_step_did() -> None:
    # The fan-out did web and web-3 (web-3 unreachable); web-2 is left to the hosts play, which
    # verifies it in its own step: not named here.
    plan = {**PLAN, "hosts": ["web", "web-2", "web-3"]}
    good = {"mismatch": {"nft": [], "nginx": []}}
    results = {"web": good, "web-3": {"unreachable": True, "msg": "timed out"}}
    got = block_ips_hosts_verify(results, plan=plan, hosts=["web", "web-3"])
    assert (got["verified"], got["not_run"], got["problems"]) == (["web"], ["web-3"], [])
    assert "web-2" not in got["summary"]


def test_the_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "block_ips_plan": block_ips_plan,
        "block_ips_verify": block_ips_verify,
        "block_ips_host_verify": block_ips_host_verify,
        "block_ips_hosts_verify": block_ips_hosts_verify,
    }


CONTROLLER = ["192.0.2.2", "127.0.0.1", "fd00::2"]
INVENTORY = ["web", "db", "198.51.100.7", "2001:db8:1::5"]


@pytest.mark.parametrize(
    ("networks", "force", "refusals"),
    [
        (["203.0.113.45/32"], False, []),
        (["192.0.2.2/32"], False, ["192.0.2.2/32 holds the controller's own address 192.0.2.2"]),
        (["192.0.2.0/24"], True, ["192.0.2.0/24 holds the controller's own address 192.0.2.2"]),
        (["fd00::/64"], True, ["fd00::/64 holds the controller's own address fd00::2"]),
        (
            ["198.51.100.0/24"],
            True,
            ["198.51.100.0/24 holds the inventory's own address 198.51.100.7"],
        ),
        (["2001:db8:1::5/128"], True, ["2001:db8:1::5/128 holds the inventory's own address"]),
        (["10.0.0.0/8"], False, ["10.0.0.0/8 is a private range (10.0.0.0/8): run with --force"]),
        (["10.1.2.3/32"], False, ["10.1.2.3/32 is a private range (10.0.0.0/8)"]),
        (["172.20.0.0/16"], False, ["172.20.0.0/16 is a private range (172.16.0.0/12)"]),
        (["192.168.1.0/24"], False, ["192.168.1.0/24 is a private range (192.168.0.0/16)"]),
        (["100.64.0.1/32"], False, ["100.64.0.1/32 is a private range (100.64.0.0/10)"]),
        (["fd12::/16"], False, ["fd12::/16 is a private range (fc00::/7)"]),
        (["10.0.0.0/8"], True, []),
        (["11.0.0.0/8"], False, []),
    ],
)
def test_blast_refusals(networks: list[str], force: bool, refusals: list[str]) -> None:
    got = blast_refusals(networks, controller=CONTROLLER, inventory=INVENTORY, force=force)
    assert len(got) == len(refusals), got
    for line, start in zip(got, refusals, strict=True):
        assert line.startswith(start), got


@pytest.mark.parametrize(
    ("count", "force", "refused"), [(3, False, False), (4, False, True), (4, True, False)]
)
def test_at_most_max_addresses_per_run(count: int, force: bool, refused: bool) -> None:
    networks = [f"203.0.113.{n}/32" for n in range(count)]
    got = blast_refusals(networks, force=force, max_addresses=3)
    assert got == (
        [
            "4 networks to block, at most 3 per run: raise block_ips_max_addresses or run with --force (extra var irdrive_force=true)"
        ]
        if refused
        else []
    )


@pytest.mark.parametrize(
    ("addresses", "needle"),
    [
        ("0.0.0.0/0", "'0.0.0.0/0'"),
        ("::/0", "'::/0'"),
        ("127.0.0.1", "'127.0.0.1'"),
        ("::1", "'::1'"),
        ("0.0.0.0", "'0.0.0.0'"),
        ("10.0.0.0/8", "10.0.0.0/8 is a private range"),
        ("198.51.100.7", "198.51.100.7/32 holds the inventory's own address"),
        ("192.0.2.2", "192.0.2.2/32 holds the controller's own address"),
    ],
)
def test_plan_refuses_what_would_cut_irdrive_off(addresses: str, needle: str) -> None:
    plan = _plan(addresses, controller=CONTROLLER, inventory_addresses=INVENTORY)
    assert any(needle in problem for problem in plan["problems"]), plan["problems"]


def test_plan_bounds_only_blocking_and_force_lifts_only_the_private_and_count_ceilings() -> None:
    kwargs: dict[str, Any] = {"controller": CONTROLLER, "inventory_addresses": INVENTORY}
    assert _plan("10.0.0.0/8", state="absent", **kwargs)["problems"] == []
    assert _plan("10.0.0.0/8", force=True, **kwargs)["problems"] == []
    assert _plan("198.51.100.7", force=True, **kwargs)["problems"] != []


def test_controller_addresses_read_the_local_routes(tmp_path: Any) -> None:
    (tmp_path / "fib_trie").write_text(
        "Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.9.8.7\n        /32 host LOCAL\n"
        "     |-- 10.9.8.255\n        /32 link BROADCAST\n"
    )
    (tmp_path / "if_inet6").write_text("fd000000000000000000000000000002 04 40 00 82     eth0\n")
    found = controller_addresses(tmp_path)
    assert "10.9.8.7" in found and "fd00::2" in found and "10.9.8.255" not in found


def test_controller_addresses_of_this_machine_hold_loopback() -> None:
    assert "127.0.0.1" in controller_addresses()


@pytest.mark.parametrize(
    ("problems", "failed"), [([], False), (["a", "b"], True), ("one", True), ("", False)]
)
def test_preflight_fails_as_bad_input(problems: Any, failed: bool) -> None:
    result = preflight_result(problems, "ok")
    assert bool(result.get("failed")) is failed
    if failed:
        assert result["error_kind"] == "invalid_input" and "\n" not in result["msg"]
    else:
        assert result["msg"] == "ok" and "error_kind" not in result
