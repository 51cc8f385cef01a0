"""Run a module in-process, both ways its result can be taken.

``harness``: arguments through ``patch_module_args``, ``exit_json``/``fail_json`` caught as
exceptions (ansible-core's way of unit-testing a module). ``in_process``: the collection's own
runner (``plugin_utils/in_process.py``), which the action plugins use on the controller; the
result is what the module printed, censored and formatted as a real run returns it. Every test
that takes ``run_module`` runs both ways. Used by the unit and integration conftests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_decoder
from ansible.module_utils.testing import patch_module_args
from ansible_collections.irdrive.ops.plugins.plugin_utils.in_process import run_module_main
from collection_fakes import FakeKubeApi, FakeKubeServer

# Keys a real run adds to a result; the harness's raw kwargs do not have them.
RUN_ONLY_KEYS = ("invocation", "deprecations")
DECODER = get_module_decoder("legacy", Direction.MODULE_TO_CONTROLLER)


class ModuleExit(Exception):
    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def _exit_json(self: basic.AnsibleModule, **result: Any) -> None:
    raise ModuleExit(result, failed=False)


def _fail_json(self: basic.AnsibleModule, msg: str, **result: Any) -> None:
    raise ModuleExit({"msg": msg, "failed": True, **result}, failed=True)


def run_in_process(module: ModuleType, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The module's printed result, parsed, as the action plugin's in-process run takes it."""
    # Tracebacks on for errors, as ANSIBLE_DISPLAY_TRACEBACK=error asks of a real run: a
    # module's ``fail_json(exception=...)`` then returns it, as the harness does.
    output = run_module_main(module, {"_ansible_tracebacks_for": ["error"], **args})
    assert output.stdout.strip(), f"the module printed no result (rc {output.rc}): {output.stderr}"
    result = json.loads(output.stdout, cls=DECODER)
    for key in RUN_ONLY_KEYS:
        result.pop(key, None)
    if "warnings" in result:  # WarningSummary events, as the controller receives them
        result["warnings"] = [warning.event.msg for warning in result["warnings"]]
    assert bool(result.get("failed")) == (output.rc != 0), output
    return result, output.rc != 0


@pytest.fixture(params=["harness", "in_process"])
def run_module(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """``run_module(module, args, check_mode=False, diff=False) -> (result, failed)``."""
    in_process = request.param == "in_process"
    if not in_process:
        monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def run(
        module: ModuleType, args: dict[str, Any], check_mode: bool = False, diff: bool = False
    ) -> tuple[dict[str, Any], bool]:
        full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        if in_process:
            return run_in_process(module, full)
        with patch_module_args(full), pytest.raises(ModuleExit) as caught:
            module.main()
        return caught.value.result, caught.value.failed

    return run


@pytest.fixture
def kube() -> Iterator[FakeKubeApi]:
    """A fake Kubernetes API server in a thread, for the module under test."""
    with FakeKubeServer(FakeKubeApi()) as api:
        yield api
