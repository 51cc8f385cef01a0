"""irdrive.ops.host_lock: the target lock as a file on the host (O_EXCL + link, flock, versions)."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils.errors import ConflictError
from ansible_collections.irdrive.ops.plugins.module_utils.lock_file import FileLockBackend
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import (
    LockedError,
    LockRecord,
    TargetLock,
)
from ansible_collections.irdrive.ops.plugins.modules import host_lock


def _args(directory: Path, **extra: Any) -> dict[str, Any]:
    return {"key": "Block List", "directory": str(directory), "holder": "me", "wait": 0, **extra}


def _file(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / "block-list.json").read_text()))


def test_acquire_reenter_refuse_and_release(tmp_path: Path, run_module: Any) -> None:
    locks = tmp_path / "locks"
    result, failed = run_module(host_lock, _args(locks))
    assert not failed and result["state"] == "acquired" and result["written"]
    assert not result["changed"] and result["lock"].endswith(f"{locks}/block-list.json")
    on_disk = _file(locks)
    assert on_disk["holder"] == "me" and on_disk["version"] == 1 and on_disk["duration"] == 600
    assert stat.S_IMODE((locks / "block-list.json").stat().st_mode) == 0o600

    result, failed = run_module(host_lock, _args(locks))
    assert not failed and result["state"] == "reentered" and result["reentered"]
    assert _file(locks)["version"] == 2

    result, failed = run_module(host_lock, _args(locks, holder="other run"))
    assert failed and result["error_kind"] == "locked" and result["held_by"] == "me"
    assert result["since"] and "locked by me (since " in result["msg"]

    result, failed = run_module(host_lock, _args(locks, holder="other run", state="released"))
    assert not failed and result["state"] == "not_held" and _file(locks)["holder"] == "me"

    result, failed = run_module(host_lock, _args(locks, state="released"))
    assert not failed and result["state"] == "released"
    assert _file(locks)["holder"] == "" and _file(locks)["version"] == 3
    # Free again: the next run takes it (a free lock counts no transition, as on the Lease).
    result, failed = run_module(host_lock, _args(locks, holder="other run"))
    assert not failed and result["state"] == "acquired" and result["lease"]["transitions"] == 0
    assert not [name for name in os.listdir(locks) if name.endswith(".tmp")]


def test_a_stale_lock_is_taken_over_and_says_whose(tmp_path: Path, run_module: Any) -> None:
    tmp_path.joinpath("block-list.json").write_text(
        json.dumps(
            {
                "holder": "dead run",
                "duration": 60,
                "acquire_time": 1000.0,
                "renew_time": 1010.0,
                "transitions": 3,
                "version": 7,
            }
        )
    )
    result, failed = run_module(host_lock, _args(tmp_path, duration=30))
    assert not failed and result["state"] == "acquired"
    assert result["took_over"]["holder"] == "dead run" and "dead run" in result["warnings"][0]
    assert _file(tmp_path)["transitions"] == 4 and _file(tmp_path)["version"] == 8


def test_check_mode_writes_nothing(tmp_path: Path, run_module: Any) -> None:
    locks = tmp_path / "locks"
    result, failed = run_module(host_lock, _args(locks), check_mode=True)
    assert not failed and result["state"] == "would_acquire" and not result["written"]
    assert not locks.exists()
    run_module(host_lock, _args(locks, holder="other run"))
    before = _file(locks)
    result, failed = run_module(host_lock, _args(locks, wait=30), check_mode=True)
    assert not failed and result["state"] == "would_wait" and result["waited"] < 5
    assert _file(locks) == before


def test_the_module_needs_the_holder_its_action_names(tmp_path: Path, run_module: Any) -> None:
    result, failed = run_module(host_lock, _args(tmp_path, holder=None))
    assert failed and result["error_kind"] == "invalid_input"


class Racing(FileLockBackend):
    """Another run writes the file (without our flock) between our read and our write."""

    def __init__(self, *args: Any, rival: dict[str, Any]) -> None:
        super().__init__(*args)
        self.rival: dict[str, Any] | None = rival

    def _flock(self) -> int:
        if self.rival is not None:
            Path(self.path).write_text(json.dumps(self.rival))
            self.rival = None
        return super()._flock()


def test_a_create_race_rereads_and_refuses_the_winner(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    rival = {
        "holder": "rival",
        "duration": 600,
        "acquire_time": now,
        "renew_time": now,
        "version": 1,
    }
    backend = Racing(str(tmp_path), "k", rival=rival)
    with pytest.raises(ConflictError):
        backend.create(LockRecord("me", 600, now, now))
    # Through the lock: the lost race is read again, and the winner is refused in one line.
    backend.rival = dict(rival)
    lock = TargetLock(backend, "me", 600, clock=lambda: now, sleep=lambda _s: None)
    Path(backend.path).unlink()
    with pytest.raises(LockedError, match="locked by rival"):
        lock.acquire(0)


def test_a_takeover_race_has_one_winner(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    stale = {"holder": "dead", "duration": 5, "acquire_time": 1.0, "renew_time": 2.0, "version": 3}
    Path(tmp_path, "k.json").write_text(json.dumps(stale))
    rival = {**stale, "holder": "rival", "renew_time": now, "version": 4}
    backend = Racing(str(tmp_path), "k", rival=rival)
    lock = TargetLock(backend, "me", 600, clock=lambda: now, sleep=lambda _s: None)
    with pytest.raises(LockedError, match="locked by rival"):
        lock.acquire(0)
    assert json.loads(Path(backend.path).read_text())["holder"] == "rival"


def test_concurrent_runs_never_both_hold_it(tmp_path: Path) -> None:
    winners: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def run(name: str) -> None:
        lock = TargetLock(FileLockBackend(str(tmp_path), "k"), name, 600)
        start.wait()
        try:
            lock.acquire(0)
            winners.append(name)
        except LockedError:
            refused.append(name)

    threads = [threading.Thread(target=run, args=(f"run{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(refused) == 7
    assert json.loads(Path(tmp_path, "k.json").read_text())["holder"] == winners[0]


def test_a_relative_directory_is_bad_input(tmp_path: Path, run_module: Any) -> None:
    result, failed = run_module(host_lock, _args(Path("locks")))
    assert failed and result["error_kind"] == "invalid_input"
