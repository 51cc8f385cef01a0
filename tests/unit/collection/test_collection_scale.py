"""irdrive.ops.scale and the replica/HPA helpers in module_utils/rollout, with an in-memory API."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import rollout
from ansible_collections.irdrive.ops.plugins.module_utils import scale as scale_utils
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.modules import scale


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "platform", "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {}},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


class FakeClient:
    """Deployments become ready at once; HPAs are stored as written."""

    def __init__(self, **replicas: int) -> None:
        self.deployments = {
            n.replace("_", "-"): deployment(n.replace("_", "-"), r) for n, r in replicas.items()
        }
        self.hpas: dict[str, dict] = {}
        self.writes: list[tuple[str, str]] = []

    def get_deployment(self, namespace: str, name: str) -> dict:
        if name not in self.deployments:
            raise NotFoundError("HTTP 404")
        return copy.deepcopy(self.deployments[name])

    def list_deployments(self, namespace: str) -> list[dict]:
        return list(self.deployments.values())

    def list_hpas(self, namespace: str) -> list[dict]:
        return copy.deepcopy(list(self.hpas.values()))

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[dict]:
        return []

    def set_replicas(self, namespace: str, name: str, replicas: int) -> dict:
        self.writes.append(("scale", name))
        self.deployments[name] = deployment(name, replicas)
        return self.deployments[name]

    def create_hpa(self, namespace: str, body: dict) -> dict:
        self.writes.append(("create-hpa", body["metadata"]["name"]))
        self.hpas[body["metadata"]["name"]] = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": "1"},
        }
        return body

    def patch_hpa(self, namespace: str, name: str, spec: dict, resource_version: str) -> dict:
        self.writes.append(("patch-hpa", name))
        self.hpas[name]["spec"] = spec
        return self.hpas[name]


@pytest.fixture
def run(run_module, monkeypatch):
    def go(client: FakeClient, args: dict[str, Any], check_mode: bool = False) -> tuple[dict, bool]:
        monkeypatch.setattr(
            rollout.RolloutClient, "from_auth", classmethod(lambda cls, auth: client)
        )
        full = {"host": "https://127.0.0.1:1", "namespace": "platform", "wait_sleep": 0.01, **args}
        return run_module(scale, full, check_mode=check_mode)

    return go


HPA = {"deployment": "backend", "min": 3, "max": 10, "cpu_percent": 70}


def test_scale_and_create_hpa_then_rerun_changes_nothing(run) -> None:
    kube = FakeClient(backend=3, frontend=2)
    result, failed = run(kube, {"replicas": {"backend": 5, "frontend": 2}, "hpa": HPA})
    assert not failed and result["changed"], result
    assert result["before"] == {"replicas": {"backend": 3}, "hpa": None}
    assert result["after"]["hpa"] == {
        "name": "backend",
        "deployment": "backend",
        "min": 3,
        "max": 10,
        "cpu_percent": 70,
    }
    assert kube.writes == [("scale", "backend"), ("create-hpa", "backend")]
    kube.deployments["backend"] = deployment("backend", 8)  # the autoscaler took over
    again, failed = run(kube, {"replicas": {"backend": 5, "frontend": 2}, "hpa": HPA})
    assert not failed and not again["changed"], again
    assert "left to HPA backend" in again["msg"] and len(kube.writes) == 2

    changed, failed = run(kube, {"hpa": {**HPA, "max": 12}})
    assert not failed and changed["changed"] and changed["hpa"]["before"]["max"] == 10
    assert kube.writes[-1] == ("patch-hpa", "backend")


def test_refuses_to_fight_an_hpa_unless_forced(run) -> None:
    kube = FakeClient(backend=3)
    kube.hpas["backend"] = {
        "metadata": {"name": "backend"},
        "spec": scale_utils.hpa_spec("backend", 3, 10, 70),
    }
    result, failed = run(kube, {"replicas": "backend=4"})
    assert (
        failed
        and result["error_kind"] == "refused"
        and "controlled by HPA backend" in result["msg"]
    )
    assert kube.writes == []
    forced, failed = run(kube, {"replicas": "backend=4", "force": True})
    assert not failed and forced["changed"] and kube.writes == [("scale", "backend")]


def test_check_mode_writes_nothing(run) -> None:
    kube = FakeClient(backend=3)
    result, failed = run(
        kube, {"replicas": [{"name": "backend", "replicas": 5}], "hpa": HPA}, check_mode=True
    )
    assert not failed and result["changed"] and kube.writes == []
    assert "backend: 3 -> 5 replicas" in result["msg"] and "HPA backend: create" in result["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"replicas": {"nosuch": 2}}, "deployment nosuch not found"),
        ({"replicas": {"backend": -1}}, "must be a whole number of at least 0"),
        ({"hpa": {**HPA, "min": 5, "max": 2}}, "need 1 <= min <= max"),
        ({"replicas": {"backend": 20}, "hpa": HPA}, "outside the HPA's range"),
        ({}, "nothing to do"),
    ],
)
def test_bad_input_fails_before_any_write(run, args, message) -> None:
    kube = FakeClient(backend=3)
    result, failed = run(kube, args)
    assert failed and message in result["msg"], result
    assert kube.writes == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"backend": 5}, {"backend": 5}),
        ([{"name": "backend", "replicas": "5"}], {"backend": 5}),
        ("backend=5, frontend=3", {"backend": 5, "frontend": 3}),
        ('{"backend": 2}', {"backend": 2}),
        (None, {}),
    ],
)
def test_parse_replicas(value, expected) -> None:
    assert scale_utils.parse_replicas(value) == expected


@pytest.mark.parametrize("value", ["backend", {"backend": 1.5}, [{"name": "b"}], {"b": True}, 7])
def test_parse_replicas_rejects(value) -> None:
    with pytest.raises(InvalidInputError):
        scale_utils.parse_replicas(value)
