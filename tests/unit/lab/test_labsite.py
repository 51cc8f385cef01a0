"""The driver's side of the lab boundary: ``irdrive.labsite`` and ``irdrive lab``'s errors.

No lab is started: the manager's functions are replaced where a test needs a lab's answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from irdrive import labsite
from irdrive.cli import cli
from irdrive.errors import UsageError
from irdrive_lab.control import manager
from irdrive_lab.control.errors import LabError


@pytest.fixture(autouse=True)
def _no_lab_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IRDRIVE_LAB_DIR", "IRDRIVE_LAB_PORT_BASE", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_default_lab_dir_follows_irdrive_lab_dir_then_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert labsite.default_lab_dir() == tmp_path / "home" / ".local" / "state" / "irdrive" / "lab"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert labsite.default_lab_dir() == tmp_path / "xdg" / "irdrive" / "lab"
    monkeypatch.setenv("IRDRIVE_LAB_DIR", str(tmp_path / "mine"))
    assert labsite.default_lab_dir() == tmp_path / "mine"


def test_is_up_is_false_for_a_folder_without_a_lab(tmp_path: Path) -> None:
    assert labsite.is_up(tmp_path) is False


def test_a_bad_port_base_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRDRIVE_LAB_PORT_BASE", "notaport")
    with pytest.raises(UsageError, match="IRDRIVE_LAB_PORT_BASE must be a port number"):
        labsite.check_config()


def _lab(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(
        cli, ["lab", "--lab-dir", str(tmp_path), "--port-base", "18000", *args]
    )


def test_lab_command_usage_errors_exit_2(tmp_path: Path) -> None:
    unknown = _lab(tmp_path, "fault", "no-such-fault")
    assert unknown.exit_code == 2
    assert unknown.output.startswith("Error: unknown fault 'no-such-fault'; known faults: ")
    not_up = _lab(tmp_path, "reset")
    assert not_up.exit_code == 2
    assert not_up.output == f"Error: the lab in {tmp_path} is not up; run `irdrive lab up` first\n"


def test_lab_command_other_lab_errors_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(cfg: Any, purge: bool = False) -> list[str]:
        raise LabError("could not stop everything: labd: still running")

    monkeypatch.setattr(manager, "down", broken)
    result = _lab(tmp_path, "down")
    assert result.exit_code == 1
    assert result.output == "Error: could not stop everything: labd: still running\n"
