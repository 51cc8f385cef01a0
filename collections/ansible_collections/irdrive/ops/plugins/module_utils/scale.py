# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Replicas and autoscalers (module scale): the replicas asked for, the HPA to create or keep.

Pure functions on the JSON dicts the Kubernetes API returns; ``rollout.RolloutClient`` makes
the calls.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError


def _flow_value(text: str) -> Any:
    """A mapping or list written inline: JSON, or YAML flow style (``{backend: 5}``, the form
    the documentation shows) where PyYAML is installed (always beside ansible-core)."""
    try:
        return json.loads(text)
    except ValueError as error:
        json_error = error
    try:
        import yaml
    except ImportError:
        raise InvalidInputError(f"replicas: not valid JSON: {json_error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = " ".join(str(error).split())
        raise InvalidInputError(f"replicas: not a valid mapping or list: {problem}") from None


# ---- replicas and autoscalers -----------------------------------------------------------------
def parse_replicas(value: Any) -> dict[str, int]:
    """Deployment name -> replicas, from a dict, a list of {name, replicas}, or "a=1,b=2"."""
    if value is None or value == "" or value == [] or value == {}:
        return {}
    pairs: list[tuple[Any, Any]]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            return parse_replicas(_flow_value(text))
        pairs = []
        for item in (p.strip() for p in text.split(",") if p.strip()):
            name, sep, count = item.partition("=")
            if not sep:
                raise InvalidInputError(f"replicas: expected name=replicas, got {item!r}")
            pairs.append((name.strip(), count.strip()))
    elif isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = []
        for item in value:
            if not isinstance(item, dict) or set(item) != {"name", "replicas"}:
                raise InvalidInputError(
                    f"replicas: each list item needs exactly name and replicas, got {item!r}"
                )
            pairs.append((item["name"], item["replicas"]))
    else:
        raise InvalidInputError(
            "replicas: expected a mapping of deployment to replicas or a list of {name, replicas}"
        )
    result: dict[str, int] = {}
    for name, count in pairs:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"replicas: deployment names must be strings, got {name!r}")
        number = _whole_number(count)
        if number is None or number < 0:
            raise InvalidInputError(
                f"replicas for {name} must be a whole number of at least 0, got {count!r}"
            )
        if name in result and result[name] != number:
            raise InvalidInputError(f"replicas: {name} is given twice")
        result[name] = number
    return result


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def hpa_spec(deployment: str, min_replicas: int, max_replicas: int, cpu_percent: int) -> dict:
    """The autoscaling/v2 spec ``kubectl autoscale --cpu-percent --min --max`` creates."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": cpu_percent},
                },
            }
        ],
    }


def hpa_summary(hpa: dict[str, Any] | None) -> dict[str, Any] | None:
    """Name, target, min, max and CPU percent of an HPA (None when there is none)."""
    if hpa is None:
        return None
    spec = hpa.get("spec") or {}
    cpu = None
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            cpu = (resource.get("target") or {}).get("averageUtilization")
    return {
        "name": (hpa.get("metadata") or {}).get("name"),
        "deployment": (spec.get("scaleTargetRef") or {}).get("name"),
        "min": spec.get("minReplicas", 1),
        "max": spec.get("maxReplicas"),
        "cpu_percent": cpu,
    }


def hpas_by_deployment(hpas: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for hpa in sorted(hpas, key=lambda h: str((h.get("metadata") or {}).get("name"))):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name"):
            found.setdefault(str(ref["name"]), hpa)
    return found


def spec_differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether any field of ``desired`` differs from ``current`` (extra fields are left alone)."""
    for key, value in desired.items():
        have = current.get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            if spec_differs(have, value):
                return True
        elif key == "minReplicas" and have is None:
            if value != 1:
                return True
        elif have != value:
            return True
    return False


# ---- bounded blast radius ---------------------------------------------------------------------
def replica_ceiling(current: int, max_factor: int, max_replicas: int) -> int:
    """The most replicas a run may set without force: ``max_factor`` times today's count (a
    deployment at 0 counts as 1), and never more than ``max_replicas``."""
    return min(max(current, 1) * max_factor, max_replicas)


def replica_refusals(
    wanted: dict[str, int], current: dict[str, int], max_factor: int, max_replicas: int
) -> list[str]:
    """One line per deployment whose asked replicas exceed its ceiling (scaling down, or to
    today's count, is never refused)."""
    refusals = []
    for name, want in wanted.items():
        have = current.get(name, 0)
        allowed = replica_ceiling(have, max_factor, max_replicas)
        if want > allowed and want > have:
            refusals.append(
                f"{name}: asked {want} replicas, allowed at most {allowed} (x{max_factor} of "
                f"today's {have}, at most {max_replicas})"
            )
    return refusals
