"""The platform's application cache and its admin endpoints, ``/_admin/cache/{stats,clear,warm}``.

Documented simplification: the cache is an in-memory dict; ``GET /`` reads through it. The
admin endpoints want the bearer token that ``resolve_admin_token`` finds or creates.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.journal import Journal
from irdrive_lab.platform.util import dig, utc_now
from irdrive_lab.platform.web import Request, Response, error, int_param, json_response

ADMIN_TOKEN_ENV = "IRDRIVE_LAB_ADMIN_TOKEN"
ADMIN_TOKEN_FILE = "platform-admin-token"  # in cfg.run_dir, mode 0600
WARM_KEYS_DEFAULT = 100
WARM_KEYS_MAX = 10_000


class ContentCache:
    """The platform's application cache: an in-memory dict with hit and miss counters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, bytes] = {}
        self.hits = self.misses = 0
        self.last_cleared_at: str | None = None
        self.last_warmed_at: str | None = None

    def read_through(self, key: str, produce: Callable[[], bytes]) -> bytes:
        with self.lock:
            if key in self.entries:
                self.hits += 1
                return self.entries[key]
            self.misses += 1
            value = self.entries[key] = produce()
            return value

    def clear(self) -> int:
        with self.lock:
            removed = len(self.entries)
            self.entries.clear()
            self.last_cleared_at = utc_now()
            return removed

    def warm(self, count: int) -> int:
        with self.lock:
            for i in range(count):
                self.entries.setdefault(f"item:{i}", f"cached item {i}".encode())
            self.last_warmed_at = utc_now()
            return len(self.entries)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "keys": len(self.entries),
                "hits": self.hits,
                "misses": self.misses,
                "last_cleared_at": self.last_cleared_at,
                "last_warmed_at": self.last_warmed_at,
            }


def resolve_admin_token(cfg: LabConfig, info: Mapping[str, Any] | None) -> str:
    """The bearer token of ``/_admin``: env, lab.json, the run file, or a new one saved there."""
    token = os.environ.get(ADMIN_TOKEN_ENV) or dig(info, "platform", "admin_token")
    if token:
        return str(token)
    path = cfg.run_dir / ADMIN_TOKEN_FILE
    try:
        saved = path.read_text().strip()
        if saved:
            return saved
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def _authorized(req: Request, admin_token: str) -> bool:
    scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), admin_token.encode()
    )


def cache_admin(req: Request, cache: ContentCache, admin_token: str, journal: Journal) -> Response:
    """Answer ``/_admin/...``: stats, or clear and warm (both recorded in the journal)."""
    action = req.path.removeprefix("/_admin/cache/")
    methods = {"stats": ("GET", "HEAD"), "clear": ("POST",), "warm": ("POST",)}
    if not req.path.startswith("/_admin/cache/") or action not in methods:
        return error(404, f"no such endpoint: {req.path}")
    if not _authorized(req, admin_token):
        resp = error(401, "missing or wrong bearer token")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="platform-admin"'
        return resp
    if req.method not in methods[action]:
        return error(405, f"{req.method} is not allowed on {req.path}")
    if action == "stats":
        return json_response(200, cache.stats())
    if action == "clear":
        removed = cache.clear()
        journal.record(
            "platform", req.method, req.path, req.body, 200, action="cache.clear", keys=removed
        )
        return json_response(200, {"cleared": removed, **cache.stats()})
    params = req.json()
    query = req.query.get("keys")
    if query and "keys" not in params:
        params["keys"] = query[0]
    count = int_param(params, "keys", WARM_KEYS_DEFAULT, 1, WARM_KEYS_MAX)
    cache.warm(count)
    journal.record("platform", req.method, req.path, req.body, 200, action="cache.warm", keys=count)
    return json_response(200, {"warmed": count, **cache.stats()})
