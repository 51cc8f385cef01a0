"""Where the Ansible content (playbooks, roles, collections, inventories) and run state live.

The driver is installed editable from the repository, so the project root is found next to the
package. ``IRDRIVE_HOME`` points the driver at another copy of the content (a checkout used by
AWX, a test fixture); ``IRDRIVE_STATE_DIR`` moves the run folders and ``IRDRIVE_CACHE_DIR`` the
cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from irdrive.errors import UsageError

ENV_HOME = "IRDRIVE_HOME"
ENV_STATE_DIR = "IRDRIVE_STATE_DIR"
ENV_CACHE_DIR = "IRDRIVE_CACHE_DIR"


class ProjectNotFound(UsageError):
    """No folder with the runbooks' playbooks could be found."""


def _is_project(path: Path) -> bool:
    return (path / "playbooks").is_dir()


@dataclass(frozen=True)
class Project:
    """The Ansible content of irdrive, rooted at one folder."""

    root: Path

    @property
    def playbooks_dir(self) -> Path:
        return self.root / "playbooks"

    @property
    def roles_dir(self) -> Path:
        return self.root / "roles"

    @property
    def collections_dir(self) -> Path:
        return self.root / "collections"

    @property
    def inventories_dir(self) -> Path:
        return self.root / "inventories"

    @property
    def lab_inventory(self) -> Path:
        return self.inventories_dir / "lab"

    @property
    def ansible_cfg(self) -> Path:
        return self.root / "ansible.cfg"


def find_project(start: Path | None = None) -> Project:
    """The project: ``$IRDRIVE_HOME``, else the checkout holding this package, else a parent
    of ``start`` (default: the working directory) that has a ``playbooks/`` folder."""
    env = os.environ.get(ENV_HOME)
    if env:
        root = Path(env).expanduser().resolve()
        if not _is_project(root):
            raise ProjectNotFound(f"{ENV_HOME}={env} has no playbooks/ folder")
        return Project(root)
    # driver/irdrive/paths.py -> the repository root, when installed editable.
    repo = Path(__file__).resolve().parents[2]
    if _is_project(repo):
        return Project(repo)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _is_project(candidate):
            return Project(candidate)
    raise ProjectNotFound(
        f"no irdrive project found (a folder with playbooks/); set {ENV_HOME} to the checkout"
    )


def state_dir() -> Path:
    """Where run folders are kept: ``$IRDRIVE_STATE_DIR`` or ``$XDG_STATE_HOME/irdrive``."""
    env = os.environ.get(ENV_STATE_DIR)
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return (Path(xdg) / "irdrive").resolve()


def cache_dir() -> Path:
    """What can be rebuilt at any time (parsed YAML): ``$IRDRIVE_CACHE_DIR`` or
    ``$XDG_CACHE_HOME/irdrive``."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(xdg) / "irdrive").resolve()


def runs_dir() -> Path:
    return state_dir() / "runs"
