"""The target lock (module_utils/target_lock.py): a Lease kept as client-go's leader election
keeps one, against a fake API with resourceVersion preconditions and injected races."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.action import target_lock as action
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    ConflictError,
    IrdriveOpsError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LeaseBackend,
    LockedError,
    TargetLock,
    default_holder,
    lease_name,
    micro_time,
    parse_time,
)

MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PATH = "/apis/coordination.k8s.io/v1/namespaces/platform/leases"
NAME = "irdrive-lock-platform"


class FakeLeases:
    """GET, POST (409 AlreadyExists) and PUT (409 on a stale resourceVersion) of Leases."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.rv = 10
        self.writes: list[tuple[str, dict[str, Any]]] = []
        # Runs before a write is applied: another run racing in between read and write.
        self.before_write: Callable[[], None] | None = None

    def put_raw(self, spec: dict[str, Any]) -> None:
        self.rv += 1
        self.objects[NAME] = {
            "metadata": {"name": NAME, "namespace": "platform", "resourceVersion": str(self.rv)},
            "spec": copy.deepcopy(spec),
        }

    def request(
        self, method: str, path: str, body: Any = None, what: str = "", **_: Any
    ) -> dict[str, Any]:
        if method == "GET":
            name = path.rsplit("/", 1)[1]
            if name not in self.objects:
                raise NotFoundError(f"{what}: HTTP 404", status=404)
            return copy.deepcopy(self.objects[name])
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()
        self.writes.append((method, copy.deepcopy(body)))
        name = body["metadata"]["name"]
        for field in ("acquireTime", "renewTime"):
            value = body["spec"].get(field)
            assert value is None or MICRO.match(value), f"{field} {value!r} is not a MicroTime"
        if method == "POST":
            assert path == PATH
            if name in self.objects:
                raise ConflictError(f"{what}: HTTP 409: already exists", status=409)
        else:
            assert method == "PUT" and path == f"{PATH}/{name}"
            current = self.objects.get(name)
            if current is None:
                raise NotFoundError(f"{what}: HTTP 404", status=404)
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise ConflictError(f"{what}: HTTP 409: the object has been modified", status=409)
        self.rv += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[name] = stored
        return copy.deepcopy(stored)

    def spec(self) -> dict[str, Any]:
        return self.objects[NAME]["spec"]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


def _lock(api: FakeLeases, clock: Clock, holder: str = "me@here:1", duration: int = 600) -> Any:
    backend = LeaseBackend(api, "platform", "platform")
    return TargetLock(backend, holder, duration, clock=clock, sleep=clock.sleep)


def _held(api: FakeLeases, holder: str, renewed: float, duration: int = 600, n: int = 2) -> None:
    api.put_raw(
        {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": micro_time(renewed - 5),
            "renewTime": micro_time(renewed),
            "leaseTransitions": n,
        }
    )


def test_a_missing_lease_is_created_with_post_as_leader_election_does() -> None:
    api, clock = FakeLeases(), Clock()
    outcome = _lock(api, clock).acquire(wait=30)
    assert outcome.state == "acquired" and outcome.changed
    assert [m for m, _ in api.writes] == ["POST"]
    spec = api.spec()
    assert spec["holderIdentity"] == "me@here:1"
    assert spec["leaseDurationSeconds"] == 600
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(clock.now)
    assert parse_time(spec["renewTime"]) == pytest.approx(clock.now, abs=1e-6)


def test_a_live_holder_is_waited_for_then_refused_naming_it_and_since_when() -> None:
    api, clock = FakeLeases(), Clock()
    _held(api, "AWX job 7 (awx@tower:3)", clock.now - 10)
    with pytest.raises(LockedError) as err:
        _lock(api, clock).acquire(wait=5)
    message = str(err.value)
    assert "is locked by AWX job 7 (awx@tower:3) (since " in message
    assert micro_time(clock.now - 5 - 15) in message  # acquireTime of the holder
    assert err.value.kind == "locked"
    assert err.value.details["held_by"] == "AWX job 7 (awx@tower:3)"
    assert sum(clock.slept) == pytest.approx(5)
    assert api.writes == []  # a held lock is only read


def test_a_lock_released_while_waiting_is_taken() -> None:
    api, clock = FakeLeases(), Clock()
    _held(api, "other@there:2", clock.now)

    def release() -> None:
        if clock.now >= 1_800_000_003:
            _held(api, "", clock.now, duration=1, n=2)
            clock.on_sleep = None

    clock.on_sleep = release
    outcome = _lock(api, clock).acquire(wait=30)
    assert outcome.state == "acquired"
    assert outcome.waited == pytest.approx(3)
    assert outcome.taken_over is None
    assert api.spec()["leaseTransitions"] == 2  # free, not a change of holder
    assert api.spec()["holderIdentity"] == "me@here:1"


def test_a_stale_lock_is_taken_over_with_a_conditioned_put_and_says_whose() -> None:
    api, clock = FakeLeases(), Clock()
    _held(api, "root@killed:99", clock.now - 601, duration=600, n=4)
    rv = api.objects[NAME]["metadata"]["resourceVersion"]
    outcome = _lock(api, clock).acquire(wait=30)
    assert outcome.state == "acquired"
    assert outcome.taken_over is not None and outcome.taken_over.holder == "root@killed:99"
    assert outcome.msg.startswith("took over the stale lock of root@killed:99 (since ")
    ((method, body),) = api.writes
    assert method == "PUT" and body["metadata"]["resourceVersion"] == rv
    assert api.spec()["leaseTransitions"] == 5
    result = outcome.to_result("me@here:1", "Lease platform/x")
    assert result["took_over"]["holder"] == "root@killed:99"
    assert result["changed"] is False and result["written"] is True
    assert result["warnings"]


def test_not_yet_stale_is_held() -> None:
    api, clock = FakeLeases(), Clock()
    _held(api, "other@there:2", clock.now - 599, duration=600)
    with pytest.raises(LockedError):
        _lock(api, clock).acquire(wait=0)


def test_a_takeover_race_has_one_winner() -> None:
    """Two runs read the same stale lease; the second's PUT carries a stale resourceVersion."""
    api, clock = FakeLeases(), Clock()
    _held(api, "root@killed:99", clock.now - 1000)
    rival = _lock(api, clock, holder="rival@there:5")
    api.before_write = lambda: rival.acquire(wait=0)  # the rival writes first
    with pytest.raises(LockedError) as err:
        _lock(api, clock).acquire(wait=0)
    assert "locked by rival@there:5" in str(err.value)
    assert api.spec()["holderIdentity"] == "rival@there:5"
    assert api.spec()["leaseTransitions"] == 3  # one takeover, not two


def test_a_create_race_rereads_and_waits_for_the_winner() -> None:
    api, clock = FakeLeases(), Clock()
    rival = _lock(api, clock, holder="rival@there:5")
    api.before_write = lambda: rival.acquire(wait=0)
    with pytest.raises(LockedError) as err:
        _lock(api, clock).acquire(wait=2)
    assert "locked by rival@there:5" in str(err.value)
    assert [m for m, _ in api.writes] == ["POST", "POST"]  # the rival's, then ours: 409


def test_taking_it_again_renews_it_and_says_reentered() -> None:
    api, clock = FakeLeases(), Clock()
    lock = _lock(api, clock)
    first = lock.acquire(wait=0)
    clock.now += 20
    again = lock.acquire(wait=0)
    assert again.state == "reentered"
    assert again.to_result("me@here:1", "x")["reentered"] is True
    assert api.spec()["renewTime"] == micro_time(clock.now)
    assert api.spec()["acquireTime"] == micro_time(clock.now - 20)
    assert first.state == "acquired"


def test_release_frees_only_our_own_lock() -> None:
    api, clock = FakeLeases(), Clock()
    lock = _lock(api, clock)
    lock.acquire(wait=0)
    assert lock.release().state == "released"
    assert "holderIdentity" not in api.spec()
    assert api.spec()["leaseDurationSeconds"] == 1
    _held(api, "other@there:2", clock.now)
    writes = len(api.writes)
    outcome = lock.release()
    assert outcome.state == "not_held" and "held by other@there:2" in outcome.msg
    assert len(api.writes) == writes
    assert api.spec()["holderIdentity"] == "other@there:2"


def test_check_mode_writes_nothing_and_says_what_it_would_do() -> None:
    api, clock = FakeLeases(), Clock()
    assert _lock(api, clock).acquire(30, check_mode=True).state == "would_acquire"
    _held(api, "other@there:2", clock.now)
    waiting = _lock(api, clock).acquire(30, check_mode=True)
    assert waiting.state == "would_wait" and "held by other@there:2" in waiting.msg
    assert clock.slept == []
    _held(api, "root@killed:99", clock.now - 5000)
    stale = _lock(api, clock).acquire(30, check_mode=True)
    assert stale.state == "would_acquire" and stale.taken_over is not None
    assert api.writes == []


def test_lease_names_are_dns_subdomains() -> None:
    assert lease_name("platform") == NAME
    assert lease_name("Payments_EU/1") == "irdrive-lock-payments-eu-1"
    with pytest.raises(ValueError):
        lease_name("//")


def test_the_holder_names_the_run_and_the_process() -> None:
    assert default_holder({"awx_job_id": 42}, pid=7).startswith("AWX job 42 (")
    assert default_holder({"irdrive_run_id": "r1"}, pid=7).startswith("irdrive run r1 (")
    assert default_holder({}, pid=7).endswith(":7")


def test_the_action_refuses_bad_durations_as_bad_input() -> None:
    args = {"state": "acquired", "key": "k", "namespace": "ns", "holder": None}
    result = action.run_lock({**args, "duration": 0, "wait": 1.0}, {}, False)
    assert result["failed"] and result["error_kind"] == "invalid_input"
    result = action.run_lock({**args, "duration": 5, "wait": -1.0}, {}, False)
    assert result["failed"] and result["error_kind"] == "invalid_input"


def test_the_action_fails_locked_with_the_holder(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeLeases()
    _held(api, "other@there:2", 4_000_000_000.0)  # renewed in the future: live
    monkeypatch.setattr(action.K8sClient, "from_auth", classmethod(lambda cls, auth: api))
    args = {"state": "acquired", "key": "platform", "namespace": "platform", "holder": "me"}
    result = action.run_lock({**args, "duration": 600, "wait": 0.0}, {}, False)
    assert result["failed"] and result["error_kind"] == "locked"
    assert result["held_by"] == "other@there:2" and result["holder"] == "me"
    assert "locked by other@there:2" in result["msg"]


def test_a_failed_release_warns_and_does_not_fail_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(cls: Any, auth: Any) -> Any:
        raise IrdriveOpsError("connection refused")

    monkeypatch.setattr(action.K8sClient, "from_auth", classmethod(unreachable))
    args = {"state": "released", "key": "platform", "namespace": "platform", "holder": "me"}
    result = action.run_lock({**args, "duration": 600, "wait": 0.0}, {}, False)
    assert not result.get("failed")
    assert result["state"] == "not_released"
    assert "connection refused" in result["warnings"][0]


def test_the_action_holds_as_the_run_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(cls: Any, auth: Any) -> Any:
        raise IrdriveOpsError("connection refused")

    monkeypatch.setattr(action.K8sClient, "from_auth", classmethod(unreachable))
    args = {"state": "released", "key": "platform", "namespace": "platform", "holder": None}
    run = {"irdrive_run_id": "r7"}
    result = action.run_lock({**args, "duration": 600, "wait": 0.0}, run, False)
    # ansible-playbook's pid: the parent of the worker the action runs in.
    assert result["holder"] == default_holder(run, pid=os.getppid())
    assert result["holder"].startswith("irdrive run r7 (")
    result = action.run_lock({**args, "holder": "me", "duration": 600, "wait": 0.0}, run, False)
    assert result["holder"] == "me"
