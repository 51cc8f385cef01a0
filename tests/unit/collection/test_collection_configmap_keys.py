"""irdrive.ops.configmap_keys against the fake Kubernetes API."""

from __future__ import annotations

from ansible_collections.irdrive.ops.plugins.modules import configmap_keys
from collection_fakes import FakeKubeApi

SWAP = {"PRIMARY_PROCESSOR": "segpay", "BACKUP_PROCESSOR": "ccbill"}


def payment_config(kube: FakeKubeApi) -> None:
    kube.add(
        "configmaps",
        {
            "metadata": {"name": "payment-config"},
            "data": {"PRIMARY_PROCESSOR": "ccbill", "BACKUP_PROCESSOR": "segpay", "X": "1"},
        },
    )


def args(kube_args: dict, **extra: object) -> dict:
    return {**kube_args, "namespace": "platform", "name": "payment-config", **extra}


def test_set_returns_before_and_rerun_is_unchanged(run_module, kube, kube_args) -> None:
    payment_config(kube)
    result, failed = run_module(configmap_keys, args(kube_args, data=SWAP))
    assert not failed and result["changed"]
    assert result["before"] == {"PRIMARY_PROCESSOR": "ccbill", "BACKUP_PROCESSOR": "segpay"}
    assert result["data"] == {**SWAP, "X": "1"}
    assert kube.get("configmaps", "platform", "payment-config")["data"]["X"] == "1"
    assert len(kube.writes()) == 1
    assert (
        result["resource_version"]
        == kube.get("configmaps", "platform", "payment-config")["metadata"]["resourceVersion"]
    )

    again, failed = run_module(configmap_keys, args(kube_args, data=SWAP))
    assert not failed and not again["changed"] and len(kube.writes()) == 1

    undo, failed = run_module(configmap_keys, args(kube_args, data=result["before"]))
    assert not failed and undo["changed"]
    assert kube.get("configmaps", "platform", "payment-config")["data"]["PRIMARY_PROCESSOR"] == (
        "ccbill"
    )


def test_check_mode_and_query_write_nothing(run_module, kube, kube_args) -> None:
    payment_config(kube)
    checked, failed = run_module(configmap_keys, args(kube_args, data=SWAP), True, True)
    assert not failed and checked["changed"]
    assert checked["diff"]["after"] == SWAP
    read, failed = run_module(configmap_keys, args(kube_args))
    assert not failed and not read["changed"] and read["data"]["PRIMARY_PROCESSOR"] == "ccbill"
    assert kube.writes() == []


def test_conflict_is_retried_after_reading_again(run_module, kube, kube_args) -> None:
    payment_config(kube)
    kube.before_patch = lambda api: api.concurrent_write(
        "configmaps", "platform", "payment-config", {"X": "2"}
    )
    result, failed = run_module(configmap_keys, args(kube_args, data=SWAP))
    assert not failed and result["changed"]
    assert result["data"] == {**SWAP, "X": "2"}


def test_missing_configmap_fails_clearly(run_module, kube, kube_args) -> None:
    result, failed = run_module(configmap_keys, args(kube_args, data=SWAP))
    assert failed and "payment-config" in result["msg"] and result["error_kind"] == "not_found"
    assert kube.writes() == []
