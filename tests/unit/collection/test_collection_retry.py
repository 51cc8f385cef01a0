from __future__ import annotations

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    NotFoundError,
    TransientError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.retry import backoff_delays, retry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def flaky(failures: list[BaseException], value: str = "ok"):
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return value

    return call, calls


def test_returns_after_transient_failures() -> None:
    clock = Clock()
    call, calls = flaky([TransientError("503"), TransientError("503")])
    assert retry(call, sleep=clock.sleep, clock=clock, rand=lambda: 1.0) == "ok"
    assert calls["n"] == 3
    assert clock.sleeps == [0.2, 0.4]


def test_permanent_error_fails_at_once() -> None:
    clock = Clock()
    call, calls = flaky([NotFoundError("gone"), TransientError("never reached")])
    with pytest.raises(NotFoundError):
        retry(call, sleep=clock.sleep, clock=clock)
    assert calls["n"] == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_bounded_attempts_reraise_last_error_with_count(attempts: int) -> None:
    clock = Clock()
    errors: list[BaseException] = [TransientError(f"fail {i}") for i in range(10)]
    call, calls = flaky(errors)
    with pytest.raises(TransientError) as caught:
        retry(call, attempts=attempts, sleep=clock.sleep, clock=clock)
    assert calls["n"] == attempts
    assert caught.value.attempts == attempts
    assert str(caught.value) == f"fail {attempts - 1}"
    assert len(clock.sleeps) == attempts - 1


def test_deadline_stops_before_sleeping_past_it() -> None:
    clock = Clock()
    call, calls = flaky([TransientError("x") for _ in range(50)])
    with pytest.raises(TransientError):
        retry(
            call,
            attempts=50,
            deadline=3.0,
            base_delay=1.0,
            factor=1.0,
            sleep=clock.sleep,
            clock=clock,
            rand=lambda: 1.0,
        )
    assert clock.now <= 3.0
    assert calls["n"] == 4  # t=0, 1, 2, 3; the next sleep would end at 4 > 3


def test_only_listed_exceptions_are_retried() -> None:
    clock = Clock()
    call, calls = flaky([ConflictError("409")])
    assert retry(call, transient=(ConflictError,), sleep=clock.sleep, clock=clock) == "ok"
    call, calls = flaky([ConflictError("409")])
    with pytest.raises(ConflictError):
        retry(call, transient=(TransientError,), sleep=clock.sleep, clock=clock)
    assert calls["n"] == 1


def test_on_retry_is_told_each_retry() -> None:
    clock = Clock()
    seen: list[tuple[int, str]] = []
    call, _ = flaky([TransientError("a"), TransientError("b")])
    retry(call, sleep=clock.sleep, clock=clock, on_retry=lambda n, e, d: seen.append((n, str(e))))
    assert seen == [(1, "a"), (2, "b")]


def test_delays_are_jittered_and_capped() -> None:
    delays = backoff_delays(base_delay=1.0, factor=2.0, max_delay=5.0, rand=lambda: 1.0)
    assert [next(delays) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    halves = backoff_delays(base_delay=1.0, factor=2.0, max_delay=5.0, rand=lambda: 0.5)
    assert [next(halves) for _ in range(3)] == [0.5, 1.0, 2.0]


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        retry(lambda: None, attempts=0)


def test_without_jitter_each_delay_is_its_cap() -> None:
    delays = backoff_delays(
        base_delay=0.15, factor=1.0, max_delay=5.0, rand=lambda: 0.0, jitter=False
    )
    assert [next(delays) for _ in range(3)] == [0.15, 0.15, 0.15]
    sleeps: list[float] = []
    calls = iter([TransientError("down"), TransientError("down"), "up"])

    def call() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert retry(call, base_delay=0.2, factor=1.0, jitter=False, sleep=sleeps.append) == "up"
    assert sleeps == [0.2, 0.2]
