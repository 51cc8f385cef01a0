"""The lab's Kubernetes API: an object store with real semantics and an HTTPS server for it.

``Store`` holds the objects (the simulation in ``irdrive_lab.kube.sim`` codes against it);
``make_server`` serves them to kubectl, the Python client and kubernetes.core.
"""

from __future__ import annotations

from irdrive_lab.kube.store import Store

__all__ = ["Store", "make_server"]


def __getattr__(name: str) -> object:
    # The server pulls in ssl and cryptography; import it only when asked for.
    if name == "make_server":
        from irdrive_lab.kube.server import make_server

        return make_server
    raise AttributeError(name)
