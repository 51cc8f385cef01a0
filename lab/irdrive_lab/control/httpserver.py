"""The HTTP plumbing of labd's two servers, the Kubernetes API and the platform endpoints.

``LabHTTPServer`` is a threading server whose accepted sockets send without Nagle's delay and
that runs in a daemon thread until ``shutdown()``. ``LabRequestHandler`` speaks HTTP/1.1, sends
every method to ``serve()``, writes one whole payload with its length, and logs at debug level.
What a server answers, and how it encodes it, stays with the server.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BODILESS_STATUSES = frozenset({204, 304})


class LabHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Seconds an accepted socket may block on a read or write; None blocks without limit.
    socket_timeout: float | None = None
    thread_name = "lab-http"

    def __init__(self, address: tuple[str, int], handler: type[LabRequestHandler]) -> None:
        super().__init__(address, handler)
        self._thread: threading.Thread | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.socket_timeout is not None:
            sock.settimeout(self.socket_timeout)
        # Headers and body go out in two writes: without this, Nagle holds the body until the
        # client's delayed ACK, about 40 ms per response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_thread(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        """Stop the thread that ``serve_in_thread`` started, if any; then close the socket."""
        if self._thread is not None:
            super().shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


class LabRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    logger = logging.getLogger(__name__)  # a server's handler names its own

    def serve(self) -> None:
        """Answer the request in ``self.command``, ``self.path``, ``self.headers``."""
        raise NotImplementedError

    def do_GET(self) -> None:
        self.serve()

    def do_HEAD(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def do_PUT(self) -> None:
        self.serve()

    def do_PATCH(self) -> None:
        self.serve()

    def do_DELETE(self) -> None:
        self.serve()

    def send_payload(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str],
        *,
        cache_control: str,
    ) -> None:
        """One response with its Content-Length; no body for HEAD, 204 and 304."""
        bodiless = status in BODILESS_STATUSES
        self.send_response(status)
        self.send_header("Cache-Control", cache_control)
        for key, value in headers.items():
            self.send_header(key, value)
        if not bodiless:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and not bodiless:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        self.logger.debug("%s %s", self.address_string(), format % args)
