from __future__ import annotations

import json

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.kill_switch import (
    HISTORY_LIMIT,
    plan_change,
    read_history,
    read_switches,
    resolve_names,
)

AT = "2026-11-27T03:00:00Z"


def data(history: list[dict] | None = None, **switches: str) -> dict[str, str]:
    values = {"payments": "enabled", "streaming": "enabled", "signups": "disabled"}
    values.update(switches)
    return {**values, "history": json.dumps(history or [])}


def test_read_switches_leaves_out_history() -> None:
    assert read_switches(data()) == {
        "payments": "enabled",
        "signups": "disabled",
        "streaming": "enabled",
    }


def test_disable_writes_switch_and_history_entry() -> None:
    plan = plan_change(data(), ["payments"], "disabled", "ccbill down", "oncall", AT)
    entry = {
        "switch": "payments",
        "from": "enabled",
        "to": "disabled",
        "reason": "ccbill down",
        "actor": "oncall",
        "at": AT,
    }
    assert plan.changed
    assert plan.before == {"payments": "enabled"}
    assert plan.after["payments"] == "disabled"
    assert plan.entries == [entry]
    assert plan.patch["payments"] == "disabled"
    assert json.loads(plan.patch["history"]) == [entry]


def test_setting_current_value_changes_nothing() -> None:
    plan = plan_change(data(), ["signups"], "disabled", "again", "oncall", AT)
    assert not plan.changed
    assert plan.patch == {}
    assert plan.entries == []
    assert plan.before == {"signups": "disabled"}


def test_history_is_appended_and_capped() -> None:
    old = [{"switch": "uploads", "from": "a", "to": "b", "n": i} for i in range(HISTORY_LIMIT)]
    plan = plan_change(data(old), ["payments"], "disabled", "r", "me", AT)
    history = json.loads(plan.patch["history"])
    assert len(history) == HISTORY_LIMIT
    assert history[0]["n"] == 1
    assert history[-1]["switch"] == "payments"


def test_all_expands_to_every_switch_and_only_changes_differing_ones() -> None:
    plan = plan_change(data(), ["all"], "enabled", None, "me", AT)
    assert plan.names == ["payments", "signups", "streaming"]
    assert [e["switch"] for e in plan.entries] == ["signups"]
    assert plan.before == {"payments": "enabled", "signups": "disabled", "streaming": "enabled"}


def test_unknown_switch_lists_known_ones() -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve_names(data(), ["payments", "paymnets"])
    assert "paymnets" in str(caught.value)
    assert "payments, signups, streaming" in str(caught.value)
    assert caught.value.details["known"] == ["payments", "signups", "streaming"]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_disabling_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(InvalidInputError, match="reason"):
        plan_change(data(), ["payments"], "disabled", reason, "me", AT)


def test_enabling_needs_no_reason() -> None:
    plan = plan_change(data(), ["signups"], "enabled", None, "me", AT)
    assert plan.entries[0]["reason"] == ""


def test_idempotency_key_already_in_history_replays_nothing() -> None:
    first = plan_change(data(), ["payments"], "disabled", "r", "me", AT, idempotency_key="run-1")
    assert first.entries[0]["idempotency_key"] == "run-1"
    # Someone re-enabled payments since; the re-run with the same key must not disable again.
    after_first = data(json.loads(first.patch["history"]), payments="enabled")
    again = plan_change(after_first, ["payments"], "disabled", "r", "me", AT, "run-1")
    assert again.replayed
    assert not again.changed
    other = plan_change(after_first, ["payments"], "disabled", "r", "me", AT, "run-2")
    assert other.changed


def test_corrupt_history_is_an_error_not_silently_dropped() -> None:
    with pytest.raises(InvalidStateError):
        read_history({"history": "{not json"})
    with pytest.raises(InvalidStateError):
        read_history({"history": '{"a": 1}'})
    assert read_history({}) == []


@pytest.mark.parametrize("names", [[], ["all", "payments"]])
def test_bad_name_lists(names: list[str]) -> None:
    with pytest.raises(InvalidInputError):
        resolve_names(data(), names)


def test_bad_state() -> None:
    with pytest.raises(InvalidInputError):
        plan_change(data(), ["payments"], "off", "r", "me", AT)
