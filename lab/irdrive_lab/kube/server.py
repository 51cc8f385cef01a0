"""The HTTPS transport of the lab's Kubernetes API: TLS, bearer-token auth, the api-flaky fault,
the request journal, JSON and chunked (watch, log follow) responses.

``make_server(store, state, cfg, journal, sim)`` builds it on ``cfg.port('kubernetes')``,
creating the lab's PKI and kubeconfig if needed; ``serve_in_thread()`` starts it.
"""

from __future__ import annotations

import hmac
import json
import logging
import select
import ssl
import threading
import time
import traceback
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.httpserver import LabHTTPServer, LabRequestHandler
from irdrive_lab.control.journal import MUTATING_METHODS, Journal
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.api import Api
from irdrive_lab.kube.errors import ApiError, Conflict, InternalError, Unauthorized
from irdrive_lab.kube.pki import Pki, ensure_pki, write_kubeconfig
from irdrive_lab.kube.request import Request, Response
from irdrive_lab.kube.store import Store

log = logging.getLogger(__name__)

UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz", "/livez"})
MAX_BODY = 16 * 1024 * 1024


class _HttpServer(LabHTTPServer):
    request_queue_size = 128
    socket_timeout = 30  # the TLS handshake happens on first read, in the handler thread
    thread_name = "lab-kube-apiserver"
    lab: Server

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(LabRequestHandler):
    server_version = "irdrive-lab-kube-apiserver"
    server: _HttpServer
    logger = log

    # ---- one request -----------------------------------------------------------------------
    def serve(self) -> None:
        lab = self.server.lab
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(Response(status=413, text="request entity too large\n"))
            return
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=path,
            query=query,
            body=body,
            content_type=self.headers.get("Content-Type", ""),
            accept=self.headers.get("Accept", ""),
        )
        if self.command == "HEAD":
            req.method = "GET"
        mutating = self.command in MUTATING_METHODS
        try:
            resp = self._answer(lab, req, path, mutating)
        except ApiError as exc:
            resp = Response(status=exc.code, body=exc.to_status())
        except Exception as exc:  # noqa: BLE001 - a bug must answer 500, not drop the line
            log.error(
                "internal error on %s %s\n%s", self.command, self.path, traceback.format_exc()
            )
            err = InternalError(f"Internal error occurred: {exc}")
            resp = Response(status=500, body=err.to_status())
        if mutating and path not in UNAUTHENTICATED_PATHS:
            # A Lease write is a run's lock, not a change to the platform: marked, not hidden.
            lock = path.startswith("/apis/coordination.k8s.io/")
            lab.journal.record(
                "kubernetes",
                self.command,
                self.path,
                body,
                resp.status,
                dry_run=req.dry_run,
                **({"lock": True} if lock else {}),
            )
        self._send(resp)

    def _answer(self, lab: Server, req: Request, path: str, mutating: bool) -> Response:
        if path in UNAUTHENTICATED_PATHS:
            return lab.api.handle(req)
        auth = self.headers.get("Authorization", "")
        expected = f"Bearer {lab.token}"
        if not hmac.compare_digest(auth.encode(), expected.encode()):
            raise Unauthorized("Unauthorized")
        mode = lab.state.next_flaky()
        if mode == "500":
            raise InternalError("Internal error occurred: injected fault (api-flaky)")
        if mode == "409":
            # A 409 only means something for a write; reads answer 500 so a client retries.
            if mutating:
                raise Conflict(
                    "Operation cannot be fulfilled: the object has been modified; please "
                    "apply your changes to the latest version and try again (injected fault)"
                )
            raise InternalError("Internal error occurred: injected fault (api-flaky)")
        if mode == "slow":
            time.sleep(lab.state.flaky_slow_seconds)
        return lab.api.handle(req)

    # ---- writing ---------------------------------------------------------------------------
    def _send(self, resp: Response) -> None:
        if resp.stream is not None:
            self._send_stream(resp)
            return
        payload = resp.text.encode() if resp.text is not None else json.dumps(resp.body).encode()
        self.send_payload(
            resp.status, payload, resp.content_type, resp.headers, cache_control="no-cache, private"
        )

    def _send_stream(self, resp: Response) -> None:
        assert resp.stream is not None
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in resp.stream:
                if not chunk and self._client_gone():
                    break
                if chunk:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        finally:
            close = getattr(resp.stream, "close", None)
            if close is not None:
                close()

    def _client_gone(self) -> bool:
        """A streaming client sends nothing more; a readable socket means it closed."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


class Server:
    """The lab's kube-apiserver: one HTTPS listener on 127.0.0.1."""

    def __init__(
        self,
        store: Store,
        state: LabState,
        journal: Journal,
        pki: Pki,
        port: int,
        sim: Any = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.store = store
        self.state = state
        self.journal = journal
        self.pki = pki
        self.token = pki.token
        self.api = Api(store, sim, server_address=f"{host}:{port}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        context.set_alpn_protocols(["http/1.1"])
        self.httpd = _HttpServer((host, port), _Handler)
        self.httpd.socket = context.wrap_socket(
            self.httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.httpd.lab = self
        self.host, self.port = host, self.httpd.port

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def serve_in_thread(self) -> threading.Thread:
        return self.httpd.serve_in_thread()

    def shutdown(self) -> None:
        """Stop accepting, end open watches and log follows, close the socket."""
        self.api.stopping.set()
        self.httpd.shutdown()


def make_server(
    store: Store, state: LabState, cfg: LabConfig, journal: Journal, sim: Any = None
) -> Server:
    """Build the API server on ``cfg.port('kubernetes')`` and write ``cfg.kubeconfig``."""
    pki = ensure_pki(cfg)
    write_kubeconfig(cfg, pki)
    return Server(store, state, journal, pki, cfg.port("kubernetes"), sim=sim)
