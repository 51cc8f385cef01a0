"""irdrive.ops.platform_cache against a fake cache admin endpoint and the fake Kubernetes API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.modules import platform_cache
from collection_fakes import deployment

ADMIN_TOKEN = "canary-cache-7f3a"


class FakeCache:
    def __init__(self) -> None:
        self.keys = 5
        self.last_cleared_at: str | None = None
        self.calls: list[str] = []
        self.fail_next: list[int] = []

    def stats(self) -> dict[str, Any]:
        return {"keys": self.keys, "hits": 0, "misses": 0, "last_cleared_at": self.last_cleared_at}


@pytest.fixture
def cache() -> Iterator[FakeCache]:
    state = FakeCache()

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
            state.calls.append(f"{self.command} {self.path}")
            if self.headers.get("Authorization") != f"Bearer {ADMIN_TOKEN}":
                return self._send(401, {"error": "missing or wrong bearer token"})
            if state.fail_next:
                return self._send(state.fail_next.pop(0), {"error": "injected"})
            action = self.path.split("?")[0].rsplit("/", 1)[-1]
            if action == "clear":
                state.keys, state.last_cleared_at = 0, "2026-11-27T03:12:09.000001Z"
            elif action == "warm":
                state.keys = max(state.keys, int(self.path.split("keys=")[1]))
            return self._send(200, state.stats())

        do_GET = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/_admin/cache"  # type: ignore[attr-defined]
    yield state
    server.shutdown()
    server.server_close()


def args(cache: FakeCache, kube_args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        **kube_args,
        "url": cache.url,  # type: ignore[attr-defined]
        "bearer_token": ADMIN_TOKEN,
        "clear": True,
        "warm": True,
        "warm_keys": 50,
        **extra,
    }


def test_clear_once_per_key_then_warm(run_module, cache, kube, kube_args) -> None:
    kube.add("deployments", deployment("backend"))
    result, failed = run_module(platform_cache, args(cache, kube_args, clear_key="INC-1"))
    assert not failed and result["changed"] and result["cleared"] and result["warmed"]
    assert result["before"]["keys"] == 5 and result["after"]["keys"] == 50
    (patch,) = kube.writes()
    assert patch["body"] == {"metadata": {"annotations": {"irdrive.io/cache-clear-key": "INC-1"}}}
    # The fake API keeps metadata out of patches: record the key as the real API does.
    meta = kube.get("deployments", "platform", "backend")["metadata"]
    meta["annotations"]["irdrive.io/cache-clear-key"] = "INC-1"
    again, failed = run_module(platform_cache, args(cache, kube_args, clear_key="INC-1"))
    assert not failed and not again["changed"] and again["clear_key"] == "INC-1"
    assert [c.split("?")[0] for c in cache.calls].count("POST /_admin/cache/clear") == 1


def test_check_mode_reads_only(run_module, cache, kube, kube_args) -> None:
    kube.add("deployments", deployment("backend"))
    result, failed = run_module(
        platform_cache, args(cache, kube_args, clear_key="INC-2"), check_mode=True
    )
    assert not failed and result["changed"] and result["after"] == result["before"]
    assert all(c.startswith("GET") for c in cache.calls) and kube.writes() == []


def test_without_key_every_run_clears(run_module, cache, kube_args) -> None:
    for _ in range(2):
        result, failed = run_module(platform_cache, args(cache, kube_args, warm=False))
        assert not failed and result["cleared"]


def test_refused_token_fails_at_once_without_leaking(run_module, cache, kube_args) -> None:
    result, failed = run_module(
        platform_cache, {**args(cache, kube_args), "bearer_token": "wrong", "clear_key": None}
    )
    assert failed and result["error_kind"] == "auth" and len(cache.calls) == 1
    assert "wrong" not in result["msg"] and ADMIN_TOKEN not in json.dumps(result)


def test_transient_errors_are_retried(run_module, cache, kube_args) -> None:
    cache.fail_next = [503, 502]
    result, failed = run_module(platform_cache, args(cache, kube_args, clear=False))
    assert not failed and result["warmed"]


def test_bad_warm_keys_is_refused_before_any_call(run_module, cache, kube_args) -> None:
    result, failed = run_module(platform_cache, args(cache, kube_args, warm_keys=0))
    assert failed and "warm_keys" in result["msg"] and cache.calls == []
