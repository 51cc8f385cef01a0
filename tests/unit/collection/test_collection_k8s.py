"""module_utils.k8s_client and k8s_transport against the fake API over real HTTP(S): requests, errors, retries, TLS."""

from __future__ import annotations

import http.client
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    NotFoundError,
    TLSError,
    TransientError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient, RetryPolicy
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_errors import (
    ApiStatusError,
    ConnectFailed,
    translate_error,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_transport import RestTransport
from collection_fakes import (
    TOKEN,
    FakeKubeApi,
    FakeKubeServer,
    FakePki,
    deployment,
    kill_switch_configmap,
    make_pki,
    pod,
)
from helpers import wait_until

NO_SLEEP = RetryPolicy(attempts=3, deadline=10.0, sleep=lambda s: None)


@pytest.fixture
def client(kube: FakeKubeApi) -> K8sClient:
    return K8sClient.from_auth(K8sAuth(host=kube.url, api_key=TOKEN), retry_policy=NO_SLEEP)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> FakePki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_the_common_path_uses_the_stdlib_transport(client: K8sClient) -> None:
    assert isinstance(client.transport, RestTransport)


def test_reads_send_the_bearer_token(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("deployments", deployment("backend"))
    assert client.get_deployment("platform", "backend")["metadata"]["name"] == "backend"
    assert kube.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    assert kube.requests[-1]["path"] == "/apis/apps/v1/namespaces/platform/deployments/backend"
    assert kube.requests[-1]["accept"] == "application/json"


def test_lists_filter_by_label_selector(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("pods", pod("a-1", "a"))
    kube.add("pods", pod("b-1", "b"))
    assert [p["metadata"]["name"] for p in client.list_pods("platform", "app=b")] == ["b-1"]
    assert kube.requests[-1]["query"]["labelSelector"] == ["app=b"]
    assert "fieldSelector" not in kube.requests[-1]["query"]  # None is left out


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
    with pytest.raises(NotFoundError, match="get deployment platform/nope: HTTP 404") as caught:
        client.get_deployment("platform", "nope")
    assert 'deployments "nope" not found' in str(caught.value)  # the Status message
    assert caught.value.details == {"status": 404}


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


def test_a_dropped_connection_is_transient_and_retried(
    kube: FakeKubeApi, client: K8sClient
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    kube.drop_next = 1
    assert client.get_configmap("platform", "kill-switches")["data"]["payments"] == "enabled"
    assert len(kube.requests) == 2


def test_a_read_timeout_is_transient(kube: FakeKubeApi) -> None:
    kube.add("configmaps", kill_switch_configmap())
    slow = K8sClient.from_auth(
        K8sAuth(host=kube.url, api_key=TOKEN, request_timeout=0.2), retry_policy=NO_SLEEP
    )
    kube.delay = 0.6
    with pytest.raises(TransientError, match="get configmap platform/kill-switches: Timeout"):
        slow.get_configmap("platform", "kill-switches")
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
    with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}") as caught:
        dead.get_configmap("platform", "kill-switches")
    assert caught.value.attempts is None  # not retried


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ApiStatusError(409, "Conflict", b'{"message": "stale"}'), ConflictError),
        (ApiStatusError(502, "Bad Gateway", b"<html>"), TransientError),
        (ApiStatusError(418, "Teapot", b""), IrdriveOpsError),
        (ConnectFailed(ConnectionRefusedError(111, "refused")), UnreachableError),
        (ConnectFailed(TimeoutError("timed out")), UnreachableError),
        (ConnectFailed(socket.gaierror(-2, "Name or service not known")), UnreachableError),
        (ConnectFailed(ssl.SSLCertVerificationError("certificate verify failed")), TLSError),
        (TimeoutError("The read operation timed out"), TransientError),
        (http.client.RemoteDisconnected("closed"), TransientError),
        (http.client.IncompleteRead(b"partial", 10), TransientError),
        (ConnectionResetError(104, "reset"), TransientError),
        (ssl.SSLEOFError("EOF occurred"), TransientError),
        (ssl.SSLError("tlsv13 alert certificate required"), TLSError),
        (ValueError("Expecting value"), IrdriveOpsError),
    ],
)
def test_translate_error_maps_stdlib_failures(error: BaseException, kind: type) -> None:
    mapped = translate_error(error, "get thing", "https://api:6443")
    assert type(mapped) is kind
    assert str(mapped).startswith("get thing: ")


def test_status_message_comes_from_the_status_body() -> None:
    mapped = translate_error(ApiStatusError(409, "Conflict", b'{"message": "stale"}'), "w", "h")
    assert str(mapped) == "w: HTTP 409: stale"
    assert str(translate_error(ApiStatusError(503, "Busy", b"nope"), "w", "h")) == (
        "w: HTTP 503: Busy"
    )


def test_patch_is_a_merge_patch_with_resource_version(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("configmaps", kill_switch_configmap())
    rv = kube.get("configmaps", "platform", "kill-switches")["metadata"]["resourceVersion"]
    client.patch_configmap("platform", "kill-switches", {"payments": "disabled"}, rv)
    patch = kube.writes()[-1]
    assert patch["content_type"] == "application/merge-patch+json"
    assert patch["body"] == {"metadata": {"resourceVersion": rv}, "data": {"payments": "disabled"}}
    with pytest.raises(ConflictError):
        client.patch_configmap("platform", "kill-switches", {"payments": "enabled"}, rv)


def test_deployment_patch_is_strategic_and_dry_run_writes_nothing(
    kube: FakeKubeApi, client: K8sClient
) -> None:
    kube.add("deployments", deployment("backend"))
    body = {"spec": {"replicas": 5}}
    dry = client.patch_deployment("platform", "backend", body, dry_run=True)
    assert dry["spec"]["replicas"] == 5
    assert kube.get("deployments", "platform", "backend")["spec"]["replicas"] == 2
    assert kube.requests[-1]["query"] == {"dryRun": ["All"]}
    assert kube.requests[-1]["content_type"] == "application/strategic-merge-patch+json"
    client.patch_deployment("platform", "backend", body)
    assert kube.requests[-1]["query"] == {}
    assert kube.get("deployments", "platform", "backend")["spec"]["replicas"] == 5


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


# ---- request and the helpers --------------------------------------------------------------
def test_request_encodes_the_query_and_leaves_out_none(
    kube: FakeKubeApi, client: K8sClient
) -> None:
    kube.add("pods", pod("a-1", "a"))
    query = {
        "labelSelector": "app=a",
        "fieldSelector": "spec.nodeName=node 1,status.phase!=Failed",
        "watch": False,
        "limit": 5,
        "x": None,
    }
    result = client.request("GET", "/api/v1/namespaces/platform/pods", query)
    assert [p["metadata"]["name"] for p in result["items"]] == ["a-1"]
    assert kube.requests[-1]["query"] == {
        "labelSelector": ["app=a"],
        "fieldSelector": ["spec.nodeName=node 1,status.phase!=Failed"],
        "watch": ["false"],
        "limit": ["5"],
    }


def test_request_names_the_call_in_errors(client: K8sClient) -> None:
    with pytest.raises(NotFoundError, match="^GET /api/v1/namespaces/x/widgets: HTTP 404"):
        client.request("GET", "/api/v1/namespaces/x/widgets")


def test_pod_log_is_raw_bytes_with_its_query(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("pods", pod("a-1", "a"))
    kube.logs[("platform", "a-1", "a")] = "2026-01-01T00:00:00Z caf\u00e9 ERROR\n"
    data = client.read_pod_log("platform", "a-1", "a", since_seconds=60, timestamps=True)
    assert data == "2026-01-01T00:00:00Z caf\u00e9 ERROR\n".encode()
    request = kube.requests[-1]
    assert request["path"] == "/api/v1/namespaces/platform/pods/a-1/log"
    assert request["query"] == {"container": ["a"], "sinceSeconds": ["60"], "timestamps": ["true"]}
    assert request["accept"] == "*/*"


def test_secret_helpers(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("secrets", {"metadata": {"name": "db"}, "data": {"password": "b2xk"}})
    secret = client.get_secret("platform", "db")
    rv = secret["metadata"]["resourceVersion"]
    body = {"metadata": {"resourceVersion": rv, "annotations": {"a": "1"}}, "data": {"k": "dg=="}}
    written = client.patch_secret("platform", "db", body)
    assert written["metadata"]["annotations"] == {"a": "1"}
    assert written["data"] == {"password": "b2xk", "k": "dg=="}
    assert kube.writes()[-1]["content_type"] == "application/merge-patch+json"
    with pytest.raises(ConflictError):
        client.patch_secret("platform", "db", body)


def test_cluster_wide_lists(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("pods", pod("a-1", "a"))
    other = pod("b-1", "b")
    other["metadata"]["namespace"] = "payments"
    kube.add("pods", other)
    kube.add("nodes", {"metadata": {"name": "node-1", "namespace": ""}})
    kube.add("replicasets", {"metadata": {"name": "backend-1"}})
    assert sorted(p["metadata"]["name"] for p in client.list_all_pods()) == ["a-1", "b-1"]
    assert kube.requests[-1]["path"] == "/api/v1/pods"
    assert [n["metadata"]["name"] for n in client.list_nodes()] == ["node-1"]
    assert kube.requests[-1]["path"] == "/api/v1/nodes"
    assert [r["metadata"]["name"] for r in client.list_replicasets("platform")] == ["backend-1"]
    assert kube.requests[-1]["path"] == "/apis/apps/v1/namespaces/platform/replicasets"


def test_path_segments_are_quoted(kube: FakeKubeApi, client: K8sClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_configmap("platform", "a/b?c")
    assert kube.requests[-1]["path"] == "/api/v1/namespaces/platform/configmaps/a%2Fb%3Fc"


# ---- connections --------------------------------------------------------------------------
def test_one_kept_alive_connection_serves_many_requests(
    kube: FakeKubeApi, client: K8sClient
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    for _ in range(5):
        client.get_configmap("platform", "kill-switches")
    assert kube.connections == 1


def test_a_connection_the_server_closed_is_replaced(kube: FakeKubeApi) -> None:
    kube.idle_timeout = 0.1
    kube.add("configmaps", kill_switch_configmap())
    client = K8sClient.from_auth(K8sAuth(host=kube.url, api_key=TOKEN), retry_policy=NO_SLEEP)
    client.get_configmap("platform", "kill-switches")
    wait_until(lambda: kube.closed == 1, timeout=5, what="the server to drop the idle connection")
    client.get_configmap("platform", "kill-switches")
    assert kube.connections == 2
    assert len(kube.requests) == 2  # no failed attempt, no retry


def test_threads_share_the_client(kube: FakeKubeApi, client: K8sClient) -> None:
    kube.add("configmaps", kill_switch_configmap())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: client.get_configmap("platform", "kill-switches"), range(20))
        )
    assert all(r["data"]["payments"] == "enabled" for r in results)
    assert kube.connections <= 4


# ---- TLS ----------------------------------------------------------------------------------
@pytest.fixture
def tls_kube(pki: FakePki) -> FakeKubeApi:
    with FakeKubeServer(FakeKubeApi(), pki, client_ca=True) as api:
        api.add("configmaps", kill_switch_configmap())
        yield api


def test_tls_with_the_right_ca(tls_kube: FakeKubeApi, pki: FakePki) -> None:
    auth = K8sAuth(host=tls_kube.url, api_key=TOKEN, ca_cert=str(pki.ca_cert))
    client = K8sClient.from_auth(auth, retry_policy=NO_SLEEP)
    assert client.get_configmap("platform", "kill-switches")["data"]["payments"] == "enabled"


def test_tls_with_a_wrong_ca_is_a_tls_error_and_not_retried(
    tls_kube: FakeKubeApi, pki: FakePki
) -> None:
    auth = K8sAuth(host=tls_kube.url, api_key=TOKEN, ca_cert=str(pki.other_ca_cert))
    client = K8sClient.from_auth(auth, retry_policy=NO_SLEEP)
    with pytest.raises(TLSError, match="certificate verify failed") as caught:
        client.get_configmap("platform", "kill-switches")
    assert tls_kube.url in str(caught.value)
    assert caught.value.attempts is None
    assert tls_kube.requests == []


def test_tls_without_verification(tls_kube: FakeKubeApi) -> None:
    auth = K8sAuth(host=tls_kube.url, api_key=TOKEN, validate_certs=False)
    client = K8sClient.from_auth(auth, retry_policy=NO_SLEEP)
    assert client.get_configmap("platform", "kill-switches")["data"]["payments"] == "enabled"


def test_tls_with_the_system_cas_rejects_a_private_ca(tls_kube: FakeKubeApi) -> None:
    client = K8sClient.from_auth(K8sAuth(host=tls_kube.url, api_key=TOKEN), retry_policy=NO_SLEEP)
    with pytest.raises(TLSError):
        client.get_configmap("platform", "kill-switches")


def test_a_missing_ca_file_is_bad_input(tmp_path: Path) -> None:
    auth = K8sAuth(host="https://127.0.0.1:1", api_key=TOKEN, ca_cert=str(tmp_path / "nope"))
    with pytest.raises(InvalidInputError, match="cannot use the TLS settings"):
        K8sClient.from_auth(auth)
