# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""How every module of the collection ends: its result, or one clear failure.

module_utils raise ``errors`` exceptions; ``result_or_fail`` runs a module's work and turns
them into ``fail_json`` with ``error_kind`` (and Ansible's usual missing-library message for
``MissingLibrary``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    IrdriveOpsError,
    MissingLibrary,
)


def result_or_fail(module: AnsibleModule, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()``'s result; on a collection error the module fails (``fail_json`` exits)."""
    try:
        return work()
    except MissingLibrary as error:
        msg = missing_required_lib(error.library, reason=error.reason)
        module.fail_json(msg=msg, exception=error.import_error, **error.to_result())
    except IrdriveOpsError as error:
        module.fail_json(msg=str(error), **error.to_result())
    raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits
