"""When the lab's faults were on: intervals of LabState flags, so logs can show them in time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

MAX_INTERVALS = 200


@dataclass
class Timeline:
    """Closed and open intervals per flag (``pressure``, ``processor:ccbill``, ...)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    _open: dict[str, float] = field(default_factory=dict)
    _closed: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def observe(self, state: Any, now: float) -> None:
        with state.lock:
            flags = {f"processor:{p}" for p in state.processors_down}
            if state.pressure and state.pressure_ready < state.pressure_capacity:
                flags.add("pressure")
        with self.lock:
            for flag in flags - set(self._open):
                self._open[flag] = now
            for flag in set(self._open) - flags:
                start = self._open.pop(flag)
                spans = self._closed.setdefault(flag, [])
                spans.append((start, now))
                del spans[:-MAX_INTERVALS]

    def active(self, flag: str, ts: float) -> bool:
        with self.lock:
            start = self._open.get(flag)
            if start is not None and ts >= start:
                return True
            return any(a <= ts < b for a, b in self._closed.get(flag, ()))
