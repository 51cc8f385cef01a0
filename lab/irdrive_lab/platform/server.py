"""The platform app over HTTP on 127.0.0.1, labd's platform port (base + 2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.httpserver import LabHTTPServer, LabRequestHandler
from irdrive_lab.control.state import LabState
from irdrive_lab.platform.app import PlatformApp
from irdrive_lab.platform.cdn import CdnResolver
from irdrive_lab.platform.dbcheck import DbCheck
from irdrive_lab.platform.util import InfoProvider
from irdrive_lab.platform.web import Request, Response, error

log = logging.getLogger(__name__)


class _Handler(LabRequestHandler):
    server: PlatformServer
    logger = log

    def serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(error(400, "bad Content-Length"))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, self.path, headers, body, self.client_address[0])
        try:
            resp = self.server.app.handle(req)
        except Exception:  # noqa: BLE001 - answer 500, keep serving
            log.exception("platform endpoint %s %s failed", self.command, self.path)
            resp = error(500, "internal error in the lab's platform endpoints")
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_payload(
            resp.status, resp.body, resp.content_type, resp.headers, cache_control="no-store"
        )


class PlatformServer(LabHTTPServer):
    thread_name = "platform-http"

    def __init__(self, app: PlatformApp, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app

    @property
    def admin_token(self) -> str:
        return self.app.admin_token


def make_platform_server(
    store: Any,
    state: LabState,
    cfg: LabConfig,
    info_provider: InfoProvider,
    on_reset: Callable[[], None] | None = None,
    *,
    cdn_resolver: CdnResolver | None = None,
    db_check: DbCheck | None = None,
    admin_token: str | None = None,
    port: int | None = None,
) -> PlatformServer:
    """The platform endpoints on 127.0.0.1:cfg.port("platform") (``port`` overrides, 0 = any)."""
    app = PlatformApp(
        store,
        state,
        cfg,
        info_provider,
        on_reset=on_reset,
        cdn_resolver=cdn_resolver,
        db_check=db_check,
        admin_token=admin_token,
    )
    return PlatformServer(app, cfg.port("platform") if port is None else port)
