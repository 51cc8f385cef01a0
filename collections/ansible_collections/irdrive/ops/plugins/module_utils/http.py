# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A small HTTP client over ``ansible.module_utils.urls.Request``.

Every HTTP status is an answer (returned as ``HttpResponse``); only failures to get an answer
raise: ``UnreachableError`` (refused, DNS, no route, connect timeout), ``TLSError`` and
``TransientError`` (read timeout, connection dropped mid-response).
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError, make_context
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    TLSError,
    TransientError,
    UnreachableError,
)

USER_AGENT = "irdrive.ops"


_TLS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _tls_context(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
    return make_context(cafile=ca_path, validate_certs=validate_certs)


def tls_context(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
    """One TLS context per settings for the process: building one loads the system's CA bundle
    (about 40 ms of CPU), which ``open_url`` did again for every request, https or not. Built
    under a lock, so checks running in threads at the same time share one."""
    with _TLS_LOCK:
        return _tls_context(validate_certs, ca_path)


@dataclass
class HttpResponse:
    status: int
    body: bytes
    latency_ms: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self, limit: int | None = None) -> str:
        data = self.body if limit is None else self.body[:limit]
        return data.decode("utf-8", errors="replace")


def _classify(url: str, error: BaseException) -> Exception:
    reason = getattr(error, "reason", error)
    if isinstance(reason, (ssl.SSLError, ssl.CertificateError)) or isinstance(
        error, SSLValidationError
    ):
        return TLSError(f"TLS error talking to {url}: {reason}", url=url)
    if isinstance(error, (TimeoutError, socket.timeout)):
        return TransientError(f"timed out waiting for {url} to answer", url=url)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return UnreachableError(f"timed out connecting to {url}", url=url)
    if isinstance(reason, (ConnectionResetError, http.client.HTTPException)):
        return TransientError(f"connection to {url} dropped: {reason}", url=url)
    return UnreachableError(f"cannot reach {url}: {reason}", url=url)


def request(
    url: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    validate_certs: bool = True,
    ca_path: str | None = None,
    max_body: int = 1024 * 1024,
    clock: Callable[[], float] = time.monotonic,
) -> HttpResponse:
    """Send one request and return the answer, whatever its status."""
    started = clock()
    try:
        response = Request().open(
            method,
            url,
            headers=dict(headers or {}),
            timeout=timeout,
            validate_certs=validate_certs,
            ca_path=ca_path,
            http_agent=USER_AGENT,
            follow_redirects="safe",
            use_netrc=False,
            context=tls_context(validate_certs, ca_path),
        )
    except urllib.error.HTTPError as error:
        response = error
    except (urllib.error.URLError, UrlsConnectionError, OSError) as error:
        raise _classify(url, error) from error
    except http.client.HTTPException as error:
        raise TransientError(f"connection to {url} dropped: {error}", url=url) from error
    try:
        body = response.read(max_body) if method != "HEAD" else b""
    except TimeoutError as error:
        raise TransientError(f"timed out reading from {url}", url=url) from error
    except (ConnectionError, http.client.HTTPException) as error:
        raise TransientError(f"connection to {url} dropped: {error}", url=url) from error
    finally:
        response.close()
    latency_ms = round((clock() - started) * 1000.0, 3)
    status = response.getcode() if hasattr(response, "getcode") else response.status
    response_headers = {k.lower(): v for k, v in response.headers.items()}
    return HttpResponse(status=status, body=body, latency_ms=latency_ms, headers=response_headers)
