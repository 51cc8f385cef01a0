"""Prometheus' text exposition format (version 0.0.4), for the platform's ``/metrics``.

A ``Family`` is one metric: its name, type, help and samples. ``RequestMetrics`` counts the
requests an HTTP app served, by handler and status code, and their durations as a histogram.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
KINDS = ("counter", "gauge", "histogram", "untyped")
# Seconds; the platform answers in milliseconds when healthy and ~0.8 s under resource-pressure.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True)
class Sample:
    suffix: str  # "" or "_bucket", "_sum", "_count", "_total"
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Family:
    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"invalid metric type {self.kind!r}")

    def add(self, value: float, labels: Mapping[str, str] | None = None, suffix: str = "") -> None:
        pairs = tuple((k, str(v)) for k, v in (labels or {}).items())
        for key, _ in pairs:
            if not LABEL.match(key) or key.startswith("__"):
                raise ValueError(f"invalid label name {key!r} on {self.name}")
        self.samples.append(Sample(suffix, pairs, value))


def render(families: Iterable[Family]) -> str:
    """The families in the text format; a family without samples still gets HELP and TYPE."""
    lines: list[str] = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for s in fam.samples:
            labels = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in s.labels)
            series = f"{fam.name}{s.suffix}" + (f"{{{labels}}}" if labels else "")
            lines.append(f"{series} {format_value(s.value)}")
    return "\n".join(lines) + "\n"


class RequestMetrics:
    """Requests served by handler and code, and a duration histogram by handler. Thread-safe."""

    def __init__(self, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        # handler -> [count per bucket (cumulative at render), sum, count]
        self._hist: dict[str, tuple[list[int], list[float]]] = {}

    def observe(self, handler: str, code: int, seconds: float) -> None:
        with self._lock:
            key = (handler, str(code))
            self._counts[key] = self._counts.get(key, 0) + 1
            per_bucket, totals = self._hist.setdefault(
                handler, ([0] * len(self.buckets), [0.0, 0.0])
            )
            for i, bound in enumerate(self.buckets):
                if seconds <= bound:
                    per_bucket[i] += 1
                    break
            totals[0] += seconds
            totals[1] += 1

    def families(self, prefix: str) -> list[Family]:
        requests = Family(
            f"{prefix}_http_requests_total", "counter", "HTTP requests served, by handler and code."
        )
        durations = Family(
            f"{prefix}_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request, by handler.",
        )
        with self._lock:
            for (handler, code), n in sorted(self._counts.items()):
                requests.add(n, {"handler": handler, "code": code})
            for handler, (per_bucket, (total, count)) in sorted(self._hist.items()):
                running = 0
                for bound, n in zip(self.buckets, per_bucket, strict=True):
                    running += n
                    durations.add(
                        running, {"handler": handler, "le": format_value(bound)}, "_bucket"
                    )
                durations.add(int(count), {"handler": handler, "le": "+Inf"}, "_bucket")
                durations.add(total, {"handler": handler}, "_sum")
                durations.add(int(count), {"handler": handler}, "_count")
        return [requests, durations]
