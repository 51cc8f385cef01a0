# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""``ip_networks``: validate and normalise addresses to block, without failing.

``addresses | irdrive.ops.ip_networks`` gives ``{networks, v4, v6, invalid: [{value, reason}],
message}``, so a role can ``assert`` on ``invalid`` and fail with ``message``, naming every bad
address, before it changes anything. The rules are those of ``module_utils/ipblock.py``, the
same the modules apply.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import (
    invalid_message,
    normalize,
)


def ip_networks(values: Any) -> dict[str, Any]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",")] if values.strip() else []
    if not isinstance(values, list):
        raise AnsibleFilterError(
            f"ip_networks expects a list of addresses, got {type(values).__name__}"
        )
    result = normalize(values)
    result["message"] = invalid_message(result["invalid"]) if result["invalid"] else ""
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ip_networks": ip_networks}
