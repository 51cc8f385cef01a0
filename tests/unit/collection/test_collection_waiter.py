"""module_utils.waiter.poll_until on a fake clock: when it probes, sleeps, returns and gives up."""

from __future__ import annotations

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    DeadlineExceeded,
    UnhealthyError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.waiter import poll_until


class FakeClock:
    """A monotonic clock that only moves when the waiter sleeps (or a probe takes time)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*values: object, cost: float = 0.0, clock: FakeClock | None = None):
    """A probe returning ``values`` in turn, each call taking ``cost`` seconds of ``clock``."""
    pending = list(values)
    calls: list[float] = []

    def probe() -> object:
        if clock is not None:
            calls.append(clock.now)
            clock.now += cost
        return pending.pop(0)

    probe.calls = calls  # type: ignore[attr-defined]
    return probe


@pytest.mark.parametrize(
    ("values", "timeout", "interval", "probes", "sleeps", "elapsed"),
    [
        pytest.param(["ok"], 10.0, 1.0, 1, [], 0.0, id="done-at-once"),
        pytest.param([None, None, "ok"], 10.0, 1.0, 3, [1.0, 1.0], 2.0, id="done-third-time"),
        pytest.param([None, "ok"], 0.0, 1.0, None, [], None, id="zero-timeout-probes-once"),
        pytest.param([None, None, "ok"], 2.0, 1.0, 3, [1.0, 1.0], 2.0, id="done-at-the-deadline"),
        pytest.param([None, None, "ok"], 1.5, 1.0, 3, [1.0, 0.5], 1.5, id="last-sleep-shortened"),
        pytest.param([0, "ok"], 5.0, 1.0, 1, [], 0.0, id="falsy-but-not-none-is-done"),
    ],
)
def test_poll_until_probes_until_a_value(values, timeout, interval, probes, sleeps, elapsed):
    clock = FakeClock()
    probe = answers(*values, clock=clock)
    if probes is None:
        with pytest.raises(DeadlineExceeded):
            poll_until(probe, timeout, interval, clock=clock, sleep=clock.sleep)
        assert probe.calls == [100.0]
        return
    waited = poll_until(probe, timeout, interval, clock=clock, sleep=clock.sleep)
    assert waited.value == values[probes - 1]
    assert waited.probes == probes
    assert clock.sleeps == sleeps
    assert waited.elapsed == elapsed


@pytest.mark.parametrize(
    ("timeout", "interval", "cost", "expected_calls"),
    [
        pytest.param(3.0, 1.0, 0.0, [100.0, 101.0, 102.0, 103.0], id="last-probe-at-deadline"),
        pytest.param(2.5, 1.0, 0.0, [100.0, 101.0, 102.0, 102.5], id="uneven-deadline"),
        pytest.param(3.0, 1.0, 0.5, [100.0, 101.5, 103.0], id="probe-time-counts"),
        pytest.param(1.0, 5.0, 0.0, [100.0, 101.0], id="interval-longer-than-timeout"),
    ],
)
def test_poll_until_gives_up_at_the_deadline(timeout, interval, cost, expected_calls):
    clock = FakeClock()
    probe = answers(*[None] * 10, cost=cost, clock=clock)
    with pytest.raises(DeadlineExceeded) as caught:
        poll_until(probe, timeout, interval, clock=clock, sleep=clock.sleep)
    assert probe.calls == expected_calls
    assert clock.now <= 100.0 + timeout + cost
    assert f"not done after {timeout:g}s" in str(caught.value)
    assert caught.value.kind == "timeout"


def test_on_timeout_names_what_the_probe_last_saw():
    clock = FakeClock()
    seen: list[str] = []

    def probe() -> None:
        seen.append(f"state {len(seen)}")

    def on_timeout() -> Exception:
        return UnhealthyError(f"still unhealthy: {seen[-1]}")

    with pytest.raises(UnhealthyError, match="still unhealthy: state 2"):
        poll_until(probe, 2.0, 1.0, on_timeout=on_timeout, clock=clock, sleep=clock.sleep)


def test_a_probe_error_propagates_at_once():
    clock = FakeClock()

    def probe() -> None:
        raise UnhealthyError("boom")

    with pytest.raises(UnhealthyError, match="boom"):
        poll_until(probe, 60.0, 1.0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


@pytest.mark.parametrize(("timeout", "interval"), [(-1.0, 1.0), (1.0, 0.0), (1.0, -0.5)])
def test_bad_arguments_are_refused(timeout, interval):
    with pytest.raises(ValueError):
        poll_until(lambda: "ok", timeout, interval)


def test_gaps_start_at_first_interval_and_grow_to_interval():
    clock = FakeClock()
    probe = answers(*([None] * 14), "ok", clock=clock)
    waited = poll_until(probe, 60.0, 1.0, clock=clock, sleep=clock.sleep, first_interval=0.1)
    assert waited.probes == 15
    expected = [0.1 * 1.25**k for k in range(11)] + [1.0] * 3
    assert clock.sleeps == pytest.approx(expected)
    # A rollout that settles 0.3 s in is seen about 0.2 s later, not a whole interval later.
    clock = FakeClock()
    settled = clock.now + 0.3
    waited = poll_until(
        lambda: "ok" if clock.now >= settled else None,
        60.0,
        1.0,
        clock=clock,
        sleep=clock.sleep,
        first_interval=0.05,
    )
    assert waited.elapsed <= 0.5


def test_a_first_interval_above_interval_is_capped_and_a_bad_one_refused():
    clock = FakeClock()
    poll_until(
        answers(None, None, "ok"), 60.0, 0.5, clock=clock, sleep=clock.sleep, first_interval=2.0
    )
    assert clock.sleeps == [0.5, 0.5]
    with pytest.raises(ValueError):
        poll_until(lambda: "ok", 1.0, 1.0, first_interval=0.0)
