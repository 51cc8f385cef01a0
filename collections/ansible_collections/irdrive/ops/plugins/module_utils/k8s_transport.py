# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""How requests reach the Kubernetes API: the standard library, or the official client.

Importing the official ``kubernetes`` package and building its API classes costs one to two
seconds per task, so the common connections never touch it: ``k8s_config`` reads the
kubeconfig (``KUBECONFIG`` merged like kubectl does, or ``~/.kube/config``), the in-cluster
service account and the explicit options, and ``RestTransport`` sends requests with
``http.client`` and ``ssl`` over kept-alive connections.  Supported: ``server``,
``certificate-authority(-data)``, ``insecure-skip-tls-verify``, ``tls-server-name``,
``token``/``tokenFile``, basic auth, ``client-certificate(-data)``/``client-key(-data)``, and
HTTP proxies (``proxy-url``, ``HTTPS_PROXY``/``NO_PROXY``).  Users with ``exec`` or
``auth-provider`` credentials, unknown kubeconfig fields, and SOCKS or HTTPS proxies go through
``KubernetesClientTransport`` instead, the kubernetes client imported only then
(``KubernetesLibraryMissing`` when it is not installed).

Both transports have one method, ``send(method, target, body, headers)``, returning
``(status, reason, body)``; ``connect(auth)`` picks one.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import (
    ConnectionSettings,
    K8sAuth,
    UnsupportedConfig,
    config_error,
    connection_settings,
    ssl_context,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_errors import (
    ConnectFailed,
    KubernetesLibraryMissing,
)

USER_AGENT = "irdrive.ops"


class _HTTPSConnection(http.client.HTTPConnection):
    """HTTPS with our context, verifying ``server_name`` (tls-server-name or the API host)."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self, host: str, port: int | None, timeout: float, context: ssl.SSLContext, server_name: str
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.ssl_context = context
        self.server_name = server_name

    def connect(self) -> None:
        super().connect()  # TCP, and the CONNECT tunnel when going through a proxy
        self.sock = self.ssl_context.wrap_socket(self.sock, server_hostname=self.server_name)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the server (it became readable)."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class RestTransport:
    """HTTP/1.1 to the API server with ``http.client``: kept-alive connections, one per thread
    at a time, reopened when the server closed them."""

    def __init__(self, settings: ConnectionSettings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        split = urlsplit(settings.host)
        self.https = split.scheme == "https"
        self.api_host = split.hostname or ""
        self.api_port = split.port or (443 if self.https else 80)
        self.base_path = split.path.rstrip("/")
        self.context = ssl_context(settings) if self.https else None
        self.server_name = settings.tls_server_name or self.api_host
        self.headers = {"User-Agent": USER_AGENT}
        if settings.authorization:
            self.headers["Authorization"] = settings.authorization
        self.proxy: tuple[str, int] | None = None
        self.proxy_headers: dict[str, str] = {}
        if settings.proxy:
            proxy = urlsplit(settings.proxy)
            self.proxy = (proxy.hostname or "", proxy.port or 80)
            if proxy.username is not None:
                pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
                self.proxy_headers["Proxy-Authorization"] = (
                    f"Basic {base64.b64encode(pair).decode()}"
                )
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.connections_opened = 0

    @property
    def host(self) -> str:
        return self.settings.host

    def _open(self) -> http.client.HTTPConnection:
        host, port = self.proxy or (self.api_host, self.api_port)
        conn: http.client.HTTPConnection
        if self.https:
            assert self.context is not None
            conn = _HTTPSConnection(host, port, self.timeout, self.context, self.server_name)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        if self.proxy and self.https:
            conn.set_tunnel(self.api_host, self.api_port, headers=self.proxy_headers)
        try:
            conn.connect()
        except OSError as error:
            conn.close()
            raise ConnectFailed(error) from error
        self.connections_opened += 1
        return conn

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn):
                    return conn, True
                conn.close()
        return self._open(), False

    def send(
        self, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, bytes]:
        """``(status, reason, body)`` of ``method target`` (path and query under the host)."""
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {**self.headers, **(headers or {})}
        url = self.base_path + target
        if self.proxy and not self.https:  # a forward proxy takes the absolute URL
            host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
            url = f"http://{host}:{self.api_port}{url}"
            all_headers.update(self.proxy_headers)
        conn, reused = self._take()
        try:
            conn.request(method, url, body=payload, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            stale = isinstance(error, (ConnectionResetError, BrokenPipeError))
            if reused and stale and method in ("GET", "HEAD"):  # an idle connection went away
                return self.send(method, target, body, headers)
            raise
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return response.status, response.reason, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class KubernetesClientTransport:
    """The same ``send`` through the official client, for what the stdlib transport cannot do."""

    def __init__(self, api_client: Any, timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.timeout = timeout

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    def send(
        self, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, bytes]:
        api = self.api_client
        method, url, header_params, body, _ = api.param_serialize(
            method,
            target,
            header_params=dict(headers or {}),
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(
            method, url, header_params=header_params, body=body, _request_timeout=self.timeout
        )
        response.read()
        return int(response.status), str(response.reason or ""), bytes(response.data or b"")

    def close(self) -> None:
        self.api_client.close()


def _import_kubernetes(reason: str) -> Any:
    try:
        import kubernetes
    except ImportError as error:
        raise KubernetesLibraryMissing(reason, str(error)) from error
    return kubernetes


def build_api_client(auth: K8sAuth, reason: str = "for this kubeconfig") -> Any:
    """A kubernetes ``ApiClient`` from explicit host/api_key, a kubeconfig/context, or in-cluster
    config (the fallback for exec and auth-provider credentials).

    Explicit options override what the kubeconfig says, as in kubernetes.core.
    """
    kubernetes = _import_kubernetes(reason)
    configuration = kubernetes.client.Configuration()
    if not (auth.host and auth.api_key):
        try:
            if auth.kubeconfig or auth.context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                kubernetes.config.load_kube_config(
                    config_file=auth.kubeconfig,
                    context=auth.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            else:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
        except (kubernetes.config.ConfigException, OSError, ValueError, TypeError) as error:
            where = auth.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise config_error(where, str(error)) from error
    if auth.host:
        configuration.host = auth.host.rstrip("/")
    if auth.api_key:
        configuration.api_key = {"authorization": f"Bearer {auth.api_key}"}
    if auth.ca_cert:
        configuration.ssl_ca_cert = auth.ca_cert
    if auth.validate_certs is not None:
        configuration.verify_ssl = auth.validate_certs
    # One backoff helper (retry.py) decides about retries, not urllib3.
    configuration.retries = False
    return kubernetes.client.ApiClient(configuration)


def connect(auth: K8sAuth) -> RestTransport | KubernetesClientTransport:
    """The stdlib transport when it can make this connection, else the kubernetes client."""
    try:
        settings = connection_settings(auth)
    except UnsupportedConfig as unsupported:
        api_client = build_api_client(auth, str(unsupported))
        return KubernetesClientTransport(api_client, auth.request_timeout)
    return RestTransport(settings, auth.request_timeout)
