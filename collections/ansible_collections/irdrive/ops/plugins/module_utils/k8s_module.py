# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""How a Kubernetes module of the collection ends: its result, or one clear failure.

``k8s_auth`` takes the connection options of the ``irdrive.ops.k8s_auth`` doc fragment from a
module's parameters; ``k8s_result`` runs the module's work and turns the collection's errors
into ``fail_json`` with ``error_kind`` (and the usual missing-library message when a
kubeconfig needs the kubernetes client and it is not installed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.irdrive.ops.plugins.module_utils.args_common import (
    K8S_AUTH_KEYS,
    pick,
)
from ansible_collections.irdrive.ops.plugins.module_utils.errors import IrdriveOpsError
from ansible_collections.irdrive.ops.plugins.module_utils.k8s import (
    K8sAuth,
    KubernetesLibraryMissing,
)


def k8s_auth(params: dict[str, Any]) -> K8sAuth:
    return K8sAuth(**pick(params, K8S_AUTH_KEYS))


def k8s_result(module: AnsibleModule, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()``'s result; on a collection error the module fails (``fail_json`` exits)."""
    try:
        return work()
    except KubernetesLibraryMissing as error:
        msg = missing_required_lib("kubernetes", reason=error.reason)
        module.fail_json(msg=msg, exception=error.import_error, **error.to_result())
    except IrdriveOpsError as error:
        module.fail_json(msg=str(error), **error.to_result())
    raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits
