"""Bounded blast radius of scale: replicas above x max_factor of today's count, or above
max_replicas, are refused as bad input before any write, unless force_ceilings."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import rollout
from ansible_collections.irdrive.ops.plugins.module_utils.scale import (
    replica_ceiling,
    replica_refusals,
)
from ansible_collections.irdrive.ops.plugins.modules import scale
from test_collection_scale import FakeClient


@pytest.fixture
def run(run_module: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    def go(client: FakeClient, args: dict[str, Any], check_mode: bool = False) -> Any:
        monkeypatch.setattr(
            rollout.RolloutClient, "from_auth", classmethod(lambda cls, auth: client)
        )
        full = {"host": "https://127.0.0.1:1", "namespace": "platform", "wait_sleep": 0.01, **args}
        return run_module(scale, full, check_mode=check_mode)

    return go


@pytest.mark.parametrize(
    ("current", "factor", "ceiling", "allowed"),
    [
        (2, 10, 100, 20),
        (0, 10, 100, 10),  # a deployment at 0 counts as 1
        (30, 10, 100, 100),  # the absolute ceiling wins
        (3, 1, 100, 3),
        (5, 10, 3, 3),
    ],
)
def test_replica_ceiling(current: int, factor: int, ceiling: int, allowed: int) -> None:
    assert replica_ceiling(current, factor, ceiling) == allowed


@pytest.mark.parametrize(
    ("wanted", "current", "refused"),
    [
        ({"backend": 100_000_000}, {"backend": 2}, ["backend"]),
        ({"backend": 21}, {"backend": 2}, ["backend"]),
        ({"backend": 20}, {"backend": 2}, []),
        ({"backend": 11}, {"backend": 0}, ["backend"]),
        ({"backend": 10}, {"backend": 0}, []),
        ({"backend": 101}, {"backend": 50}, ["backend"]),
        ({"backend": 150}, {"backend": 200}, []),  # scaling down is never refused
        ({"backend": 200}, {"backend": 200}, []),  # nor keeping today's count
        ({"backend": 30, "frontend": 3}, {"backend": 2, "frontend": 2}, ["backend"]),
        ({"backend": 30, "frontend": 30}, {"backend": 2, "frontend": 2}, ["backend", "frontend"]),
    ],
)
def test_replica_refusals(wanted: dict, current: dict, refused: list[str]) -> None:
    lines = replica_refusals(wanted, current, 10, 100)
    assert [line.split(":")[0] for line in lines] == refused


def test_refusal_names_the_asked_and_allowed_counts() -> None:
    [line] = replica_refusals({"backend": 100_000_000}, {"backend": 2}, 10, 100)
    assert line == (
        "backend: asked 100000000 replicas, allowed at most 20 (x10 of today's 2, at most 100)"
    )


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_refuses_as_bad_input_before_any_write(run: Any, check_mode: bool) -> None:
    kube = FakeClient(backend=2)
    result, failed = run(kube, {"replicas": {"backend": 100_000_000}}, check_mode=check_mode)
    assert failed and result["error_kind"] == "invalid_input", result
    assert "backend: asked 100000000 replicas, allowed at most 20" in result["msg"]
    assert "--force" in result["msg"] and "\n" not in result["msg"]
    assert kube.writes == []


def test_module_ceilings_are_configurable_and_forced(run: Any) -> None:
    kube = FakeClient(backend=2)
    result, failed = run(kube, {"replicas": {"backend": 4}, "max_replicas": 3})
    assert failed and result["error_kind"] == "invalid_input" and kube.writes == []
    result, failed = run(
        kube, {"replicas": {"backend": 4}, "max_replicas": 3, "force_ceilings": True}
    )
    assert not failed and result["changed"] and kube.writes == [("scale", "backend")]


@pytest.mark.parametrize("limits", [{"max_factor": 0}, {"max_replicas": 0}])
def test_module_rejects_ceilings_below_one(run: Any, limits: dict) -> None:
    kube = FakeClient(backend=2)
    result, failed = run(kube, {"replicas": {"backend": 3}, **limits})
    assert failed and result["error_kind"] == "invalid_input" and kube.writes == []
