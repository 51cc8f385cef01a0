"""module_utils.k8s_config and k8s_transport configuration: kubeconfig parsing and merging, in-cluster config, proxies,
and the fallback to the kubernetes client for exec/auth-provider users."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.irdrive.ops.plugins.module_utils import k8s_config
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    InvalidInputError,
    NotFoundError,
    TLSError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient, RetryPolicy
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import (
    K8sAuth,
    UnsupportedConfig,
    connection_settings,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_errors import KubernetesLibraryMissing
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_transport import (
    KubernetesClientTransport,
    RestTransport,
)
from ansible_collections.irdrive.ops.plugins.modules import k8s_workload_health
from collection_fakes import (
    COLLECTIONS,
    TOKEN,
    FakeKubeApi,
    FakeKubeServer,
    FakePki,
    deployment,
    kill_switch_configmap,
    make_pki,
)

NO_SLEEP = RetryPolicy(attempts=3, deadline=10.0, sleep=lambda s: None)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> FakePki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_kube(pki: FakePki) -> Iterator[FakeKubeApi]:
    with FakeKubeServer(FakeKubeApi(), pki, client_ca=True) as api:
        api.add("configmaps", kill_switch_configmap())
        yield api


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No kubeconfig, service account or proxy from the machine running the tests."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write_kubeconfig(
    path: Path,
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    contexts: dict[str, tuple[str, str | None]],
    current: str | None = None,
) -> Path:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, **({"user": u} if u else {})}}
            for n, (c, u) in contexts.items()
        ],
    }
    if current:
        config["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def simple_kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    return write_kubeconfig(path, {"lab": cluster}, {"me": user}, {"lab": ("lab", "me")}, "lab")


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def client_for(path: Path, **options: Any) -> K8sClient:
    return K8sClient.from_auth(K8sAuth(kubeconfig=str(path), **options), retry_policy=NO_SLEEP)


def read_ok(client: K8sClient) -> bool:
    return client.get_configmap("platform", "kill-switches")["data"]["payments"] == "enabled"


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ---- kubeconfig ---------------------------------------------------------------------------
def test_token_and_context_selection(kube: FakeKubeApi, tmp_path: Path) -> None:
    kube.add("configmaps", kill_switch_configmap())
    path = write_kubeconfig(
        tmp_path / "config",
        {"good": {"server": kube.url}, "dead": {"server": dead_url()}},
        {"me": {"token": TOKEN}},
        {"good": ("good", "me"), "dead": ("dead", "me")},
        current="dead",
    )
    client = client_for(path, context="good")
    assert isinstance(client.transport, RestTransport)
    assert read_ok(client)
    assert kube.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(UnreachableError):
        read_ok(client_for(path))  # the current context


def test_unknown_context_names_the_known_ones(tmp_path: Path) -> None:
    path = simple_kubeconfig(tmp_path / "config", {"server": "https://x"}, {"token": "t"})
    with pytest.raises(InvalidInputError, match=r"context 'nope' not found \(contexts: lab\)"):
        client_for(path, context="nope")


def test_token_file_is_relative_to_the_kubeconfig(kube: FakeKubeApi, tmp_path: Path) -> None:
    kube.add("configmaps", kill_switch_configmap())
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "token").write_text(TOKEN + "\n")
    path = simple_kubeconfig(
        tmp_path / "kube" / "config", {"server": kube.url}, {"tokenFile": "token"}
    )
    assert read_ok(client_for(path))


def test_basic_auth(kube: FakeKubeApi, tmp_path: Path) -> None:
    path = simple_kubeconfig(
        tmp_path / "config", {"server": kube.url}, {"username": "admin", "password": "pw"}
    )
    with pytest.raises(AuthError):
        read_ok(client_for(path))
    expected = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert kube.requests[-1]["authorization"] == expected


def test_ca_data(tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path) -> None:
    cluster = {"server": tls_kube.url, "certificate-authority-data": b64(pki.ca_cert)}
    path = simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN})
    assert read_ok(client_for(path))


def test_ca_file_is_relative_to_the_kubeconfig(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path
) -> None:
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    cluster = {"server": tls_kube.url, "certificate-authority": "ca.crt"}
    path = simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN})
    assert read_ok(client_for(path))


def test_a_wrong_ca_in_the_kubeconfig_is_a_tls_error(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path
) -> None:
    cluster = {"server": tls_kube.url, "certificate-authority-data": b64(pki.other_ca_cert)}
    path = simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN})
    with pytest.raises(TLSError, match="certificate verify failed"):
        read_ok(client_for(path))
    assert tls_kube.requests == []


def test_insecure_skip_tls_verify(tls_kube: FakeKubeApi, tmp_path: Path) -> None:
    cluster = {"server": tls_kube.url, "insecure-skip-tls-verify": True}
    path = simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN})
    assert read_ok(client_for(path))
    with pytest.raises(TLSError):  # validate_certs overrides the kubeconfig
        read_ok(client_for(path, validate_certs=True))


@pytest.mark.parametrize(("name", "ok"), [("kubernetes.test", True), ("wrong.test", False)])
def test_tls_server_name(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path, name: str, ok: bool
) -> None:
    cluster = {
        "server": tls_kube.url,
        "certificate-authority-data": b64(pki.ca_cert),
        "tls-server-name": name,
    }
    client = client_for(simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN}))
    if ok:
        assert read_ok(client)
    else:
        with pytest.raises(TLSError, match="wrong.test"):
            read_ok(client)


def test_client_certificate_files(tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path) -> None:
    tls_kube.client_cert_auth = True
    cluster = {"server": tls_kube.url, "certificate-authority": str(pki.ca_cert)}
    user = {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}
    assert read_ok(client_for(simple_kubeconfig(tmp_path / "config", cluster, user)))
    assert tls_kube.requests[-1]["authorization"] is None  # the certificate authenticated


def test_client_certificate_data_goes_through_private_temp_files(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls_kube.client_cert_auth = True
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    modes: list[int] = []
    unlink = os.unlink

    def spy(path: Any, *args: Any, **kwargs: Any) -> None:
        modes.append(stat.S_IMODE(os.stat(path).st_mode))
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", spy)
    cluster = {"server": tls_kube.url, "certificate-authority-data": b64(pki.ca_cert)}
    user = {
        "client-certificate-data": b64(pki.client_cert),
        "client-key-data": b64(pki.client_key),
    }
    client = client_for(simple_kubeconfig(tmp_path / "config", cluster, user))
    assert modes == [0o600, 0o600]
    assert list(scratch.iterdir()) == []  # deleted once loaded
    assert read_ok(client)


def test_without_a_client_certificate_the_server_refuses(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path
) -> None:
    tls_kube.client_cert_auth = True
    cluster = {"server": tls_kube.url, "certificate-authority": str(pki.ca_cert)}
    with pytest.raises(AuthError):
        read_ok(client_for(simple_kubeconfig(tmp_path / "config", cluster, {})))


def test_kubeconfig_env_merges_like_kubectl(
    kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    first = write_kubeconfig(
        tmp_path / "a", {"lab": {"server": kube.url}}, {}, {"lab": ("lab", "me")}, "lab"
    )
    second = write_kubeconfig(
        tmp_path / "b",
        {"lab": {"server": dead_url()}},  # shadowed by the first file's lab
        {"me": {"token": TOKEN}},
        {"other": ("lab", "me")},
        "other",  # shadowed by the first file's current-context
    )
    missing = tmp_path / "missing"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, (missing, first, second))))
    client = K8sClient.from_auth(K8sAuth(), retry_policy=NO_SLEEP)
    assert read_ok(client)
    assert client.host == kube.url


def test_default_kubeconfig_in_home(kube: FakeKubeApi, tmp_path: Path) -> None:
    kube.add("configmaps", kill_switch_configmap())
    simple_kubeconfig(
        tmp_path / "home" / ".kube" / "config", {"server": kube.url}, {"token": TOKEN}
    )
    assert read_ok(K8sClient.from_auth(K8sAuth(), retry_policy=NO_SLEEP))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "empty or not a kubeconfig"),
        ("clusters: [", "while parsing"),
        ("clusters: [{cluster: {server: x}}]", "every entry of clusters needs a name"),
        ("contexts: []", "no context given and no current-context set"),
    ],
)
def test_bad_kubeconfigs_are_clear_input_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "config"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=f"cannot load Kubernetes config from .*{message}"):
        client_for(path)


def test_explicit_options_override_the_kubeconfig(tmp_path: Path) -> None:
    path = simple_kubeconfig(
        tmp_path / "config",
        {"server": "https://10.0.0.1:6443", "certificate-authority-data": "Zm9v"},
        {"token": "from-file"},
    )
    settings = connection_settings(
        K8sAuth(
            kubeconfig=str(path),
            host="https://127.0.0.1:7443/",
            api_key="override",
            ca_cert="/etc/ca.crt",
            validate_certs=False,
        )
    )
    assert settings.host == "https://127.0.0.1:7443"
    assert settings.authorization == "Bearer override"
    assert settings.ca_file == "/etc/ca.crt" and settings.ca_data is None
    assert settings.verify is False
    assert "override" not in repr(settings)  # no secret in tracebacks


def test_host_and_api_key_need_no_kubeconfig() -> None:
    settings = connection_settings(K8sAuth(host="kube.example:6443", api_key="t"))
    assert settings.host == "https://kube.example:6443"


# ---- in-cluster ---------------------------------------------------------------------------
def in_cluster(monkeypatch: pytest.MonkeyPatch, folder: Path, url: str, pki: FakePki) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "token").write_text(TOKEN)
    (folder / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    monkeypatch.setattr(k8s_config, "SERVICE_ACCOUNT_DIR", str(folder))
    host, port = url.removeprefix("https://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)


def test_in_cluster_service_account(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_cluster(monkeypatch, tmp_path / "sa", tls_kube.url, pki)
    client = K8sClient.from_auth(K8sAuth(), retry_policy=NO_SLEEP)
    assert read_ok(client)
    assert client.host == tls_kube.url
    assert tls_kube.requests[-1]["authorization"] == f"Bearer {TOKEN}"


def test_in_cluster_without_a_token_file(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_cluster(monkeypatch, tmp_path / "sa", tls_kube.url, pki)
    (tmp_path / "sa" / "token").unlink()
    with pytest.raises(InvalidInputError, match="in-cluster service account: .*token does not"):
        K8sClient.from_auth(K8sAuth())


def test_a_kubeconfig_option_wins_over_in_cluster(
    kube: FakeKubeApi, pki: FakePki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    in_cluster(monkeypatch, tmp_path / "sa", "https://127.0.0.1:1", pki)
    path = simple_kubeconfig(tmp_path / "config", {"server": kube.url}, {"token": TOKEN})
    assert read_ok(client_for(path))


# ---- proxies ------------------------------------------------------------------------------
class ConnectProxy:
    """An HTTP CONNECT proxy that sends every tunnel to 127.0.0.1 (the port asked for)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.tunnels: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        target = head.split(b" ")[1].decode()
        self.tunnels.append(target)
        upstream = socket.create_connection(("127.0.0.1", int(target.rsplit(":", 1)[1])))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                dst.close()

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)

    def close(self) -> None:
        self.server.close()


def test_https_through_a_connect_proxy(
    tls_kube: FakeKubeApi, pki: FakePki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        port = tls_kube.url.rsplit(":", 1)[1]
        # kubernetes.test does not resolve: only the proxy can reach it.
        cluster = {
            "server": f"https://kubernetes.test:{port}",
            "certificate-authority-data": b64(pki.ca_cert),
        }
        client = client_for(simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN}))
        assert read_ok(client)
        assert proxy.tunnels == [f"kubernetes.test:{port}"]
    finally:
        proxy.close()


def test_no_proxy_bypasses_the_proxy(
    kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    monkeypatch.setenv("http_proxy", dead_url())
    monkeypatch.setenv("no_proxy", "example.com,127.0.0.0/8")
    assert read_ok(K8sClient.from_auth(K8sAuth(host=kube.url, api_key=TOKEN)))


def test_http_through_a_forward_proxy(
    kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    cluster = {"server": "http://kubernetes.test:8080", "proxy-url": kube.url}
    assert read_ok(client_for(simple_kubeconfig(tmp_path / "config", cluster, {"token": TOKEN})))


def test_a_socks_proxy_needs_the_kubernetes_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(UnsupportedConfig, match="socks5 proxy"):
        connection_settings(K8sAuth(host="https://kube.example", api_key="t"))


# ---- what falls back to the kubernetes client ---------------------------------------------
def exec_user(tmp_path: Path, token: str = TOKEN) -> dict[str, Any]:
    script = tmp_path / "credential.py"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    script.write_text(f"import json\nprint(json.dumps({credential!r}))\n")
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(script)],
        }
    }


def test_exec_credentials_go_through_the_kubernetes_client(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add("configmaps", kill_switch_configmap())
    path = simple_kubeconfig(tmp_path / "config", {"server": kube.url}, exec_user(tmp_path))
    client = client_for(path)
    assert isinstance(client.transport, KubernetesClientTransport)
    assert read_ok(client)
    assert kube.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    # The same error mapping and retries on the fallback path.
    kube.fail_next = [503]
    assert read_ok(client)
    with pytest.raises(NotFoundError, match="get deployment platform/nope: HTTP 404"):
        client.get_deployment("platform", "nope")
    kube.add("deployments", deployment("backend"))
    client.patch_deployment("platform", "backend", {"spec": {"replicas": 3}}, dry_run=True)
    assert kube.requests[-1]["query"] == {"dryRun": ["All"]}
    assert kube.requests[-1]["content_type"] == "application/strategic-merge-patch+json"


def test_exec_without_the_kubernetes_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    path = simple_kubeconfig(tmp_path / "config", {"server": "https://x"}, exec_user(tmp_path))
    with pytest.raises(KubernetesLibraryMissing, match="exec credentials of kubeconfig user 'me'"):
        client_for(path)


@pytest.mark.parametrize(
    ("cluster", "user", "reason"),
    [
        ({}, {"auth-provider": {"name": "oidc"}}, "auth-provider of kubeconfig user 'me'"),
        ({}, {"as": "someone-else", "token": "t"}, r"kubeconfig user 'me' \(as\)"),
        ({"certificate-authority-file": "x"}, {"token": "t"}, "kubeconfig cluster 'lab'"),
    ],
)
def test_what_the_stdlib_path_does_not_know_falls_back(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], reason: str
) -> None:
    path = simple_kubeconfig(tmp_path / "config", {"server": "https://x", **cluster}, user)
    with pytest.raises(UnsupportedConfig, match=reason):
        connection_settings(K8sAuth(kubeconfig=str(path)))


def test_a_token_or_api_key_beats_exec(tmp_path: Path) -> None:
    user = {**exec_user(tmp_path), "token": "t"}  # the token wins, as in the kubernetes client
    path = simple_kubeconfig(tmp_path / "config", {"server": "https://x"}, user)
    assert connection_settings(K8sAuth(kubeconfig=str(path))).authorization == "Bearer t"
    path = simple_kubeconfig(tmp_path / "config", {"server": "https://x"}, exec_user(tmp_path))
    settings = connection_settings(K8sAuth(kubeconfig=str(path), api_key="explicit"))
    assert settings.authorization == "Bearer explicit"


# ---- modules ------------------------------------------------------------------------------
def test_modules_work_without_the_kubernetes_library(
    run_module: Any, kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    kube.add("deployments", deployment("backend"))
    path = simple_kubeconfig(tmp_path / "config", {"server": kube.url}, {"token": TOKEN})
    args = {"kubeconfig": str(path), "namespace": "platform", "names": ["backend"]}
    result, failed = run_module(k8s_workload_health, args)
    assert not failed and result["healthy"]


def test_modules_name_the_library_only_when_the_fallback_needs_it(
    run_module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    path = simple_kubeconfig(tmp_path / "config", {"server": "https://x"}, exec_user(tmp_path))
    args = {"kubeconfig": str(path), "namespace": "platform"}
    result, failed = run_module(k8s_workload_health, args)
    assert failed
    assert result["msg"].startswith("Failed to import the required Python library (kubernetes)")
    assert "exec credentials of kubeconfig user 'me'" in result["msg"]
    assert result["error_kind"] == "missing_library"


def test_no_module_imports_the_kubernetes_client_on_the_common_path(kube: FakeKubeApi) -> None:
    kube.add("deployments", deployment("backend"))
    modules = [
        "configmap_keys",
        "k8s_evidence",
        "k8s_secret_rotate",
        "k8s_workload_health",
        "kill_switch",
        "platform_cache",
        "platform_diagnose",
        "rollback",
        "rollout_restart",
        "scale",
    ]
    code = f"""
import importlib, json, sys
sys.path.insert(0, {str(COLLECTIONS)!r})
for name in {modules!r}:
    importlib.import_module("ansible_collections.irdrive.ops.plugins.modules." + name)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
client = K8sClient.from_auth(K8sAuth(host={kube.url!r}, api_key={TOKEN!r}))
assert client.get_deployment("platform", "backend")["metadata"]["name"] == "backend"
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes", "urllib3"))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
