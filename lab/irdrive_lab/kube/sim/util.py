"""Small helpers shared by the simulated controllers: times, quantities, hashes, owners."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

# The alphabet apimachinery's rand.String and rand.SafeEncodeString use (no vowels, no 0/1/3).
SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ENV_ANNOTATION = "lab.irdrive.io/env"

# Deployment annotations the deployment controller does not copy to its ReplicaSets.
SKIPPED_ANNOTATIONS = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS}
)


# ---- time --------------------------------------------------------------------------------
def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    nanos = int(round((ts - math.floor(ts)) * 1e9)) % 1_000_000_000
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# ---- quantities --------------------------------------------------------------------------
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity ("250m", "1", "512Mi", "1G") as a plain number (cores or bytes)."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text and text[-1] in _DECIMAL and not text[-1].isdigit():
        return float(text[:-1]) * _DECIMAL[text[-1]]
    return float(text)


def cpu_nanos(cores: float) -> str:
    """CPU as metrics-server reports it: integer nanocores, e.g. ``"12034567n"``."""
    return f"{max(int(cores * 1e9), 0)}n"


def mem_ki(num_bytes: float) -> str:
    """Memory as metrics-server reports it: integer KiB, e.g. ``"65536Ki"``."""
    return f"{max(int(num_bytes // 1024), 0)}Ki"


def resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """apimachinery's GetScaledValueFromIntOrPercent."""
    if value is None:
        value = "25%"
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        scaled = int(text[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(text)


# ---- hashing and names -------------------------------------------------------------------
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """apimachinery's rand.SafeEncodeString: map each character into SAFE_CHARS."""
    return "".join(SAFE_CHARS[ord(ch) % len(SAFE_CHARS)] for ch in text)


def template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != HASH_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    out = dict(template)
    out["metadata"] = meta
    return out


def pod_template_hash(template: dict[str, Any], collision_count: int = 0) -> str:
    """Like controller.ComputeHash: FNV-32a of the template (+ collision count), safe-encoded."""
    canonical = json.dumps(
        semantic(template_without_hash(template)), sort_keys=True, separators=(",", ":")
    )
    data = canonical.encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def semantic(value: Any) -> Any:
    """Drop nulls and empty maps and lists, as apimachinery's Semantic.DeepEqual ignores them."""
    if isinstance(value, dict):
        pruned = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def equal_ignore_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Like deploymentutil.EqualIgnoreHash: templates equal apart from pod-template-hash."""
    return semantic(template_without_hash(a)) == semantic(template_without_hash(b))


def random_suffix(n: int = 5) -> str:
    return "".join(random.choices(SAFE_CHARS, k=n))


def stable_fraction(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the given parts."""
    return fnv32a("|".join(str(p) for p in parts).encode()) / 2**32


# ---- object helpers ----------------------------------------------------------------------
def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


def controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def revision_of(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def get_condition(status: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def pod_is_ready(pod: dict[str, Any]) -> bool:
    cond = get_condition(pod.get("status") or {}, "Ready")
    return bool(cond and cond.get("status") == "True")
