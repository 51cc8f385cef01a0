"""Small helpers of the platform's modules: lab.json's provider, nested lookups, timestamps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

# Returns lab.json's content (or None when it cannot be read); the app caches it briefly.
InfoProvider = Callable[[], dict[str, Any] | None]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data
