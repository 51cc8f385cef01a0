# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The platform cache's admin endpoint (module platform_cache): stats, clear and warm."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    AuthError,
    IrdriveOpsError,
    TransientError,
    UnreachableError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.http import request
from ansible_collections.irdrive.ops.plugins.module_utils.retry import retry

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class CacheAdmin:
    """The three calls of the admin endpoint, retried on transient failures only."""

    def __init__(self, url: str, token: str, timeout: float, validate_certs: bool) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.timeout = timeout
        self.validate_certs = validate_certs

    def call(self, method: str, action: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.url}/{action}" + (f"?{urlencode(query)}" if query else "")

        def once() -> dict[str, Any]:
            response = request(
                url,
                method=method,
                headers=self.headers,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
            )
            if response.status in (401, 403):
                raise AuthError(
                    f"{method} {url}: HTTP {response.status}: the admin token was refused"
                )
            if response.status in TRANSIENT_STATUSES:
                raise TransientError(f"{method} {url}: HTTP {response.status}")
            if response.status != 200:
                raise IrdriveOpsError(
                    f"{method} {url}: HTTP {response.status}: {response.text(300)}"
                )
            try:
                body = json.loads(response.text())
            except ValueError as error:
                raise IrdriveOpsError(f"{method} {url}: the answer is not JSON") from error
            if not isinstance(body, dict):
                raise IrdriveOpsError(f"{method} {url}: the answer is not a JSON object")
            return body

        return retry(once, transient=(TransientError, UnreachableError), attempts=4, deadline=30.0)

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "stats")

    def clear(self) -> dict[str, Any]:
        return self.call("POST", "clear")

    def warm(self, keys: int) -> dict[str, Any]:
        return self.call("POST", "warm", {"keys": keys})
