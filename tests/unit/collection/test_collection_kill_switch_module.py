"""irdrive.ops.kill_switch run as Ansible runs it, against the fake Kubernetes API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.modules import kill_switch
from collection_fakes import FakeKubeApi, kill_switch_configmap

DISABLE = {"name": "payments", "state": "disabled", "reason": "ccbill down", "actor": "oncall"}


@pytest.fixture
def switches(kube: FakeKubeApi) -> dict[str, Any]:
    return kube.add("configmaps", kill_switch_configmap())


def stored(kube: FakeKubeApi) -> dict[str, str]:
    return kube.get("configmaps", "platform", "kill-switches")["data"]


def test_disable_then_rerun_is_unchanged(run_module, kube, kube_args, switches) -> None:
    result, failed = run_module(kill_switch, {**kube_args, **DISABLE})
    assert not failed and result["changed"]
    assert result["before"] == {"payments": "enabled"}
    assert result["switches"]["payments"] == "disabled"
    [entry] = result["history_entries"]
    assert entry["from"] == "enabled" and entry["to"] == "disabled"
    assert entry["actor"] == "oncall" and entry["reason"] == "ccbill down"
    assert stored(kube)["payments"] == "disabled"
    assert json.loads(stored(kube)["history"]) == [entry]
    assert (
        result["resource_version"]
        == kube.get("configmaps", "platform", "kill-switches")["metadata"]["resourceVersion"]
    )
    assert len(kube.writes()) == 1

    again, failed = run_module(kill_switch, {**kube_args, **DISABLE})
    assert not failed and not again["changed"]
    assert again["history_entries"] == []
    assert again["before"] == {"payments": "disabled"}
    assert len(kube.writes()) == 1


def test_check_mode_computes_the_same_result_and_writes_nothing(
    run_module, kube, kube_args, switches
) -> None:
    checked, failed = run_module(kill_switch, {**kube_args, **DISABLE}, check_mode=True, diff=True)
    assert not failed and checked["changed"]
    assert kube.writes() == []
    assert stored(kube)["payments"] == "enabled"
    assert checked["diff"]["before"]["payments"] == "enabled"
    assert checked["diff"]["after"]["payments"] == "disabled"

    real, _ = run_module(kill_switch, {**kube_args, **DISABLE}, diff=True)
    for key in ("changed", "switches", "before", "diff"):
        assert checked[key] == real[key]
    assert [e["switch"] for e in checked["history_entries"]] == ["payments"]


def test_unknown_switch_fails_listing_known_ones(run_module, kube, kube_args, switches) -> None:
    result, failed = run_module(kill_switch, {**kube_args, **DISABLE, "name": "paymnets"})
    assert failed
    assert result["error_kind"] == "not_found"
    assert "paymnets" in result["msg"]
    assert "messaging, payments, signups, streaming, uploads" in result["msg"]
    assert kube.writes() == []


def test_disabling_without_reason_is_refused(run_module, kube, kube_args, switches) -> None:
    args = {**kube_args, "name": "payments", "state": "disabled"}
    result, failed = run_module(kill_switch, args)
    assert failed and "reason" in result["msg"]
    assert kube.requests == []


def test_query_reads_without_changing(run_module, kube, kube_args, switches) -> None:
    result, failed = run_module(kill_switch, {**kube_args, "name": "all"})
    assert not failed and not result["changed"]
    assert result["before"] == result["switches"]
    assert result["switches"]["signups"] == "disabled"
    assert kube.writes() == []


def test_list_of_names_and_restore_from_before(run_module, kube, kube_args, switches) -> None:
    args = {**kube_args, "name": ["uploads", "signups"], "state": "disabled", "reason": "intrusion"}
    result, _ = run_module(kill_switch, args)
    assert result["before"] == {"uploads": "enabled", "signups": "disabled"}
    assert [e["switch"] for e in result["history_entries"]] == ["uploads"]
    for name, value in result["before"].items():
        run_module(kill_switch, {**kube_args, "name": name, "state": value, "reason": "restore"})
    assert stored(kube)["uploads"] == "enabled" and stored(kube)["signups"] == "disabled"


def test_idempotency_key_replay_writes_nothing(run_module, kube, kube_args, switches) -> None:
    args = {**kube_args, **DISABLE, "idempotency_key": "run-7"}
    first, _ = run_module(kill_switch, args)
    assert first["history_entries"][0]["idempotency_key"] == "run-7"
    run_module(kill_switch, {**kube_args, "name": "payments", "state": "enabled"})
    writes = len(kube.writes())
    replay, failed = run_module(kill_switch, args)
    assert not failed and not replay["changed"] and replay["replayed"]
    assert len(kube.writes()) == writes
    assert stored(kube)["payments"] == "enabled"


def test_conflict_is_retried_after_rereading(run_module, kube, kube_args, switches) -> None:
    kube.before_patch = lambda api: api.concurrent_write(
        "configmaps", "platform", "kill-switches", {"streaming": "disabled"}
    )
    result, failed = run_module(kill_switch, {**kube_args, **DISABLE})
    assert not failed and result["changed"]
    assert stored(kube)["payments"] == "disabled"
    assert stored(kube)["streaming"] == "disabled"  # the other writer's change survives
    assert result["switches"]["streaming"] == "disabled"


def test_actor_defaults_from_environment(run_module, kube, kube_args, switches, monkeypatch):
    monkeypatch.setenv("IRDRIVE_ACTOR", "alice")
    args = {k: v for k, v in DISABLE.items() if k != "actor"}
    result, _ = run_module(kill_switch, {**kube_args, **args})
    assert result["history_entries"][0]["actor"] == "alice"


def test_missing_configmap_fails_clearly(run_module, kube, kube_args) -> None:
    result, failed = run_module(kill_switch, {**kube_args, **DISABLE})
    assert failed and result["error_kind"] == "not_found"
    assert "platform/kill-switches" in result["msg"]


def test_api_key_is_no_log(kube_args) -> None:
    spec = kill_switch.argument_spec()
    assert spec["api_key"]["no_log"] is True
