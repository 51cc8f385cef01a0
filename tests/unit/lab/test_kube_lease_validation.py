"""The lab's Leases as kube-apiserver serves them: MicroTime decoding and spec validation."""

from __future__ import annotations

from typing import Any

import pytest

from irdrive_lab.kube import validation
from irdrive_lab.kube.errors import BadRequest, Invalid
from irdrive_lab.kube.resources import lookup

LEASES = lookup("leases.coordination.k8s.io")


def _lease(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "irdrive-lock-platform"}, "spec": spec}


def test_micro_times_are_kept_with_six_digits_in_utc() -> None:
    obj = _lease(
        holderIdentity="a",
        leaseDurationSeconds=10,
        acquireTime="2026-01-01T00:00:00.000001Z",
        renewTime="2026-01-01T02:00:00.500000+02:00",
    )
    validation.prepare(LEASES, obj, None)
    assert obj["spec"]["acquireTime"] == "2026-01-01T00:00:00.000001Z"
    assert obj["spec"]["renewTime"] == "2026-01-01T00:00:00.500000Z"


@pytest.mark.parametrize(
    "value", ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123Z", "yesterday", 1767225600]
)
def test_a_time_that_is_not_a_micro_time_is_a_bad_request(value: Any) -> None:
    with pytest.raises(BadRequest, match="cannot be handled as a Lease"):
        validation.prepare(LEASES, _lease(renewTime=value), None)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"leaseDurationSeconds": 0}, "spec.leaseDurationSeconds"),
        ({"leaseDurationSeconds": -3}, "spec.leaseDurationSeconds"),
        ({"leaseTransitions": -1}, "spec.leaseTransitions"),
    ],
)
def test_invalid_spec_values_are_unprocessable(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as err:
        validation.prepare(LEASES, _lease(**spec), None)
    assert field in str(err.value.causes)


def test_wrong_types_are_bad_requests() -> None:
    with pytest.raises(BadRequest):
        validation.prepare(LEASES, _lease(leaseDurationSeconds="10"), None)
    with pytest.raises(BadRequest):
        validation.prepare(LEASES, _lease(holderIdentity=5), None)
