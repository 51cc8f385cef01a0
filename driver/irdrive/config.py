"""The user's settings file: ``$IRDRIVE_CONFIG``, else ``$XDG_CONFIG_HOME/irdrive/config.toml``.

Only what a team shares or a user sets once lives here; everything has a default, so the file
is optional::

    [history]
    # The history store (drill results). Default: SQLite in the state folder.
    db_url = "postgresql://irdrive@db.example.com/irdrive"
    # A passing drill older than this marks its runbook stale (default 30).
    drill_max_age_days = 30

Environment variables win over the file (``IRDRIVE_DB_URL``, ``IRDRIVE_DRILL_MAX_AGE_DAYS``).
The file is read with the standard library's ``tomllib`` when a setting is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irdrive.errors import UsageError

ENV_CONFIG = "IRDRIVE_CONFIG"


def config_file() -> Path:
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "irdrive" / "config.toml"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"config file {path} cannot be read: {exc}") from exc


def setting(section: str, key: str) -> Any:
    """``[section] key`` of the config file, or None when the file or the entry is absent."""
    table = _read(config_file()).get(section)
    return table.get(key) if isinstance(table, dict) else None
