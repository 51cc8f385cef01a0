# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The Kubernetes client of irdrive.ops: the calls the modules need, each retried.

Objects come back as plain JSON dicts (camelCase, as the API serves them).  The transport
(``k8s_transport``) carries the requests; failures become ``errors`` exceptions
(``k8s_errors``), and transient ones are retried with the one backoff helper (``retry``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    IrdriveOpsError,
    TransientError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_config import K8sAuth
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_errors import (
    ApiStatusError,
    translate_error,
)
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_transport import (
    KubernetesClientTransport,
    RestTransport,
    connect,
)
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
CORE = "/api/v1"
APPS = "/apis/apps/v1"


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
