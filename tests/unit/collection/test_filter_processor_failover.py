"""The processor_failover role's decisions: which processors to check, and what to do."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.filter.processor_failover import (
    FilterModule,
    processor_failover_decision,
    processor_failover_key_problems,
    processor_failover_plan,
)

CM = {"PRIMARY_PROCESSOR": "stripe", "BACKUP_PROCESSOR": "adyen", "TIMEOUT": "5"}
PLAN = processor_failover_plan(CM, platform_url="https://api.platform.com")


def _checks(primary: bool, backup: bool, payments: bool, active: str, **extra: Any) -> dict:
    return {
        "payments": {"healthy": payments, "status": 200, "json": {"processor": active, **extra}},
        "processor:stripe": {"healthy": primary},
        "processor:adyen": {"healthy": backup},
    }


def test_plan_names_the_processors_and_their_health_urls() -> None:
    plan = processor_failover_plan(CM, platform_url="https://api.platform.com//")
    assert plan == {
        "primary": "stripe",
        "backup": "adyen",
        "data": CM,
        "payments_url": "https://api.platform.com/payments/health",
        "checks": {
            "payments": "https://api.platform.com/payments/health",
            "processor:stripe": "https://api.platform.com/processors/stripe/health",
            "processor:adyen": "https://api.platform.com/processors/adyen/health",
        },
        "api_urls": {
            "stripe": "https://api.platform.com/processors/stripe/api/health",
            "adyen": "https://api.platform.com/processors/adyen/api/health",
        },
    }


def test_plan_takes_explicit_urls_and_other_keys() -> None:
    plan = processor_failover_plan(
        {"MAIN": "stripe", "SPARE": "adyen"},
        platform_url="https://p",
        primary_key="MAIN",
        backup_key="SPARE",
        payments_health_url="https://pay/health",
        processor_health_urls={"adyen": "https://adyen/status"},
        processor_api_urls={"stripe": "https://api.stripe.com/health"},
    )
    assert (plan["primary"], plan["backup"], plan["payments_url"]) == (
        "stripe",
        "adyen",
        "https://pay/health",
    )
    assert plan["checks"] == {
        "payments": "https://pay/health",
        "processor:stripe": "https://p/processors/stripe/health",
        "processor:adyen": "https://adyen/status",
    }
    assert plan["api_urls"] == {
        "stripe": "https://api.stripe.com/health",
        "adyen": "https://p/processors/adyen/api/health",
    }


@pytest.mark.parametrize(
    ("data", "primary", "backup", "checked"),
    [
        ({}, "", "", ["payments"]),
        ({"PRIMARY_PROCESSOR": "stripe"}, "stripe", "", ["payments", "processor:stripe"]),
        (
            {"PRIMARY_PROCESSOR": "", "BACKUP_PROCESSOR": "adyen"},
            "",
            "adyen",
            ["payments", "processor:adyen"],
        ),
    ],
)
def test_plan_checks_only_the_processors_the_configmap_names(
    data: dict, primary: str, backup: str, checked: list[str]
) -> None:
    plan = processor_failover_plan(data, platform_url="https://p")
    assert (plan["primary"], plan["backup"], list(plan["checks"])) == (primary, backup, checked)


@pytest.mark.parametrize(
    ("checks", "action", "reason"),
    [
        (
            _checks(primary=True, backup=True, payments=True, active="stripe"),
            "none",
            "payments are healthy on the primary processor stripe; nothing to do",
        ),
        (
            _checks(primary=True, backup=False, payments=True, active="adyen"),
            "converge",
            "the primary stripe is healthy but payments run on adyen; restarting payment-service",
        ),
        (
            _checks(primary=True, backup=True, payments=False, active=""),
            "converge",
            "the primary stripe is healthy but payments run on no processor; restarting payment-service",
        ),
        (
            _checks(primary=True, backup=True, payments=False, active="stripe", status="degraded"),
            "refuse",
            "the primary processor stripe is healthy but payments are not (degraded); a processor"
            " failover would not help: see the payment service",
        ),
        (
            {
                "payments": {"healthy": False, "status": 503, "json": {"processor": "stripe"}},
                "processor:stripe": {"healthy": True},
            },
            "refuse",
            "the primary processor stripe is healthy but payments are not (503); a processor"
            " failover would not help: see the payment service",
        ),
        (
            _checks(primary=False, backup=False, payments=False, active="stripe"),
            "refuse",
            "both processors are down: primary stripe and backup adyen fail their health checks;"
            " refusing to fail over, nothing was changed",
        ),
        (
            {"payments": {"healthy": False}, "processor:adyen": {"healthy": True}},
            "failover",
            "primary stripe is down and backup adyen is healthy",
        ),
        (
            _checks(primary=False, backup=True, payments=True, active="stripe"),
            "failover",
            "primary stripe is down and backup adyen is healthy",
        ),
    ],
)
def test_decision(checks: dict, action: str, reason: str) -> None:
    decision = processor_failover_decision(PLAN, checks)
    assert (decision["action"], decision["reason"]) == (action, reason)


def test_failover_swaps_the_processors() -> None:
    decision = processor_failover_decision(PLAN, _checks(False, True, False, "stripe"))
    assert decision["backup"] == "adyen"
    assert decision["old_data"] == {"PRIMARY_PROCESSOR": "stripe", "BACKUP_PROCESSOR": "adyen"}
    assert decision["new_data"] == {"PRIMARY_PROCESSOR": "adyen", "BACKUP_PROCESSOR": "stripe"}


def test_converge_keeps_the_configmap_and_restarts_onto_the_primary() -> None:
    decision = processor_failover_decision(PLAN, _checks(True, True, True, "adyen"))
    assert decision["backup"] == "stripe"
    assert (
        decision["new_data"]
        == decision["old_data"]
        == {
            "PRIMARY_PROCESSOR": "stripe",
            "BACKUP_PROCESSOR": "adyen",
        }
    )


@pytest.mark.parametrize(
    "data", [{}, {"PRIMARY_PROCESSOR": "stripe"}, {"BACKUP_PROCESSOR": "adyen"}]
)
def test_a_configmap_without_both_processors_is_refused(data: dict) -> None:
    plan = processor_failover_plan(data, platform_url="https://p")
    decision = processor_failover_decision(
        plan, {"payments": {"healthy": False}}, namespace="pay", configmap="cfg"
    )
    assert decision == {
        "action": "refuse",
        "reason": "ConfigMap pay/cfg is missing or does not name both PRIMARY_PROCESSOR and"
        " BACKUP_PROCESSOR",
    }


@pytest.mark.parametrize(("healthy", "action"), [("yes", "none"), ("false", "failover")])
def test_health_flags_are_read_as_ansible_booleans(healthy: str, action: str) -> None:
    checks = _checks(primary=True, backup=True, payments=True, active="stripe")
    checks["processor:stripe"]["healthy"] = healthy
    assert processor_failover_decision(PLAN, checks)["action"] == action


@pytest.mark.parametrize(
    ("api", "action", "reason"),
    [
        (None, "failover", "primary stripe is down and backup adyen is healthy"),
        (
            {"healthy": True, "status": 200},
            "failover",
            "primary stripe is down and backup adyen is healthy",
        ),
        (
            {"healthy": False, "status": 503, "reason": "status 503 not in [200]"},
            "refuse",
            "the primary processor stripe is down and the backup adyen does not answer healthy on"
            " its API with its key (status 503 not in [200]); refusing to fail over, nothing was"
            " changed",
        ),
        (
            {"skipped": True},
            "refuse",
            "the primary processor stripe is down and the backup adyen does not answer healthy on"
            " its API with its key (not checked); refusing to fail over, nothing was changed",
        ),
    ],
)
def test_a_failover_needs_the_backups_api_healthy_with_its_key(
    api: dict | None, action: str, reason: str
) -> None:
    checks = _checks(primary=False, backup=True, payments=False, active="stripe")
    decision = processor_failover_decision(PLAN, checks, backup_api=api)
    assert (decision["action"], decision["reason"]) == (action, reason)


def test_the_backups_api_does_not_matter_when_no_failover_is_needed() -> None:
    down = {"healthy": False, "status": 503, "reason": "down"}
    healthy = _checks(primary=True, backup=False, payments=True, active="stripe")
    assert processor_failover_decision(PLAN, healthy, backup_api=down)["action"] == "none"
    both = _checks(primary=False, backup=False, payments=False, active="stripe")
    assert (
        "both processors are down"
        in processor_failover_decision(PLAN, both, backup_api=down)["reason"]
    )


KEYS = {"stripe": "sk_1", "adyen": "ak_2"}
URL = "https://api.platform.com/processors/adyen/api/health"


@pytest.mark.parametrize(
    ("keys", "check", "problems"),
    [
        (KEYS, {"healthy": True, "status": 200, "url": URL}, []),
        # Down is no key problem: the decision refuses that failover.
        (KEYS, {"healthy": False, "status": 503, "url": URL}, []),
        (KEYS, {"healthy": False, "status": None, "url": URL}, []),
        (
            KEYS,
            {"healthy": False, "status": 401, "url": URL},
            [
                f"the backup processor adyen refused its API key (HTTP 401 from {URL}): the key"
                " given is wrong or revoked"
            ],
        ),
        (
            KEYS,
            {"healthy": False, "status": 403},
            [
                f"the backup processor adyen refused its API key (HTTP 403 from {URL}): the key"
                " given is wrong or revoked"
            ],
        ),
        *[
            (
                keys,
                {"skipped": True},
                [
                    "no API key for the backup processor adyen: give api_keys.adyen"
                    " (processor_failover_api_keys; the inventory's irdrive_processor_api_keys,"
                    " in AWX the credential 'irdrive processor API keys')"
                ],
            )
            for keys in ({}, None, {"stripe": "sk_1"}, {"adyen": ""}, {"adyen": None})
        ],
    ],
)
def test_key_problems(keys: dict | None, check: dict, problems: list[str]) -> None:
    assert processor_failover_key_problems(PLAN, api_keys=keys, api_check=check) == problems
    for key in (keys or {}).values():
        assert not key or all(key not in p for p in problems)


def test_no_backup_is_no_key_problem() -> None:
    plan = processor_failover_plan({"PRIMARY_PROCESSOR": "stripe"}, platform_url="https://p")
    assert processor_failover_key_problems(plan, api_keys={}) == []


def test_the_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "processor_failover_plan": processor_failover_plan,
        "processor_failover_decision": processor_failover_decision,
        "processor_failover_key_problems": processor_failover_key_problems,
    }
