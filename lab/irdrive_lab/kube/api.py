"""Routing and semantics of the Kubernetes REST API over the store, independent of the socket.

``Api.handle(request)`` turns one request into a ``Response``: discovery documents
(``discovery``), CRUD with selectors and dry runs, the scale and status subresources, watches
(as an event iterator the transport streams), pod logs (``podlogs``) and metrics.k8s.io from
the simulation. Requests and responses are in ``request``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

from irdrive_lab.kube import discovery, openapi, tables
from irdrive_lab.kube import patch as patching
from irdrive_lab.kube.errors import BadRequest, MethodNotAllowed, NotFound, not_found
from irdrive_lab.kube.podlogs import PodLogs
from irdrive_lab.kube.request import Request, Response, Target, dry_run_param, flag, int_param
from irdrive_lab.kube.resources import GROUPS, Resource, find
from irdrive_lab.kube.selectors import make_matcher, selector_string
from irdrive_lab.kube.store import Store

DEFAULT_WATCH_TIMEOUT = 1800.0
METRICS_GROUP = "metrics.k8s.io"


class Api:
    def __init__(self, store: Store, sim: Any = None, server_address: str = "127.0.0.1") -> None:
        self.store = store
        self.sim = sim
        self.server_address = server_address
        self.stopping = threading.Event()
        self.pod_logs = PodLogs(store, sim, self.stopping)

    # ---- entry -----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return discovery.root_paths()
        head = parts[0]
        if head == "version" and len(parts) == 1:
            return Response(body=discovery.KUBE_VERSION)
        if head in ("healthz", "readyz", "livez"):
            return Response(text="ok", content_type="text/plain; charset=utf-8")
        if head == "openapi" and parts[1:2] == ["v3"]:
            doc = openapi.lookup(parts[2:])
            if doc is not None:
                return Response(body=doc)
        if head == "api":
            return self._route(req, "", parts[1:])
        if head == "apis":
            if len(parts) == 1:
                return Response(body=discovery.api_group_list())
            return self._route(req, parts[1], parts[2:])
        raise NotFound("the server could not find the requested resource")

    def _route(self, req: Request, group: str, rest: list[str]) -> Response:
        if group and group not in GROUPS:
            raise NotFound("the server could not find the requested resource")
        if not rest:
            if not group:
                return Response(body=discovery.api_versions(self.server_address))
            return Response(body=discovery.api_group(group))
        version, rest = rest[0], rest[1:]
        if GROUPS.get(group, ("",))[0] != version:
            raise NotFound("the server could not find the requested resource")
        if not rest:
            return Response(body=discovery.resource_list(group, version))
        target = self._target(group, version, rest)
        if group == METRICS_GROUP:
            return self._metrics(req, target)
        return self._resource(req, target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = find(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        res = find(group, version, rest[0])
        if res is None or len(rest) > 3:
            raise NotFound("the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in res.subresources:
            raise NotFound("the server could not find the requested resource")
        return Target(res, namespace if res.namespaced else None, name, sub)

    # ---- resources -------------------------------------------------------------------------
    def _resource(self, req: Request, t: Target) -> Response:
        if t.sub == "log":
            if req.method != "GET":
                raise MethodNotAllowed("the server does not allow this method on pods/log")
            return self.pod_logs.response(req, t)
        if t.sub == "scale":
            return self._scale(req, t)
        method = req.method
        if method == "GET":
            if t.name is None:
                if flag(req.query, "watch"):
                    return self._watch(req, t)
                return self._list(req, t)
            obj = self.store.get(t.res.key, t.namespace, t.name)
            return self._object_response(req, t, obj)
        dry_run = dry_run_param(req)
        if method == "POST":
            if t.name is not None:
                raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}")
            obj = self._body_object(req, t)
            created = self.store.create(t.res.key, obj, dry_run=dry_run)
            return Response(status=201, body=created)
        if method == "PUT":
            if t.name is None:
                raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}")
            obj = self._body_object(req, t)
            if t.sub == "status":
                return Response(
                    body=self.store.update_status(t.res.key, obj, check_rv=True, dry_run=dry_run)
                )
            return Response(body=self.store.update(t.res.key, obj, dry_run=dry_run))
        if method == "PATCH":
            if t.name is None:
                raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}")
            return Response(body=self._patch(req, t, dry_run))
        if method == "DELETE":
            return self._delete(req, t, dry_run)
        raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}")

    def _object_response(self, req: Request, t: Target, obj: dict[str, Any]) -> Response:
        if req.wants_table:
            rv = obj["metadata"].get("resourceVersion", "")
            table = tables.to_table(
                t.res.key, [obj], rv, req.query.get("includeObject", "Metadata")
            )
            return Response(body=table)
        return Response(body=obj)

    def _body_object(self, req: Request, t: Target) -> dict[str, Any]:
        obj = req.json_body()
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        kind = obj.get("kind")
        if kind and kind != t.res.kind:
            raise BadRequest(f"the body kind {kind!r} does not match the resource {t.res.kind!r}")
        meta = obj.setdefault("metadata", {})
        if t.res.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and t.namespace and body_ns != t.namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            meta["namespace"] = body_ns or t.namespace or "default"
        if t.name is not None:
            if meta.get("name") and meta["name"] != t.name:
                raise BadRequest(
                    "the name of the object "
                    f"({meta['name']}) does not match the name on the URL ({t.name})"
                )
            meta["name"] = t.name
        return obj

    def _list(self, req: Request, t: Target) -> Response:
        items, rv = self.store.list(
            t.res.key, t.namespace, req.query.get("labelSelector"), req.query.get("fieldSelector")
        )
        items, cont = self._page(req, items, rv)
        if req.wants_table:
            table = tables.to_table(
                t.res.key, items, rv, req.query.get("includeObject", "Metadata")
            )
            if cont:
                table["metadata"]["continue"] = cont
            return Response(body=table)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if cont:
            meta["continue"] = cont
        return Response(
            body={
                "kind": t.res.list_kind,
                "apiVersion": t.res.api_version,
                "metadata": meta,
                "items": items,
            }
        )

    @staticmethod
    def _page(req: Request, items: list[dict[str, Any]], rv: str) -> tuple[list[Any], str]:
        """``limit``/``continue``: the token carries the offset into the sorted list."""
        start = 0
        if req.query.get("continue"):
            try:
                start = int(json.loads(base64.b64decode(req.query["continue"]))["start"])
            except (ValueError, KeyError, TypeError):
                raise BadRequest("continue key is not valid") from None
        limit = int_param(req.query, "limit") or 0
        end = start + limit if limit > 0 else len(items)
        page = items[start:end]
        cont = ""
        if end < len(items):
            cont = base64.b64encode(json.dumps({"rv": rv, "start": end}).encode()).decode()
        return page, cont

    def _watch(self, req: Request, t: Target) -> Response:
        timeout = int_param(req.query, "timeoutSeconds")
        events = self.store.watch(
            t.res.key,
            t.namespace,
            req.query.get("resourceVersion"),
            req.query.get("labelSelector"),
            req.query.get("fieldSelector"),
            float(timeout) if timeout is not None else DEFAULT_WATCH_TIMEOUT,
            stop=self.stopping,
            heartbeat=True,
        )
        as_table = req.wants_table
        include = req.query.get("includeObject", "Metadata")

        def encode() -> Iterator[bytes]:
            first = True
            for etype, obj in events:
                if etype == "HEARTBEAT":
                    yield b""  # lets the transport check that the client is still there
                    continue
                if as_table and etype != "ERROR":
                    rv = obj["metadata"].get("resourceVersion", "")
                    obj = tables.to_table(t.res.key, [obj], rv, include, with_headers=first)
                    first = False
                yield (json.dumps({"type": etype, "object": obj}) + "\n").encode()

        return Response(stream=encode())

    def _patch(self, req: Request, t: Target, dry_run: bool) -> dict[str, Any]:
        body = req.json_body()
        with self.store.lock:
            current = self.store.get(t.res.key, t.namespace, t.name or "")
            patched = patching.apply_patch(req.content_type, current, body)
            meta = patched.setdefault("metadata", {})
            if meta.get("name") != current["metadata"]["name"] or (
                t.res.namespaced and meta.get("namespace") != current["metadata"]["namespace"]
            ):
                raise BadRequest("a patch cannot change the name or namespace of an object")
            if t.sub == "status":
                return self.store.update_status(t.res.key, patched, check_rv=True, dry_run=dry_run)
            return self.store.update(t.res.key, patched, dry_run=dry_run)

    def _delete(self, req: Request, t: Target, dry_run: bool) -> Response:
        options: dict[str, Any] = {}
        if req.body:
            parsed = req.json_body()
            options = parsed if isinstance(parsed, dict) else {}
        if "All" in (options.get("dryRun") or []):
            dry_run = True
        propagation = options.get("propagationPolicy") or req.query.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            propagation = "Orphan"
        propagation = propagation or "Background"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise BadRequest(f"unsupported propagationPolicy {propagation!r}")
        pre = options.get("preconditions") or {}
        if t.name is None:
            return self._delete_collection(req, t, dry_run, propagation)
        if t.sub is not None:
            raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}/{t.sub}")
        gone = self.store.delete(
            t.res.key,
            t.namespace,
            t.name,
            dry_run=dry_run,
            propagation=propagation,
            precondition_uid=pre.get("uid"),
            precondition_rv=pre.get("resourceVersion"),
        )
        if t.res.key in ("pods", "namespaces"):
            return Response(body=gone)
        return Response(body=self._success(t.res, gone))

    def _delete_collection(
        self, req: Request, t: Target, dry_run: bool, propagation: str
    ) -> Response:
        if "deletecollection" not in t.res.verbs:
            raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}")
        with self.store.lock:
            items, _ = self.store.list(
                t.res.key,
                t.namespace,
                req.query.get("labelSelector"),
                req.query.get("fieldSelector"),
            )
            gone = []
            for obj in items:
                meta = obj["metadata"]
                try:
                    gone.append(
                        self.store.delete(
                            t.res.key,
                            meta.get("namespace"),
                            meta["name"],
                            dry_run=dry_run,
                            propagation=propagation,
                        )
                    )
                except NotFound:
                    continue  # collected by an earlier cascade
            rv = self.store.resource_version()
        return Response(
            body={
                "kind": t.res.list_kind,
                "apiVersion": t.res.api_version,
                "metadata": {"resourceVersion": rv},
                "items": gone,
            }
        )

    @staticmethod
    def _success(res: Resource, gone: dict[str, Any]) -> dict[str, Any]:
        meta = gone.get("metadata") or {}
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": meta.get("name"),
                "group": res.group,
                "kind": res.plural,
                "uid": meta.get("uid"),
            },
        }

    # ---- scale -----------------------------------------------------------------------------
    def _scale_of(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_string((obj.get("spec") or {}).get("selector")),
            },
        }

    def _scale(self, req: Request, t: Target) -> Response:
        name = t.name or ""
        if req.method == "GET":
            return Response(body=self._scale_of(self.store.get(t.res.key, t.namespace, name)))
        if req.method not in ("PUT", "PATCH"):
            raise MethodNotAllowed(f"the server does not allow this method on {t.res.key}/scale")
        dry_run = dry_run_param(req)
        with self.store.lock:
            current = self.store.get(t.res.key, t.namespace, name)
            scale = self._scale_of(current)
            if req.method == "PUT":
                wanted = req.json_body()
                if not isinstance(wanted, dict):
                    raise BadRequest("the request body must be a Scale object")
            else:
                wanted = patching.apply_patch(req.content_type, scale, req.json_body())
            replicas = (wanted.get("spec") or {}).get("replicas", 0)
            current["spec"]["replicas"] = replicas
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            current["metadata"]["resourceVersion"] = rv or current["metadata"]["resourceVersion"]
            updated = self.store.update(t.res.key, current, dry_run=dry_run)
        return Response(body=self._scale_of(updated))

    # ---- metrics.k8s.io --------------------------------------------------------------------
    def _metrics(self, req: Request, t: Target) -> Response:
        if req.method != "GET":
            raise MethodNotAllowed("metrics.k8s.io is read-only")
        if t.res.plural == "pods":
            items = list(self.sim.pod_metrics(t.namespace) if self.sim is not None else [])
        else:
            items = list(self.sim.node_metrics() if self.sim is not None else [])
        if t.name is not None:
            for item in items:
                if item.get("metadata", {}).get("name") == t.name:
                    return Response(body=item)
            raise not_found(t.res.plural, t.name, METRICS_GROUP)
        matcher = make_matcher(req.query.get("labelSelector"), req.query.get("fieldSelector"))
        items = [i for i in items if matcher(i)]
        return Response(
            body={
                "kind": f"{t.res.kind}List",
                "apiVersion": t.res.api_version,
                "metadata": {},
                "items": items,
            }
        )
