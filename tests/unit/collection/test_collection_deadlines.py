"""Every call has a deadline: a server that accepts the TCP connection and never answers (a
black hole) fails the call, with one line naming the target, within a bound set by the call's
timeout, for HTTP, the Kubernetes API and PostgreSQL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    IrdriveOpsError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.http import request
from ansible_collections.irdrive.ops.plugins.module_utils.postgres import PgConnParams, PgSession
from ansible_collections.irdrive.ops.plugins.modules import k8s_workload_health


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose listener completes TCP handshakes (the kernel's backlog) and never reads,
    writes or closes: the shape of a stuck server."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def _timed(call: Any) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(IrdriveOpsError) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_http_to_a_black_hole_fails_within_its_timeout(black_hole: int) -> None:
    error, took = _timed(lambda: request(f"http://127.0.0.1:{black_hole}/health", timeout=0.5))
    assert took < 3
    assert f"127.0.0.1:{black_hole}" in str(error) and "\n" not in str(error)


def test_postgres_to_a_black_hole_fails_within_connect_timeout(black_hole: int) -> None:
    params = PgConnParams(login_host="127.0.0.1", login_port=black_hole, connect_timeout=1)
    error, took = _timed(lambda: PgSession(params))
    assert isinstance(error, UnreachableError)
    assert took < 5
    assert f"127.0.0.1:{black_hole}" in str(error) and "\n" not in str(error)


def test_a_kubernetes_module_against_a_black_hole_fails_within_its_deadline(
    run_module: Any, black_hole: int
) -> None:
    args = {
        "host": f"http://127.0.0.1:{black_hole}",
        "api_key": "token",
        "request_timeout": 0.5,
        "namespace": "platform",
    }
    started = time.monotonic()
    result, failed = run_module(k8s_workload_health, args)
    took = time.monotonic() - started
    assert failed, result
    assert took < 45  # timeouts retried with backoff within the client's total deadline
    assert result.get("error_kind") in ("unreachable", "transient"), result
    assert "\n" not in result["msg"]
