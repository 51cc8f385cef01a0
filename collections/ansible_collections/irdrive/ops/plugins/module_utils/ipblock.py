# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Addresses to block: validation, normalisation and set arithmetic.

Shared by the WAF, NACL and host modules and the ``ip_networks`` filter.  Every address is
parsed strictly with :mod:`ipaddress`; a host address becomes a /32 (IPv4) or /128 (IPv6)
network, and a network written with host bits set (``203.0.113.45/24``) is refused rather than
guessed at.  Networks broad enough to cut off the platform itself (``0.0.0.0/0``, anything wider
than ``MIN_PREFIX``), loopback, unspecified, multicast and link-local addresses are refused too.

This file runs on the managed hosts as well (``host_blocklist``): keep it Python 3.10 compatible (Debian 12 has 3.11).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Union

from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError

# Union, not X | Y: a module-level alias is evaluated, and hosts may run Python 3.9.
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: The widest network a block may name, per IP version: blocking more is an outage, not a block.
MIN_PREFIX = {4: 8, 6: 32}


def check_network(value: Any) -> tuple[Network | None, str]:
    """``(network, "")`` for a valid address or CIDR, else ``(None, reason)``."""
    if not isinstance(value, str):
        return None, f"is not a string ({type(value).__name__})"
    text = value.strip()
    if not text:
        return None, "is empty"
    if "%" in text:
        return None, "has a zone index (%), which is not allowed"
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=True)
        else:
            address = ipaddress.ip_address(text)
            network = ipaddress.ip_network(f"{address}/{address.max_prefixlen}")
    except ValueError as error:
        if "has host bits set" in str(error):
            loose = ipaddress.ip_network(text, strict=False)
            host = text.split("/", 1)[0]
            return None, (
                f"has host bits set: did you mean {loose} or {host}/{loose.max_prefixlen}?"
            )
        return None, "is not an IPv4 or IPv6 address or CIDR"
    if network.prefixlen < MIN_PREFIX[network.version]:
        return None, (
            f"is wider than /{MIN_PREFIX[network.version]}: blocking it would cut off "
            "legitimate traffic"
        )
    for flag, what in (
        ("is_unspecified", "the unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_multicast", "a multicast address"),
        ("is_link_local", "a link-local address"),
    ):
        if getattr(network, flag):
            return None, f"is {what}"
    return network, ""


def sort_key(network: Network) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)


def normalize(values: list[Any]) -> dict[str, Any]:
    """Validate ``values``: the normalised networks (sorted, unique) and every invalid entry.

    Returns ``{"networks": [...], "v4": [...], "v6": [...], "invalid": [{"value", "reason"}]}``.
    """
    networks: dict[Network, None] = {}
    invalid: list[dict[str, str]] = []
    for value in values or []:
        network, reason = check_network(value)
        if network is None:
            invalid.append({"value": str(value), "reason": reason})
        else:
            networks[network] = None
    ordered = sorted(networks, key=sort_key)
    return {
        "networks": [str(n) for n in ordered],
        "v4": [str(n) for n in ordered if n.version == 4],
        "v6": [str(n) for n in ordered if n.version == 6],
        "invalid": invalid,
    }


def invalid_message(invalid: list[dict[str, str]]) -> str:
    parts = [f"{item['value']!r} {item['reason']}" for item in invalid]
    noun = "address" if len(parts) == 1 else "addresses"
    return f"invalid {noun} to block: " + "; ".join(parts)


def parse_networks(values: list[Any]) -> list[Network]:
    """The networks of ``values``, or ``InvalidInputError`` naming every bad one."""
    result = normalize(values)
    if result["invalid"]:
        raise InvalidInputError(invalid_message(result["invalid"]), invalid=result["invalid"])
    return [ipaddress.ip_network(n) for n in result["networks"]]


def as_network(text: str) -> Network | None:
    """An existing entry read from a target, leniently (``None`` when it is not an address)."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def sorted_strings(networks: Any) -> list[str]:
    return [str(n) for n in sorted(set(networks), key=sort_key)]


def collapse(networks: Any) -> list[Network]:
    """Overlapping and adjacent networks merged, per IP version, sorted."""
    result: list[Network] = []
    for version in (4, 6):
        same = [n for n in networks if n.version == version]
        result.extend(ipaddress.collapse_addresses(same))  # type: ignore[arg-type]
    return sorted(result, key=sort_key)


def covered(network: Network, by: list[Network]) -> bool:
    """True when ``network`` lies wholly inside one of ``by``."""
    return any(
        network.version == other.version and network.subnet_of(other)  # type: ignore[arg-type]
        for other in by
    )
