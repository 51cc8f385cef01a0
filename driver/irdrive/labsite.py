"""Where the default lab is and whether it is up: the driver's one adaptor to the lab.

Besides ``irdrive lab`` (commands/lab.py) this is the only driver module that imports the lab
package, ``irdrive_lab``; the lab never imports the driver. The lab is imported when a function
here is called, so ``irdrive --help`` and runs against a real inventory never load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from irdrive.errors import UsageError

if TYPE_CHECKING:
    from irdrive_lab.control.config import LabConfig


def default_lab_dir() -> Path:
    """The default lab's folder: ``$IRDRIVE_LAB_DIR``, else ``$XDG_STATE_HOME/irdrive/lab``.

    The lab's config holds the rule (the lab inventory's group_vars repeat it in Jinja, since
    playbooks cannot ask the driver); the driver asks here and nowhere else.
    """
    from irdrive_lab.control.config import default_lab_dir as lab_default

    return lab_default()


def _config(lab_dir: Path | None) -> LabConfig:
    from irdrive_lab.control.config import LabConfig

    try:
        return LabConfig(dir=lab_dir if lab_dir is not None else default_lab_dir())
    except ValueError as exc:  # a bad IRDRIVE_LAB_PORT_BASE
        raise UsageError(str(exc)) from exc


def check_config(lab_dir: Path | None = None) -> None:
    """UsageError (exit 2, one line) if the lab's settings are bad (IRDRIVE_LAB_PORT_BASE)."""
    _config(lab_dir)


def kubeconfig(lab_dir: Path | None = None) -> Path:
    """The kubeconfig the lab writes for its Kubernetes API, in ``lab_dir``."""
    return _config(lab_dir).kubeconfig


def is_up(lab_dir: Path | None = None) -> bool:
    """Whether every part of the lab in ``lab_dir`` (default: the default lab) is running."""
    from irdrive_lab.control import manager

    return manager.is_up(_config(lab_dir))
