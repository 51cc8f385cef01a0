# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The verification of the rotate_secrets role (P0 Security Breach, credential rotation).

``rotate_secrets_verify`` reads the registered results of every part of a rotation and names
each part that did not prove its result: a secret version that is not AWSCURRENT or was not
tested, an IAM user holding another key than the tested one, a Kubernetes Secret without the
rotation id, a consumer not available on its restarted template, sessions still active.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.plugins.filter.core import to_bool


def _ran(result: Mapping[str, Any]) -> bool:
    """A registered result of a task that ran (not skipped, not left out)."""
    return bool(result) and not result.get("skipped", False)


def _after(result: Mapping[str, Any]) -> Mapping[str, Any]:
    return result.get("after") or {}


def rotate_secrets_verify(
    rotation_id: str,
    *,
    secrets: Iterable[Mapping[str, Any]] = (),
    database: Mapping[str, Any] | None = None,
    iam: Mapping[str, Any] | None = None,
    iam_user: str = "",
    k8s_secrets: Iterable[Mapping[str, Any]] = (),
    rollouts: Iterable[Mapping[str, Any]] = (),
    sessions: Mapping[str, Any] | None = None,
) -> list[str]:
    """Every part of the rotation that did not prove its result, one sentence each."""
    database, iam, sessions = database or {}, iam or {}, sessions or {}
    problems: list[str] = []
    tested = list(secrets) + ([database] if _ran(database) else [])
    for r in tested:
        version = r.get("version_id", "")
        if not to_bool(r.get("verified", False)) or _after(r).get("current_version", "") != version:
            name = (r.get("secret") or {}).get("name", "?")
            problems.append(
                f"secret {name}: version {r.get('version_id', '?')} is not AWSCURRENT or was not tested"
            )
    if _ran(iam):
        ids = [key["id"] for key in _after(iam).get("keys", [])]
        if not to_bool(iam.get("verified", False)) or ids != [iam.get("new_key_id")]:
            problems.append(
                f"IAM user {iam_user}: keys {','.join(ids)}, expected only the tested key"
                f" {iam.get('new_key_id', '?')}"
            )
    for r in k8s_secrets:
        if _after(r).get("rotation_id", "") != rotation_id:
            problems.append(f"Secret {r['item']['name']} does not carry rotation id {rotation_id}")
    for r in rollouts:
        status = r.get("status") or {}
        restarted = _after(r).get("restart_key", "") == f"secrets@{rotation_id}"
        if not restarted or status.get("available", 0) != status.get("desired", -1):
            problems.append(f"deployment {r['item']} is not available on the restarted template")
    if _ran(sessions) and _after(sessions).get("active_sessions", 0) != 0:
        problems.append("sessions still active")
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rotate_secrets_verify": rotate_secrets_verify}
