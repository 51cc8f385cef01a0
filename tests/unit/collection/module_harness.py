"""Run a module the standard way in-process: arguments through ``patch_module_args``,
``exit_json``/``fail_json`` caught as exceptions.  Used by the unit and integration conftests.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from collection_fakes import FakeKubeApi, FakeKubeServer


class ModuleExit(Exception):
    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def _exit_json(self: basic.AnsibleModule, **result: Any) -> None:
    raise ModuleExit(result, failed=False)


def _fail_json(self: basic.AnsibleModule, msg: str, **result: Any) -> None:
    raise ModuleExit({"msg": msg, "failed": True, **result}, failed=True)


@pytest.fixture
def run_module(monkeypatch: pytest.MonkeyPatch):
    """``run_module(module, args, check_mode=False, diff=False) -> (result, failed)``."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def run(
        module: ModuleType, args: dict[str, Any], check_mode: bool = False, diff: bool = False
    ) -> tuple[dict[str, Any], bool]:
        full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(full), pytest.raises(ModuleExit) as caught:
            module.main()
        return caught.value.result, caught.value.failed

    return run


@pytest.fixture
def kube() -> Iterator[FakeKubeApi]:
    """A fake Kubernetes API server in a thread, for the module under test."""
    with FakeKubeServer(FakeKubeApi()) as api:
        yield api
