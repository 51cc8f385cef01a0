"""range_problems: numeric inputs out of their range, named one line each (argument specs have no min/max)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.irdrive.ops.plugins.filter.range_problems import (
    FilterModule,
    range_problems,
)


def test_values_in_range_give_no_problem() -> None:
    assert range_problems({"a": [1, 1, 10], "b": ["10", 1, 10], "c": [2.5, 0, 3]}) == []


@pytest.mark.parametrize(
    ("value", "shown"), [(-5, "-5"), (0, "0"), (3601, "3601"), ("abc", "'abc'"), (True, "True")]
)
def test_out_of_range_or_not_a_number_is_named_with_its_range(value: object, shown: str) -> None:
    assert range_problems({"rollout_timeout": [value, 1, 3600]}) == [
        f"rollout_timeout must be a number from 1 to 3600 (got {shown})"
    ]


def test_every_bad_input_gets_its_own_line_in_order() -> None:
    problems = range_problems({"x": [-1, 0, 5], "y": [3, 0, 5], "z": [9, 0, 5]})
    assert [p.split()[0] for p in problems] == ["x", "z"]


@pytest.mark.parametrize("bad", [[1, 2], {"x": [1, "low", 3]}, "x"])
def test_a_malformed_range_is_a_filter_error(bad: object) -> None:
    with pytest.raises(AnsibleFilterError):
        range_problems(bad if isinstance(bad, (dict, str)) else {"x": bad})


def test_one_range_for_every_input_with_a_prefix() -> None:
    assert range_problems({"backend": 8, "frontend": 500}, 0, "100", prefix="scale.") == [
        "scale.frontend must be a number from 0 to 100 (got 500)"
    ]


def test_registered() -> None:
    assert FilterModule().filters()["range_problems"] is range_problems
