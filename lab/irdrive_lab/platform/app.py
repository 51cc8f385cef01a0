"""The platform application: routes a request to the part that answers it.

Every answer is computed from the lab's live state, never stored: platform health from the
Ready pods of frontend and backend plus a real ``SELECT 1`` on the lab's PostgreSQL
(``probes``, ``dbcheck``), payments health from the environment the running payment-service
pods started with, the CDN from the Route53 record ``cdn.platform.com`` in the lab's moto
(``cdn``). Faults that live in labd are switched here, under ``/_lab/``, and only from the
loopback address (``faults``). The app knows nothing of sockets, so tests call ``handle``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from irdrive_lab import alerts
from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.credentials import processor_api_keys as lab_processor_api_keys
from irdrive_lab.control.journal import Journal
from irdrive_lab.control.state import LabState
from irdrive_lab.kube.errors import ApiError
from irdrive_lab.monitoring.exposition import CONTENT_TYPE
from irdrive_lab.platform import probes
from irdrive_lab.platform.cache import ContentCache, cache_admin, resolve_admin_token
from irdrive_lab.platform.cdn import Cdn, CdnResolver, Route53CdnResolver
from irdrive_lab.platform.dbcheck import DbCheck, backend_logins, postgres_check
from irdrive_lab.platform.faults import LabFaults
from irdrive_lab.platform.metrics import PlatformMetrics
from irdrive_lab.platform.origin import origin_object
from irdrive_lab.platform.streaming import streaming_health
from irdrive_lab.platform.util import InfoProvider
from irdrive_lab.platform.web import (
    LOOPBACK,
    BadRequest,
    Request,
    Response,
    error,
    json_response,
)

log = logging.getLogger(__name__)

HOME_PAGE = (
    b"<!doctype html>\n<html><head><title>Platform</title></head>\n"
    b"<body><h1>Platform</h1><p>Videos, payments and messaging, served by the irdrive lab.</p>"
    b'<p><a href="/health">health</a></p></body></html>\n'
)


LAB_PATHS = ("/_lab/state", "/_lab/reset", "/_lab/alerts")


class TTLCache:
    """Remember one computed value (or the exception it raised) for ``ttl`` seconds."""

    def __init__(self, fn: Callable[[], Any], ttl: float) -> None:
        self._fn, self._ttl = fn, ttl
        # reentrant: computing a value may read lab.json, which may invalidate this cache
        self._lock = threading.RLock()
        self._at = -1e9
        self._value: Any = None
        self._error: Exception | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._at = -1e9

    def __call__(self) -> Any:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                try:
                    self._value, self._error = self._fn(), None
                except Exception as exc:  # noqa: BLE001 - cached and re-raised to each caller
                    self._value, self._error = None, exc
                self._at = time.monotonic()
            if self._error is not None:
                raise self._error
            return self._value


class PlatformApp:
    """Routes a request to an answer; knows nothing of sockets, so tests call ``handle``."""

    def __init__(
        self,
        store: Any,
        state: LabState,
        cfg: LabConfig,
        info_provider: InfoProvider,
        *,
        on_reset: Callable[[], None] | None = None,
        cdn_resolver: CdnResolver | None = None,
        db_check: DbCheck | None = None,
        admin_token: str | None = None,
        processor_api_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.store, self.state, self.cfg = store, state, cfg
        self.on_reset = on_reset
        self._info = TTLCache(info_provider, 0.5)
        self._info_signature: int | None = None
        self._cdn_target = TTLCache(cdn_resolver or Route53CdnResolver(self.info), 0.5)
        self._db = TTLCache(
            db_check or (lambda: postgres_check(self.info, backend_logins(self.store))), 1.0
        )
        self.cdn = Cdn(state, self._cdn_target, self.info)
        self.cache = ContentCache()
        self.faults = LabFaults(store, state)
        self.journal = Journal(cfg.journal_file)
        self.admin_token = admin_token or resolve_admin_token(cfg, self.info())
        # The processors' API keys (Secrets Manager's platform/<name>-api-key holds the same).
        self.processor_api_keys = dict(processor_api_keys or lab_processor_api_keys(cfg))
        self.metrics = PlatformMetrics(store, state, cfg, self.info, self._synthetic)

    def info(self) -> dict[str, Any] | None:
        # A rewritten lab.json (a reset gives moto new ids) is read at once, and the answers
        # computed from the old one are forgotten: the TTL only spares re-reading the same file.
        try:
            signature: int | None = self.cfg.state_file.stat().st_mtime_ns
        except OSError:
            signature = None
        if signature != self._info_signature:
            self._info_signature = signature
            for cache in (self._info, self._cdn_target, self._db):
                cache.invalidate()
        try:
            return self._info()
        except (OSError, ValueError) as exc:
            log.warning("cannot read lab.json: %s", exc)
            return None

    def handle(self, req: Request) -> Response:
        """Answer ``req``; every answer but ``/metrics`` and ``/_lab/`` counts in the metrics."""
        started = time.monotonic()
        resp = self._handle(req)
        path = req.path
        if path != "/metrics" and not path.startswith("/_lab/"):
            self.metrics.observe(path, resp.status, time.monotonic() - started)
        return resp

    def _synthetic(self, path: str) -> Response:
        """One request of the synthetic traffic: a user's GET, counted like any other."""
        return self.handle(Request("GET", path, {"user-agent": "irdrive-lab-synthetic"}))

    def _handle(self, req: Request) -> Response:
        try:
            if req.path.startswith("/_lab/"):
                return self._lab(req)
            if req.path.startswith("/_admin/"):
                return cache_admin(req, self.cache, self.admin_token, self.journal)
            if req.method not in ("GET", "HEAD"):
                return error(405, f"{req.method} is not allowed on {req.path}", allow="GET, HEAD")
            return self._get(req)
        except BadRequest as exc:
            return error(400, str(exc))
        except ApiError as exc:
            return error(exc.code, exc.message)

    def _get(self, req: Request) -> Response:
        path = req.path
        if path == "/metrics":
            return Response(200, self.metrics.render().encode(), CONTENT_TYPE)
        if path == "/":
            self._added_latency()
            body = self.cache.read_through("page:/", lambda: HOME_PAGE)
            return Response(200, body, "text/html; charset=utf-8")
        if path == "/health":
            self._added_latency()
            return probes.platform_health(self.store, self._db)
        if path == "/payments/health":
            return probes.payments_health(self.store, self.state)
        if path.startswith("/processors/") and path.endswith("/api/health"):
            name = path[len("/processors/") : -len("/api/health")]
            keys = self.processor_api_keys
            return probes.processor_api_health(
                self.state, name, req.headers.get("authorization"), keys
            )
        if path.startswith("/processors/") and path.endswith("/health"):
            return probes.processor_health(self.state, path[len("/processors/") : -len("/health")])
        if path == "/streaming/health":
            return streaming_health(self.store, self.cfg, self.info, self.cdn.check)
        if path == "/origin/test.mp4":
            return origin_object(req)
        if path.startswith("/cdn/"):
            return self.cdn.serve(req, path[len("/cdn/") :])
        return error(404, f"no such endpoint: {path}")

    def _added_latency(self) -> None:
        with self.state.lock:
            delay = self.state.extra_latency_ms / 1000.0
        if delay > 0 and self.state.pressure_effective():
            time.sleep(delay)

    # ---- /_lab ----------------------------------------------------------------------------
    def _lab(self, req: Request) -> Response:
        if req.client not in LOOPBACK:
            return error(403, "the lab control API answers only on the loopback address")
        path = req.path
        if path == "/_lab/state" and req.method in ("GET", "HEAD"):
            return json_response(200, self.state.snapshot())
        if path == "/_lab/alerts" and req.method == "POST":
            # Alertmanager's webhook receiver: recorded in alerts.jsonl, not in the journal
            try:
                entry = alerts.record_notification(self.cfg.alerts_file, req.json())
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            return json_response(200, {"recorded": len(entry["alerts"])})
        if path == "/_lab/reset" and req.method == "POST":
            resp = json_response(200, self.reset())
        elif path.startswith("/_lab/faults/") and req.method in ("POST", "DELETE"):
            name = path.removeprefix("/_lab/faults/")
            params = req.json()
            if req.method == "POST":
                result = self.faults.inject(name, params)
            else:
                result = self.faults.clear(name, params)
            resp = json_response(200, {**result, "state": self.state.snapshot()})
        elif path in LAB_PATHS or path.startswith("/_lab/faults/"):
            return error(405, f"{req.method} is not allowed on {path}")
        else:
            return error(404, f"no such endpoint: {path}")
        self.journal.record("lab", req.method, path, req.body, resp.status)
        return resp

    def reset(self) -> dict[str, Any]:
        """Clear labd's faults and the cache, then let labd reseed the cluster."""
        with self.state.lock:
            self.state.processors_down.clear()
            self.state.cdn_down = False
            self.state.bad_images.clear()
            self.state.pressure = False
            self.state.extra_latency_ms = 0
            self.state.flaky_remaining = 0
            self.state.faults.clear()
        self.cache = ContentCache()
        if self.on_reset is not None:
            self.on_reset()
        return {"reset": True, "reseeded": self.on_reset is not None}
