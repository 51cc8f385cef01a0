# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A thin Kubernetes client: build an ``ApiClient`` the kubernetes.core way, read and patch.

Objects come back as plain JSON dicts (camelCase, as the API serves them).  Failures become
``errors`` exceptions: 401/403 AuthError, 404 NotFoundError, 409 ConflictError, 400/422
InvalidInputError, 429/5xx and dropped connections TransientError (retried with backoff), a
refused or timed-out connection UnreachableError.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

try:
    import kubernetes
    import urllib3
    from kubernetes.client.exceptions import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR: str | None = None
except ImportError as _import_error:  # handled by the modules with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = str(_import_error)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


@dataclass
class K8sAuth:
    """The connection options of the ``irdrive.ops.k8s_auth`` doc fragment."""

    kubeconfig: str | None = None
    context: str | None = None
    host: str | None = None
    api_key: str | None = None
    ca_cert: str | None = None
    validate_certs: bool | None = None
    request_timeout: float = 30.0


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


def build_api_client(auth: K8sAuth) -> Any:
    """An ``ApiClient`` from explicit host/api_key, a kubeconfig/context, or in-cluster config.

    Explicit options override what the kubeconfig says, as in kubernetes.core.
    """
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
            raise InvalidInputError(
                f"cannot load Kubernetes config from {where}: {error}"
            ) from error
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


def _status_message(body: Any) -> str:
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return ""
    return status.get("message", "") if isinstance(status, dict) else ""


def translate_error(error: BaseException, what: str, host: str) -> IrdriveOpsError:
    """Map an exception of the kubernetes client (or urllib3 under it) to ``errors``."""
    if HAS_KUBERNETES and isinstance(error, ApiException):
        status = int(error.status or 0)
        detail = _status_message(error.body) or error.reason or "no detail"
        message = f"{what}: HTTP {status}: {detail}"
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
    if HAS_KUBERNETES and isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason:
        return translate_error(error.reason, what, host)
    if HAS_KUBERNETES and isinstance(error, urllib3.exceptions.SSLError):
        return TLSError(f"{what}: TLS error talking to {host}: {error}")
    if HAS_KUBERNETES and isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return UnreachableError(f"{what}: cannot reach the Kubernetes API at {host}: {error}")
    if HAS_KUBERNETES and isinstance(
        error, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)
    ):
        return TransientError(f"{what}: {error}")
    if isinstance(error, OSError):
        return UnreachableError(f"{what}: cannot reach the Kubernetes API at {host}: {error}")
    return IrdriveOpsError(f"{what}: {error}")


class K8sClient:
    """The few calls irdrive.ops needs, each retried on transient failures."""

    def __init__(
        self,
        api_client: Any,
        request_timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.api_client = api_client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.apps = kubernetes.client.AppsV1Api(api_client)
        self.request_timeout = request_timeout
        self.retry_policy = retry_policy or RetryPolicy()

    @classmethod
    def from_auth(cls, auth: K8sAuth, retry_policy: RetryPolicy | None = None) -> K8sClient:
        return cls(build_api_client(auth), auth.request_timeout, retry_policy)

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def once() -> Any:
            try:
                response = method(
                    *args,
                    _preload_content=False,
                    _request_timeout=self.request_timeout,
                    **kwargs,
                )
                return json.loads(response.data)
            except IrdriveOpsError:
                raise
            except Exception as error:  # the client raises many types; translate_error sorts them
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

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call(
            f"get deployment {namespace}/{name}",
            self.apps.read_namespaced_deployment,
            name,
            namespace,
        )

    def patch_deployment(
        self, namespace: str, name: str, body: dict[str, Any], dry_run: bool = False
    ) -> dict[str, Any]:
        """Strategic-merge-patch a Deployment (what kubectl patch does by default)."""
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        return self._call(
            f"patch deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            body,
            _content_type=STRATEGIC_MERGE_PATCH,
            **kwargs,
        )

    def list_deployments(
        self, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        result = self._call(
            f"list deployments in {namespace}",
            self.apps.list_namespaced_deployment,
            namespace,
            label_selector=label_selector,
        )
        return list(result.get("items") or [])

    def list_pods(
        self,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        result = self._call(
            f"list pods in {namespace}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        return list(result.get("items") or [])

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call(
            f"get configmap {namespace}/{name}",
            self.core.read_namespaced_config_map,
            name,
            namespace,
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
        return self._call(
            f"patch configmap {namespace}/{name}",
            self.core.patch_namespaced_config_map,
            name,
            namespace,
            body,
            _content_type=MERGE_PATCH,
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
