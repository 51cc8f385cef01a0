"""A fake Kubernetes API for the collection's unit tests: real HTTP on 127.0.0.1.

It serves just what irdrive.ops reads and writes (configmaps, deployments, pods), with
resourceVersion preconditions (409 on a stale write), bearer-token checks, failure injection and
a record of every request, so the real kubernetes client runs against it unmodified.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: The folder holding ansible_collections/irdrive/ops.
COLLECTIONS = Path(__file__).resolve().parents[3] / "collections"
TOKEN = "unit-test-token"
_PATHS = re.compile(
    r"^/(?:api/v1|apis/apps/v1)/namespaces/(?P<ns>[^/]+)/(?P<kind>configmaps|deployments|pods)"
    r"(?:/(?P<name>[^/]+))?$"
)


@dataclass
class FakeKubeApi:
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    before_patch: Callable[[FakeKubeApi], None] | None = None
    # Called with a deployment after a spec patch: plays the deployment controller.
    on_deployment_patch: Callable[[dict[str, Any]], None] | None = None
    rv: int = 100
    url: str = ""

    def add(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "platform")
        meta["resourceVersion"] = str(self.rv)
        self.objects[(kind, meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(kind, namespace, name)]

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] not in ("GET", "HEAD")]

    def concurrent_write(self, kind: str, namespace: str, name: str, data: dict[str, str]) -> None:
        """Another writer changes the object (bumps its resourceVersion)."""
        obj = self.objects[(kind, namespace, name)]
        obj.setdefault("data", {}).update(data)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 merge: objects merge recursively, null removes a key, the rest replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    pairs = [term.split("=", 1) for term in selector.split(",") if term]
    return all(labels.get(k) == v for k, v in pairs)


def make_handler(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            api.requests.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": parse_qs(parts.query),
                    "content_type": self.headers.get("Content-Type"),
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            if api.fail_next:
                code = api.fail_next.pop(0)
                return self._send(code, _status(code, "InternalError", f"injected {code}"))
            match = _PATHS.match(parts.path)
            if not match:
                return self._send(404, _status(404, "NotFound", "no such path"))
            ns, kind, name = match["ns"], match["kind"], match["name"]
            if name is None and self.command == "GET":
                selector = parse_qs(parts.query).get("labelSelector", [None])[0]
                items = [
                    copy.deepcopy(o)
                    for (k, n, _), o in sorted(api.objects.items())
                    if k == kind and n == ns and _matches(o["metadata"].get("labels", {}), selector)
                ]
                return self._send(200, {"kind": "List", "metadata": {}, "items": items})
            obj = api.objects.get((kind, ns, name or ""))
            if obj is None:
                return self._send(404, _status(404, "NotFound", f'{kind} "{name}" not found'))
            if self.command == "GET":
                return self._send(200, obj)
            if self.command == "PATCH":
                patch_types = (
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                )
                if self.headers.get("Content-Type") not in patch_types:
                    return self._send(415, _status(415, "UnsupportedMediaType", "merge only"))
                if api.before_patch is not None:
                    hook, api.before_patch = api.before_patch, None
                    hook(api)
                wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
                if wanted and wanted != obj["metadata"]["resourceVersion"]:
                    message = "the object has been modified; please apply your changes"
                    return self._send(409, _status(409, "Conflict", message))
                patch = {k: v for k, v in (body or {}).items() if k != "metadata"}
                _merge(obj, patch)
                if kind == "deployments" and "spec" in patch:
                    obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
                    if api.on_deployment_patch is not None:
                        api.on_deployment_patch(obj)
                api.rv += 1
                obj["metadata"]["resourceVersion"] = str(api.rv)
                return self._send(200, obj)
            return self._send(405, _status(405, "MethodNotAllowed", self.command))

        do_GET = do_PATCH = do_PUT = do_POST = do_DELETE = _handle

    return Handler


class FakeKubeServer:
    def __init__(self, api: FakeKubeApi) -> None:
        self.api = api
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        api.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeKubeApi:
        self.thread.start()
        return self.api

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def deployment(
    name: str,
    desired: int = 2,
    ready: int | None = None,
    generation: int = 3,
    observed: int | None = None,
    revision: str = "2",
) -> dict[str, Any]:
    ready = desired if ready is None else ready
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "platform",
            "generation": generation,
            "labels": {"app": name},
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "spec": {
            "replicas": desired,
            "selector": {"matchLabels": {"app": name}},
            "template": {"spec": {"containers": [{"name": name, "image": f"lab/{name}:1.0"}]}},
        },
        "status": {
            "replicas": desired,
            "updatedReplicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": desired - ready,
            "observedGeneration": generation if observed is None else observed,
        },
    }


def pod(
    name: str,
    app: str,
    ready: bool = True,
    phase: str = "Running",
    waiting: str | None = None,
    restarts: int = 0,
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    if waiting:
        state = {"waiting": {"reason": waiting, "message": f"{waiting} for container"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "platform", "labels": {"app": app}},
        "spec": {"nodeName": "lab-node-1"},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": app, "ready": ready, "restartCount": restarts, "state": state}
            ],
        },
    }


def kill_switch_configmap(history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kill-switches", "namespace": "platform"},
        "data": {
            "payments": "enabled",
            "streaming": "enabled",
            "uploads": "enabled",
            "signups": "disabled",
            "messaging": "enabled",
            "history": json.dumps(history or []),
        },
    }
