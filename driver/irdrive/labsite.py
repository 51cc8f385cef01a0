"""Where the default lab is and whether it is up: the driver's one door to the lab.

A minimal adaptor over ``irdrive.lab`` so ``irdrive run`` can target the lab; nothing else in
the driver core imports the lab. Lab errors become the driver's own: bad input (a port in use,
missing binaries) is a UsageError, a lab that cannot start is TargetUnreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irdrive.errors import TargetUnreachable, UsageError


def default_lab_dir() -> Path:
    """The lab folder a run targets when no inventory is given (``IRDRIVE_LAB_DIR`` or XDG)."""
    from irdrive.lab.config import default_lab_dir as lab_default

    return lab_default()


def is_up(lab_dir: Path | None = None) -> bool:
    """Whether every part of the lab in ``lab_dir`` (default: the default lab) is running."""
    from irdrive.lab import manager
    from irdrive.lab.config import LabConfig

    return manager.is_up(LabConfig(dir=lab_dir or default_lab_dir()))


def ensure_up() -> tuple[Path, dict[str, Any]]:
    """Start the default lab if it is not up; return its folder and its state."""
    from irdrive.lab import manager
    from irdrive.lab.config import LabConfig
    from irdrive.lab.proc import LabError

    try:
        cfg = LabConfig()
    except ValueError as exc:  # a bad IRDRIVE_LAB_PORT_BASE
        raise UsageError(str(exc)) from exc
    try:
        info = manager.ensure_up(cfg)
    except LabError as exc:
        if getattr(exc, "usage", False):
            raise UsageError(str(exc)) from exc
        raise TargetUnreachable(f"the lab could not be started: {exc}") from exc
    return cfg.dir, info
