# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Reads for Kubernetes evidence (module k8s_evidence): any resource path, discovery, raw logs."""

from __future__ import annotations

from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import NotFoundError
from ansible_collections.irdrive.ops.plugins.module_utils.k8s_client import K8sClient


def api_root(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


class EvidenceReader(K8sClient):
    """Generic reads (any resource path) and raw pod logs, retried like every other call."""

    _resources: dict[str, list[dict[str, Any]]]

    def get_path(self, what: str, path: str, query: dict[str, Any] | None = None) -> Any:
        """GET any API path (a resource, a list, a discovery document) as JSON."""
        return self.request("GET", path, query, what=what)

    def pod_log(
        self, namespace: str, pod: str, container: str, since: int, previous: bool
    ) -> bytes:
        """The log as the API sent it: the bundle keeps its bytes unchanged."""
        return self.read_pod_log(
            namespace, pod, container, since_seconds=since, previous=previous, timestamps=True
        )

    def resource(self, api_version: str, kind: str) -> dict[str, Any]:
        """Discovery: the resource serving ``kind`` in ``api_version`` (its plural, scope)."""
        if not hasattr(self, "_resources"):
            self._resources = {}
        if api_version not in self._resources:
            try:
                listing = self.get_path(f"discover {api_version}", api_root(api_version))
            except NotFoundError:
                listing = {}
            self._resources[api_version] = list(listing.get("resources") or [])
        for res in self._resources[api_version]:
            if res.get("kind") == kind and "/" not in str(res.get("name", "")):
                return res
        raise NotFoundError(f"the cluster serves no {kind} in {api_version}")

    def list_objects(
        self, api_version: str, plural: str, kind: str, namespace: str | None
    ) -> list[dict[str, Any]]:
        root = api_root(api_version)
        path = f"{root}/namespaces/{namespace}/{plural}" if namespace else f"{root}/{plural}"
        result = self.get_path(f"list {plural}", path)
        return [
            {"apiVersion": api_version, "kind": kind, **item} for item in result.get("items") or []
        ]
