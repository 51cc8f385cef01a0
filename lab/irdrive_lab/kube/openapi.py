"""A minimal ``/openapi/v3``: enough for kubectl to see that the server validates fields.

kubectl apply/create/replace (``--validate=strict``, the default) look up in OpenAPI v3
whether the PATCH operation of a kind takes the ``fieldValidation`` query parameter; if so
they leave validation to the server, otherwise they download the full OpenAPI v2 schema and
fail without it. The documents here list, per resource, the operations with that parameter
and the ``x-kubernetes-group-version-kind`` extension, and no schemas: kubectl then computes
strategic merge patches from its compiled-in types, as it does for any built-in kind.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from irdrive_lab.kube.resources import GROUPS, Resource

_QUERY = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operation(res: Resource, verb: str) -> dict[str, Any]:
    return {
        "operationId": f"{verb}{res.kind}",
        "parameters": _QUERY,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": res.group,
            "version": res.version,
            "kind": res.kind,
        },
    }


def group_version_doc(group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for res in GROUPS[group][1]:
        if "patch" not in res.verbs:
            continue
        ns = "/namespaces/{namespace}" if res.namespaced else ""
        base = f"/{_gv_path(group, version)}{ns}/{res.plural}"
        paths[base] = {"post": _operation(res, "post")}
        paths[base + "/{name}"] = {
            "get": _operation(res, "get"),
            "put": _operation(res, "put"),
            "patch": _operation(res, "patch"),
            "delete": _operation(res, "delete"),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.2"},
        "paths": paths,
        "components": {},
    }


def root_doc() -> dict[str, Any]:
    paths = {}
    for group, (version, _) in GROUPS.items():
        doc = json.dumps(group_version_doc(group, version), sort_keys=True).encode()
        digest = hashlib.sha512(doc).hexdigest()[:64].upper()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def lookup(rest: list[str]) -> dict[str, Any] | None:
    """The document for ``/openapi/v3/<rest>``, or None when there is none."""
    if not rest:
        return root_doc()
    if rest[0] == "api" and rest[1:] == ["v1"]:
        return group_version_doc("", "v1")
    if rest[0] == "apis" and len(rest) == 3 and GROUPS.get(rest[1], ("",))[0] == rest[2]:
        return group_version_doc(rest[1], rest[2])
    return None
