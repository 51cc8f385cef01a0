# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Decisions of the block_ips role (P0 Security Breach, step 3).

``block_ips_plan`` validates the addresses and decides which targets get which of them, listing
every problem that must stop the run before its first write. ``block_ips_verify`` and
``block_ips_host_verify`` compare what the modules read back after their writes with what was
wanted, and name every target that does not hold the block.

Bounded blast radius (``blast_refusals``, part of the plan's problems when blocking): never a
network that holds one of the controller's own addresses or an inventory host's, private
ranges (RFC 1918, 100.64.0.0/10, fc00::/7) only with force, and at most ``max_addresses``
networks per run. The controller's addresses are read where filters run, on the controller,
without fact gathering: the kernel's local routes (``/proc/net/fib_trie``, ``/proc/net/if_inet6``)
on Linux, plus what the host name resolves to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible_collections.irdrive.ops.plugins.filter.ip_networks import ip_networks


def _waf_set(ip_set: Mapping[str, Any], addresses: list[str]) -> dict[str, Any]:
    return {
        "name": ip_set["name"],
        "id": ip_set.get("id", ""),
        "scope": ip_set.get("scope", "REGIONAL"),
        "addresses": addresses,
    }


PRIVATE_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
FORCE_HINT = "run with --force (extra var irdrive_force=true)"


def _proc_addresses(proc: Path) -> set[str]:
    found: set[str] = set()
    try:
        last = ""
        for line in (proc / "fib_trie").read_text().splitlines():
            text = line.strip()
            if text.startswith("|-- "):
                last = text[4:]
            elif text == "/32 host LOCAL" and last:
                found.add(last)
    except OSError:
        pass
    try:
        for line in (proc / "if_inet6").read_text().splitlines():
            digits = line.split()[0] if line.split() else ""
            if len(digits) == 32:
                found.add(str(ipaddress.ip_address(int(digits, 16)).compressed))
    except (OSError, ValueError):
        pass
    return found


def controller_addresses(proc: Path = Path("/proc/net")) -> list[str]:
    """The addresses of the machine running the play (this process): its local routes, and
    what its host name resolves to."""
    found = _proc_addresses(proc)
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]).split("%")[0])
    except OSError:
        pass
    return sorted(found)


def _addresses(values: Iterable[Any]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            continue  # a host name, not an address
    return found


def blast_refusals(
    networks: Iterable[str],
    *,
    controller: Iterable[Any] = (),
    inventory: Iterable[Any] = (),
    force: bool = False,
    max_addresses: int = 50,
) -> list[str]:
    """Why blocking ``networks`` would harm irdrive's own reach: one line each, empty if safe.
    The controller's and the inventory's addresses are refused even with force."""
    nets = [ipaddress.ip_network(n) for n in networks]
    refusals = []
    for what, addresses in (("the controller's", controller), ("the inventory's", inventory)):
        own = _addresses(addresses)
        for net in nets:
            hit = sorted({str(a) for a in own if a.version == net.version and a in net})
            if hit:
                refusals.append(f"{net} holds {what} own address {', '.join(hit)}")
    if not force:
        for net in nets:
            private = [
                str(r)
                for r in PRIVATE_RANGES
                if r.version == net.version and (net.subnet_of(r) or net.supernet_of(r))
            ]
            if private:
                refusals.append(f"{net} is a private range ({private[0]}): {FORCE_HINT}")
        if len(nets) > max_addresses:
            refusals.append(
                f"{len(nets)} networks to block, at most {max_addresses} per run: raise"
                f" block_ips_max_addresses or {FORCE_HINT}"
            )
    return refusals


def block_ips_plan(
    addresses: Any,
    *,
    state: str = "present",
    targets: Iterable[str] = ("waf", "nacl", "hosts"),
    waf_ip_set: Mapping[str, Any] | None = None,
    waf_ip_set_v6: Mapping[str, Any] | None = None,
    nacl_id: str = "",
    hosts: Iterable[str] = (),
    hosts_group: str = "",
    force: bool = False,
    max_addresses: int = 50,
    inventory_addresses: Iterable[Any] = (),
    controller: Iterable[Any] | None = None,
) -> dict[str, Any]:
    """What to block where, and every problem that must refuse the run before it writes.
    Blocking (not unblocking) is bounded by ``blast_refusals``; ``controller`` defaults to
    this machine's addresses (``controller_addresses``)."""
    parsed = ip_networks(addresses)
    wanted = list(dict.fromkeys(targets))
    waf_v4, waf_v6 = waf_ip_set or {}, waf_ip_set_v6 or {}
    host_list = list(hosts)
    problems: list[str] = []
    notes: list[str] = []
    waf: dict[str, dict[str, Any]] = {"v4": {}, "v6": {}}
    if parsed["invalid"]:
        problems.append(parsed["message"])
    elif not parsed["networks"]:
        problems.append(
            "no addresses to block: set block_ips_addresses"
            " (e.g. -e addresses=203.0.113.45,198.51.100.0/24)"
        )
    if state == "present" and parsed["networks"]:
        problems.extend(
            blast_refusals(
                parsed["networks"],
                controller=controller_addresses() if controller is None else controller,
                inventory=inventory_addresses,
                force=force,
                max_addresses=max_addresses,
            )
        )
    if "waf" in wanted and parsed["v4"]:
        if waf_v4.get("name"):
            waf["v4"] = _waf_set(waf_v4, parsed["v4"])
        else:
            problems.append(
                "no WAF IP set for IPv4: set block_ips_waf_ip_set or the inventory variable"
                " irdrive_waf_ip_set ({name, id, scope})"
            )
    if "waf" in wanted and parsed["v6"]:
        v6 = ", ".join(parsed["v6"])
        if waf_v6.get("name"):
            waf["v6"] = _waf_set(waf_v6, parsed["v6"])
        elif state == "present":
            problems.append(
                f"IPv6 addresses {v6} need an IPv6 WAF IP set: set block_ips_waf_ip_set_v6,"
                " or leave waf out of block_ips_targets"
            )
        else:
            notes.append(f"no IPv6 WAF IP set configured: {v6} cannot be in WAF")
    if "nacl" in wanted and not nacl_id:
        problems.append(
            "no network ACL: set block_ips_nacl_id or the inventory variable irdrive_nacl_id"
        )
    if "hosts" in wanted and not host_list:
        problems.append(
            f"no hosts in group {hosts_group}: set block_ips_hosts_group,"
            " or leave hosts out of block_ips_targets"
        )
    return {
        "networks": parsed["networks"],
        "v4": parsed["v4"],
        "v6": parsed["v6"],
        "targets": wanted,
        "waf_v4": waf["v4"],
        "waf_v6": waf["v6"],
        "nacl_id": nacl_id,
        "aws": bool(waf["v4"] or waf["v6"] or "nacl" in wanted),
        "hosts": host_list if "hosts" in wanted else [],
        "problems": problems,
        "notes": notes,
    }


def _summary(plan: Mapping[str, Any], present: bool, where: str) -> str:
    blocked = " blocked by " if present else " not blocked by "
    return ", ".join(plan["networks"]) + blocked + where


def block_ips_verify(
    plan: Mapping[str, Any],
    *,
    state: str = "present",
    waf: Iterable[Mapping[str, Any]] = (),
    nacl: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The WAF IP sets' and the network ACL's read-back against the block that was wanted."""
    present = state == "present"
    problems: list[str] = []
    seen: list[str] = []
    for result in waf:
        if "mismatch" not in result:
            continue
        name = result["ip_set"]["name"]
        if result["mismatch"]:
            verb = " lacks " if present else " still holds "
            problems.append(f"WAF IP set {name}{verb}{', '.join(result['mismatch'])}")
        seen.append(f"WAF IP set {name} ({len(result['addresses'])} addresses)")
    nacl = nacl or {}
    if "mismatch" in nacl:
        acl = f"network ACL {plan['nacl_id']}"
        if nacl["mismatch"]:
            verb = " has no deny entry for " if present else " still denies "
            problems.append(f"{acl}{verb}{', '.join(nacl['mismatch'])}")
        rules = ", ".join(str(entry["rule_number"]) for entry in nacl["entries"]) or "none"
        seen.append(f"{acl} (deny entries {rules})")
    return {"problems": problems, "summary": _summary(plan, present, ", ".join(seen))}


_HOST_PARTS = (("nft", "nftables sets"), ("nginx", "nginx deny include"))


def block_ips_host_verify(
    result: Mapping[str, Any], *, plan: Mapping[str, Any], host: str, state: str = "present"
) -> dict[str, Any]:
    """One host's nftables sets and nginx deny include, read back, against the wanted block."""
    present = state == "present"
    mismatch = result.get("mismatch") or {}
    problems: list[str] = []
    seen: list[str] = []
    for part, what in _HOST_PARTS:
        if part not in mismatch:
            continue
        if mismatch[part]:
            verb = " lack " if present else " still block "
            problems.append(f"{host} {what}{verb}{', '.join(mismatch[part])}")
        seen.append(what)
    if not seen:
        problems.append(
            f"{host}: neither nftables (nft_available is false) nor an nginx deny include"
            " (nginx_deny_include_path) is configured"
        )
    return {
        "problems": problems,
        "summary": _summary(plan, present, f"{host} {' and '.join(seen)}"),
    }


def block_ips_hosts_verify(
    results: Mapping[str, Any],
    *,
    plan: Mapping[str, Any],
    state: str = "present",
    hosts: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Every planned host's read-back (``results``: host -> its host_blocklist result), at once;
    with ``hosts``, only those (the hosts one step did: the fan-out's, or the hosts play's).

    A host whose block failed, or that was unreachable (no result registered), is not verified
    and not a problem here: its own task already failed the run with its own error, which this
    must not repeat. The summary names both lists.
    """
    present = state == "present"
    problems: list[str] = []
    verified: list[str] = []
    not_run: list[str] = []
    for host in (plan.get("hosts") or []) if hosts is None else hosts:
        result = results.get(host) or {}
        if not result or result.get("failed") or result.get("unreachable"):
            not_run.append(host)
            continue
        one = block_ips_host_verify(result, plan=plan, host=host, state=state)
        problems.extend(one["problems"])
        if not one["problems"]:
            verified.append(host)
    where = f"{len(verified)} host(s): {', '.join(verified)}" if verified else "no host"
    summary = _summary(plan, present, where)
    if not_run:
        summary += f" (not verified, failed or unreachable: {', '.join(not_run)})"
    return {"problems": problems, "verified": verified, "not_run": not_run, "summary": summary}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "block_ips_plan": block_ips_plan,
            "block_ips_verify": block_ips_verify,
            "block_ips_host_verify": block_ips_host_verify,
            "block_ips_hosts_verify": block_ips_hosts_verify,
        }
