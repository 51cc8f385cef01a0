# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A thin Kubernetes client: speak REST with the standard library.

Importing the official ``kubernetes`` package and building its API classes costs one to two
seconds per task, so the common connections never touch it: ``k8s_config`` reads the
kubeconfig (``KUBECONFIG`` merged like kubectl does, or ``~/.kube/config``), the in-cluster
service account and the explicit options, and requests go out with ``http.client`` and ``ssl``
over kept-alive connections.  Supported: ``server``, ``certificate-authority(-data)``,
``insecure-skip-tls-verify``, ``tls-server-name``, ``token``/``tokenFile``, basic auth,
``client-certificate(-data)``/``client-key(-data)``, and HTTP proxies (``proxy-url``,
``HTTPS_PROXY``/``NO_PROXY``).  Users with ``exec`` or ``auth-provider`` credentials, unknown
kubeconfig fields, and SOCKS or HTTPS proxies go through the kubernetes client instead, imported
only then (``KubernetesLibraryMissing`` when it is not installed).

Objects come back as plain JSON dicts (camelCase, as the API serves them).  Failures become
``errors`` exceptions: 401/403 AuthError, 404 NotFoundError, 409 ConflictError, 400/422
InvalidInputError, 429/5xx, read timeouts and dropped connections TransientError (retried with
backoff), a refused or timed-out connection UnreachableError, a failed TLS handshake TLSError.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    MissingLibrary,
    NotFoundError,
    TLSError,
    TransientError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import (
    ConnectionSettings,
    K8sAuth,
    UnsupportedConfig,
    config_error,
    connection_settings,
    ssl_context,
)
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
USER_AGENT = "irdrive.ops"


@dataclass
class RetryPolicy:
    attempts: int = 5
    deadline: float = 30.0
    base_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


@dataclass
class ConfigMapUpdate:
    """What ``update_configmap`` did: the object it read, the data after, whether it wrote.

    ``resource_version`` is the version written, or the version read when nothing was written.
    """

    before: dict[str, Any]
    data: dict[str, str]
    changed: bool
    written: bool
    resource_version: str
    conflicts: int = 0


class KubernetesLibraryMissing(MissingLibrary):
    """The connection needs the kubernetes client (exec, auth-provider...) and it is missing."""

    def __init__(self, reason: str, import_error: str) -> None:
        super().__init__("kubernetes", reason, import_error)


class ApiStatusError(Exception):
    """A non-2xx answer of the API server (the stdlib transport's ``ApiException``)."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason
        self.body = body


class ConnectFailed(Exception):
    """Opening the connection (TCP, proxy tunnel, TLS handshake) failed with ``cause``."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


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


# ---- errors -------------------------------------------------------------------------------
def _status_message(body: Any) -> str:
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return ""
    return status.get("message", "") if isinstance(status, dict) else ""


def status_error(status: int, detail: str, what: str) -> IrdriveOpsError:
    message = f"{what}: HTTP {status}: {detail or 'no detail'}"
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 404:
        return NotFoundError(message, status=status)
    if status == 409:
        return ConflictError(message, status=status)
    if status in TRANSIENT_STATUSES:
        return TransientError(message, status=status)
    if status in (400, 422):
        return InvalidInputError(message, status=status)
    return IrdriveOpsError(message, status=status)


def _kubernetes_client_error(error: BaseException, what: str, host: str) -> IrdriveOpsError | None:
    """Map the kubernetes client's (and urllib3's) exceptions; None for other exceptions."""
    if "urllib3" not in sys.modules:  # the fallback was never used
        return None
    import urllib3

    try:
        from kubernetes.client.exceptions import ApiException
    except ImportError:
        ApiException = None  # noqa: N806
    if ApiException is not None and isinstance(error, ApiException):
        detail = _status_message(error.body) or error.reason
        return status_error(int(error.status or 0), detail, what)
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason:
        return translate_error(error.reason, what, host)
    if isinstance(error, urllib3.exceptions.SSLError):
        return TLSError(f"{what}: TLS error talking to {host}: {error}")
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return UnreachableError(f"{what}: cannot reach the Kubernetes API at {host}: {error}")
    if isinstance(error, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)):
        return TransientError(f"{what}: {error}")
    return None


def translate_error(error: BaseException, what: str, host: str) -> IrdriveOpsError:
    """Map an exception of either transport to ``errors``."""
    if isinstance(error, ApiStatusError):
        return status_error(error.status, _status_message(error.body) or error.reason, what)
    mapped = _kubernetes_client_error(error, what, host)
    if mapped is not None:
        return mapped
    unreachable = f"{what}: cannot reach the Kubernetes API at {host}"
    if isinstance(error, ConnectFailed):
        if isinstance(error.cause, ssl.SSLError):
            return TLSError(f"{what}: TLS error talking to {host}: {error.cause}")
        return UnreachableError(f"{unreachable}: {error.cause}")
    if isinstance(error, ssl.SSLError) and not isinstance(
        error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)
    ):
        return TLSError(f"{what}: TLS error talking to {host}: {error}")
    if isinstance(error, (TimeoutError, ConnectionError, ssl.SSLError, http.client.HTTPException)):
        # After the connection was made: a read timeout, a dropped or garbled answer.
        return TransientError(f"{what}: {type(error).__name__}: {error}")
    if isinstance(error, OSError):
        return UnreachableError(f"{unreachable}: {error}")
    return IrdriveOpsError(f"{what}: {error}")


# ---- the client ---------------------------------------------------------------------------
def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ns_path(api: str, namespace: str, plural: str, name: str | None = None) -> str:
    """``<api>/namespaces/<namespace>/<plural>[/<name>]``, each segment quoted."""
    path = f"{api}/namespaces/{_segment(namespace)}/{plural}"
    return f"{path}/{_segment(name)}" if name is not None else path


CORE = "/api/v1"
APPS = "/apis/apps/v1"


class K8sClient:
    """The calls irdrive.ops needs, each retried on transient failures.

    ``request`` reaches any API path; the helpers below name the common ones.
    """

    def __init__(
        self,
        transport: RestTransport | KubernetesClientTransport,
        request_timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.request_timeout = request_timeout
        self.retry_policy = retry_policy or RetryPolicy()

    @classmethod
    def from_auth(cls, auth: K8sAuth, retry_policy: RetryPolicy | None = None) -> K8sClient:
        return cls(connect(auth), auth.request_timeout, retry_policy)

    @property
    def host(self) -> str:
        return self.transport.host

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)``, errors translated, transient ones retried with backoff."""

        def once() -> Any:
            try:
                return method(*args, **kwargs)
            except IrdriveOpsError:
                raise
            except Exception as error:  # the transports raise many types; translate_error sorts
                raise translate_error(error, what, self.host) from error

        policy = self.retry_policy
        return retry(
            once,
            transient=(TransientError,),
            attempts=policy.attempts,
            deadline=policy.deadline,
            base_delay=policy.base_delay,
            max_delay=policy.max_delay,
            sleep=policy.sleep,
        )

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        raw: bool = False,
        what: str | None = None,
    ) -> Any:
        """``method path?query`` with ``body`` as JSON: the answer as JSON, or bytes with ``raw``.

        ``query`` values of None are left out, booleans become true/false; ``what`` names the
        call in error messages.
        """
        pairs = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        target = f"{path}?{urlencode(pairs)}" if pairs else path
        headers = {"Accept": "*/*" if raw else "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"

        def send() -> Any:
            status, reason, data = self.transport.send(method, target, body, headers)
            if not 200 <= status < 300:
                raise ApiStatusError(status, reason, data)
            if raw:
                return data
            return json.loads(data) if data else {}

        return self._call(what or f"{method} {path}", send)

    def _items(self, what: str, path: str, **query: Any) -> list[dict[str, Any]]:
        return list(self.request("GET", path, query, what=what).get("items") or [])

    # ---- deployments and replicasets ----
    def get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self.request(
            "GET",
            ns_path(APPS, namespace, "deployments", name),
            what=f"get deployment {namespace}/{name}",
        )

    def patch_deployment(
        self, namespace: str, name: str, body: Any, dry_run: bool = False
    ) -> dict[str, Any]:
        """Strategic-merge-patch a Deployment (what kubectl patch does by default)."""
        return self.request(
            "PATCH",
            ns_path(APPS, namespace, "deployments", name),
            {"dryRun": "All" if dry_run else None},
            body,
            STRATEGIC_MERGE_PATCH,
            what=f"patch deployment {namespace}/{name}",
        )

    def list_deployments(
        self, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return self._items(
            f"list deployments in {namespace}",
            ns_path(APPS, namespace, "deployments"),
            labelSelector=label_selector,
        )

    def list_replicasets(self, namespace: str) -> list[dict[str, Any]]:
        return self._items(
            f"list replicasets in {namespace}", ns_path(APPS, namespace, "replicasets")
        )

    # ---- pods and nodes ----
    def list_pods(
        self,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        return self._items(
            f"list pods in {namespace}",
            ns_path(CORE, namespace, "pods"),
            labelSelector=label_selector,
            fieldSelector=field_selector,
        )

    def list_all_pods(self, label_selector: str | None = None) -> list[dict[str, Any]]:
        return self._items(
            "list pods in all namespaces", f"{CORE}/pods", labelSelector=label_selector
        )

    def list_nodes(self) -> list[dict[str, Any]]:
        return self._items("list nodes", f"{CORE}/nodes")

    def read_pod_log(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        since_seconds: int | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        timestamps: bool = False,
    ) -> bytes:
        """The log of a pod's container, as the bytes the API sent."""
        query = {
            "container": container,
            "sinceSeconds": since_seconds,
            "tailLines": tail_lines,
            "previous": True if previous else None,
            "timestamps": True if timestamps else None,
        }
        return self.request(
            "GET",
            ns_path(CORE, namespace, "pods", pod) + "/log",
            query,
            raw=True,
            what=f"read log of {namespace}/{pod}/{container or ''}".rstrip("/"),
        )

    # ---- secrets ----
    def get_secret(self, namespace: str, name: str) -> dict[str, Any]:
        return self.request(
            "GET", ns_path(CORE, namespace, "secrets", name), what=f"get secret {namespace}/{name}"
        )

    def patch_secret(
        self, namespace: str, name: str, body: dict[str, Any], content_type: str = MERGE_PATCH
    ) -> dict[str, Any]:
        """JSON-merge-patch a Secret; a ``metadata.resourceVersion`` in ``body`` is a precondition."""
        return self.request(
            "PATCH",
            ns_path(CORE, namespace, "secrets", name),
            body=body,
            content_type=content_type,
            what=f"patch secret {namespace}/{name}",
        )

    # ---- configmaps ----
    def get_configmap(self, namespace: str, name: str) -> dict[str, Any]:
        return self.request(
            "GET",
            ns_path(CORE, namespace, "configmaps", name),
            what=f"get configmap {namespace}/{name}",
        )

    def patch_configmap(
        self,
        namespace: str,
        name: str,
        data: dict[str, str | None],
        resource_version: str,
    ) -> dict[str, Any]:
        """JSON-merge-patch ``data`` (None removes a key), only if still at ``resource_version``.

        A stale ``resource_version`` raises ConflictError (HTTP 409) and writes nothing.
        """
        body = {"metadata": {"resourceVersion": resource_version}, "data": data}
        return self.request(
            "PATCH",
            ns_path(CORE, namespace, "configmaps", name),
            body=body,
            content_type=MERGE_PATCH,
            what=f"patch configmap {namespace}/{name}",
        )

    def update_configmap(
        self,
        namespace: str,
        name: str,
        compute: Callable[[dict[str, str]], dict[str, str | None] | None],
        dry_run: bool = False,
        conflict_attempts: int = 5,
    ) -> ConfigMapUpdate:
        """Read, ``compute`` the keys to change, patch with the resourceVersion read; on 409 re-read.

        ``compute(data)`` gets the current data and returns the keys to set (None or {} means
        nothing to do); it may run again after a conflict, so it must be pure.  With
        ``dry_run`` the same computation runs and nothing is written.
        """
        conflicts = 0

        def attempt() -> ConfigMapUpdate:
            nonlocal conflicts
            current = self.get_configmap(namespace, name)
            data = dict(current.get("data") or {})
            rv = str((current.get("metadata") or {}).get("resourceVersion", ""))
            patch = compute(dict(data))
            if not patch:
                return ConfigMapUpdate(current, data, False, False, rv, conflicts)
            after = {k: v for k, v in {**data, **patch}.items() if v is not None}
            if dry_run:
                return ConfigMapUpdate(current, after, True, False, rv, conflicts)
            try:
                written = self.patch_configmap(namespace, name, patch, rv)
            except ConflictError:
                conflicts += 1
                raise
            new_rv = str((written.get("metadata") or {}).get("resourceVersion", ""))
            data_written = dict(written.get("data") or {})
            return ConfigMapUpdate(current, data_written, True, True, new_rv, conflicts)

        return retry(
            attempt,
            transient=(ConflictError,),
            attempts=conflict_attempts,
            deadline=self.retry_policy.deadline,
            base_delay=0.05,
            max_delay=1.0,
            sleep=self.retry_policy.sleep,
        )
