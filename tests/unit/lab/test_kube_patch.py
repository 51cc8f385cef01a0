"""Strategic merge, JSON merge and JSON patch as kube-apiserver applies them."""

from __future__ import annotations

from typing import Any

import pytest

from irdrive_lab.kube.errors import BadRequest, Invalid, UnsupportedMediaType
from irdrive_lab.kube.patch import apply_patch, json_merge_patch, strategic_merge_patch


def pod_spec(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"spec": {"containers": list(containers), **extra}}


APP = {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param(
            pod_spec(APP),
            {"spec": {"containers": [{"name": "app", "image": "app:2"}]}},
            pod_spec({**APP, "image": "app:2"}),
            id="container-merged-by-name",
        ),
        pytest.param(
            pod_spec(APP),
            {"spec": {"containers": [{"name": "side", "image": "s:1"}]}},
            pod_spec(APP, {"name": "side", "image": "s:1"}),
            id="new-container-appended",
        ),
        pytest.param(
            pod_spec(APP),
            {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [{"name": "A", "value": "9"}, {"name": "B", "value": "2"}],
                        }
                    ]
                }
            },
            pod_spec({**APP, "env": [{"name": "A", "value": "9"}, {"name": "B", "value": "2"}]}),
            id="env-merged-by-name",
        ),
        pytest.param(
            pod_spec(APP, {"name": "side", "image": "s:1"}),
            {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}},
            pod_spec(APP),
            id="patch-delete-in-list",
        ),
        pytest.param(
            pod_spec(APP, {"name": "side", "image": "s:1"}),
            {"spec": {"containers": [{"name": "only", "image": "o:1"}, {"$patch": "replace"}]}},
            pod_spec({"name": "only", "image": "o:1"}),
            id="patch-replace-list",
        ),
        pytest.param(
            {"spec": {"selector": {"a": "1", "b": "2"}}},
            {"spec": {"selector": {"c": "3", "$patch": "replace"}}},
            {"spec": {"selector": {"c": "3"}}},
            id="patch-replace-map",
        ),
        pytest.param(
            pod_spec({"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}),
            {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}},
            pod_spec(
                {
                    "name": "app",
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                }
            ),
            id="container-ports-by-containerPort",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 80, "name": "http"}]}},
            {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
            {"spec": {"ports": [{"port": 80, "name": "http", "targetPort": 8080}]}},
            id="service-ports-by-port",
        ),
        pytest.param(
            pod_spec(
                {"name": "app", "volumeMounts": [{"mountPath": "/a", "name": "x"}]},
                volumes=[{"name": "x", "emptyDir": {}}],
            ),
            {
                "spec": {
                    "volumes": [{"name": "y", "emptyDir": {}}],
                    "containers": [
                        {"name": "app", "volumeMounts": [{"mountPath": "/b", "name": "y"}]}
                    ],
                }
            },
            pod_spec(
                {
                    "name": "app",
                    "volumeMounts": [
                        {"mountPath": "/a", "name": "x"},
                        {"mountPath": "/b", "name": "y"},
                    ],
                },
                volumes=[{"name": "x", "emptyDir": {}}, {"name": "y", "emptyDir": {}}],
            ),
            id="volumes-and-mounts",
        ),
        pytest.param(
            {
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "False"},
                        {"type": "Available", "status": "True"},
                    ]
                }
            },
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "True"},
                        {"type": "Available", "status": "True"},
                    ]
                }
            },
            id="conditions-by-type",
        ),
        pytest.param(
            {"spec": {"args": ["a", "b"]}},
            {"spec": {"args": ["c"]}},
            {"spec": {"args": ["c"]}},
            id="list-without-merge-key-replaced",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"a": None}}},
            {"metadata": {"labels": {"b": "2"}}},
            id="null-deletes-key",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["x"]}},
            {"metadata": {"finalizers": ["y", "x"]}},
            {"metadata": {"finalizers": ["x", "y"]}},
            id="finalizers-union",
        ),
        pytest.param(
            pod_spec({"name": "a"}, {"name": "b"}),
            {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
            pod_spec({"name": "b"}, {"name": "a"}),
            id="set-element-order",
        ),
        pytest.param(
            {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
            {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
            {"spec": {"strategy": {"type": "Recreate"}}},
            id="retain-keys",
        ),
        pytest.param(
            {"spec": {"finalizers": ["a", "b"]}},
            {"spec": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            {"spec": {"finalizers": ["b"]}},
            id="delete-from-primitive-list",
        ),
    ],
)
def test_strategic_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    snapshot = repr(target)
    assert strategic_merge_patch(target, patch) == expected
    assert repr(target) == snapshot  # the input is not modified


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_json_merge_patch_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert json_merge_patch(target, patch) == expected


def test_merge_patch_replaces_lists_where_strategic_merges_them() -> None:
    target = pod_spec(APP)
    patch = {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}
    merged = apply_patch("application/merge-patch+json", target, patch)
    strategic = apply_patch("application/strategic-merge-patch+json; charset=utf-8", target, patch)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["side"]
    assert [c["name"] for c in strategic["spec"]["containers"]] == ["app", "side"]


def test_json_patch() -> None:
    target = {"spec": {"replicas": 1, "template": {"metadata": {}}}}
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/spec/template/metadata/annotations", "value": {"a": "b"}},
    ]
    result = apply_patch("application/json-patch+json", target, ops)
    assert result == {
        "spec": {"replicas": 3, "template": {"metadata": {"annotations": {"a": "b"}}}}
    }
    assert target["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("content_type", "patch", "error"),
    [
        ("application/json-patch+json", {"op": "add"}, BadRequest),
        ("application/json-patch+json", [{"op": "bogus", "path": "/a"}], BadRequest),
        ("application/json-patch+json", [{"op": "remove", "path": "/missing"}], Invalid),
        ("application/json-patch+json", [{"op": "test", "path": "/a", "value": 2}], Invalid),
        ("application/strategic-merge-patch+json", {"$patch": "explode"}, BadRequest),
        (
            "application/strategic-merge-patch+json",
            {"spec": {"containers": [{"image": "x"}]}},
            BadRequest,
        ),
        ("application/apply-patch+yaml", {}, UnsupportedMediaType),
        ("text/plain", {}, UnsupportedMediaType),
    ],
)
def test_bad_patches(content_type: str, patch: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        apply_patch(content_type, {"a": 1, "spec": {"containers": [{"name": "c"}]}}, patch)
