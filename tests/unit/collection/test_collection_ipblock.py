"""Address validation and normalisation shared by the block_ips modules and filter."""

from __future__ import annotations

import pytest
from ansible_collections.irdrive.ops.plugins.filter.ip_networks import ip_networks
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import (
    check_network,
    normalize,
    parse_networks,
)


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("203.0.113.45", "203.0.113.45/32"),
        (" 198.51.100.0/24 ", "198.51.100.0/24"),
        ("2001:DB8::1", "2001:db8::1/128"),
        ("2001:db8:0:0::/64", "2001:db8::/64"),
        ("10.0.0.0/8", "10.0.0.0/8"),
    ],
)
def test_valid_addresses_are_normalised(value: str, normal: str) -> None:
    network, reason = check_network(value)
    assert reason == "" and str(network) == normal


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("203.0.113.300", "is not an IPv4 or IPv6 address"),
        ("203.0.113.45/24", "did you mean 203.0.113.0/24 or 203.0.113.45/32?"),
        ("0.0.0.0/0", "is wider than /8"),
        ("2001::/16", "is wider than /32"),
        ("127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "zone index"),
        ("", "is empty"),
        ("01.2.3.4", "is not an IPv4"),
        (42, "is not a string"),
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(value: object, reason: str) -> None:
    network, why = check_network(value)
    assert network is None and reason in why


def test_normalize_dedups_sorts_and_splits_versions() -> None:
    got = normalize(["203.0.113.45", "2001:db8::1", "198.51.100.23", "203.0.113.45/32"])
    assert got["networks"] == ["198.51.100.23/32", "203.0.113.45/32", "2001:db8::1/128"]
    assert got["v4"] == ["198.51.100.23/32", "203.0.113.45/32"]
    assert got["v6"] == ["2001:db8::1/128"] and got["invalid"] == []


def test_parse_networks_names_every_bad_address() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_networks(["203.0.113.45", "nope", "1.2.3.4/8"])
    assert "'nope' is not an IPv4" in str(caught.value)
    assert "'1.2.3.4/8' has host bits set" in str(caught.value)
    assert caught.value.kind == "invalid_input"


def test_filter_accepts_a_comma_string_and_reports_a_message() -> None:
    got = ip_networks("203.0.113.45, bad")
    assert got["networks"] == ["203.0.113.45/32"]
    assert (
        got["message"] == "invalid address to block: 'bad' is not an IPv4 or IPv6 address or CIDR"
    )
