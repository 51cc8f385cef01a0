"""The platform's requests and answers, apart from sockets: tests hand the app a ``Request``.

``BadRequest`` raised anywhere below the app is answered 400 with its message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


class BadRequest(ValueError):
    """Bad input to an endpoint: answered 400 with the message."""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, obj: Any, **headers: str) -> Response:
    body = (json.dumps(obj, sort_keys=True) + "\n").encode()
    return Response(status, body, "application/json", dict(headers))


def error(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


@dataclass
class Request:
    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    client: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        return data


def int_param(params: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    """``params[key]`` as an integer in ``low..high`` (a numeric string counts), or BadRequest."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{key} must be an integer from {low} to {high}, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{key} must be an integer from {low} to {high}, not {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{key} must be an integer from {low} to {high}, not {number}")
    return number
