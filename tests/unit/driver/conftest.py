"""Fixtures for the driver's unit tests: the fixture project (tests/driver_project.py)."""

from __future__ import annotations

from driver_project import project_dir, state_dir  # noqa: F401 - the fixtures
