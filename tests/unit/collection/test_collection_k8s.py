"""module_utils.k8s against the fake API over real HTTP, with the real kubernetes client."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TransientError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s import (
    K8sAuth,
    K8sClient,
    RetryPolicy,
    build_api_client,
)
from collection_fakes import TOKEN, FakeKubeApi, deployment, kill_switch_configmap, pod

NO_SLEEP = RetryPolicy(attempts=3, deadline=10.0, sleep=lambda s: None)


@pytest.fixture
def client(kube: FakeKubeApi) -> K8sClient:
    return K8sClient.from_auth(K8sAuth(host=kube.url, api_key=TOKEN), retry_policy=NO_SLEEP)


def test_reads_send_the_bearer_token(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("deployments", deployment("backend"))
    assert client.get_deployment("platform", "backend")["metadata"]["name"] == "backend"
    assert kube.requests[-1]["authorization"] == f"Bearer {TOKEN}"


def test_lists_filter_by_label_selector(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("pods", pod("a-1", "a"))
    kube.add("pods", pod("b-1", "b"))
    assert [p["metadata"]["name"] for p in client.list_pods("platform", "app=b")] == ["b-1"]
    assert kube.requests[-1]["query"]["labelSelector"] == ["app=b"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFoundError), (401, AuthError), (403, AuthError), (422, InvalidInputError)],
)
def test_permanent_errors_fail_at_once(
    kube: FakeKubeApi, client: K8sClient, status: int, error: type
) -> None:
    kube.fail_next = [status]
    with pytest.raises(error):
        client.get_configmap("platform", "kill-switches")
    assert len(kube.requests) == 1


def test_missing_object_names_it(kube: FakeKubeApi, client: K8sClient) -> None:
    with pytest.raises(NotFoundError, match="get deployment platform/nope: HTTP 404"):
        client.get_deployment("platform", "nope")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried(kube: FakeKubeApi, client: K8sClient, status: int) -> None:
    kube.add("configmaps", kill_switch_configmap())
    kube.fail_next = [status, status]
    assert client.get_configmap("platform", "kill-switches")["data"]["payments"] == "enabled"
    assert len(kube.requests) == 3


def test_transient_errors_give_up_after_the_bounded_attempts(
    kube: FakeKubeApi, client: K8sClient
) -> None:
    kube.fail_next = [503] * 10
    with pytest.raises(TransientError) as caught:
        client.get_configmap("platform", "kill-switches")
    assert caught.value.attempts == 3
    assert len(kube.requests) == 3


def test_wrong_token_is_an_auth_error(kube: FakeKubeApi) -> None:
    bad = K8sClient.from_auth(K8sAuth(host=kube.url, api_key="wrong"), retry_policy=NO_SLEEP)
    with pytest.raises(AuthError):
        bad.get_configmap("platform", "kill-switches")


def test_unreachable_api_names_the_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = K8sClient.from_auth(
        K8sAuth(host=f"http://127.0.0.1:{port}", api_key=TOKEN), retry_policy=NO_SLEEP
    )
    with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}"):
        dead.get_configmap("platform", "kill-switches")


def test_patch_is_a_merge_patch_with_resource_version(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("configmaps", kill_switch_configmap())
    rv = kube.get("configmaps", "platform", "kill-switches")["metadata"]["resourceVersion"]
    client.patch_configmap("platform", "kill-switches", {"payments": "disabled"}, rv)
    patch = kube.writes()[-1]
    assert patch["content_type"] == "application/merge-patch+json"
    assert patch["body"] == {"metadata": {"resourceVersion": rv}, "data": {"payments": "disabled"}}
    with pytest.raises(ConflictError):
        client.patch_configmap("platform", "kill-switches", {"payments": "enabled"}, rv)


def test_update_rereads_and_recomputes_after_a_conflict(
    kube: FakeKubeApi, client: K8sClient
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    kube.before_patch = lambda api: api.concurrent_write(
        "configmaps", "platform", "kill-switches", {"uploads": "disabled"}
    )
    seen: list[str] = []

    def compute(data: dict[str, str]) -> dict[str, str | None]:
        seen.append(data["uploads"])
        return {"payments": "disabled"}

    update = client.update_configmap("platform", "kill-switches", compute)
    assert seen == ["enabled", "disabled"]  # the second computation saw the other writer's change
    assert update.written and update.conflicts == 1
    assert update.data["payments"] == "disabled" and update.data["uploads"] == "disabled"
    assert [r["method"] for r in kube.requests] == ["GET", "PATCH", "GET", "PATCH"]


def test_update_gives_up_after_repeated_conflicts(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("configmaps", kill_switch_configmap())
    kube.fail_next = []

    def always_conflict(data: dict[str, str]) -> dict[str, str | None]:
        kube.concurrent_write("configmaps", "platform", "kill-switches", {"x": str(len(data))})
        return {"payments": "disabled"}

    with pytest.raises(ConflictError):
        client.update_configmap("platform", "kill-switches", always_conflict, conflict_attempts=3)
    assert len(kube.writes()) == 3
    assert kube.get("configmaps", "platform", "kill-switches")["data"]["payments"] == "enabled"


def test_dry_run_update_computes_but_never_writes(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("configmaps", kill_switch_configmap())
    update = client.update_configmap(
        "platform", "kill-switches", lambda data: {"payments": "disabled"}, dry_run=True
    )
    assert update.changed and not update.written
    assert update.data["payments"] == "disabled"
    assert kube.writes() == []


def test_no_change_means_no_write(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("configmaps", kill_switch_configmap())
    update = client.update_configmap("platform", "kill-switches", lambda data: None)
    assert not update.changed
    assert kube.writes() == []


def write_kubeconfig(path: Path, server: str, token: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": server}}],
                "users": [{"name": "irdrive", "user": {"token": token}}],
                "contexts": [
                    {"name": "lab", "context": {"cluster": "lab", "user": "irdrive"}},
                    {"name": "other", "context": {"cluster": "lab", "user": "irdrive"}},
                ],
                "current-context": "lab",
            }
        )
    )
    return path


def test_client_from_kubeconfig(kube: FakeKubeApi, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", kube.url, TOKEN)
    kube.add("deployments", deployment("backend"))
    client = K8sClient.from_auth(K8sAuth(kubeconfig=str(kubeconfig), context="other"))
    assert client.get_deployment("platform", "backend")["metadata"]["name"] == "backend"


def test_explicit_options_override_the_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", "https://10.0.0.1:6443", "from-file")
    ca = tmp_path / "ca.crt"
    ca.write_text("not read until a TLS connection is made")
    api_client = build_api_client(
        K8sAuth(
            kubeconfig=str(kubeconfig),
            host="https://127.0.0.1:7443/",
            api_key="override",
            ca_cert=str(ca),
            validate_certs=False,
        )
    )
    configuration = api_client.configuration
    assert configuration.host == "https://127.0.0.1:7443"
    assert configuration.api_key == {"authorization": "Bearer override"}
    assert configuration.ssl_ca_cert == str(ca)
    assert configuration.verify_ssl is False
    assert configuration.retries is False


def test_missing_kubeconfig_is_a_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot load Kubernetes config"):
        build_api_client(K8sAuth(kubeconfig=str(tmp_path / "missing")))
