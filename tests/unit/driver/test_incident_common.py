"""The incident commands' shared helpers: times in UTC and the responder's zone, durations,
and how an actor is shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from irdrive.errors import UsageError
from irdrive.incidents.common import fmt_duration, fmt_time, short_actor, zone


def test_a_time_is_shown_in_utc_and_in_the_responders_zone() -> None:
    at = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert fmt_time(at, zone("UTC")) == "2026-12-02 23:30 UTC"
    assert fmt_time(at, zone("Europe/Berlin")) == "2026-12-02 23:30 UTC (2026-12-03 00:30 CET)"
    assert fmt_time(at, zone("America/New_York")) == "2026-12-02 23:30 UTC (18:30 EST)"
    assert fmt_time(None) == "-"


def test_an_unknown_zone_is_bad_input() -> None:
    with pytest.raises(UsageError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(45, "45s"), (750, "12m 30s"), (3900, "1h 05m"), (90000, "1d 01h"), (-75, "-1m 15s")],
)
def test_durations(seconds: float, shown: str) -> None:
    assert fmt_duration(seconds) == shown


def test_a_runs_actor_is_shown_by_its_runbook() -> None:
    assert short_actor("run:20261202T123043.882130Z-payments-failover") == "run:payments-failover"
    assert short_actor("run:20261202T123043Z-cache") == "run:cache"
    assert short_actor("alice") == "alice"
    assert short_actor("alert:PaymentProcessorDown") == "alert:PaymentProcessorDown"
