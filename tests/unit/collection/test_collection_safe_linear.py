"""safe_linear's preload guard: a task whose ``when`` is already false with the host's
variables has its module not imported in ansible-playbook (a skipped AWS step would import
boto3 for nothing); anything undecided there is preloaded, as before."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import trust_as_template
from ansible_collections.irdrive.ops.plugins.strategy.safe_linear import may_run


def task(when: Any) -> SimpleNamespace:
    """What may_run reads of a task: its ``when`` list, its blocks' and imports' included, as
    loaded from a playbook (trusted expressions)."""
    conditions = [] if when is None else [when] if isinstance(when, str) else when
    return SimpleNamespace(when=[trust_as_template(c) for c in conditions])


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (None, True),
        ("plan.aws", False),
        (["plan.aws or 'waf' in plan.targets", "plan.hosts | length > 0"], True),
        (["plan.hosts | length > 0", "plan.aws"], False),  # every condition must hold
        ("item.name == 'x'", True),  # a loop's item: undecided here, preloaded
        ("no_such_variable", True),  # undefined: the worker reports it, not this guard
    ],
)
def test_may_run(when: Any, expected: bool) -> None:
    task_vars = {"plan": {"aws": False, "targets": ["waf"], "hosts": ["web"]}}
    assert may_run(task(when), task_vars, DataLoader()) is expected
