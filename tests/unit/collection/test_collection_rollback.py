"""irdrive.ops.rollback and the rollback planning in module_utils/rollout, with an in-memory API."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import rollout
from ansible_collections.irdrive.ops.plugins.module_utils.errors import ConflictError, NotFoundError
from ansible_collections.irdrive.ops.plugins.modules import rollback

UID = "uid-backend"
IMG = "registry.platform.com/backend:"


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "backend"}},
        "spec": {"containers": [{"name": "backend", "image": image}]},
    }


def replicaset(pth: str, image: str, revision: int, history: str = "") -> dict[str, Any]:
    tpl = template(image)
    tpl["metadata"]["labels"]["pod-template-hash"] = pth
    annotations = {rollout.REVISION: str(revision), "kubernetes.io/change-cause": f"deploy {image}"}
    if history:
        annotations[rollout.REVISION_HISTORY] = history
    return {
        "metadata": {
            "name": f"backend-{pth}",
            "labels": {"app": "backend", "pod-template-hash": pth},
            "annotations": annotations,
            "creationTimestamp": f"2026-01-0{revision}T00:00:00Z",
            "ownerReferences": [{"kind": "Deployment", "uid": UID, "controller": True}],
        },
        "spec": {"replicas": 0, "template": tpl},
    }


def deployment(image: str, revision: int, annotations: dict[str, str] | None = None) -> dict:
    return {
        "metadata": {
            "name": "backend",
            "namespace": "platform",
            "uid": UID,
            "generation": 3,
            "resourceVersion": "10",
            "annotations": {rollout.REVISION: str(revision), **(annotations or {})},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "backend"}},
            "template": template(image),
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
        },
    }


class FakeClient:
    """Plays the API and, on a rollback patch, the deployment controller."""

    def __init__(self, deployments: list[dict], replicasets: list[dict]) -> None:
        self.deployments = {d["metadata"]["name"]: d for d in deployments}
        self.replicasets = replicasets
        self.writes: list[tuple[str, Any]] = []
        self.conflicts = 0

    def get_deployment(self, namespace: str, name: str) -> dict:
        if name not in self.deployments:
            raise NotFoundError(f"get deployment {namespace}/{name}: HTTP 404")
        return copy.deepcopy(self.deployments[name])

    def list_deployments(self, namespace: str) -> list[dict]:
        return [copy.deepcopy(d) for d in self.deployments.values()]

    def list_replicasets(self, namespace: str) -> list[dict]:
        return copy.deepcopy(self.replicasets)

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[dict]:
        return []

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict]) -> dict:
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError("patch: HTTP 409")
        self.writes.append((name, ops))
        dep = self.deployments[name]
        values = {op["path"]: op["value"] for op in ops}
        assert values["/metadata/resourceVersion"] == dep["metadata"]["resourceVersion"]
        dep["spec"]["template"] = values["/spec/template"]
        dep["metadata"]["annotations"] = dict(values["/metadata/annotations"])
        target = next(
            rs
            for rs in self.replicasets
            if rollout.same_template(rs["spec"]["template"], dep["spec"]["template"])
        )
        new_rev = max(rollout.revision_of(rs) for rs in self.replicasets) + 1
        old = rollout.revision_of(target)
        target["metadata"]["annotations"][rollout.REVISION] = str(new_rev)
        target["metadata"]["annotations"][rollout.REVISION_HISTORY] = str(old)
        dep["metadata"]["annotations"][rollout.REVISION] = str(new_rev)
        dep["metadata"]["resourceVersion"] = str(int(dep["metadata"]["resourceVersion"]) + 1)
        return dep


@pytest.fixture
def bad() -> FakeClient:
    return FakeClient(
        [deployment(IMG + "2.4.1-bad", 3)],
        [
            replicaset("a", IMG + "2.4.0", 1),
            replicaset("b", IMG + "2.4.1", 2),
            replicaset("c", IMG + "2.4.1-bad", 3),
        ],
    )


@pytest.fixture
def run(run_module, monkeypatch):
    def go(client: FakeClient, args: dict[str, Any], check_mode: bool = False) -> tuple[dict, bool]:
        monkeypatch.setattr(
            rollout.RolloutClient, "from_auth", classmethod(lambda cls, auth: client)
        )
        full = {"host": "https://127.0.0.1:1", "namespace": "platform", "wait_sleep": 0.01, **args}
        return run_module(rollback, full, check_mode=check_mode)

    return go


def test_rolls_back_to_previous_records_it_and_a_rerun_does_nothing(run, bad) -> None:
    result, failed = run(bad, {"names": ["backend"]})
    assert not failed and result["changed"], result
    assert result["before"]["backend"]["images"] == [IMG + "2.4.1-bad"]
    assert result["after"]["backend"] == {"revision": 4, "images": [IMG + "2.4.1"], "replicas": 3}
    ((name, ops),) = bad.writes
    tpl = next(op["value"] for op in ops if op["path"] == "/spec/template")
    assert "pod-template-hash" not in tpl["metadata"]["labels"]
    annotations = bad.deployments["backend"]["metadata"]["annotations"]
    record = json.loads(annotations[rollout.ROLLBACK_RECORD])
    assert record["to_hash"] == "b" and record["from_revision"] == 3
    assert annotations["kubernetes.io/change-cause"] == f"deploy {IMG}2.4.1"

    # "previous" is now the bad revision 3: the record keeps a re-run from going there.
    again, failed = run(bad, {"names": ["backend"]})
    assert not failed and not again["changed"], again
    assert "already rolled back by irdrive" in again["msg"]
    assert len(bad.writes) == 1


def test_check_mode_plans_and_writes_nothing(run, bad) -> None:
    result, failed = run(bad, {"names": ["backend"]}, check_mode=True)
    assert not failed and result["changed"]
    assert bad.writes == []
    (plan,) = result["deployments"]
    assert plan["current"] == {"revision": 3, "images": [IMG + "2.4.1-bad"]}
    assert plan["target"] == {"revision": 2, "images": [IMG + "2.4.1"]}
    assert "would roll back revision 3" in result["msg"]


def test_named_revision_then_idempotent_through_revision_history(run, bad) -> None:
    result, failed = run(bad, {"names": ["backend"], "revision": 1})
    assert not failed and result["after"]["backend"]["images"] == [IMG + "2.4.0"]
    again, failed = run(bad, {"names": ["backend"], "revision": 1})
    assert not failed and not again["changed"] and "revision 1" in again["msg"]


def test_conflict_is_retried_after_rereading(run, bad) -> None:
    bad.conflicts = 1
    result, failed = run(bad, {"names": ["backend"]})
    assert not failed and result["changed"] and len(bad.writes) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"names": ["backend", "nosuch"]}, "deployment nosuch not found"),
        ({"names": ["backend"], "revision": 7}, "revision 7 is not in the rollout history"),
        ({"all": True, "revision": 1}, "needs exactly one deployment"),
        ({"names": ["backend"], "revision": -1}, "revision must be 0"),
        ({}, "name at least one deployment"),
    ],
)
def test_bad_input_fails_before_any_write(run, bad, args, message) -> None:
    result, failed = run(bad, args)
    assert failed and message in result["msg"] and result["error_kind"] == "invalid_input"
    assert bad.writes == []


def test_full_skips_deployments_without_history() -> None:
    lonely = deployment(IMG + "2.4.1", 1)
    plan = rollout.plan_rollback(lonely, [replicaset("b", IMG + "2.4.1", 1)])
    assert plan["action"] == "impossible" and "no earlier revision" in plan["reason"]


def test_rollout_that_never_completes_names_the_state(run, bad) -> None:
    bad.deployments["backend"]["status"]["availableReplicas"] = 1
    result, failed = run(bad, {"names": ["backend"], "wait_timeout": 1})
    assert failed and result["error_kind"] == "timeout"
    assert "backend: revision 4" in result["msg"] and "1/3 available" in result["msg"]
