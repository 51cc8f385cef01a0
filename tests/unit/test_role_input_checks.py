"""A role's check of its input is ``irdrive.ops.preflight``, never ``ansible.builtin.assert``.

An assert's failure carries no error kind: under AWX or plain ansible-playbook it cannot be told
from a failed change. ``irdrive.ops.preflight`` returns ``error_kind: invalid_input`` with the
refusal, so bad input is bad input without the driver. Asserts stay for verification only: the
checks after a change, tagged ``verify``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ASSERTS = {"ansible.builtin.assert", "assert", "ansible.legacy.assert"}
TASK_FILES = sorted(ROLES.glob("*/tasks/*.yml"))


def _tasks(tasks: list[dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    for task in tasks or []:
        yield task
        for part in ("block", "rescue", "always"):
            yield from _tasks(task.get(part))


def _tags(task: dict[str, Any]) -> list[str]:
    tags = task.get("tags") or []
    return [tags] if isinstance(tags, str) else list(tags)


@pytest.mark.parametrize("path", TASK_FILES, ids=[str(p.relative_to(ROLES)) for p in TASK_FILES])
def test_asserts_only_verify(path: Path) -> None:
    unverified = [
        task.get("name", "?")
        for task in _tasks(yaml.safe_load(path.read_text()))
        if ASSERTS & set(task) and "verify" not in _tags(task)
    ]
    assert unverified == [], (
        f"{path.relative_to(ROLES)}: input checks must use irdrive.ops.preflight (error_kind "
        f"invalid_input), asserts are for tagged verification only: {unverified}"
    )


def test_the_roles_were_found() -> None:
    assert len(TASK_FILES) > 20
    assert any(ASSERTS & set(t) for p in TASK_FILES for t in _tasks(yaml.safe_load(p.read_text())))
