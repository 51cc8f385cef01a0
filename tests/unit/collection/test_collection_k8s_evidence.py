"""irdrive.ops.k8s_evidence with a stub reader: redaction, logs, drift, check mode."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_evidence import EvidenceReader
from ansible_collections.irdrive.ops.plugins.modules import k8s_evidence

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "db",
        "namespace": "platform",
        "managedFields": [{"manager": "kubectl"}],
        "annotations": {k8s_evidence.LAST_APPLIED: '{"data":{"password":"c2VjcmV0"}}'},
    },
    "data": {"password": "c2VjcmV0"},
}
POD = {
    "metadata": {"name": "backend-1", "namespace": "platform", "labels": {"app": "backend"}},
    "spec": {"containers": [{"name": "backend"}], "initContainers": [{"name": "migrate"}]},
    "status": {"containerStatuses": [{"name": "backend", "restartCount": 1}]},
}
CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "payment-config", "namespace": "platform", "uid": "u"},
    "data": {"PRIMARY_PROCESSOR": "evil"},
}


class StubReader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def list_objects(self, api_version: str, plural: str, kind: str, namespace: str | None):
        if plural in ("daemonsets", "cronjobs"):
            raise NotFoundError("not served")
        items = {"secrets": [SECRET], "pods": [POD], "configmaps": [CM]}.get(plural, [])
        return [{"apiVersion": api_version, "kind": kind, **i} for i in items]

    def get_path(self, what: str, path: str, query: dict[str, Any] | None = None) -> Any:
        self.calls.append((path, query))
        if path == "/api/v1/pods":
            return {"items": [POD]}
        if path == "/api/v1":
            return {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}
        if path == "/api/v1/namespaces/platform/configmaps/payment-config":
            return CM
        raise NotFoundError(path)

    def resource(self, api_version: str, kind: str) -> dict[str, Any]:
        return EvidenceReader.resource(self, api_version, kind)  # type: ignore[arg-type]

    def pod_log(self, namespace, pod, container, since, previous) -> bytes:
        if container == "migrate":
            raise InvalidInputError("container is waiting to start")
        return f"{container} previous={previous} since={since}\n".encode()


def _module(tmp_path: Path, check_mode: bool = False, **params: Any) -> SimpleNamespace:
    base = {
        "dest": str(tmp_path / "b"),
        "state_dump": True,
        "namespaces": [],
        "log_selectors": ["app=backend"],
        "window": "2h",
        "config_dir": None,
        "config_recursive": False,
        "default_namespace": "default",
    }
    return SimpleNamespace(params={**base, **params}, check_mode=check_mode)


def test_dump_redacts_secrets_and_keeps_logs(tmp_path: Path) -> None:
    result = k8s_evidence.run_module(_module(tmp_path), StubReader())
    bundle = tmp_path / "b"
    secrets = (bundle / "k8s/state/secrets.yaml").read_text()
    assert "c2VjcmV0" not in secrets and "password: <redacted>" in secrets
    assert "managedFields" not in secrets
    assert result["objects"]["secrets"] == 1
    assert result["not_served"] == ["apps/v1/daemonsets", "batch/v1/cronjobs"]
    log = (bundle / "k8s/logs/platform/backend-1/backend.log").read_text()
    assert log == "backend previous=False since=7200\n"
    assert (bundle / "k8s/logs/platform/backend-1/backend.previous.log").is_file()
    assert result["log_errors"][0]["container"] == "migrate"
    assert result["changed"] and result["before"] == {"files": []}


def test_drift_against_a_folder(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: payment-config, namespace: platform}\n"
        "data: {PRIMARY_PROCESSOR: ccbill}\n---\napiVersion: v1\nkind: ConfigMap\n"
        "metadata: {name: gone, namespace: platform}\n"
    )
    (configs / "notes.txt").write_text("ignored")
    module = _module(tmp_path, state_dump=False, log_selectors=[], config_dir=str(configs))
    result = k8s_evidence.run_module(module, StubReader())
    assert result["drift"]["drifted"] == 1 and result["drift"]["missing"] == 1
    assert result["drift"]["drifted_objects"] == [
        "ConfigMap/platform/payment-config",
        "ConfigMap/platform/gone",
    ]
    diff = (tmp_path / "b/drift/report.diff").read_text()
    assert "-  PRIMARY_PROCESSOR: evil\n+  PRIMARY_PROCESSOR: ccbill" in diff


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    result = k8s_evidence.run_module(_module(tmp_path, check_mode=True), StubReader())
    assert result["changed"] and result["files"]
    assert not (tmp_path / "b").exists()


def test_same_content_is_no_change(tmp_path: Path) -> None:
    k8s_evidence.run_module(_module(tmp_path), StubReader())
    again = k8s_evidence.run_module(_module(tmp_path), StubReader())
    assert not again["changed"]


@pytest.mark.parametrize(
    ("params", "message"),
    [({"window": "soon"}, "not a duration"), ({"config_dir": "/nonexistent"}, "not a folder")],
)
def test_bad_input_reads_nothing(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    reader = StubReader()
    with pytest.raises(InvalidInputError, match=message):
        k8s_evidence.run_module(_module(tmp_path, **params), reader)
    assert reader.calls == [] and not (tmp_path / "b").exists()


def test_module_fails_cleanly_on_bad_kubeconfig(run_module, tmp_path: Path) -> None:
    result, failed = run_module(
        k8s_evidence, {"dest": str(tmp_path / "b"), "kubeconfig": str(tmp_path / "missing")}
    )
    assert failed and result["error_kind"] == "invalid_input"
