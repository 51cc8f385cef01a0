"""A fake Kubernetes API for the collection's unit tests: real HTTP(S) on 127.0.0.1.

It serves just what irdrive.ops reads and writes (configmaps, deployments, pods and their logs,
secrets, replicasets, nodes, horizontal pod autoscalers), with resourceVersion preconditions (409
on a stale write), dry runs, bearer-token or client-certificate checks, failure injection, a
record of every request and of the connections opened (HTTP/1.1 keep-alive), so both the stdlib
transport and the real kubernetes client run against it unmodified.  ``make_pki`` issues the CA
and certificates for the TLS tests.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
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
    r"^/(?:api/v1|apis/apps/v1|apis/autoscaling/v2)(?:/namespaces/(?P<ns>[^/]+))?"
    r"/(?P<kind>configmaps|deployments|pods|secrets|replicasets|nodes|horizontalpodautoscalers)"
    r"(?:/(?P<name>[^/]+))?(?P<log>/log)?$"
)
MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"


@dataclass
class FakeKubeApi:
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    before_patch: Callable[[FakeKubeApi], None] | None = None
    # Called with a deployment after a spec patch: plays the deployment controller.
    on_deployment_patch: Callable[[dict[str, Any]], None] | None = None
    # (namespace, pod, container) -> log text of GET .../pods/<pod>/log
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # With TLS and a client CA: a verified client certificate authenticates like the token.
    client_cert_auth: bool = False
    # Seconds a kept-alive connection may idle before the server closes it.
    idle_timeout: float | None = None
    # Seconds to wait before answering (read timeouts), and how many requests to drop unanswered.
    delay: float = 0.0
    drop_next: int = 0
    connections: int = 0
    closed: int = 0  # connections the server has ended (shut down and closed)
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


def _json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    """RFC 6902 add/replace/remove on object paths (enough for irdrive's patches)."""
    for op in operations:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")
        ]
        node = target
        for part in parents:
            node = node.setdefault(part, {})
        if op["op"] == "remove":
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(op["value"])


def _touches_spec(content_type: str | None, body: Any) -> bool:
    if content_type == JSON_PATCH:
        return any(str(op.get("path", "")).startswith("/spec") for op in body or [])
    return "spec" in (body or {})


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    pairs = [term.split("=", 1) for term in selector.split(",") if term]
    return all(labels.get(k) == v for k, v in pairs)


def make_handler(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            self.timeout = api.idle_timeout
            super().setup()
            # Headers and body go out in two writes: without this, Nagle holds the body until
            # the client's delayed ACK (40 ms a request on a kept-alive connection).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            api.connections += 1

        def log_message(self, *args: Any) -> None:
            pass

        def _send_text(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            getpeercert = getattr(self.connection, "getpeercert", None)
            return bool(api.client_cert_auth and getpeercert and getpeercert())

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            api.requests.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": query,
                    "content_type": self.headers.get("Content-Type"),
                    "accept": self.headers.get("Accept"),
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            if api.drop_next:
                api.drop_next -= 1
                self.close_connection = True
                return None
            if api.delay:
                time.sleep(api.delay)  # the fake server's injected delay
            if not self._authorized():
                return self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            if api.fail_next:
                code = api.fail_next.pop(0)
                return self._send(code, _status(code, "InternalError", f"injected {code}"))
            match = _PATHS.match(parts.path)
            if not match:
                return self._send(404, _status(404, "NotFound", "no such path"))
            ns, kind, name = match["ns"], match["kind"], match["name"]
            dry_run = "All" in query.get("dryRun", [])
            if name is None and self.command == "GET":
                selector = query.get("labelSelector", [None])[0]
                items = [
                    copy.deepcopy(o)
                    for (k, n, _), o in sorted(api.objects.items())
                    if k == kind
                    and ns in (None, n)
                    and _matches(o["metadata"].get("labels", {}), selector)
                ]
                return self._send(200, {"kind": "List", "metadata": {}, "items": items})
            if name is None and self.command == "POST":
                meta = (body or {}).get("metadata") or {}
                if (kind, ns, meta.get("name")) in api.objects:
                    message = f'{kind} "{meta.get("name")}" already exists'
                    return self._send(409, _status(409, "AlreadyExists", message))
                created = copy.deepcopy(body or {})
                created["metadata"]["namespace"] = ns
                return self._send(201, created if dry_run else api.add(kind, created))
            obj = api.objects.get((kind, ns or "", name or ""))
            if obj is None:
                return self._send(404, _status(404, "NotFound", f'{kind} "{name}" not found'))
            if match.groupdict().get("log"):
                container = query.get("container", [""])[0]
                return self._send_text(200, api.logs.get((ns or "", name or "", container), ""))
            if self.command == "GET":
                return self._send(200, obj)
            if self.command == "PATCH":
                content_type = self.headers.get("Content-Type")
                if content_type not in (*MERGE_TYPES, JSON_PATCH):
                    return self._send(415, _status(415, "UnsupportedMediaType", content_type))
                if api.before_patch is not None:
                    hook, api.before_patch = api.before_patch, None
                    hook(api)
                patched = copy.deepcopy(obj)
                if content_type == JSON_PATCH:
                    _json_patch(patched, body or [])
                else:
                    _merge(patched, body or {})
                wanted = patched["metadata"].get("resourceVersion")
                if wanted != obj["metadata"]["resourceVersion"]:
                    message = "the object has been modified; please apply your changes"
                    return self._send(409, _status(409, "Conflict", message))
                if dry_run:
                    return self._send(200, patched)
                obj.clear()
                obj.update(patched)
                if kind == "deployments" and _touches_spec(content_type, body):
                    obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
                    if api.on_deployment_patch is not None:
                        api.on_deployment_patch(obj)
                api.rv += 1
                obj["metadata"]["resourceVersion"] = str(api.rv)
                return self._send(200, obj)
            return self._send(405, _status(405, "MethodNotAllowed", self.command))

        do_GET = do_PATCH = do_PUT = do_POST = do_DELETE = _handle

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeKubeApi | None = None

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        if self.api is not None:
            self.api.closed += 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that rejects our certificate, or hangs up: the tests look at the client


class FakeKubeServer:
    """Serve ``api`` on 127.0.0.1: plain HTTP, or HTTPS with ``pki`` (``client_ca`` asks for a
    client certificate signed by it)."""

    def __init__(self, api: FakeKubeApi, pki: FakePki | None = None, client_ca: bool = False):
        self.api = api
        self.httpd = _Server(("127.0.0.1", 0), make_handler(api))
        self.httpd.api = api
        scheme = "http"
        if pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
            if client_ca:
                context.load_verify_locations(str(pki.ca_cert))
                context.verify_mode = ssl.CERT_OPTIONAL
            self.httpd.socket = context.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            scheme = "https"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        api.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

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


@dataclass
class FakePki:
    """PEM files: a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and
    an unrelated CA (to fail verification with)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path


def make_pki(folder: Path) -> FakePki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def issue(cn: str, key: Any, issuer: Any, issuer_key: Any, ca: bool, san: bool = False) -> Any:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer is not None else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                critical=True,
            )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes.test"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    def write(name: str, cert: Any = None, key: Any = None) -> Path:
        path = folder / name
        if cert is not None:
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        else:
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return path

    folder.mkdir(parents=True, exist_ok=True)
    ca_key, other_key, server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(4)
    )
    ca = issue("fake-ca", ca_key, None, ca_key, ca=True)
    other = issue("other-ca", other_key, None, other_key, ca=True)
    server = issue("fake-apiserver", server_key, ca, ca_key, ca=False, san=True)
    client = issue("irdrive-admin", client_key, ca, ca_key, ca=False)
    return FakePki(
        ca_cert=write("ca.crt", ca),
        server_cert=write("server.crt", server),
        server_key=write("server.key", key=server_key),
        client_cert=write("client.crt", client),
        client_key=write("client.key", key=client_key),
        other_ca_cert=write("other-ca.crt", other),
    )
