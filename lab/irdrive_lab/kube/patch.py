"""The three patch types kube-apiserver accepts on PATCH.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null`` deletes,
  lists are replaced.
- Strategic merge patch (``application/strategic-merge-patch+json``): like a merge patch, but
  lists of the Kubernetes types that declare a patch merge key (containers by ``name``, env by
  ``name``, container ports by ``containerPort``, ...) are merged item by item, and the
  ``$patch``, ``$setElementOrder/<list>``, ``$retainKeys`` and ``$deleteFromPrimitiveList/<list>``
  directives that kubectl sends are honoured.
- JSON patch (RFC 6902, ``application/json-patch+json``) through the ``jsonpatch`` package.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from irdrive_lab.kube.errors import BadRequest, Invalid, UnsupportedMediaType

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Field name -> patch merge key, for the lists of the types the lab serves. ``ports`` is
# resolved by content: container ports merge on containerPort, service ports on port.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of scalars whose patch strategy is merge (set union) rather than replace.
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})

_DIRECTIVE = "$patch"
_ORDER_PREFIX = "$setElementOrder/"
_DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"
_RETAIN_KEYS = "$retainKeys"


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: the result of applying ``patch`` to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        for item in items:
            if isinstance(item, dict):
                return "containerPort" if "containerPort" in item else "port"
        return None
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch; ``target`` is not modified."""
    if not isinstance(patch, dict):
        raise BadRequest("strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, dict) else {}, patch)


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise BadRequest(f"unknown patch directive {directive!r}")
    result = copy.deepcopy(target)
    retain = patch.get(_RETAIN_KEYS)
    orders: dict[str, list[Any]] = {}
    deletions: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if key.startswith(_ORDER_PREFIX):
            orders[key[len(_ORDER_PREFIX) :]] = value or []
            continue
        if key.startswith(_DELETE_PRIMITIVE_PREFIX):
            deletions[key[len(_DELETE_PRIMITIVE_PREFIX) :]] = value or []
            continue
        if key.startswith("$"):
            raise BadRequest(f"unknown patch directive {key!r}")
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value)
            result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(key, current if isinstance(current, list) else [], value)
        else:
            result[key] = value
    for key, values in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _apply_order(key, result[key], order)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(p, dict) and p.get(_DIRECTIVE) == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and _DIRECTIVE in p)]
    if field in MERGED_PRIMITIVE_LISTS:
        merged = list(current)
        merged += [p for p in patch if p not in merged]
        return merged
    key = _merge_key(field, patch + current)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return copy.deepcopy(patch)
    result = copy.deepcopy(current)
    for item in patch:
        if key not in item:
            raise BadRequest(f"map in list {field!r} has no merge key {key!r}: {item!r}")
        index = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(key) == item[key]
            ),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_merge_map({}, item))
        else:
            result[index] = _merge_map(result[index], item)
    return result


def _apply_order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """Order ``items`` as ``$setElementOrder`` says; items not named keep their place after."""
    key = _merge_key(field, items)

    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = [i for w in wanted for i in items if ident(i) == w]
    rest = [i for i in items if ident(i) not in wanted]
    return ranked + rest


def json_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, list):
        raise BadRequest("json patch must be a JSON array of operations")
    try:
        return jsonpatch.JsonPatch(patch).apply(copy.deepcopy(target))
    except jsonpatch.InvalidJsonPatch as exc:
        raise BadRequest(f"invalid json patch: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise Invalid(f"the json patch could not be applied: {exc}") from None


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Dispatch on the request's Content-Type (parameters such as charset are ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == MERGE_PATCH:
        result = json_merge_patch(target, patch)
    elif media == STRATEGIC_MERGE_PATCH:
        result = strategic_merge_patch(target, patch)
    elif media == JSON_PATCH:
        result = json_patch(target, patch)
    elif media == APPLY_PATCH:
        raise UnsupportedMediaType(
            "server-side apply (application/apply-patch+yaml) is not supported by the lab; "
            "use client-side apply (kubectl apply without --server-side)"
        )
    else:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}"
        )
    if not isinstance(result, dict):
        raise BadRequest("the patch did not result in an object")
    return result
