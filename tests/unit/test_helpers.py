"""The suite's own helpers: a wait that fails at its deadline, a prerequisite that fails under CI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import WaitTimeout, in_ci, require, wait_until

TESTS = Path(__file__).resolve().parents[1]


def test_wait_until_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, [], {"ready": True}])
    assert wait_until(lambda: next(answers), timeout=5, interval=0.01, what="x") == {"ready": True}


def test_wait_until_raises_at_its_deadline_naming_what_it_waited_for() -> None:
    calls = []
    start = time.monotonic()
    with pytest.raises(
        WaitTimeout, match=r"after 0.3s waiting for the pods to crash \(last: \[\]\)"
    ):
        wait_until(
            lambda: calls.append(1) or [], timeout=0.3, interval=0.05, what="the pods to crash"
        )
    took = time.monotonic() - start
    assert 0.3 <= took < 1.5
    assert len(calls) >= 3  # polled, not waited once
    assert issubclass(WaitTimeout, AssertionError)  # reported as a test failure


def test_wait_until_checks_once_more_at_the_deadline() -> None:
    start = time.monotonic()
    value = wait_until(lambda: time.monotonic() - start >= 0.2, timeout=0.2, interval=5, what="x")
    assert value is True


def test_wait_until_lets_the_condition_s_errors_through() -> None:
    with pytest.raises(ZeroDivisionError):
        wait_until(lambda: 1 / 0, timeout=5, what="x")


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("", False), ("false", False)]
)
def test_in_ci_reads_the_ci_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_require_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    require(True, "nothing")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing prerequisite: kubectl"):
        require(None, "kubectl is not on PATH")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing prerequisite under CI: kubectl"):
        require(None, "kubectl is not on PATH")


def _run_probe(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    """A throw-away test module with a missing prerequisite, run under the suite's conftest."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from helpers import requires\n\n"
        "pytestmark = requires(False, 'the probe binary is not on PATH')\n\n\n"
        "def test_needs_the_probe() -> None:\n"
        "    pass\n"
    )
    env = {
        **os.environ,
        "CI": ci,
        "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    argv = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-n", "0"]
    argv += ["-q", "-rA", "--rootdir", str(tmp_path), str(probe)]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_prerequisite_fails_the_run_under_ci(tmp_path: Path) -> None:
    res = _run_probe(tmp_path, "true")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "missing prerequisite under CI: the probe binary is not on PATH" in res.stdout
    assert "1 error" in res.stdout and "skipped" not in res.stdout


def test_a_missing_prerequisite_skips_outside_ci(tmp_path: Path) -> None:
    res = _run_probe(tmp_path, "")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 skipped" in res.stdout and "the probe binary is not on PATH" in res.stdout
