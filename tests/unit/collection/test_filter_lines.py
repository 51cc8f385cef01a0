"""irdrive.ops.lines: a list parameter from a survey textarea, a comma list or YAML."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.irdrive.ops.plugins.filter.lines import lines


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("203.0.113.9\n198.51.100.0/24\n", ["203.0.113.9", "198.51.100.0/24"]),
        ("payments, streaming", ["payments", "streaming"]),
        ("a\r\n\r\n b ,,c", ["a", "b", "c"]),
        ("", []),
        (None, []),
        (["full"], ["full"]),
        ([1, 2], [1, 2]),
    ],
)
def test_lines(given: object, expected: list[object]) -> None:
    assert lines(given) == expected


def test_a_mapping_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="list or a string, got dict"):
        lines({"a": 1})
