"""The driver's fixture project: a tiny project with two runbooks, read by the unit tests
(tests/unit/driver) and run through ansible-runner by the integration tests (tests/integration/driver)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURE_PROJECT = Path(__file__).parent / "unit" / "driver" / "fixtures" / "project"


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture project; IRDRIVE_HOME and IRDRIVE_STATE_DIR point into tmp_path."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE_PROJECT, root)
    monkeypatch.setenv("IRDRIVE_HOME", str(root))
    monkeypatch.setenv("IRDRIVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("IRDRIVE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IRDRIVE_LAB_DIR", str(tmp_path / "lab"))
    # The history store and settings of the test, not the user's.
    monkeypatch.delenv("IRDRIVE_DB_URL", raising=False)
    monkeypatch.delenv("IRDRIVE_DRILL_MAX_AGE_DAYS", raising=False)
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "config.toml"))
    return root


@pytest.fixture
def state_dir(project_dir: Path) -> Path:
    return project_dir.parent / "state"
