# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""``lines``: a list parameter as the roles use it, whether it came as a list or as text.

An AWX survey answers a list of free values with a textarea (a string, one value a line), and
a command line with a comma-separated string; extra vars from YAML give a list. Survey answers
arrive as extra vars, which nothing in a play can override, so the role reads the parameter
through this filter.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

SEPARATORS = re.compile(r"[\r\n,]+")


def lines(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in SEPARATORS.split(value) if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise AnsibleFilterError(f"lines expects a list or a string, got {type(value).__name__}")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lines": lines}
