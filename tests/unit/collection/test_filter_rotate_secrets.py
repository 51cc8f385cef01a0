"""The rotate_secrets role's verification: which part of a rotation did not prove its result."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.filter.rotate_secrets import (
    FilterModule,
    rotate_secrets_verify,
)

SKIPPED = {"skipped": True, "changed": False}


def _secret(name: str, verified: Any = True, current: str = "v2") -> dict[str, Any]:
    return {
        "secret": {"name": name},
        "version_id": "v2",
        "verified": verified,
        "after": {"current_version": current},
    }


def _iam(keys: list[str], verified: bool = True) -> dict[str, Any]:
    return {"verified": verified, "new_key_id": "K2", "after": {"keys": [{"id": k} for k in keys]}}


def _rollout(name: str, key: str = "secrets@r1", available: int = 2) -> dict[str, Any]:
    return {
        "item": name,
        "after": {"restart_key": key},
        "status": {"available": available, "desired": 2},
    }


GOOD: dict[str, Any] = {
    "secrets": [_secret("api/payments")],
    "database": _secret("platform/db"),
    "iam": _iam(["K2"]),
    "iam_user": "ci",
    "k8s_secrets": [{"item": {"name": "backend-env"}, "after": {"rotation_id": "r1"}}],
    "rollouts": [_rollout("backend")],
    "sessions": {"after": {"active_sessions": 0}},
}


def test_a_verified_rotation_has_no_problem() -> None:
    assert rotate_secrets_verify("r1", **GOOD) == []


def test_skipped_parts_are_left_out() -> None:
    assert rotate_secrets_verify("r1", database=SKIPPED, iam=SKIPPED, sessions=SKIPPED) == []
    assert rotate_secrets_verify("r1") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"secrets": [_secret("api/payments", verified=False)]},
         "secret api/payments: version v2 is not AWSCURRENT or was not tested"),
        ({"secrets": [_secret("api/payments", verified="no")]},
         "secret api/payments: version v2 is not AWSCURRENT or was not tested"),
        ({"database": _secret("platform/db", current="v1")},
         "secret platform/db: version v2 is not AWSCURRENT or was not tested"),
        ({"database": {"verified": False}}, "secret ?: version ? is not AWSCURRENT or was not tested"),
        ({"iam": _iam(["K1", "K2"])}, "IAM user ci: keys K1,K2, expected only the tested key K2"),
        ({"iam": _iam(["K2"], verified=False)}, "IAM user ci: keys K2, expected only the tested key K2"),
        ({"iam": _iam([])}, "IAM user ci: keys , expected only the tested key K2"),
        ({"k8s_secrets": [{"item": {"name": "backend-env"}, "after": {"rotation_id": "r0"}}]},
         "Secret backend-env does not carry rotation id r1"),
        ({"k8s_secrets": [{"item": {"name": "backend-env"}}]}, "Secret backend-env does not carry rotation id r1"),
        ({"rollouts": [_rollout("backend", key="secrets@r0")]},
         "deployment backend is not available on the restarted template"),
        ({"rollouts": [_rollout("backend", available=1)]},
         "deployment backend is not available on the restarted template"),
        ({"sessions": {"after": {"active_sessions": 2}}}, "sessions still active"),
    ],
)  # fmt: skip
def test_each_unproven_part_is_named(change: dict[str, Any], problem: str) -> None:
    assert rotate_secrets_verify("r1", **{**GOOD, **change}) == [problem]


def test_every_problem_is_listed() -> None:
    problems = rotate_secrets_verify(
        "r1",
        secrets=[_secret("a", verified=False), _secret("b")],
        database=_secret("db", current=""),
        rollouts=[_rollout("x", available=0), _rollout("y")],
    )
    assert problems == [
        "secret a: version v2 is not AWSCURRENT or was not tested",
        "secret db: version v2 is not AWSCURRENT or was not tested",
        "deployment x is not available on the restarted template",
    ]


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"rotate_secrets_verify": rotate_secrets_verify}
