"""The faults that live in labd, switched through ``/_lab/faults/<name>``: processor-down,
cdn-down, bad-deploy, resource-pressure and api-flaky. Each is recorded in ``state.faults``.

Documented simplification: clearing bad-deploy marks the bad image good again: its pods then
become Ready. It does not roll the deployment back; that is the operator's job
(``kubectl rollout undo``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from irdrive_lab.control.state import LabState
from irdrive_lab.kube.errors import Conflict, NotFound
from irdrive_lab.platform.cluster import NAMESPACE
from irdrive_lab.platform.probes import PROCESSORS
from irdrive_lab.platform.util import dig, utc_now
from irdrive_lab.platform.web import BadRequest, int_param

PRESSURE_LATENCY_MS = 800
FLAKY_MODES = ("500", "409", "slow")
LABD_FAULTS = ("api-flaky", "bad-deploy", "cdn-down", "processor-down", "resource-pressure")
EXTERNAL_FAULTS = ("db-down", "db-slow", "disk-full", "intrusion")


def bad_image_of(image: str) -> str:
    """``repo:1.4.2`` -> ``repo:1.4.2-bad``; without a tag ``repo:latest-bad``; digests dropped."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        return f"{name}-bad"
    return f"{name}:latest-bad"


def _processor_param(params: Mapping[str, Any], default: str | None) -> str | None:
    processor = params.get("processor", default)
    if processor is not None and processor not in PROCESSORS:
        raise BadRequest(f"unknown processor {processor!r}; known: {', '.join(PROCESSORS)}")
    return processor


class LabFaults:
    """Inject and clear the faults that live in labd; each is recorded in ``state.faults``."""

    def __init__(self, store: Any, state: LabState) -> None:
        self.store, self.state = store, state
        self._inject: dict[str, Callable[[dict[str, Any]], None]] = {
            "processor-down": self._processor_down,
            "cdn-down": self._cdn_down,
            "bad-deploy": self._bad_deploy,
            "resource-pressure": self._resource_pressure,
            "api-flaky": self._api_flaky,
        }
        self._clear: dict[str, Callable[[dict[str, Any]], None]] = {
            "processor-down": self._processor_up,
            "cdn-down": self._cdn_up,
            "bad-deploy": self._bad_deploy_clear,
            "resource-pressure": self._pressure_clear,
            "api-flaky": self._api_flaky_clear,
        }

    @staticmethod
    def check_name(name: str) -> None:
        if name in LABD_FAULTS:
            return
        if name in EXTERNAL_FAULTS:
            raise BadRequest(
                f"fault {name} is not applied by labd; use `irdrive lab fault {name}`; "
                f"labd's faults: {', '.join(LABD_FAULTS)}"
            )
        raise BadRequest(f"unknown fault {name}; known: {', '.join(LABD_FAULTS)}")

    def inject(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_name(name)
        self._inject[name](params)
        with self.state.lock:
            return {
                "fault": name,
                "active": name in self.state.faults,
                "record": copy.deepcopy(self.state.faults.get(name)),
            }

    def clear(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_name(name)
        self._clear[name](params)
        with self.state.lock:
            return {"fault": name, "active": name in self.state.faults}

    def _record(self, name: str, params: dict[str, Any], **details: Any) -> None:
        """Caller holds state.lock."""
        self.state.faults[name] = {"params": params, "at": utc_now(), **details}

    def _processor_down(self, params: dict[str, Any]) -> None:
        processor = _processor_param(params, "ccbill")
        assert processor is not None
        with self.state.lock:
            self.state.processors_down.add(processor)
            self._record(
                "processor-down",
                {"processor": processor},
                processors=sorted(self.state.processors_down),
            )

    def _processor_up(self, params: dict[str, Any]) -> None:
        processor = _processor_param(params, None)
        with self.state.lock:
            if processor is None:
                self.state.processors_down.clear()
            else:
                self.state.processors_down.discard(processor)
            record = self.state.faults.get("processor-down")
            if not self.state.processors_down:
                self.state.faults.pop("processor-down", None)
            elif record is not None:
                record["processors"] = sorted(self.state.processors_down)

    def _cdn_down(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.cdn_down = True
            self._record("cdn-down", {})

    def _cdn_up(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.cdn_down = False
            self.state.faults.pop("cdn-down", None)

    def _resource_pressure(self, params: dict[str, Any]) -> None:
        latency = int_param(params, "latency_ms", PRESSURE_LATENCY_MS, 0, 60_000)
        with self.state.lock:
            self.state.pressure = True
            self.state.extra_latency_ms = latency
            self._record("resource-pressure", {"latency_ms": latency})

    def _pressure_clear(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.pressure = False
            self.state.extra_latency_ms = 0
            self.state.faults.pop("resource-pressure", None)

    def _api_flaky(self, params: dict[str, Any]) -> None:
        count = int_param(params, "count", 10, 1, 10_000)
        modes = params.get("modes", list(FLAKY_MODES))
        if isinstance(modes, str):
            modes = [m.strip() for m in modes.split(",") if m.strip()]
        if not isinstance(modes, list) or not modes or any(m not in FLAKY_MODES for m in modes):
            raise BadRequest(f"modes must be a list drawn from {', '.join(FLAKY_MODES)}")
        slow = params.get("slow_seconds", 2.0)
        if isinstance(slow, bool) or not isinstance(slow, int | float) or not 0 < slow <= 60:
            raise BadRequest(f"slow_seconds must be a number above 0 and at most 60, not {slow!r}")
        with self.state.lock:
            self.state.flaky_remaining = count
            self.state.flaky_modes = [str(m) for m in modes]
            self.state.flaky_slow_seconds = float(slow)
            self.state.flaky_counter = 0
            self._record("api-flaky", {"count": count, "modes": modes, "slow_seconds": slow})

    def _api_flaky_clear(self, params: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.flaky_remaining = 0
            self.state.faults.pop("api-flaky", None)

    def _bad_deploy(self, params: dict[str, Any]) -> None:
        """Roll the deployment to ``<image>-bad``, an image whose containers crash on start.

        Read-modify-write with the object's resourceVersion (retried on 409), so no store lock
        is held while the simulation reacts to the change.
        """
        name = str(params.get("deployment") or "backend")
        container, current, bad = self._roll_to_bad_image(name, params.get("container"))
        with self.state.lock:
            record = self.state.faults.get("bad-deploy") or {}
            images = {**record.get("images", {}), name: bad}
            previous = {**record.get("previous_images", {})}
            if current != bad:
                previous[name] = current
            self._record(
                "bad-deploy",
                {"deployment": name, "container": container},
                images=images,
                previous_images=previous,
            )

    def _roll_to_bad_image(self, name: str, wanted: str | None) -> tuple[str, str, str]:
        """Set the container's image to its bad twin; return (container, image before, bad)."""
        for attempt in range(5):
            try:
                dep = self.store.get("deployments.apps", NAMESPACE, name)
            except NotFound:
                raise BadRequest(f"deployment {name} not found in namespace {NAMESPACE}") from None
            containers = dig(dep, "spec", "template", "spec", "containers") or []
            target = next((c for c in containers if wanted in (None, c.get("name"))), None)
            if target is None or not target.get("image"):
                raise BadRequest(f"deployment {name} has no container {wanted or ''}".strip())
            current = str(target["image"])
            with self.state.lock:
                if current in self.state.bad_images:  # injected before: nothing to roll
                    return str(target.get("name")), current, current
                bad = bad_image_of(current)
                self.state.bad_images.add(bad)
            target["image"] = bad
            try:
                self.store.update("deployments.apps", dep)
                return str(target.get("name")), current, bad
            except Conflict:
                with self.state.lock:
                    self.state.bad_images.discard(bad)
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _bad_deploy_clear(self, params: dict[str, Any]) -> None:
        """Mark the bad image(s) good again; rolling back stays the operator's job."""
        name = params.get("deployment")
        with self.state.lock:
            record = self.state.faults.get("bad-deploy") or {}
            images: dict[str, str] = dict(record.get("images", {}))
            if name is None:
                self.state.bad_images.clear()
                images.clear()
            elif name in images:
                self.state.bad_images.discard(images.pop(name))
            if images:
                record["images"] = images
            else:
                self.state.faults.pop("bad-deploy", None)
