# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Pure logic of the platform's kill-switch ConfigMap.

The ConfigMap holds one key per feature valued ``enabled`` or ``disabled`` and a ``history``
key: a JSON list of ``{switch, from, to, reason, actor, at}`` (newest last, ``HISTORY_LIMIT``
kept).  ``plan_change`` computes the keys to write; setting a switch to the value it already has
writes nothing and adds no history, and so does a re-run with an idempotency key already in the
history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)

HISTORY_KEY = "history"
HISTORY_LIMIT = 100
ENABLED = "enabled"
DISABLED = "disabled"
VALUES = (ENABLED, DISABLED)
ALL = "all"


@dataclass
class SwitchPlan:
    """What setting the switches means for the ConfigMap's data."""

    names: list[str]
    before: dict[str, str]
    after: dict[str, str]
    entries: list[dict[str, Any]] = field(default_factory=list)
    patch: dict[str, str] = field(default_factory=dict)
    replayed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.patch)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_switches(data: dict[str, str]) -> dict[str, str]:
    """Every switch and its value: all keys except ``history``."""
    return {key: value for key, value in sorted(data.items()) if key != HISTORY_KEY}


def read_history(data: dict[str, str]) -> list[dict[str, Any]]:
    raw = data.get(HISTORY_KEY)
    if not raw:
        return []
    try:
        history = json.loads(raw)
    except ValueError as error:
        raise InvalidStateError(f"kill-switch history is not valid JSON: {error}") from error
    if not isinstance(history, list):
        raise InvalidStateError("kill-switch history is not a JSON list")
    return history


def resolve_names(data: dict[str, str], names: list[str]) -> list[str]:
    """Expand ``all`` and check every name; unknown names fail, listing the known ones."""
    known = list(read_switches(data))
    if not names:
        raise InvalidInputError("no kill switch named")
    if ALL in names:
        if len(names) > 1:
            raise InvalidInputError("'all' cannot be combined with switch names")
        return known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise NotFoundError(
            f"unknown kill switch {', '.join(sorted(unknown))}; known switches: "
            f"{', '.join(known) or '(none)'}",
            unknown=sorted(unknown),
            known=known,
        )
    return list(dict.fromkeys(names))


def plan_change(
    data: dict[str, str],
    names: list[str],
    state: str,
    reason: str | None,
    actor: str,
    at: str,
    idempotency_key: str | None = None,
) -> SwitchPlan:
    """The keys to write to set ``names`` to ``state`` (``enabled`` or ``disabled``)."""
    if state not in VALUES:
        raise InvalidInputError(f"state must be one of {', '.join(VALUES)}, not {state!r}")
    if state == DISABLED and not (reason or "").strip():
        raise InvalidInputError("a reason is required to disable a kill switch")
    targets = resolve_names(data, names)
    switches = read_switches(data)
    history = read_history(data)
    before = {name: switches[name] for name in targets}
    if idempotency_key and any(
        isinstance(e, dict) and e.get("idempotency_key") == idempotency_key for e in history
    ):
        return SwitchPlan(targets, before, dict(switches), replayed=True)
    entries = []
    for name in targets:
        if switches[name] == state:
            continue
        entry: dict[str, Any] = {
            "switch": name,
            "from": switches[name],
            "to": state,
            "reason": reason or "",
            "actor": actor,
            "at": at,
        }
        if idempotency_key:
            entry["idempotency_key"] = idempotency_key
        entries.append(entry)
    after = dict(switches)
    after.update({entry["switch"]: state for entry in entries})
    patch: dict[str, str] = {}
    if entries:
        patch = {entry["switch"]: state for entry in entries}
        patch[HISTORY_KEY] = json.dumps((history + entries)[-HISTORY_LIMIT:])
    return SwitchPlan(targets, before, after, entries, patch)
