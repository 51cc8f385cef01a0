# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""``range_problems``: the numeric inputs that are out of their range, one line each.

Ansible's argument spec validator checks types and choices but has no minimum or maximum, so a
role's preflight passes ``{name: [value, min, max]}`` through this filter and hands the lines to
``irdrive.ops.preflight``, which refuses the run as bad input before anything changes.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def range_problems(ranges: Any, low: Any = None, high: Any = None, prefix: str = "") -> list[str]:
    """``{name: [value, min, max]}``, or ``{name: value}`` with one ``low``/``high`` for all."""
    if not isinstance(ranges, dict):
        raise AnsibleFilterError(
            f"range_problems expects a dict of name: [value, min, max], got {type(ranges).__name__}"
        )
    if low is not None or high is not None:
        ranges = {name: [value, low, high] for name, value in ranges.items()}
    problems = []
    for key, spec in ranges.items():
        name = f"{prefix}{key}"
        if not isinstance(spec, (list, tuple)) or len(spec) != 3:
            raise AnsibleFilterError(f"range_problems: {name} must be [value, min, max]")
        value, low, high = spec
        number, low_n, high_n = _number(value), _number(low), _number(high)
        if low_n is None or high_n is None:
            raise AnsibleFilterError(f"range_problems: the bounds of {name} must be numbers")
        if number is None or not low_n <= number <= high_n:
            problems.append(
                f"{name} must be a number from {_shown(low_n)} to {_shown(high_n)} (got {value!r})"
            )
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"range_problems": range_problems}
