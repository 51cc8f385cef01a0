"""Routing and semantics of the Kubernetes REST API over the store, independent of the socket.

``Api.handle(request)`` turns one request into a ``Response``: discovery documents, CRUD with
selectors and dry runs, the scale/status/log subresources, watches (as an event iterator the
transport streams) and metrics.k8s.io from the simulation.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from irdrive_lab.kube import openapi, tables
from irdrive_lab.kube import patch as patching
from irdrive_lab.kube.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
    not_found,
)
from irdrive_lab.kube.resources import GROUPS, Resource, find
from irdrive_lab.kube.selectors import make_matcher, selector_string
from irdrive_lab.kube.store import Store

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.2",
    "gitCommit": "67a30c0adcf52bd3f56ff0893ce19966be12991f",
    "gitTreeState": "clean",
    "buildDate": "2025-02-12T21:19:47Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
DEFAULT_WATCH_TIMEOUT = 1800.0
LOG_FOLLOW_LIMIT = 600.0
METRICS_GROUP = "metrics.k8s.io"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    content_type: str = ""
    accept: str = ""

    @property
    def wants_table(self) -> bool:
        return "as=Table" in self.accept.replace(" ", "")

    @property
    def dry_run(self) -> bool:
        """``dryRun=All`` in the query, or in the DeleteOptions body of a DELETE."""
        if "All" in self.query.get("dryRun", "").split(","):
            return True
        if self.method == "DELETE" and self.body:
            try:
                options = json.loads(self.body)
            except ValueError:
                return False
            return isinstance(options, dict) and "All" in (options.get("dryRun") or [])
        return False

    def json_body(self) -> Any:
        if not self.body:
            raise BadRequest("the request has no body")
        media = self.content_type.split(";", 1)[0].strip().lower()
        if "protobuf" in media or "cbor" in media:
            raise UnsupportedMediaType(
                f"the lab's API accepts JSON bodies only, not {media}; for kubectl create "
                "<kind>, use: kubectl create ... --dry-run=client -o yaml | kubectl apply -f -"
            )
        if media in ("application/yaml", "application/apply-patch+yaml"):
            try:
                return yaml.safe_load(self.body)
            except yaml.YAMLError as exc:
                raise BadRequest(f"the request body is not valid YAML: {exc}") from None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    text: str | None = None
    # A stream is sent with chunked transfer encoding, one chunk per item.
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    """A parsed resource path: /api/v1/namespaces/ns/pods/name/log and the like."""

    res: Resource
    namespace: str | None
    name: str | None
    sub: str | None


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {value!r}") from None


class Api:
    def __init__(self, store: Store, sim: Any = None, server_address: str = "127.0.0.1") -> None:
        self.store = store
        self.sim = sim
        self.server_address = server_address
        self.stopping = threading.Event()

    # ---- entry -----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return self._paths()
        head = parts[0]
        if head == "version" and len(parts) == 1:
            return Response(body=KUBE_VERSION)
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
                return Response(body=self._group_list())
            return self._route(req, parts[1], parts[2:])
        raise NotFound("the server could not find the requested resource")

    def _route(self, req: Request, group: str, rest: list[str]) -> Response:
        if group and group not in GROUPS:
            raise NotFound("the server could not find the requested resource")
        if not rest:
            if not group:
                return Response(
                    body={
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": self._cidrs(),
                    }
                )
            return Response(body=self._group(group))
        version, rest = rest[0], rest[1:]
        if GROUPS.get(group, ("",))[0] != version:
            raise NotFound("the server could not find the requested resource")
        if not rest:
            return Response(body=self._resource_list(group, version))
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

    # ---- discovery -------------------------------------------------------------------------
    def _paths(self) -> Response:
        paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
        for group, (version, _) in GROUPS.items():
            if group:
                paths += [f"/apis/{group}", f"/apis/{group}/{version}"]
        return Response(body={"paths": sorted(paths)})

    def _cidrs(self) -> list[dict[str, str]]:
        return [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}]

    def _group(self, group: str) -> dict[str, Any]:
        version = GROUPS[group][0]
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": [gv],
            "preferredVersion": gv,
        }

    def _group_list(self) -> dict[str, Any]:
        groups = [self._group(g) for g in GROUPS if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for res in GROUPS[group][1]:
            entry: dict[str, Any] = {
                "name": res.plural,
                "singularName": res.singular or res.plural[:-1],
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": list(res.verbs),
            }
            if res.short_names:
                entry["shortNames"] = list(res.short_names)
            if res.categories:
                entry["categories"] = list(res.categories)
            entries.append(entry)
            for sub, (kind, verbs) in sorted(res.subresources.items()):
                sub_entry: dict[str, Any] = {
                    "name": f"{res.plural}/{sub}",
                    "singularName": "",
                    "namespaced": res.namespaced,
                    "kind": kind,
                    "verbs": list(verbs),
                }
                if sub == "scale":
                    sub_entry.update(group="autoscaling", version="v1")
                entries.append(sub_entry)
        gv = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": entries,
        }

    # ---- resources -------------------------------------------------------------------------
    def _resource(self, req: Request, t: Target) -> Response:
        if t.sub == "log":
            if req.method != "GET":
                raise MethodNotAllowed("the server does not allow this method on pods/log")
            return self._logs(req, t)
        if t.sub == "scale":
            return self._scale(req, t)
        method = req.method
        if method == "GET":
            if t.name is None:
                if _flag(req.query, "watch"):
                    return self._watch(req, t)
                return self._list(req, t)
            obj = self.store.get(t.res.key, t.namespace, t.name)
            return self._object_response(req, t, obj)
        dry_run = self._dry_run(req)
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

    def _dry_run(self, req: Request) -> bool:
        values = [v for v in req.query.get("dryRun", "").split(",") if v]
        if not values:
            return False
        if values != ["All"]:
            raise BadRequest(f"Invalid dry run value: {req.query['dryRun']!r} (only All is valid)")
        return True

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
        limit = _int_param(req.query, "limit") or 0
        end = start + limit if limit > 0 else len(items)
        page = items[start:end]
        cont = ""
        if end < len(items):
            cont = base64.b64encode(json.dumps({"rv": rv, "start": end}).encode()).decode()
        return page, cont

    def _watch(self, req: Request, t: Target) -> Response:
        timeout = _int_param(req.query, "timeoutSeconds")
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
        dry_run = self._dry_run(req)
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

    # ---- logs ------------------------------------------------------------------------------
    def _logs(self, req: Request, t: Target) -> Response:
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
        tail = _int_param(req.query, "tailLines")
        since = _int_param(req.query, "sinceSeconds")
        timestamps = _flag(req.query, "timestamps")
        previous = _flag(req.query, "previous")
        text = self._pod_logs(pod, container, tail, since, timestamps, previous)
        if not _flag(req.query, "follow"):
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
