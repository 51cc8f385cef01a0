"""``pods/NAME/log``: a container's log from the simulation, whole or followed as it grows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from irdrive_lab.kube.errors import BadRequest, NotFound
from irdrive_lab.kube.request import Request, Response, Target, flag, int_param
from irdrive_lab.kube.store import Store

LOG_FOLLOW_LIMIT = 600.0


class PodLogs:
    """Logs come from the simulation (``sim.pod_logs``); without one, every log is empty."""

    def __init__(self, store: Store, sim: Any, stopping: threading.Event) -> None:
        self.store = store
        self.sim = sim
        self.stopping = stopping

    def response(self, req: Request, t: Target) -> Response:
        """GET pods/NAME/log: the container's log; with ``follow``, a stream of new lines."""
        pod = self.store.get("pods", t.namespace, t.name or "")
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = req.query.get("container") or None
        init_names = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
        if container is None:
            if len(names) != 1:
                raise BadRequest(
                    f"a container name must be specified for pod {t.name}, "
                    f"choose one of: [{' '.join(names)}]"
                )
            container = names[0]
        elif container not in names + init_names:
            raise BadRequest(f"container {container} is not valid for pod {t.name}")
        tail = int_param(req.query, "tailLines")
        since = int_param(req.query, "sinceSeconds")
        timestamps = flag(req.query, "timestamps")
        previous = flag(req.query, "previous")
        text = self._pod_logs(pod, container, tail, since, timestamps, previous)
        if not flag(req.query, "follow"):
            return Response(text=text, content_type="text/plain")
        return Response(
            stream=self._follow(pod, container, text, timestamps), content_type="text/plain"
        )

    def _pod_logs(
        self,
        pod: dict[str, Any],
        container: str,
        tail: int | None,
        since: int | None,
        timestamps: bool,
        previous: bool,
    ) -> str:
        if self.sim is None:
            return ""
        return str(self.sim.pod_logs(pod, container, tail, since, timestamps, previous))

    def _follow(
        self, pod: dict[str, Any], container: str, first: str, timestamps: bool
    ) -> Iterator[bytes]:
        """Send what is there, then new lines as they appear, until the pod goes or time's up."""
        if first:
            yield first.encode()
        seen = self._pod_logs(pod, container, None, None, timestamps, False).splitlines()
        meta = pod["metadata"]
        deadline = time.monotonic() + LOG_FOLLOW_LIMIT
        while time.monotonic() < deadline and not self.stopping.wait(1.0):
            try:
                current = self.store.get("pods", meta.get("namespace"), meta["name"])
            except NotFound:
                return
            if current["metadata"].get("uid") != meta.get("uid"):
                return
            lines = self._pod_logs(current, container, None, None, timestamps, False).splitlines()
            if lines[: len(seen)] == seen and len(lines) > len(seen):
                yield ("\n".join(lines[len(seen) :]) + "\n").encode()
            seen = lines
