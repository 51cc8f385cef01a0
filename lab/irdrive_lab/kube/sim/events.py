"""v1 Events as the controllers and the kubelet record them, aggregated and capped."""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from typing import Any

from irdrive_lab.kube.errors import ApiError
from irdrive_lab.kube.sim.util import rfc3339

MAX_EVENTS = 300


class EventRecorder:
    """Writes Events through the store; repeats of one event bump ``count`` as client-go does."""

    def __init__(self, store: Any, max_events: int = MAX_EVENTS) -> None:
        self.store = store
        self.max_events = max_events
        # (namespace, uid, reason, message) -> event name, oldest first
        self._index: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()
        self._seq = 0

    def reset(self) -> None:
        self._index.clear()

    def record(
        self,
        obj: dict[str, Any],
        etype: str,
        reason: str,
        message: str,
        component: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (namespace, meta.get("uid", ""), reason, message)
        now = rfc3339(time.time())
        name = self._index.get(key)
        if name is not None:
            try:
                event = self.store.get("events", namespace, name)
                event["count"] = int(event.get("count") or 1) + 1
                event["lastTimestamp"] = now
                self.store.update("events", event, check_rv=False)
                self._index.move_to_end(key)
                return
            except ApiError:
                self._index.pop(key, None)
        self._seq += 1
        name = f"{meta['name']}.{time.time_ns() + self._seq:x}"
        involved: dict[str, Any] = {
            "apiVersion": obj.get("apiVersion", "v1"),
            "kind": obj.get("kind", ""),
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        source: dict[str, Any] = {"component": component}
        if host:
            source["host"] = host
        event = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": etype,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        try:
            self.store.create("events", event)
        except ApiError:
            return
        self._index[key] = name
        self._trim()

    def _trim(self) -> None:
        while len(self._index) > self.max_events:
            (namespace, *_), name = self._index.popitem(last=False)
            with contextlib.suppress(ApiError):
                self.store.delete("events", namespace, name)
