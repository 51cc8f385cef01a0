"""An in-process lab Kubernetes API (store + HTTPS server) for the API conformance tests.

The server gets a small stand-in for the simulation (``FakeSim``) so logs and metrics can be
checked at the HTTP layer: what the server passes to the simulation and how it answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _ports import port_base

from irdrive_lab.control.config import LabConfig
from irdrive_lab.control.journal import Journal
from irdrive_lab.control.state import LabState


@dataclass
class FakeSim:
    """Answers the server's optional simulation hooks from the store's pods."""

    store: Any
    log_calls: list[dict[str, Any]] = field(default_factory=list)

    def pod_logs(
        self,
        pod: dict[str, Any],
        container: str | None,
        tail_lines: int | None,
        since_seconds: int | None,
        timestamps: bool,
        previous: bool,
    ) -> str:
        self.log_calls.append(
            {
                "pod": pod["metadata"]["name"],
                "container": container,
                "tail_lines": tail_lines,
                "since_seconds": since_seconds,
                "timestamps": timestamps,
                "previous": previous,
            }
        )
        lines = [f"{pod['metadata']['name']}/{container} line {i}" for i in range(1, 21)]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        return "".join(line + "\n" for line in lines)

    def pod_metrics(self, namespace: str | None) -> list[dict[str, Any]]:
        pods, _ = self.store.list("pods", namespace)
        return [
            {
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {
                    "name": p["metadata"]["name"],
                    "namespace": p["metadata"]["namespace"],
                    "labels": p["metadata"].get("labels", {}),
                    "creationTimestamp": p["metadata"]["creationTimestamp"],
                },
                "timestamp": p["metadata"]["creationTimestamp"],
                "window": "15s",
                "containers": [
                    {"name": c["name"], "usage": {"cpu": "12m", "memory": "34Mi"}}
                    for c in p["spec"]["containers"]
                ],
            }
            for p in pods
        ]

    def node_metrics(self) -> list[dict[str, Any]]:
        return [
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": "lab-node-1", "creationTimestamp": "2025-01-01T00:00:00Z"},
                "timestamp": "2025-01-01T00:00:00Z",
                "window": "15s",
                "usage": {"cpu": "250m", "memory": "1024Mi"},
            }
        ]


@dataclass
class K8sApi:
    cfg: LabConfig
    store: Any
    state: LabState
    journal: Journal
    server: Any
    sim: FakeSim

    @property
    def kubeconfig(self) -> Path:
        return self.cfg.kubeconfig

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.cfg.kubeconfig)}


@pytest.fixture(scope="module")
def k8s_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[K8sApi]:
    from irdrive_lab.kube import Store, make_server

    cfg = LabConfig(dir=tmp_path_factory.mktemp("k8s-lab"), port_base=port_base(1))
    cfg.ensure_dirs()
    store = Store()
    state = LabState()
    journal = Journal(cfg.journal_file)
    sim = FakeSim(store)
    server = make_server(store, state, cfg, journal, sim=sim)
    server.serve_in_thread()
    try:
        yield K8sApi(cfg, store, state, journal, server, sim)
    finally:
        server.shutdown()
