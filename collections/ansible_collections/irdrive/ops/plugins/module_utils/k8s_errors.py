# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Kubernetes failures sorted into ``errors``, for both transports.

401/403 AuthError, 404 NotFoundError, 409 ConflictError, 400/422 InvalidInputError, 429/5xx,
read timeouts and dropped connections TransientError (retried with backoff by the client), a
refused or timed-out connection UnreachableError, a failed TLS handshake TLSError.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    IrdriveOpsError,
    MissingLibrary,
    NotFoundError,
    TLSError,
    TransientError,
    UnreachableError,
)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubernetesLibraryMissing(MissingLibrary):
    """The connection needs the kubernetes client (exec, auth-provider...) and it is missing."""

    def __init__(self, reason: str, import_error: str) -> None:
        super().__init__("kubernetes", reason, import_error)


class ApiStatusError(Exception):
    """A non-2xx answer of the API server (the stdlib transport's ``ApiException``)."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason
        self.body = body


class ConnectFailed(Exception):
    """Opening the connection (TCP, proxy tunnel, TLS handshake) failed with ``cause``."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _status_message(body: Any) -> str:
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return ""
    return status.get("message", "") if isinstance(status, dict) else ""


def status_error(status: int, detail: str, what: str) -> IrdriveOpsError:
    message = f"{what}: HTTP {status}: {detail or 'no detail'}"
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 404:
        return NotFoundError(message, status=status)
    if status == 409:
        return ConflictError(message, status=status)
    if status in TRANSIENT_STATUSES:
        return TransientError(message, status=status)
    if status in (400, 422):
        return InvalidInputError(message, status=status)
    return IrdriveOpsError(message, status=status)


def _kubernetes_client_error(error: BaseException, what: str, host: str) -> IrdriveOpsError | None:
    """Map the kubernetes client's (and urllib3's) exceptions; None for other exceptions."""
    if "urllib3" not in sys.modules:  # the fallback was never used
        return None
    import urllib3

    try:
        from kubernetes.client.exceptions import ApiException
    except ImportError:
        ApiException = None  # noqa: N806
    if ApiException is not None and isinstance(error, ApiException):
        detail = _status_message(error.body) or error.reason
        return status_error(int(error.status or 0), detail, what)
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason:
        return translate_error(error.reason, what, host)
    if isinstance(error, urllib3.exceptions.SSLError):
        return TLSError(f"{what}: TLS error talking to {host}: {error}")
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return UnreachableError(f"{what}: cannot reach the Kubernetes API at {host}: {error}")
    if isinstance(error, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)):
        return TransientError(f"{what}: {error}")
    return None


def translate_error(error: BaseException, what: str, host: str) -> IrdriveOpsError:
    """Map an exception of either transport to ``errors``."""
    if isinstance(error, ApiStatusError):
        return status_error(error.status, _status_message(error.body) or error.reason, what)
    mapped = _kubernetes_client_error(error, what, host)
    if mapped is not None:
        return mapped
    unreachable = f"{what}: cannot reach the Kubernetes API at {host}"
    if isinstance(error, ConnectFailed):
        if isinstance(error.cause, ssl.SSLError):
            return TLSError(f"{what}: TLS error talking to {host}: {error.cause}")
        return UnreachableError(f"{unreachable}: {error.cause}")
    if isinstance(error, ssl.SSLError) and not isinstance(
        error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)
    ):
        return TLSError(f"{what}: TLS error talking to {host}: {error}")
    if isinstance(error, (TimeoutError, ConnectionError, ssl.SSLError, http.client.HTTPException)):
        # After the connection was made: a read timeout, a dropped or garbled answer.
        return TransientError(f"{what}: {type(error).__name__}: {error}")
    if isinstance(error, OSError):
        return UnreachableError(f"{unreachable}: {error}")
    return IrdriveOpsError(f"{what}: {error}")
