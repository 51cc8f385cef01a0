"""Fixtures for the driver's real ansible-runner runs: the fixture project the unit tests read."""

from __future__ import annotations

from driver_project import project_dir, state_dir  # noqa: F401 - the fixtures
