"""Live, in-process state of labd that the lab's faults switch and its parts read.

labd is the one lab process that serves the Kubernetes API and the platform HTTP endpoints.
Both read this object; the lab control endpoints (``/_lab/...`` on the platform port) change
it. Faults that live outside labd (db-down, db-slow, disk-full, intrusion) are applied by
``irdrive_lab.faults.faults`` directly and only recorded here for ``status``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LabState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Payment processors that are down (fault processor-down), by name: ccbill, segpay.
    processors_down: set[str] = field(default_factory=set)
    # Primary CDN edge down (fault cdn-down).
    cdn_down: bool = False
    # Images whose containers crash on start (fault bad-deploy).
    bad_images: set[str] = field(default_factory=set)
    # Metrics pinned at limits and extra latency on platform endpoints (resource-pressure).
    pressure: bool = False
    extra_latency_ms: int = 0
    # The load behind resource-pressure is absorbed once this many backend pods are Ready
    # (scaling out relieves it, as on a real platform); the simulation keeps pressure_ready.
    pressure_capacity: int = 6
    pressure_ready: int = 0
    # Kubernetes API flakiness (api-flaky): the next N requests fail in turn with these.
    flaky_remaining: int = 0
    flaky_modes: list[str] = field(default_factory=lambda: ["500", "409", "slow"])
    flaky_slow_seconds: float = 2.0
    flaky_counter: int = 0
    # Faults currently injected, by name, with their parameters (for `lab status`).
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pressure_effective(self) -> bool:
        """Pressure is on and the backend has too few Ready pods to absorb the load."""
        with self.lock:
            return self.pressure and self.pressure_ready < self.pressure_capacity

    def next_flaky(self) -> str | None:
        """Consume one flaky answer for an API request, or None when the API is healthy."""
        with self.lock:
            if self.flaky_remaining <= 0:
                return None
            self.flaky_remaining -= 1
            mode = self.flaky_modes[self.flaky_counter % len(self.flaky_modes)]
            self.flaky_counter += 1
            if self.flaky_remaining == 0:
                self.faults.pop("api-flaky", None)
            return mode

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "processors_down": sorted(self.processors_down),
                "cdn_down": self.cdn_down,
                "bad_images": sorted(self.bad_images),
                "pressure": self.pressure,
                "pressure_effective": self.pressure
                and self.pressure_ready < self.pressure_capacity,
                "pressure_capacity": self.pressure_capacity,
                "extra_latency_ms": self.extra_latency_ms,
                "flaky_remaining": self.flaky_remaining,
                "faults": dict(self.faults),
            }
