# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Drift between desired manifests and live objects, as ``kubectl diff -f`` shows it.

Only the fields a manifest sets are compared: the live object is projected onto the shape of
the desired one (mapping keys the manifest sets; list items by position), so fields defaulted
or managed by the server (status, uid, resourceVersion, managedFields, annotations such as the
deployment revision) never count as drift unless the manifest sets them. Secret values are
never shown: both sides show ``<redacted>``, and a differing value ``<redacted: differs>``.
"""

from __future__ import annotations

import difflib
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    MissingLibrary,
)

# PyYAML comes with ansible-core on the controller, not on every host.
try:
    import yaml

    YAML_IMPORT_ERROR: str | None = None
except ImportError as _import_error:  # require_yaml raises MissingLibrary
    YAML_IMPORT_ERROR = str(_import_error)

#: Metadata the API server manages; ignored even when a manifest sets it.
SERVER_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "ownerReferences",
    }
)
REDACTED = "<redacted>"
REDACTED_DIFFERS = "<redacted: differs>"
SECRET_FIELDS = ("data", "stringData")


def require_yaml(reason: str) -> None:
    """Raise MissingLibrary (reported with ``missing_required_lib``) without PyYAML."""
    if YAML_IMPORT_ERROR is not None:
        raise MissingLibrary("PyYAML", reason, YAML_IMPORT_ERROR)


def dump_yaml(data: Any, sort_keys: bool = False) -> str:
    """``data`` as block-style YAML (libyaml's dumper when there, much faster)."""
    require_yaml("to write YAML")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        data, Dumper=dumper, default_flow_style=False, sort_keys=sort_keys, allow_unicode=True
    )


def load_manifests(text: str, source: str) -> list[dict[str, Any]]:
    """The objects of one YAML/JSON file (multi-document; ``kind: List`` expanded)."""
    require_yaml("to read manifests")
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise InvalidInputError(f"{source}: not valid YAML: {error}") from None
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InvalidInputError(f"{source}: a document is not a mapping")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(item for item in doc["items"] if isinstance(item, dict))
            continue
        objects.append(doc)
    for obj in objects:
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise InvalidInputError(f"{source}: an object has no apiVersion or kind")
        if not (obj.get("metadata") or {}).get("name"):
            raise InvalidInputError(f"{source}: a {obj['kind']} has no metadata.name")
    return objects


def desired_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The manifest without status and server-managed metadata."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    out["metadata"] = meta
    return out


def project(live: Any, desired: Any) -> Any:
    """``live`` reduced to the fields ``desired`` sets (recursively)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return {k: project(live[k], v) for k, v in desired.items() if k in live}
    if isinstance(desired, list) and isinstance(live, list):
        out = []
        for i, item in enumerate(live):
            out.append(project(item, desired[i]) if i < len(desired) else item)
        return out
    return live


def redact_secret(desired: dict[str, Any], live: dict[str, Any] | None) -> tuple[dict, dict | None]:
    """Copies of a Secret's desired and live shapes with every value replaced."""
    desired = dict(desired)
    live = dict(live) if live is not None else None
    for field in SECRET_FIELDS:
        want = desired.get(field)
        have = (live or {}).get(field) if live is not None else None
        if isinstance(want, dict):
            desired[field] = dict.fromkeys(want, REDACTED)
        if live is not None and isinstance(have, dict):
            live[field] = {
                key: REDACTED if (want or {}).get(key) == value else REDACTED_DIFFERS
                for key, value in have.items()
            }
    return desired, live


def _yaml(obj: Any) -> list[str]:
    text = dump_yaml(obj, sort_keys=True)
    return text.splitlines(keepends=True)


def object_ref(obj: dict[str, Any], default_namespace: str) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {
        "api_version": str(obj["apiVersion"]),
        "kind": str(obj["kind"]),
        "namespace": str(meta.get("namespace") or default_namespace),
        "name": str(meta["name"]),
    }


def compare(
    desired_obj: dict[str, Any], live_obj: dict[str, Any] | None, label: str
) -> dict[str, Any]:
    """One object's drift: ``in_sync``, ``drifted`` or ``missing``, with a unified diff.

    As in ``kubectl diff``, ``-`` lines are the live object and ``+`` lines what the manifest
    would make of it.
    """
    desired = desired_fields(desired_obj)
    live = project(live_obj, desired) if live_obj is not None else None
    if desired_obj.get("kind") == "Secret":
        desired, live = redact_secret(desired, live)
    if live is None:
        diff = "".join(
            difflib.unified_diff([], _yaml(desired), f"live/{label}", f"desired/{label}")
        )
        return {"status": "missing", "diff": diff}
    diff = "".join(
        difflib.unified_diff(_yaml(live), _yaml(desired), f"live/{label}", f"desired/{label}")
    )
    return {"status": "drifted" if diff else "in_sync", "diff": diff}
