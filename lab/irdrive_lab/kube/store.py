"""The lab cluster's object store: what etcd plus the generic apiserver registry do.

One global, monotonically increasing resourceVersion (as etcd's revision), deep copies in and
out, optimistic concurrency on ``metadata.resourceVersion``, generation bumps on spec changes,
status kept apart from the main resource, garbage collection through ownerReferences, and an
event history so that a watch from an older resourceVersion replays what it missed.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from irdrive_lab.kube import validation
from irdrive_lab.kube.errors import AlreadyExists, BadRequest, Conflict, Gone, not_found
from irdrive_lab.kube.resources import BY_KEY, Resource, lookup
from irdrive_lab.kube.selectors import make_matcher

Listener = Callable[[str, str, dict[str, Any]], None]
WatchEvent = tuple[str, dict[str, Any]]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # as apiserver's generateName uses


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Event:
    rv: int
    type: str
    resource: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """What counts for metadata.generation: everything but metadata, status and type info."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_rv(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    out["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return out


class Store:
    """Thread-safe object store. Controllers may hold ``lock`` across several writes."""

    def __init__(self, history: int = 2000) -> None:
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in BY_KEY}
        self._rv = 0
        self._history: deque[_Event] = deque(maxlen=history)
        self._compacted = 0  # events at or below this resourceVersion are no longer replayable
        self._listeners: list[Listener] = []
        self._closed = False
        # What the lab knows beside the API objects and never serves (e.g. the secret values a
        # pod started with, which the platform's database check logs in with).
        self.private: dict[str, Any] = {}
        for ns in SYSTEM_NAMESPACES:
            self.create("namespaces", {"metadata": {"name": ns}})

    # ---- reads -----------------------------------------------------------------------------
    def resource_version(self) -> str:
        with self.lock:
            return str(self._rv)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        res = lookup(resource)
        with self.lock:
            obj = self._objects[resource].get((self._ns(res, namespace), name))
            if obj is None:
                raise not_found(res.plural, name, res.group)
            return copy.deepcopy(obj)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        res = lookup(resource)
        matcher = make_matcher(label_selector, field_selector)
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for key, obj in sorted(self._objects[resource].items())
                if (not res.namespaced or not namespace or key[0] == namespace) and matcher(obj)
            ]
            return items, str(self._rv)

    # ---- writes ----------------------------------------------------------------------------
    def create(
        self, resource: str, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        res = lookup(resource)
        new = copy.deepcopy(obj)
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        meta = new.setdefault("metadata", {})
        with self.lock:
            if res.namespaced:
                meta["namespace"] = meta.get("namespace") or "default"
                if ("", meta["namespace"]) not in self._objects["namespaces"]:
                    raise not_found("namespaces", meta["namespace"])
            else:
                meta.pop("namespace", None)
            if not meta.get("name") and meta.get("generateName"):
                suffix = "".join(random.choices(_NAME_SUFFIX_CHARS, k=5))
                meta["name"] = f"{meta['generateName']}{suffix}"
            validation.prepare(res, new, None)
            key = _key(new)
            if key in self._objects[resource]:
                raise AlreadyExists(
                    f'{res.key} "{key[1]}" already exists',
                    name=key[1],
                    group=res.group,
                    kind=res.plural,
                )
            for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(field, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            if dry_run:
                return new
            self._commit("ADDED", resource, new, None)
            return copy.deepcopy(new)

    def update(
        self,
        resource: str,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
        check_rv: bool = True,
    ) -> dict[str, Any]:
        res = lookup(resource)
        new = copy.deepcopy(obj)
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        meta = new.setdefault("metadata", {})
        with self.lock:
            namespace = self._ns(res, meta.get("namespace") or "default")
            name = meta.get("name") or ""
            old = self._objects[resource].get((namespace, name))
            if old is None:
                raise not_found(res.plural, name, res.group)
            if namespace:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            self._check_rv(res, old, meta.get("resourceVersion"), check_rv)
            old_meta = old["metadata"]
            for field in ("uid", "creationTimestamp", "deletionTimestamp"):
                if field in old_meta:
                    meta[field] = old_meta[field]
            if res.has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            validation.prepare(res, new, old)
            changed_content = _content(new) != _content(old)
            meta["generation"] = old_meta.get("generation", 1) + (1 if changed_content else 0)
            meta["resourceVersion"] = old_meta.get("resourceVersion")
            if new == old or dry_run:
                return copy.deepcopy(new)
            self._commit("MODIFIED", resource, new, old)
            return copy.deepcopy(new)

    def update_status(
        self, resource: str, obj: dict[str, Any], *, check_rv: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        res = lookup(resource)
        meta = obj.get("metadata") or {}
        with self.lock:
            namespace = self._ns(res, meta.get("namespace") or "default")
            name = meta.get("name") or ""
            old = self._objects[resource].get((namespace, name))
            if old is None:
                raise not_found(res.plural, name, res.group)
            self._check_rv(res, old, meta.get("resourceVersion"), check_rv)
            new = copy.deepcopy(old)
            if obj.get("status") is None:
                new.pop("status", None)
            else:
                new["status"] = copy.deepcopy(obj["status"])
            if new == old or dry_run:
                return copy.deepcopy(new)
            self._commit("MODIFIED", resource, new, old)
            return copy.deepcopy(new)

    def delete(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
        propagation: str = "Background",
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
    ) -> dict[str, Any]:
        """Delete one object now and garbage-collect its dependents (unless ``Orphan``)."""
        res = lookup(resource)
        with self.lock:
            key = (self._ns(res, namespace), name)
            old = self._objects[resource].get(key)
            if old is None:
                raise not_found(res.plural, name, res.group)
            if precondition_uid and precondition_uid != old["metadata"]["uid"]:
                raise Conflict(
                    f'Operation cannot be fulfilled on {res.key} "{name}": Precondition failed: '
                    f"UID in precondition: {precondition_uid}, UID in object meta: "
                    f"{old['metadata']['uid']}",
                    name=name,
                    group=res.group,
                    kind=res.plural,
                )
            if precondition_rv:
                self._check_rv(res, old, precondition_rv, True)
            if dry_run:
                return copy.deepcopy(old)
            del self._objects[resource][key]
            gone = copy.deepcopy(old)
            self._commit("DELETED", resource, gone, old)
            if resource == "namespaces":
                self._delete_namespace_contents(name)
            self._collect_dependents(old, propagation)
            return copy.deepcopy(gone)

    def add_listener(self, fn: Listener) -> None:
        with self.lock:
            self._listeners.append(fn)

    def close(self) -> None:
        """Wake and end every open watch (server shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- watch -----------------------------------------------------------------------------
    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout: float | None = None,
        stop: threading.Event | None = None,
        heartbeat: bool = False,
    ) -> Iterator[WatchEvent]:
        """Events after ``resource_version``; without one, ADDED for every current object first.

        With ``heartbeat``, an idle watch yields ``("HEARTBEAT", {})`` about once a second, so a
        server can notice a client that went away.

        Checks the selectors and the version before returning, so a bad request raises here
        (BadRequest, or Gone when the version is older than the kept history).
        """
        res = lookup(resource)
        matcher = make_matcher(label_selector, field_selector)
        ns = namespace if res.namespaced and namespace else None
        with self.lock:
            if resource_version in (None, "", "0"):
                start = self._rv
                initial = [
                    ("ADDED", copy.deepcopy(obj))
                    for key, obj in sorted(self._objects[resource].items())
                    if (ns is None or key[0] == ns) and matcher(obj)
                ]
            else:
                try:
                    start = int(str(resource_version))
                except ValueError:
                    raise BadRequest(f"invalid resource version: {resource_version!r}") from None
                if start < self._compacted:
                    raise self._too_old(start)
                initial = []
        deadline = time.monotonic() + (timeout if timeout is not None else 1800.0)
        return self._stream(resource, ns, matcher, start, initial, deadline, stop, heartbeat)

    def _stream(
        self,
        resource: str,
        ns: str | None,
        matcher: Callable[[dict[str, Any]], bool],
        pos: int,
        initial: Sequence[WatchEvent],
        deadline: float,
        stop: threading.Event | None,
        heartbeat: bool = False,
    ) -> Iterator[WatchEvent]:
        yield from initial
        last_sent = time.monotonic()
        while True:
            expired = False
            with self._cond:
                if pos < self._compacted:
                    expired = True
                    pending: list[_Event] = []
                else:
                    pending = [e for e in self._history if e.rv > pos]
                if not pending and not expired:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._closed or (stop is not None and stop.is_set()):
                        return
                    self._cond.wait(min(remaining, 1.0))
            if expired:
                yield "ERROR", self._too_old(pos).to_status()
                return
            for event in pending:
                pos = event.rv
                out = self._translate(event, resource, ns, matcher)
                if out is not None:
                    last_sent = time.monotonic()
                    yield out
            if heartbeat and time.monotonic() - last_sent >= 1.0:
                last_sent = time.monotonic()
                yield "HEARTBEAT", {}
            if time.monotonic() >= deadline:
                return

    @staticmethod
    def _translate(
        event: _Event,
        resource: str,
        ns: str | None,
        matcher: Callable[[dict[str, Any]], bool],
    ) -> WatchEvent | None:
        """The event as this watch sees it: an update that leaves the selector is DELETED."""
        if event.resource != resource:
            return None
        if ns is not None and event.obj["metadata"].get("namespace") != ns:
            return None
        now_match = matcher(event.obj)
        if event.type != "MODIFIED":
            return (event.type, copy.deepcopy(event.obj)) if now_match else None
        was_match = event.old is not None and matcher(event.old)
        if now_match and not was_match:
            return "ADDED", copy.deepcopy(event.obj)
        if was_match and not now_match:
            return "DELETED", copy.deepcopy(event.obj)
        return ("MODIFIED", copy.deepcopy(event.obj)) if now_match else None

    def _too_old(self, rv: int) -> Gone:
        return Gone(f"too old resource version: {rv} ({self._compacted + 1})")

    # ---- internals -------------------------------------------------------------------------
    @staticmethod
    def _ns(res: Resource, namespace: str | None) -> str:
        return (namespace or "default") if res.namespaced else ""

    @staticmethod
    def _check_rv(res: Resource, old: dict[str, Any], rv: str | None, check: bool) -> None:
        if not check or not rv:
            return
        if str(rv) != old["metadata"].get("resourceVersion"):
            name = old["metadata"]["name"]
            raise Conflict(
                f'Operation cannot be fulfilled on {res.key} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                name=name,
                group=res.group,
                kind=res.plural,
            )

    def _commit(
        self, etype: str, resource: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Caller holds the lock. Stamp a new resourceVersion, store, record, notify."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if etype != "DELETED":
            self._objects[resource][_key(obj)] = obj
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        snapshot = copy.deepcopy(obj)
        self._history.append(_Event(self._rv, etype, resource, snapshot, old))
        self._cond.notify_all()
        for fn in list(self._listeners):
            fn(etype, resource, copy.deepcopy(snapshot))

    def _delete_namespace_contents(self, namespace: str) -> None:
        for resource, objects in self._objects.items():
            for key in [k for k in objects if k[0] == namespace]:
                if key in objects:
                    self.delete(resource, namespace, key[1], propagation="Background")

    def _collect_dependents(self, owner: dict[str, Any], propagation: str) -> None:
        uid = owner["metadata"]["uid"]
        for resource, objects in self._objects.items():
            for key, obj in list(objects.items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                if key not in objects:  # removed by an earlier cascade in this loop
                    continue
                if propagation == "Orphan":
                    new = copy.deepcopy(obj)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self._commit("MODIFIED", resource, new, obj)
                else:
                    self.delete(resource, key[0] or None, key[1], propagation="Background")
