"""Shared option specs (args_common) and their doc fragments say the same thing."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible_collections.irdrive.ops.plugins.doc_fragments import aws_conn, k8s_wait
from ansible_collections.irdrive.ops.plugins.module_utils import args_common
from ansible_collections.irdrive.ops.plugins.modules import rollback, rollout_restart, scale


@pytest.mark.parametrize(
    ("fragment", "spec"),
    [
        pytest.param(k8s_wait, args_common.WAIT_ARG_SPEC, id="k8s_wait"),
        pytest.param(aws_conn, args_common.AWS_ARG_SPEC, id="aws_conn"),
    ],
)
def test_fragment_documents_the_spec(fragment: Any, spec: dict[str, dict[str, Any]]) -> None:
    options = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    assert sorted(options) == sorted(spec)
    for name, option in spec.items():
        documented = options[name]
        assert documented["type"] == option["type"], name
        assert documented.get("default") == option.get("default"), name
        assert sorted(documented.get("aliases", [])) == sorted(option.get("aliases", [])), name


@pytest.mark.parametrize(
    ("module", "timeout"),
    [
        pytest.param(scale, 180, id="scale"),
        pytest.param(rollback, 180, id="rollback"),
        pytest.param(rollout_restart, 120, id="rollout_restart"),
    ],
)
def test_wait_options_are_the_shared_ones(module: Any, timeout: int) -> None:
    spec = module.argument_spec()
    assert {k: spec[k] for k in args_common.WAIT_ARG_SPEC} == args_common.wait_argument_spec(
        timeout
    )


@pytest.mark.parametrize("module", [scale, rollback, rollout_restart])
@pytest.mark.parametrize("wait_timeout", [0, -5])
def test_a_wait_that_cannot_succeed_is_refused(run_module, module: Any, wait_timeout: int) -> None:
    args = {
        "namespace": "platform",
        "name": "backend",
        "names": ["backend"],
        "replicas": 3,
        "host": "http://127.0.0.1:9",  # never reached: the check comes first
        "wait_timeout": wait_timeout,
    }
    spec = module.argument_spec()
    result, failed = run_module(module, {k: v for k, v in args.items() if k in spec})
    assert failed
    assert result["msg"] == "wait_timeout must be a positive number of seconds"
    assert result["error_kind"] == "invalid_input"


def test_wait_argument_spec_is_a_copy() -> None:
    spec = args_common.wait_argument_spec(30)
    spec["wait"]["default"] = False
    assert args_common.WAIT_ARG_SPEC["wait"]["default"] is True
    assert args_common.WAIT_ARG_SPEC["wait_timeout"]["default"] == 180
